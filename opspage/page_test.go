package opspage_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// testSecret is the key secret of the Redis stores on a Cluster.
var testSecret = []byte("opspage tests' key secret, 32 by")

// stores are the stores every change is tested on: memory, one Redis
// server and a Redis Cluster, each real.
var stores = []struct {
	name string
	open func(t *testing.T) core.Store
}{
	{"memory", func(t *testing.T) core.Store { return memStore(t) }},
	{"redis", func(t *testing.T) core.Store {
		client := redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true})
		return redisStore(t, client, redisstore.WithPrefix(uniquePrefix(t)))
	}},
	{"redis cluster", func(t *testing.T) core.Store {
		client := redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{ContextTimeoutEnabled: true})
		return redisStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithKeySecret(testSecret))
	}},
}

func redisStore(t *testing.T, client redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, append(opts, redisstore.WithTimeout(10*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The page's JSON after the scripted traffic, on every store: the policies
// and rules in force with their limits, the store's figures, the clients
// denied most with exact counts, and the boxed client; keys hashed.
func TestJSONShowsWhatIsInForceAndWhoIsDenied(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			f := newFixture(t, store)
			f.traffic()
			s := f.snapshot(false)

			if s.Writable || s.RawKeys {
				t.Errorf("writable %v, raw keys %v; want a read-only page with hashed keys", s.Writable, s.RawKeys)
			}
			onFailure := "fail-closed"
			if st.name != "memory" {
				onFailure = "fallback" // a remote store's local store
			}
			var policies []string
			for _, p := range s.Policies {
				policies = append(policies, fmt.Sprintf("%s rule=%q limit=%q alg=%s rate=%d period=%v burst=%d conc=%d key=%q on-failure=%q reset=%v",
					p.Name, p.Rule, p.Limit, p.Algorithm, p.Rate, p.PeriodSeconds, p.Burst, p.Concurrent, p.Key, p.OnFailure, p.Resettable))
			}
			want := []string{
				`api rule="" limit="3/h" alg=gcra rate=3 period=3600 burst=3 conc=0 key="" on-failure="` + onFailure + `" reset=true`,
				`login-ip rule="login" limit="1/h" alg=gcra rate=1 period=3600 burst=1 conc=0 key="ip" on-failure="` + onFailure + `" reset=true`,
				`tenant rule="tenants" limit="2/h" alg=gcra rate=2 period=3600 burst=2 conc=0 key="header:X-Tenant" on-failure="` + onFailure + `" reset=true`,
				`uploads rule="tenants" limit="" alg= rate=0 period=0 burst=0 conc=2 key="ip" on-failure="" reset=false`,
			}
			if strings.Join(policies, "\n") != strings.Join(want, "\n") {
				t.Errorf("policies:\n%s\nwant:\n%s", strings.Join(policies, "\n"), strings.Join(want, "\n"))
			}

			if s.Rules == nil || s.Rules.Mode != "first" || len(s.Rules.Rules) != 2 || s.Rules.Reload != nil {
				t.Fatalf("rules: %+v, want 2 rules in first-match mode, no file", s.Rules)
			}
			login, tenants := s.Rules.Rules[0], s.Rules.Rules[1]
			if login.Name != "login" || login.Match != "path /login" || strings.Join(login.Limits, ",") != "login-ip" ||
				login.Penalty != "2 denials within 1h0m0s: boxed for 1h0m0s" || login.Missing != "deny" || login.Skip || login.Shadow {
				t.Errorf("the login rule: %+v", login)
			}
			if tenants.Match != "path /tenant/, header X-Internal = …" || strings.Join(tenants.Limits, ",") != "tenant,uploads" || tenants.Penalty != "" {
				t.Errorf("the tenants rule: %+v (a header's expected value is never shown)", tenants)
			}
			if s.Rules.Deny.CIDRs != 1 || s.Rules.Deny.Values != 2 || s.Rules.Allow.CIDRs != 0 || s.Rules.Allow.Values != 0 {
				t.Errorf("lists: allow %+v, deny %+v; want the deny list counted: 1 range, 2 keys", s.Rules.Allow, s.Rules.Deny)
			}

			if len(s.Stores) != 1 || s.Stores[0].Name != "main" || !s.Stores[0].Reports || s.Stores[0].Figures == nil {
				t.Fatalf("stores: %+v, want main, reporting its figures", s.Stores)
			}
			fig, fb := s.Stores[0].Figures, s.Stores[0].Fallback
			wantKind, wantBreaker := "memory", false
			if st.name != "memory" {
				wantKind, wantBreaker = "redis", true
			}
			if fig.Kind != wantKind || fig.Mode != "direct" || fig.Breaker != wantBreaker || fig.BreakerOpen || fb.Active || fb.Switches != 0 || fb.Since != nil {
				t.Errorf("the store: %+v, fallback %+v; want %s, direct, breaker %v and closed, no fallback", fig, fb, wantKind, wantBreaker)
			}
			if ms, ok := store.(interface{ Len() int }); ok && fig.Keys != int64(ms.Len()) {
				t.Errorf("keys %d, the store holds %d", fig.Keys, ms.Len())
			}

			var top []string
			for _, c := range s.Denied.Top {
				top = append(top, fmt.Sprintf("%s %s %d±%d", c.Policy, c.Key, c.Count, c.Overcount))
				if since := time.Since(c.Last); since < 0 || since > time.Minute {
					t.Errorf("%s last denied %v ago", c.Key, since)
				}
			}
			wantTop := []string{
				"api " + f.page.Hash("alice") + " 6±0",
				"login-ip " + f.page.Hash(boxedIP) + " 5±0",
				"api " + f.page.Hash("bob") + " 2±0",
				"tenant " + f.page.Hash("acme") + " 1±0",
			}
			if strings.Join(top, "\n") != strings.Join(wantTop, "\n") || s.Denied.Total != 14 || s.Denied.Counters != 4*opspage.DefaultTopClients {
				t.Errorf("denied (%d in %d counters):\n%s\nwant 14 in %d:\n%s", s.Denied.Total, s.Denied.Counters, strings.Join(top, "\n"), 4*opspage.DefaultTopClients, strings.Join(wantTop, "\n"))
			}

			if len(s.Boxed) != 1 {
				t.Fatalf("penalty box: %+v, want the one boxed client", s.Boxed)
			}
			b := s.Boxed[0]
			if b.Rule != "login" || b.Policy != "login-ip" || b.Key != f.page.Hash(boxedIP) || !b.Releasable || b.LeftSeconds < 3000 || b.LeftSeconds > 3600 {
				t.Errorf("the boxed client: %+v, want %s in login's box for about an hour, releasable", b, f.page.Hash(boxedIP))
			}
		})
	}
}

