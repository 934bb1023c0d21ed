package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// quota is the limit every attack starts by spending: three requests, in a
// period long enough that no window can refill during a test.
var quota = core.Limit{Rate: 3, Period: time.Hour}

// storeTimeout is the Redis store's deadline in these tests: long enough
// that a busy machine never makes a call time out, so that what a test sees
// is the attack's doing, never a fallback decision.
const storeTimeout = 10 * time.Second

// mode is one way of sharing a limit through Redis.
type mode struct {
	name string
	// box: the mode's store keeps penalty boxes (storekit.BoxStore).
	box   bool
	store func(t *testing.T, client redis.UniversalClient) core.Store
}

var modes = []mode{
	{"consistent", true, func(t *testing.T, client redis.UniversalClient) core.Store {
		return newRedisStore(t, client)
	}},
	{"batched", true, func(t *testing.T, client redis.UniversalClient) core.Store {
		return newRedisStore(t, client, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	}},
	{"lease", false, func(t *testing.T, client redis.UniversalClient) core.Store {
		// Lease mode meters fixed windows, aligned to the clock: on the
		// server's, an hour that ended during a test would hand out a new
		// quota mid-attack. Its store reads a still clock instead.
		still := core.NewManualClock(time.Date(2031, 1, 1, 0, 30, 0, 0, time.UTC))
		l, err := redisstore.NewLeased(newRedisStore(t, client, redisstore.WithClock(still)), redisstore.LeaseConfig{MinPrefetch: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}},
}

// clients are the two kinds of go-redis client: the default, and one that
// applies context deadlines to its sockets.
var clients = []struct {
	name string
	opt  func() *redis.Options
}{
	{"default client", func() *redis.Options { return &redis.Options{} }},
	{"ContextTimeoutEnabled", func() *redis.Options { return &redis.Options{ContextTimeoutEnabled: true} }},
}

var prefixes atomic.Int64

func newRedisStore(t *testing.T, client redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	prefix := fmt.Sprintf("e2e:%d:%d:", time.Now().UnixNano(), prefixes.Add(1))
	s, err := redisstore.New(client, append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithTimeout(storeTimeout)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// site is a server under test: a chi router whose one route, behind the
// limiter, counts the requests it serves; and the limiter's decisions.
type site struct {
	// Addr is the server's host:port, over plain TCP (HTTP/1.1 and h2c).
	Addr string
	// Served counts requests the handler ran for: the admitted ones.
	Served atomic.Int64
	// Decided counts the limiter's decisions (its hook).
	Decided atomic.Int64
}

// newSite starts a server limiting every request per client IP to quota in
// store, with the limiter's default failure policy. With penalty set, a
// client denied penalty.Denials times is put in a penalty box kept by the
// store (core.TakeAllBoxed, through httplimit.Gate.ServeKeys).
func newSite(t *testing.T, store core.Store, penalty *core.Penalty) *site {
	t.Helper()
	s := &site{}
	lim, err := core.NewLimiter(store, quota, core.WithName("per-ip"),
		core.WithHook(func(context.Context, core.Event) { s.Decided.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	var mw func(http.Handler) http.Handler
	if penalty == nil {
		if mw, err = chimw.New(lim); err != nil {
			t.Fatal(err)
		}
	} else {
		ip, err := keyfuncs.IP()
		if err != nil {
			t.Fatal(err)
		}
		g, err := httplimit.NewGroup([]*core.Limiter{lim})
		if err != nil {
			t.Fatal(err)
		}
		mw = chimw.Wrap(boxed{g, ip, *penalty})
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		s.Served.Add(1)
		w.Write([]byte("ok\n"))
	})
	srv := httptest.NewUnstartedServer(r)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = p
	srv.Start()
	t.Cleanup(srv.Close)
	s.Addr = srv.Listener.Addr().String()
	return s
}

// boxed keys every request by client IP and takes the gate's limit under
// the client's penalty box.
type boxed struct {
	g       *httplimit.Gate
	ip      keyfuncs.KeyFunc
	penalty core.Penalty
}

func (b boxed) Serve(w http.ResponseWriter, r *http.Request, _ string) httplimit.Outcome {
	key, err := b.ip(r)
	if err != nil {
		http.Error(w, "no key", http.StatusBadRequest)
		return httplimit.Failed
	}
	return b.g.ServeKeys(w, r, []string{key}, []core.Box{{Key: "box:" + key, Penalty: b.penalty}})
}

func (boxed) UsesRoute() bool { return false }

// get sends one ordinary request and returns its status.
func (s *site) get(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// spend uses up the quota with ordinary requests: exactly quota.Rate are
// admitted, and the next is denied.
func (s *site) spend(t *testing.T) {
	t.Helper()
	for i := int64(0); i < quota.Rate; i++ {
		if code := s.get(t); code != http.StatusOK {
			t.Fatalf("request %d of the quota: status %d, want 200", i+1, code)
		}
	}
	if code := s.get(t); code != http.StatusTooManyRequests {
		t.Fatalf("the request past the quota: status %d, want 429", code)
	}
}

// waitFor polls cond, for events the test does not drive (a server
// finishing requests whose clients went away); it fails after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 30s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// redisServer is the package's shared redis-server.
func redisServer(t *testing.T) *redistest.Server { return redistest.Shared(t) }
