package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// The concurrency limits of a rules file (concurrent: N) on a real Redis
// and a real Redis Cluster, as rules/concurrency_test.go checks them on the
// memory store. These tests live here, not in rules, so that go-redis and
// redisstore stay out of the rules module's requirements (and so out of
// the build list of every user of rules).

// testSecret is the key secret of the rules tests' stores: a Cluster needs
// one, and two instances share a limit only with the same secret.
var testSecret = []byte("tollgate e2e tests' key secret..")

// backends are the Redis setups a rules file runs on. On a Cluster every
// stored key is in a slot of its own (a keyed hash, braced with
// WithHashTag), so a request's concurrency limits are one script per key
// and its rate limits a step split by slot: the two cases of
// redisstore's "Several limits in one step".
var backends = []struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
	opts   []redisstore.Option
}{
	{"standalone", func(t *testing.T) redis.UniversalClient { return redistest.Shared(t).Client(t, nil) }, nil},
	{"cluster", func(t *testing.T) redis.UniversalClient {
		return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{})
	}, nil},
	{"cluster with hash tag", func(t *testing.T) redis.UniversalClient {
		return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{})
	}, []redisstore.Option{redisstore.WithHashTag()}},
}

// patience is how long a test waits for what it drives (a held request to
// reach its handler, a released one to answer): long enough for a busy
// machine under -race, and only a bound on a failure.
const patience = 30 * time.Second

// instance is one process of a service: a Redis store of its own (its own
// slot renewer), an Engine applying a rules file, and an HTTP server
// serving e.Handler in front of a handler that holds a request carrying
// X-Hold until the test releases it.
type instance struct {
	store   *redisstore.Store
	srv     *httptest.Server
	entered chan struct{} // a held request has reached the handler
	release chan struct{} // lets one held request end
	answers chan int      // the statuses of held requests, as they end
}

// newInstance starts an instance applying yaml, counting under prefix on
// client. Its limiters fail closed: a request a Redis error decided is
// answered 503, never admitted by a fallback store, so every 200 and 429 a
// test sees is Redis' decision.
func newInstance(t *testing.T, client redis.UniversalClient, prefix string, opts []redisstore.Option, yaml string) *instance {
	t.Helper()
	o := append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithKeySecret(testSecret), redisstore.WithTimeout(storeTimeout)}, opts...)
	s, err := redisstore.New(client, o...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg, err := rules.Parse("rules.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(s, cfg, rules.WithLimiterOptions(core.WithFailClosed()))
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{store: s, entered: make(chan struct{}), release: make(chan struct{}), answers: make(chan int, 16)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			in.entered <- struct{}{}
			<-in.release
		}
		_, _ = io.WriteString(w, "ok")
	})
	in.srv = httptest.NewServer(e.Handler(h))
	t.Cleanup(in.srv.Close)
	t.Cleanup(func() { close(in.release) }) // before Close, which waits for the handlers
	return in
}

// ruleReply is a response's status and header.
type ruleReply struct {
	status int
	h      http.Header
}

