package rules_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/rules"
)

// TestMissingKey: a rule whose key cannot be read (a header absent, sent
// twice, or 1 MB long) follows its Missing: deny with its status, skip to
// the next rule, or fall back to another key, apart from the primary keys.
func TestMissingKey(t *testing.T) {
	api := func(name string, m rules.Missing) rules.Rule {
		return rules.Rule{Name: name, Match: rules.Match{PathPrefixes: []string{"/api/"}}, Missing: m,
			Limits: []rules.NamedLimit{{Name: name, Limit: core.PerMinute(2), Key: "header:X-Api-Key"}}}
	}
	rest := rules.Rule{Name: "rest", Match: rules.Match{PathPrefixes: []string{"/"}}, Limits: []rules.NamedLimit{{Name: "rest", Limit: core.PerMinute(100), Key: "ip"}}}
	huge := strings.Repeat("k", 1<<20)
	absent := []string{}
	twice := []string{"X-Api-Key", "a", "X-Api-Key", "b"}
	long := []string{"X-Api-Key", huge}
	cases := []struct {
		name   string
		rule   rules.Rule
		header []string
		status int
		policy string
	}{
		{"deny by default answers 401", api("api", rules.Missing{}), absent, 401, ""},
		{"deny with a chosen status", api("api", rules.Missing{Status: 429}), absent, 429, ""},
		{"deny: a header sent twice", api("api", rules.Missing{}), twice, 401, ""},
		{"deny: a 1 MB header", api("api", rules.Missing{}), long, 401, ""},
		{"skip passes to the next rule", api("api", rules.Missing{Action: rules.MissingSkip}), absent, 200, "rest"},
		{"skip: a 1 MB header", api("api", rules.Missing{Action: rules.MissingSkip}), long, 200, "rest"},
		{"fallback keys by the IP", api("api", rules.Missing{Action: rules.MissingFallback, Fallback: "ip"}), absent, 200, "api"},
		{"fallback: a header sent twice", api("api", rules.Missing{Action: rules.MissingFallback, Fallback: "ip"}), twice, 200, "api"},
		{"a key that is there", api("api", rules.Missing{}), []string{"X-Api-Key", "k1"}, 200, "api"},
		{"fallback whose own key is missing too answers 401", api("api", rules.Missing{Action: rules.MissingFallback, Fallback: "header:X-Client"}), absent, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := store(t)
			var evs events
			e, err := rules.New(s, rules.Config{Rules: []rules.Rule{c.rule, rest}}, rules.WithHook(evs.hook))
			if err != nil {
				t.Fatal(err)
			}
			srv := server(t, e)
			r := get(t, srv, "GET", "/api/x", c.header...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d", r.status, c.status)
			}
			if got := r.h.Get("RateLimit-Policy"); c.policy != "" && !strings.HasPrefix(got, `"`+c.policy+`"`) {
				t.Fatalf("RateLimit-Policy %q, want %q", got, c.policy)
			}
			if c.status == 401 || c.status == 429 && c.policy == "" {
				ev := evs.take()
				if len(ev) != 1 || ev[0].Outcome() != "no-key" || ev[0].Rule != "api" {
					t.Fatalf("events %+v, want one no-key event of rule api", ev)
				}
				if !errors.Is(ev[0].Err, keyfuncs.ErrNoKey) || strings.Contains(ev[0].Err.Error(), huge[:64]) {
					t.Fatalf("event error %v: want one wrapping keyfuncs.ErrNoKey, without the header's value", ev[0].Err)
				}
			}
		})
	}
	// A fallback bucket is not the bucket of a header naming the same
	// client: a client cannot spend another's fallback quota by sending
	// its address as a key.
	s, _ := store(t)
	e, err := rules.New(s, rules.Config{Rules: []rules.Rule{api("api", rules.Missing{Action: rules.MissingFallback, Fallback: "ip"})}})
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	for i := 0; i < 2; i++ {
		if r := get(t, srv, "GET", "/api/x", "X-Api-Key", "127.0.0.1"); r.status != 200 {
			t.Fatalf("keyed request %d: %d", i+1, r.status)
		}
	}
	if r := get(t, srv, "GET", "/api/x"); r.status != 200 || r.h.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("the fallback bucket after a header named its address: %d, remaining %q; want 200, 1", r.status, r.h.Get("X-RateLimit-Remaining"))
	}
}