func TestJSONOrHTMLByQueryOrAccept(t *testing.T) {
	f := newFixture(t, memStore(t))
	for _, c := range []struct {
		query, accept, want string
	}{
		{"", "", "text/html; charset=utf-8"},
		{"", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"},
		{"", "application/json", "application/json"},
		{"", "application/json, text/html", "text/html; charset=utf-8"},
		{"", "application/json, text/html;q=0", "application/json"},
		{"?format=json", "text/html", "application/json"},
		{"?format=html", "application/json", "text/html; charset=utf-8"},
	} {
		resp, body := f.fetch(false, c.query, c.accept)
		if got := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || got != c.want {
			t.Errorf("GET %q, Accept %q: %d %s, want 200 %s", c.query, c.accept, resp.StatusCode, got, c.want)
		}
		if strings.HasPrefix(c.want, "text/html") && !strings.Contains(body, "operator's page") {
			t.Errorf("GET %q, Accept %q: not the page", c.query, c.accept)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q: want no script allowed", csp)
		}
	}
	resp, _ := f.fetch(false, "", "")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	if s := f.request("PUT", "/debug/tollgate"); s != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", s)
	}
	if f.snapshot(false).Writable || !f.snapshot(true).Writable {
		t.Error("writable: want false for a client, true for an operator")
	}
}