func (in *instance) request(t *testing.T, header []string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", in.srv.URL+"/upload", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// get sends GET /upload with the header pairs and returns the reply once
// the request has ended.
func (in *instance) get(t *testing.T, header ...string) ruleReply {
	t.Helper()
	resp, err := in.srv.Client().Do(in.request(t, header))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return ruleReply{resp.StatusCode, resp.Header}
}

// hold sends a request that waits in the handler until end lets it go, and
// returns once the handler runs, so that it holds its slots.
func (in *instance) hold(t *testing.T, header ...string) {
	t.Helper()
	req := in.request(t, append([]string{"X-Hold", "1"}, header...))
	go func() {
		resp, err := in.srv.Client().Do(req)
		if err != nil {
			in.answers <- 0
			return
		}
		resp.Body.Close()
		in.answers <- resp.StatusCode
	}()
	select {
	case <-in.entered:
	case status := <-in.answers:
		t.Fatalf("a request to hold was answered %d before the handler ran", status)
	case <-time.After(patience):
		t.Fatalf("a request to hold did not reach the handler within %v", patience)
	}
}

// end lets one held request of the instance end (which one, when several
// are held, is the handlers' race) and returns its status once its client
// has the answer, after its slots were given back.
func (in *instance) end(t *testing.T) int {
	t.Helper()
	select {
	case in.release <- struct{}{}:
	case <-time.After(patience):
		t.Fatalf("no held request took the release within %v", patience)
	}
	select {
	case s := <-in.answers:
		return s
	case <-time.After(patience):
		t.Fatalf("the released request did not answer within %v", patience)
	}
	return 0
}

// heldSlots is how many slots of the concurrency limit name hold key in
// Redis, as any instance sees them. The limit's prefix is the one a
// limiter of that name puts before its keys, as the rules' limiters do.
func heldSlots(t *testing.T, s *redisstore.Store, name, key string) int64 {
	t.Helper()
	l, err := core.NewConcurrencyLimiter(s, 1, core.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.HeldSlots(context.Background(), l.Prefix()+key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// clientIP is the ip key of the tests' requests, which come from the
// loopback address.
func clientIP(t *testing.T) string {
	t.Helper()
	ip, err := keyfuncs.IP()
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	k, err := ip(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// remaining is the r= of the policy name in a RateLimit field
// (`"name";r=3;t=60, …`), and whether the policy is listed.
func remaining(field, name string) (int64, bool) {
	for _, item := range strings.Split(field, ", ") {
		rest, ok := strings.CutPrefix(item, strconv.Quote(name)+";")
		if !ok {
			continue
		}
		for _, p := range strings.Split(rest, ";") {
			if v, ok := strings.CutPrefix(p, "r="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// concDenied checks that r is a concurrency limit's denial: 429,
// Retry-After 1 (a slot may free at any moment), and the limit's policy in
// RateLimit-Policy with the concurrent-requests unit.
func concDenied(t *testing.T, what string, r ruleReply, name string, n int) {
	t.Helper()
	item := fmt.Sprintf(`%q;q=%d;qu="concurrent-requests"`, name, n)
	if r.status != http.StatusTooManyRequests || r.h.Get("Retry-After") != "1" || !strings.Contains(r.h.Get("RateLimit-Policy"), item) {
		t.Fatalf("%s: %d, Retry-After %q, RateLimit-Policy %q; want 429, 1 and a policy %s",
			what, r.status, r.h.Get("Retry-After"), r.h.Get("RateLimit-Policy"), item)
	}
}

// rulePrefix is a test's own prefix in the shared servers.
func rulePrefix() string {
	return fmt.Sprintf("e2e-rules:%d:%d:", time.Now().UnixNano(), prefixes.Add(1))
}

// TestRulesConcurrencyOnRedis: a rules file's concurrency limit of 3
// admits 3 requests of a client in flight, held on two instances sharing
// the limit through Redis; the 4th, on either instance, is denied 429 with
// Retry-After 1 and the concurrent unit in RateLimit-Policy; once one
// ends, a request is admitted again; and no slot is left in Redis when the
// last ends.
func TestRulesConcurrencyOnRedis(t *testing.T) {
	const yaml = `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 3, key: ip}
`
	ip := clientIP(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			client := b.client(t)
			prefix := rulePrefix()
			a := newInstance(t, client, prefix, b.opts, yaml)
			o := newInstance(t, client, prefix, b.opts, yaml)

			a.hold(t)
			a.hold(t)
			o.hold(t)
			if n := heldSlots(t, a.store, "uploads-in-flight", ip); n != 3 {
				t.Fatalf("3 requests held on two instances: %d slots in Redis, want 3", n)
			}
			for _, in := range []*instance{a, o} {
				r := in.get(t)
				concDenied(t, "a 4th request in flight", r, "uploads-in-flight", 3)
				if got, want := r.h.Get("RateLimit-Policy"), `"uploads-in-flight";q=3;qu="concurrent-requests"`; got != want {
					t.Fatalf("RateLimit-Policy %q, want %q", got, want)
				}
				if got, want := r.h.Get("RateLimit"), `"uploads-in-flight";r=0`; got != want {
					t.Fatalf("RateLimit %q, want %q", got, want)
				}
			}

			// One of a's two ends: its slot is free, for either instance.
			if s := a.end(t); s != http.StatusOK {
				t.Fatalf("the first request to end: %d, want 200", s)
			}
			r := o.get(t)
			if r.status != http.StatusOK || r.h.Get("RateLimit") != `"uploads-in-flight";r=0` {
				t.Fatalf("a request once a slot is free: %d, RateLimit %q; want 200, holding the last slot", r.status, r.h.Get("RateLimit"))
			}
			o.hold(t) // the freed slot, held again
			concDenied(t, "a 4th again", a.get(t), "uploads-in-flight", 3)

			for _, in := range []*instance{a, o, o} {
				if s := in.end(t); s != http.StatusOK {
					t.Fatalf("a held request: %d, want 200", s)
				}
			}
			if n := heldSlots(t, a.store, "uploads-in-flight", ip); n != 0 {
				t.Fatalf("every request ended: %d slots in Redis, want 0", n)
			}
		})
	}
}

// TestRulesMixedLimitsOnRedis: one route under two concurrency limits and
// two rate limits, taken together. A request a concurrency limit denies is
// answered 429 with Retry-After 1, keeps no slot of the other concurrency
// limit and takes nothing from the rate limits; one a rate limit denies
// gives its slots back, so that the next request gets them.
func TestRulesMixedLimitsOnRedis(t *testing.T) {
	const yaml = `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: ip-in-flight, concurrent: 2, key: ip}
      - {name: ip-per-day, limit: 100/24h, key: ip}
      - {name: key-in-flight, concurrent: 1, key: "header:X-Key"}
      - {name: key-per-hour, limit: 2/h, key: "header:X-Key"}
`
	ip := clientIP(t)
	// admitted checks an admitted reply and ip-per-day's quota left in it:
	// the day's 100 less the requests admitted so far (GCRA gives one back
	// every 864s, far beyond a test).
	admitted := func(t *testing.T, what string, r ruleReply, n int64) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d, want 200", what, r.status)
		}
		if left, ok := remaining(r.h.Get("RateLimit"), "ip-per-day"); !ok || left != 100-n {
			t.Fatalf("%s: RateLimit %q; want ip-per-day's r=%d (%d admitted so far)", what, r.h.Get("RateLimit"), 100-n, n)
		}
	}
	slots := func(t *testing.T, what string, in *instance, want int64) {
		t.Helper()
		if n := heldSlots(t, in.store, "ip-in-flight", ip); n != want {
			t.Fatalf("%s: %d ip-in-flight slots in Redis, want %d", what, n, want)
		}
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			in := newInstance(t, b.client(t), rulePrefix(), b.opts, yaml)

			in.hold(t, "X-Key", "a") // admitted: 1; ip 1 of 2 in flight, key a 1 of 1
			// Key a again: key-in-flight denies it after ip-in-flight gave
			// it a slot, which it gives back.
			concDenied(t, "key a, a 2nd in flight", in.get(t, "X-Key", "a"), "key-in-flight", 1)
			slots(t, "after a denial by key-in-flight", in, 1)
			in.hold(t, "X-Key", "b") // admitted: 2; ip 2 of 2
			concDenied(t, "key c, a 3rd from the ip", in.get(t, "X-Key", "c"), "ip-in-flight", 2)
			slots(t, "after a denial by ip-in-flight", in, 2)
			if s := in.end(t); s != http.StatusOK {
				t.Fatalf("a held request: %d", s)
			}
			r := in.get(t, "X-Key", "c") // admitted: 3
			admitted(t, "key c once a slot is free", r, 3)
			if left, ok := remaining(r.h.Get("RateLimit"), "key-per-hour"); !ok || left != 1 {
				t.Fatalf("key c: RateLimit %q; want key-per-hour's r=1 (its denial took nothing)", r.h.Get("RateLimit"))
			}
			if s := in.end(t); s != http.StatusOK {
				t.Fatalf("the other held request: %d", s)
			}

			// Key a has spent 1 of its 2 an hour (its denial took
			// nothing): one more, then the rate limit denies.
			admitted(t, "key a's 2nd of the hour", in.get(t, "X-Key", "a"), 4)
			in.hold(t, "X-Key", "b") // admitted: 5; ip 1 of 2
			r = in.get(t, "X-Key", "a")
			if retry, _ := strconv.Atoi(r.h.Get("Retry-After")); r.status != http.StatusTooManyRequests || retry <= 1 {
				t.Fatalf("key a's 3rd of the hour: %d, Retry-After %q; want key-per-hour's 429, about half an hour", r.status, r.h.Get("Retry-After"))
			}
			slots(t, "after a rate denial", in, 1)
			// The slot the rate denial took and gave back: ip 2 of 2
			// again, and the next request is denied.
			in.hold(t, "X-Key", "d") // admitted: 6
			concDenied(t, "key e, a 3rd from the ip", in.get(t, "X-Key", "e"), "ip-in-flight", 2)
			for range 2 {
				if s := in.end(t); s != http.StatusOK {
					t.Fatalf("a held request: %d", s)
				}
			}
			admitted(t, "once every request ended", in.get(t, "X-Key", "f"), 7)
			slots(t, "every request ended", in, 0)
		})
	}
}