// TestLists: the deny list answers 403 before any rule; the allow list lets
// a client through with no limit; both by CIDR and by key value.
func TestLists(t *testing.T) {
	s, _ := store(t)
	var evs events
	cfg := rules.Config{
		Deny:  rules.List{CIDRs: []string{"203.0.113.0/24"}, Keys: []rules.KeyValues{{Key: "header:X-Api-Key", Values: []string{"revoked"}}}},
		Allow: rules.List{CIDRs: []string{"127.0.0.1"}, Keys: []rules.KeyValues{{Key: "header:X-Api-Key", Values: []string{"monitoring"}}}},
		Rules: []rules.Rule{{Name: "all", Match: rules.Match{PathPrefixes: []string{"/"}}, Limits: []rules.NamedLimit{{Name: "all", Limit: core.PerMinute(1), Key: "header:X-Api-Key"}}}},
	}
	e, err := rules.New(s, cfg, rules.WithHook(evs.hook))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e) // the test client is 127.0.0.1: allow-listed
	for i := 0; i < 3; i++ {
		if r := get(t, srv, "GET", "/x"); r.status != 200 || r.h.Get("RateLimit") != "" {
			t.Fatalf("allow-listed address, request %d: %d, fields %q; want 200 and no fields", i+1, r.status, r.h.Get("RateLimit"))
		}
	}
	if r := get(t, srv, "GET", "/x", "X-Api-Key", "revoked"); r.status != 403 {
		t.Fatalf("a deny-listed key from an allow-listed address: %d, want 403 (deny is checked first)", r.status)
	}
	if ev := evs.take(); len(ev) != 1 || ev[0].Outcome() != "deny-listed" {
		t.Fatalf("events %+v, want one deny-listed", ev)
	}
	// Away from the allowed address: the key lists decide.
	cfg.Allow.CIDRs = nil
	if err := e.Replace(cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if r := get(t, srv, "GET", "/x", "X-Api-Key", "monitoring"); r.status != 200 {
			t.Fatalf("allow-listed key, request %d: %d", i+1, r.status)
		}
	}
	if r := get(t, srv, "GET", "/x", "X-Api-Key", "k1"); r.status != 200 {
		t.Fatalf("an ordinary key: %d", r.status)
	}
	if r := get(t, srv, "GET", "/x", "X-Api-Key", "k1"); r.status != 429 {
		t.Fatalf("an ordinary key, second request: %d, want 429", r.status)
	}
	cfg.Deny = rules.List{CIDRs: []string{"127.0.0.0/8"}}
	if err := e.Replace(cfg); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv, "GET", "/x", "X-Api-Key", "monitoring"); r.status != 403 {
		t.Fatalf("a deny-listed range: %d, want 403", r.status)
	}
}