// A change without authorisation answers 403 and changes nothing; a change
// for an unknown policy or rule, or with a malformed key, answers 400;
// none of them changes anything.
func TestBadChangesAreRefusedAndChangeNothing(t *testing.T) {
	f := newFixture(t, memStore(t))
	f.traffic()
	aliceHash := f.page.Hash("alice")
	for _, c := range []struct {
		name     string
		operator bool
		form     url.Values
		header   []string
		want     int
	}{
		{"a reset without authorisation", false, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"alice"}}, nil, 403},
		{"a release without authorisation", false, url.Values{"action": {"release"}, "rule": {"login"}, "key": {boxedIP}}, nil, 403},
		{"a reset with a wrong token", false, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"alice"}}, []string{"X-Operator", "guess"}, 403},
		{"an operator's reset from another site", true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"alice"}}, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"an operator's reset from another origin", true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"alice"}}, []string{"Origin", "https://evil.example"}, 403},
		{"a reset under an unknown policy", true, url.Values{"action": {"reset"}, "policy": {"nope"}, "key": {"alice"}}, nil, 400},
		{"a reset under no policy", true, url.Values{"action": {"reset"}, "key": {"alice"}}, nil, 400},
		{"a reset under a concurrency limit", true, url.Values{"action": {"reset"}, "policy": {"uploads"}, "key": {"alice"}}, nil, 400},
		{"a reset of an empty key", true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {""}}, nil, 400},
		{"a reset of a key too long", true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {strings.Repeat("k", core.MaxKeyLen)}}, nil, 400},
		{"a reset naming a key and a hash", true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"alice"}, "hash": {aliceHash}}, nil, 400},
		{"a reset by a malformed hash", true, url.Values{"action": {"reset"}, "policy": {"api"}, "hash": {"h:<script>"}}, nil, 400},
		{"a reset by an upper-case hash", true, url.Values{"action": {"reset"}, "policy": {"api"}, "hash": {strings.ToUpper(aliceHash)}}, nil, 400},
		{"a reset by the hash of a client not listed", true, url.Values{"action": {"reset"}, "policy": {"api"}, "hash": {f.page.Hash("carol")}}, nil, 404},
		{"a reset by a listed hash under another policy", true, url.Values{"action": {"reset"}, "policy": {"tenant"}, "hash": {aliceHash}}, nil, 404},
		{"a release from an unknown rule", true, url.Values{"action": {"release"}, "rule": {"nope"}, "key": {boxedIP}}, nil, 400},
		{"a release from a rule with no penalty", true, url.Values{"action": {"release"}, "rule": {"tenants"}, "key": {boxedIP}}, nil, 400},
		{"a release of an empty key", true, url.Values{"action": {"release"}, "rule": {"login"}}, nil, 400},
		{"a release of a key too long for a box", true, url.Values{"action": {"release"}, "rule": {"login"}, "key": {strings.Repeat("k", core.MaxKeyLen-10)}}, nil, 400},
		{"an unknown action", true, url.Values{"action": {"delete"}, "policy": {"api"}, "key": {"alice"}}, nil, 400},
	} {
		for _, asJSON := range []bool{true, false} {
			status, body := f.change(c.operator, asJSON, c.form, c.header...)
			if status != c.want {
				t.Errorf("%s (JSON %v): %d, want %d: %s", c.name, asJSON, status, c.want, body)
			}
			if asJSON && !strings.HasPrefix(body, "{\n  \"error\": ") {
				t.Errorf("%s: body %q, want a JSON error", c.name, body)
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("%s: the answer holds markup from the request: %s", c.name, body)
			}
		}
	}
	// Nothing changed: alice is still denied, the client still boxed.
	if s := f.request("GET", "/go", "X-Client", "alice"); s != 429 {
		t.Errorf("alice after the refused changes: %d, want still 429", s)
	}
	s := f.snapshot(true)
	if len(s.Boxed) != 1 || s.Boxed[0].Key != f.page.Hash(boxedIP) {
		t.Errorf("penalty box after the refused changes: %+v, want the client still in it", s.Boxed)
	}
	if s.Denied.Top[0].Count != 7 {
		t.Errorf("alice's denials: %d, want the 6 and the one just now", s.Denied.Top[0].Count)
	}
}