// TestPenaltyBox: login at 2 a minute, boxed for 10 minutes after 3
// denials within a minute. In the box every request is 429 with
// Retry-After the time left, and no decision is spent.
func TestPenaltyBox(t *testing.T) {
	s, clock := store(t)
	var evs events
	cfg := rules.Config{Rules: []rules.Rule{{
		Name: "login", Match: rules.Match{Methods: []string{"POST"}, PathPrefixes: []string{"/login"}},
		Limits:  []rules.NamedLimit{{Name: "login", Limit: core.PerMinute(2), Key: "ip"}},
		Penalty: &core.Penalty{Denials: 3, Within: time.Minute, For: 10 * time.Minute},
	}}}
	e, err := rules.New(s, cfg, rules.WithHook(evs.hook))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	post := func() reply { return get(t, srv, "POST", "/login") }
	for i := 0; i < 2; i++ {
		if r := post(); r.status != 200 {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	for i := 0; i < 2; i++ {
		if r := post(); r.status != 429 || r.h.Get("Retry-After") != "30" {
			t.Fatalf("denial %d: %d, Retry-After %q; want 429 and 30 (the limit's own wait)", i+1, r.status, r.h.Get("Retry-After"))
		}
	}
	if r := post(); r.status != 429 || r.h.Get("Retry-After") != "600" {
		t.Fatalf("the third denial: %d, Retry-After %q; want 429 and 600 (into the box)", r.status, r.h.Get("Retry-After"))
	}
	clock.Advance(4 * time.Minute) // the limit is whole again; the box is not
	r := post()
	if r.status != 429 || r.h.Get("Retry-After") != "360" || r.h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("in the box: %d, Retry-After %q, remaining %q; want 429, 360, 0", r.status, r.h.Get("Retry-After"), r.h.Get("X-RateLimit-Remaining"))
	}
	evs.take()
	post()
	if ev := evs.take(); len(ev) != 1 || ev[0].Outcome() != "penalty" || ev[0].Rule != "login" || !strings.HasPrefix(ev[0].Key, "h:") {
		t.Fatalf("events in the box %+v, want one penalty event with a hashed key", ev)
	}
	clock.Advance(6 * time.Minute)
	// The box is open, and it spent nothing while closed: both attempts
	// of the minute are there.
	for i := 0; i < 2; i++ {
		if r := post(); r.status != 200 {
			t.Fatalf("after the box, attempt %d: %d", i+1, r.status)
		}
	}
	// Other routes and clients are not in the box.
	if r := get(t, srv, "GET", "/x"); r.status != 200 {
		t.Fatalf("an unmatched route: %d", r.status)
	}
}

// TestShadow: a rule in shadow decides and reports "shadow-denied" but
// never answers 429; flipping it to enforce is a Replace, and its counters
// carry over.
func TestShadow(t *testing.T) {
	s, _ := store(t)
	var evs events
	rule := rules.Rule{Name: "search", Shadow: true, Match: rules.Match{PathPrefixes: []string{"/"}},
		Limits:  []rules.NamedLimit{{Name: "search", Limit: core.PerMinute(2), Key: "ip"}},
		Penalty: &core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}
	cfg := rules.Config{Rules: []rules.Rule{rule}}
	e, err := rules.New(s, cfg, rules.WithHook(evs.hook))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	for i := 0; i < 5; i++ {
		r := get(t, srv, "GET", "/search")
		if r.status != 200 || r.h.Get("RateLimit") != "" {
			t.Fatalf("shadow request %d: %d, fields %q; want 200, no fields", i+1, r.status, r.h.Get("RateLimit"))
		}
	}
	var outcomes []string
	for _, ev := range evs.take() {
		outcomes = append(outcomes, ev.Outcome())
	}
	if got := strings.Join(outcomes, ","); got != "allowed,allowed,shadow-denied,shadow-denied,shadow-denied" {
		t.Fatalf("outcomes %s", got)
	}
	// Enforce it: the counter carries over (2 taken of 2), so the next
	// request is denied; a shadow rule boxed no one.
	cfg.Rules[0].Shadow = false
	if err := e.Replace(cfg); err != nil {
		t.Fatal(err)
	}
	r := get(t, srv, "GET", "/search")
	if r.status != 429 || r.h.Get("Retry-After") != "3600" {
		t.Fatalf("enforced: %d, Retry-After %q; want 429 and 3600 (the first denial boxes)", r.status, r.h.Get("Retry-After"))
	}
	// Global shadow overrides every rule.
	if err := e.Replace(rules.Config{Shadow: true, Rules: cfg.Rules}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv, "GET", "/search"); r.status != 200 {
		t.Fatalf("under global shadow, a boxed client: %d, want 200", r.status)
	}
}

// TestBadConfig: every invalid field is reported, by its path.
func TestBadConfig(t *testing.T) {
	s, _ := store(t)
	all := rules.Match{PathPrefixes: []string{"/"}}
	ok := []rules.NamedLimit{{Name: "ok", Limit: core.PerSecond(1), Key: "ip"}}
	cases := []struct {
		name string
		cfg  rules.Config
		want string
	}{
		{"an empty match", rules.Config{Rules: []rules.Rule{{Name: "a", Limits: ok}}}, "rules[0].match: empty"},
		{"a bad CIDR", rules.Config{Rules: []rules.Rule{{Name: "a", Match: rules.Match{CIDRs: []string{"10.0.0.0/33"}}, Limits: ok}}}, `rules[0].match.cidr[0]: "10.0.0.0/33"`},
		{"a bad regex", rules.Config{Rules: []rules.Rule{{Name: "a", Match: rules.Match{PathRegex: "("}, Limits: ok}}}, "rules[0].match.path_regex: error parsing regexp"},
		{"two rules of one name", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: ok}, {Name: "a", Match: all, Skip: true}}}, `rules[1].name: "a": also the name of rules[0]`},
		{"two policies of one name", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: ok}, {Name: "b", Match: all, Limits: ok}}}, `rules[1].limits[0].name: "ok": also the name of rules[0].limits[0]`},
		{"an invalid limit", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: []rules.NamedLimit{{Name: "x", Key: "ip"}}}}}, "rules[0].limits[0].limit:"},
		{"an unknown key source", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: []rules.NamedLimit{{Name: "x", Limit: core.PerSecond(1), Key: "cookie:sid"}}}}}, `rules[0].limits[0].key: "cookie:sid": unknown key source`},
		{"no limits", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all}}}, "rules[0].limits: none"},
		{"a bad penalty", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: ok, Penalty: &core.Penalty{Denials: 0, Within: time.Second, For: time.Second}}}}, "rules[0].penalty: core: invalid penalty: denials 0"},
		{"a fallback without a key", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: ok, Missing: rules.Missing{Action: rules.MissingFallback}}}}, "rules[0].missing.key: empty"},
		{"a deny status out of range", rules.Config{Rules: []rules.Rule{{Name: "a", Match: all, Limits: ok, Missing: rules.Missing{Status: 200}}}}, "rules[0].missing.status: 200"},
		{"too many rules", rules.Config{Rules: make([]rules.Rule, rules.MaxRules+1)}, "rules: 10001 rules, more than 10000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rules.New(s, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			var fe *rules.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *rules.FieldError", err)
			}
		})
	}
}

// A penalty needs a store that keeps boxes, and says so at construction.
func TestPenaltyNeedsBoxStore(t *testing.T) {
	_, err := rules.New(plainStore{}, rules.Config{Rules: []rules.Rule{{Name: "a", Match: rules.Match{PathPrefixes: []string{"/"}},
		Limits: []rules.NamedLimit{{Name: "a", Limit: core.PerSecond(1), Key: "ip"}}, Penalty: &core.Penalty{Denials: 1, Within: time.Second, For: time.Second}}}})
	if !errors.Is(err, core.ErrNoBoxStore) {
		t.Fatalf("error %v, want core.ErrNoBoxStore", err)
	}
}

// plainStore is a Store with no TakeMany: what a third-party store may be.
type plainStore struct{}

func (plainStore) Take(_ context.Context, _ string, l core.Limit, _ int64) (core.Decision, error) {
	return core.Decision{Allowed: true, Limit: l}, nil
}
func (plainStore) Close() error { return nil }

// TestReplaceUnderLoad: rules replaced while requests are decided. Each
// request is decided wholly under the old rules or wholly under the new:
// its fields never mix the two, and none fails.
func TestReplaceUnderLoad(t *testing.T) {
	s, _ := store(t)
	cfg := func(q int64) rules.Config {
		return rules.Config{Rules: []rules.Rule{{Name: "all", Match: rules.Match{PathPrefixes: []string{"/"}},
			Limits: []rules.NamedLimit{{Name: "per-ip", Limit: core.PerMinute(q), Key: "ip"}}}}}
	}
	e, err := rules.New(s, cfg(100000))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.Replace(cfg(100000 + int64(i%2)*100000)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				w := httptest.NewRecorder()
				if out := e.Serve(w, httptest.NewRequest("GET", "/x", nil), ""); out != httplimit.Proceed {
					t.Errorf("outcome %v", out)
					return
				}
				q, policy := w.Header().Get("X-RateLimit-Limit"), w.Header().Get("RateLimit-Policy")
				if q != "100000" && q != "200000" || policy != `"per-ip";q=`+q+`;w=60` {
					t.Errorf("limit %q with policy %q: fields of two rule sets, or neither", q, policy)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-done
}