// An authorised reset gives the client its quota back and a release lets it
// out of its box, by key or by the hash the page lists, on memory, one
// Redis server and a Redis Cluster; a browser's form is sent back to the
// page.
func TestChangesResetAndRelease(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			f := newFixture(t, st.open(t))
			f.traffic()
			change := func(what string, asJSON bool, form url.Values, want int) string {
				t.Helper()
				status, body := f.change(true, asJSON, form)
				if status != want {
					t.Fatalf("%s: %d, want %d: %s", what, status, want, body)
				}
				return body
			}
			body := change("reset alice by hash", true, url.Values{"action": {"reset"}, "policy": {"api"}, "hash": {f.page.Hash("alice")}}, 200)
			if body != "{\n  \"done\": \"reset\"\n}\n" {
				t.Errorf("the JSON answer %q, want done: reset", body)
			}
			if got := f.times(4, "/go", "X-Client", "alice"); got[200] != 3 || got[429] != 1 {
				t.Errorf("alice after the reset: %v, want her whole quota of 3 again", got)
			}
			if got := f.times(1, "/go", "X-Client", "bob"); got[429] != 1 {
				t.Errorf("bob after alice's reset: %v, want still denied", got)
			}
			change("reset bob by key, from a form", false, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"bob"}}, http.StatusSeeOther)
			if got := f.times(1, "/go", "X-Client", "bob"); got[200] != 1 {
				t.Errorf("bob after his reset: %v, want admitted", got)
			}
			change("reset a tenant of the rules", true, url.Values{"action": {"reset"}, "policy": {"tenant"}, "key": {"acme"}}, 200)
			if got := f.times(1, "/tenant/x", "X-Tenant", "acme", "X-Internal", "shared-secret"); got[200] != 1 {
				t.Errorf("acme after its reset: %v, want admitted", got)
			}

			change("release the boxed client by hash", true, url.Values{"action": {"release"}, "rule": {"login"}, "hash": {f.page.Hash(boxedIP)}}, 200)
			if s := f.snapshot(false); len(s.Boxed) != 0 {
				t.Errorf("penalty box after the release: %+v, want empty", s.Boxed)
			}
			// Out of the box, its next request is the limit's own denial
			// (its quota is spent), and it takes two to box it again.
			for i := 1; i <= 2; i++ {
				if s := f.request("GET", "/login", "X-Forwarded-For", boxedIP); s != 429 {
					t.Fatalf("login %d after the release: %d, want 429", i, s)
				}
				if boxed := len(f.snapshot(false).Boxed); boxed != 0 {
					t.Fatalf("after denial %d following the release: %d boxed, want none yet (the box answers the next request)", i, boxed)
				}
			}
			f.request("GET", "/login", "X-Forwarded-For", boxedIP)
			if s := f.snapshot(false); len(s.Boxed) != 1 {
				t.Fatalf("after two denials following the release: %+v, want boxed again", s.Boxed)
			}
			change("release by key, from a form", false, url.Values{"action": {"release"}, "rule": {"login"}, "key": {boxedIP}}, http.StatusSeeOther)
			change("reset its login quota too", true, url.Values{"action": {"reset"}, "policy": {"login-ip"}, "key": {boxedIP}}, 200)
			if s := f.request("GET", "/login", "X-Forwarded-For", boxedIP); s != 200 {
				t.Fatalf("login after release and reset: %d, want 200", s)
			}
		})
	}
}

// A store that fails: the page shows the limiters deciding on their
// fallback with the store's error and the breaker open, then back.
func TestFallbackAndBreakerState(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{MaxRetries: -1, DialTimeout: time.Second})
	store := redisStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithBreaker(2, time.Hour))
	f := newFixture(t, store)
	if got := f.times(1, "/go", "X-Client", "dave"); got[200] != 1 {
		t.Fatalf("with Redis up: %v", got)
	}
	srv.Kill()
	// The limiter falls back to the store's local store: still limited.
	if got := f.times(5, "/go", "X-Client", "dave"); got[200] != 3 || got[429] != 2 {
		t.Fatalf("with Redis down: %v, want the fallback's quota of 3 and then 429", got)
	}
	s := waitFor(t, f, "the fallback to show", func(s snapshot) bool { return s.Stores[0].Fallback.Active })
	fb, fig := s.Stores[0].Fallback, s.Stores[0].Figures
	if fb.Failing != 1 || fb.Switches != 1 || fb.Since == nil || !strings.Contains(fb.LastError, "core: store failed") {
		t.Errorf("fallback: %+v, want one limiter failing since the switch, with the store's error", fb)
	}
	if !fig.BreakerOpen || fig.BreakerOpened != 1 {
		t.Errorf("breaker: %+v, want open, opened once", fig)
	}
	if resp, html := f.fetch(false, "", ""); resp.StatusCode != 200 || !strings.Contains(html, "deciding on the fallback</span> (1 limiter) since ") || !strings.Contains(html, `<span class="bad">open</span>`) {
		t.Errorf("the page with Redis down: %d\n%s", resp.StatusCode, html)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// The breaker stays open for its hour: a reset says so (503), and
	// changes nothing it could not.
	status, body := f.change(true, true, url.Values{"action": {"reset"}, "policy": {"api"}, "key": {"dave"}})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "breaker open") {
		t.Errorf("a reset while the breaker is open: %d %s, want 503 naming the breaker", status, body)
	}
	// The fallback's count was reset all the same: the local store decides.
	if got := f.times(1, "/go", "X-Client", "dave"); got[200] != 1 {
		t.Errorf("dave after the reset that reached the fallback: %v, want admitted", got)
	}
}

// waitFor polls the page until ok: the failover hook runs on a goroutine of
// its own.
func waitFor(t *testing.T, f *fixture, what string, ok func(snapshot) bool) snapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := f.snapshot(false)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, s.Stores)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A key holding markup, shown raw, is text on the page: never a tag, in
// the denied clients and the penalty box, as HTML and as JSON.
func TestKeysHoldingMarkupAreEscaped(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	f := newFixture(t, memStore(t), opspage.WithRawKeys())
	f.times(5, "/go", "X-Client", evil)
	f.times(3, "/tenant/x", "X-Tenant", evil, "X-Internal", "shared-secret")
	_, html := f.fetch(true, "", "text/html")
	if strings.Contains(html, "<script") {
		t.Fatalf("the page holds a script tag:\n%s", html)
	}
	if n := strings.Count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"); n != 2 {
		t.Errorf("the key shown escaped %d times, want 2 (under api and under tenant)", n)
	}
	_, js := f.fetch(false, "?format=json", "")
	if strings.Contains(js, "<") || !strings.Contains(js, `\u003cscript\u003ealert(1)\u003c/script\u003e`) {
		t.Errorf("the JSON holds the key unescaped, or not at all:\n%s", js)
	}
	s := f.snapshot(false)
	if !s.RawKeys || s.Denied.Top[0].Key != evil {
		t.Errorf("raw keys %v, top key %q; want the key itself, %q", s.RawKeys, s.Denied.Top[0].Key, evil)
	}
	// A reset of it by the hash the page posts.
	if status, body := f.change(true, true, url.Values{"action": {"reset"}, "policy": {"api"}, "hash": {f.page.Hash(evil)}}); status != 200 {
		t.Fatalf("reset of the key with markup: %d %s", status, body)
	}
	if s := f.request("GET", "/go", "X-Client", evil); s != 200 {
		t.Errorf("after its reset: %d, want 200", s)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  opspage.Option
	}{
		{"a nil authorisation", opspage.WithAuthorize(nil)},
		{"a short hash secret", opspage.WithHashSecret([]byte("short"))},
		{"no top clients", opspage.WithTopClients(0)},
		{"too many top clients", opspage.WithTopClients(1001)},
		{"a nil clock", opspage.WithClock(nil)},
		{"a nil option", nil},
	} {
		if _, err := opspage.New(c.opt); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	p, err := opspage.New()
	if err != nil {
		t.Fatal(err)
	}
	s := memStore(t)
	if _, err := p.Store("main", s); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store("main", s); err == nil {
		t.Error("two stores named main: no error")
	}
	if _, err := p.Store("bad\nname", s); err == nil {
		t.Error("a store name with a newline: no error")
	}
	l, _ := core.NewLimiter(s, core.PerHour(1), core.WithName("x"))
	if err := p.Limiters(l, l); err == nil {
		t.Error("two limiters named x: no error")
	}
	if err := p.Rules(nil); err == nil {
		t.Error("a nil engine: no error")
	}
	// The same secret gives the same hashes on every instance.
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, _ := opspage.New(opspage.WithHashSecret(secret))
	b, _ := opspage.New(opspage.WithHashSecret(secret))
	c, _ := opspage.New()
	if a.Hash("alice") != b.Hash("alice") || a.Hash("alice") == c.Hash("alice") || len(a.Hash("alice")) != 18 {
		t.Errorf("hashes %q %q %q: want the first two equal, the third (another secret) not", a.Hash("alice"), b.Hash("alice"), c.Hash("alice"))
	}
}
