package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/internal/redistest"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// margin is how much later than its deadline a call may return: scheduling
// on a loaded two-core machine running the race detector, not Redis.
const margin = 60 * time.Millisecond

// TestBreakerSkipsRedisAndProbes drives the breaker with an injected clock
// against a real server that is killed and restarted.
func TestBreakerSkipsRedisAndProbes(t *testing.T) {
	srv := redistest.Start(t)
	clock := core.NewManualClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	proxy := redistest.StartProxy(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, PoolSize: 2})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, redisstore.WithClock(clock), redisstore.WithBreaker(3, time.Second))
	ctx := context.Background()
	l := core.PerMinute(100)
	take := func() error { _, err := s.Take(ctx, "k", l, 1); return err }

	if err := take(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for i := 1; i <= 3; i++ {
		if err := take(); err == nil || errors.Is(err, redisstore.ErrBreakerOpen) {
			t.Fatalf("failure %d with Redis down: %v, want Redis' own error", i, err)
		}
	}
	dials := proxy.Accepted.Load()
	for i := 0; i < 50; i++ {
		if err := take(); !errors.Is(err, redisstore.ErrBreakerOpen) {
			t.Fatalf("call %d after 3 failures: %v, want ErrBreakerOpen", i, err)
		}
	}
	if n := proxy.Accepted.Load(); n != dials {
		t.Fatalf("the open breaker still reached the network: %d connections, was %d", n, dials)
	}
	// After the cool-down one probe goes through; it fails, so the breaker
	// opens again for another cool-down.
	clock.Advance(time.Second)
	if err := take(); err == nil || errors.Is(err, redisstore.ErrBreakerOpen) {
		t.Fatalf("probe with Redis still down: %v, want Redis' error", err)
	}
	if err := take(); !errors.Is(err, redisstore.ErrBreakerOpen) {
		t.Fatalf("after a failed probe: %v, want the breaker open again", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(999 * time.Millisecond)
	if err := take(); !errors.Is(err, redisstore.ErrBreakerOpen) {
		t.Fatalf("1ms before the cool-down ends: %v, want still open", err)
	}
	clock.Advance(time.Millisecond)
	if err := take(); err != nil {
		t.Fatalf("probe with Redis back: %v", err)
	}
	for i := 0; i < 5; i++ {
		if err := take(); err != nil {
			t.Fatalf("after a good probe, call %d: %v", i, err)
		}
	}
}

// TestStalledNetworkCostsAtMostTheDeadline holds every byte in a real TCP
// proxy: a hung Redis. Each call must end at its deadline, with both kinds
// of client: one that applies context deadlines to its sockets, and a
// default one (ContextTimeoutEnabled false), whose calls the store leaves
// behind at the deadline.
func TestStalledNetworkCostsAtMostTheDeadline(t *testing.T) {
	for _, ctxTimeouts := range []bool{true, false} {
		name := "client honours contexts"
		if !ctxTimeouts {
			name = "default client"
		}
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			proxy := redistest.StartProxy(t, srv.Addr)
			client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: ctxTimeouts, PoolSize: 32, ReadTimeout: 2 * time.Second})
			t.Cleanup(func() { client.Close() })
			const deadline = 25 * time.Millisecond
			s := newStore(t, client, redisstore.WithTimeout(deadline), redisstore.WithoutBreaker())
			ctx := context.Background()
			l := core.PerMinute(1000)
			if _, err := s.Take(ctx, "k", l, 1); err != nil {
				t.Fatal(err)
			}
			proxy.Stall()
			lat := concurrently(t, 8, 5, func() error {
				d, err := s.Take(ctx, "k", l, 1)
				if d.Allowed {
					t.Error("admitted while Redis could not answer")
				}
				return err
			}, func(err error) bool { return errors.Is(err, redisstore.ErrTimeout) })
			if lat[0] < deadline-time.Millisecond || lat[len(lat)-1] > deadline+margin {
				t.Fatalf("stalled calls took %v to %v, want all within [%v, %v]", lat[0], lat[len(lat)-1], deadline, deadline+margin)
			}
			// The request's own, earlier deadline does not cut the store's
			// short: a decision never depends on whether the caller is
			// still there.
			short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			start := time.Now()
			d, err := s.Take(short, "k", l, 1)
			cancel()
			if took := time.Since(start); !errors.Is(err, redisstore.ErrTimeout) || d.Allowed || took < deadline-time.Millisecond || took > deadline+margin {
				t.Fatalf("with a 5ms request deadline: %+v, %v after %v; want ErrTimeout after the store's %v", d, err, took, deadline)
			}
			proxy.Resume()
			waitFor(t, func() bool { _, err := s.Take(ctx, "k", l, 1); return err == nil })
		})
	}
}

// TestCallersThatStopWaitingNeitherOpenTheBreakerNorCloseConnections: a
// pool of one connection and a Redis that answers late (a stalled network,
// resumed). Every caller stops waiting at the deadline: the one whose
// command was sent, and those still waiting for the pool. None of that is
// Redis failing: the command sent is answered once the network resumes, on
// the connection it was sent on. The breaker (2 failures, an hour's
// cool-down) must stay closed, and no connection may be dialled anew. Both
// kinds of client: one applying context deadlines to its sockets, whose
// connection a missed deadline used to close, and a default one.
func TestCallersThatStopWaitingNeitherOpenTheBreakerNorCloseConnections(t *testing.T) {
	for _, ctxTimeouts := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			srv := redistest.Shared(t)
			proxy := redistest.StartProxy(t, srv.Addr)
			client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: ctxTimeouts, PoolSize: 1})
			t.Cleanup(func() { client.Close() })
			s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(50*time.Millisecond), redisstore.WithBreaker(2, time.Hour))
			l := core.PerHour(100) // nothing refills while the test runs
			ctx := context.Background()
			waitFor(t, func() bool { _, err := s.Take(ctx, "warm", l, 1); return err == nil }) // dial, load the script
			dials := proxy.Accepted.Load()

			proxy.Stall()
			var wg sync.WaitGroup
			for i := 0; i < 5; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if d, err := s.Take(ctx, "k", l, 1); !errors.Is(err, redisstore.ErrTimeout) || d.Allowed {
						t.Errorf("with the network stalled: %+v, %v; want ErrTimeout", d, err)
					}
				}()
			}
			wg.Wait()
			proxy.Resume()
			waitFor(t, func() bool {
				_, err := s.Take(ctx, "after", l, 1)
				if errors.Is(err, redisstore.ErrBreakerOpen) {
					t.Fatalf("the breaker opened: callers that stopped waiting were blamed on Redis")
				}
				return err == nil
			})
			if n := proxy.Accepted.Load(); n != dials {
				t.Fatalf("%d connections dialled after callers stopped waiting, want none: a healthy connection was closed", n-dials)
			}
			st := client.PoolStats()
			if st.TotalConns != 1 || st.StaleConns != 0 {
				t.Fatalf("pool: %d connections, %d removed; want the one, never removed", st.TotalConns, st.StaleConns)
			}
			// The one command sent while the network stalled was decided by
			// Redis, and counted, though its caller had left; the four
			// withdrawn while they waited for the pool were never sent.
			var d core.Decision
			waitFor(t, func() bool { var err error; d, err = s.Take(ctx, "k", l, 0); return err == nil })
			if d.Remaining != 100-1 {
				t.Fatalf("after the stall: %d remaining, want 99: the command sent, and only it, counted", d.Remaining)
			}
		})
	}
}

// TestRedisThatNeverAnswersStillOpensTheBreaker: commands sent into a
// black hole on established connections fail at the client's ReadTimeout,
// and that is Redis (or the network) failing: the breaker opens.
func TestRedisThatNeverAnswersStillOpensTheBreaker(t *testing.T) {
	srv := redistest.Shared(t)
	proxy := redistest.StartProxy(t, srv.Addr)
	const conns = 4
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, PoolSize: conns, ReadTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	prefix := uniquePrefix(t)
	ctx := context.Background()
	// Every connection of the pool dialled and in use once, through a store
	// with time to spare.
	warm := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithTimeout(10*time.Second))
	waitFor(t, func() bool {
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); warm.Take(ctx, "warm", core.PerMinute(10), 0) }()
		}
		wg.Wait()
		return client.PoolStats().TotalConns == conns
	})
	s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithTimeout(20*time.Millisecond), redisstore.WithBreaker(2, time.Hour))
	proxy.Stall()
	t.Cleanup(proxy.Resume)
	waitFor(t, func() bool {
		_, err := s.Take(ctx, "k", core.PerMinute(10), 1)
		return errors.Is(err, redisstore.ErrBreakerOpen)
	})
}

// TestKillingRedisFallsBackAndRecovers kills the Redis process while requests
// flow through a Limiter with a memory fallback, then starts it again.
func TestKillingRedisFallsBackAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true, PoolSize: 16})
	const deadline = 20 * time.Millisecond
	s := newStore(t, client, redisstore.WithTimeout(deadline), redisstore.WithBreaker(5, 100*time.Millisecond))
	local, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })

	var mu sync.Mutex
	var switches []bool
	lim, err := core.NewLimiter(s, core.PerHour(100_000), core.WithFallback(local, 4),
		core.WithFailoverHook(func(failing bool, err error) {
			mu.Lock()
			switches = append(switches, failing)
			mu.Unlock()
			t.Logf("switch: failing %v: %v", failing, err)
		}))
	if err != nil {
		t.Fatal(err)
	}

	type phase struct{ redis, fallback, failed atomic.Int64 }
	var phases [3]phase // before the kill, while down, after the restart
	var current atomic.Int32
	var worst atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := &phases[current.Load()]
				start := time.Now()
				d, err := lim.Take(context.Background(), "client")
				took := time.Since(start)
				for w := worst.Load(); int64(took) > w && !worst.CompareAndSwap(w, int64(took)); w = worst.Load() {
				}
				switch {
				case err == nil:
					p.redis.Add(1)
				case errors.Is(err, core.ErrStore) && (d.Reason == core.ReasonOK || d.Reason == core.ReasonLimited):
					p.fallback.Add(1) // decided by the memory store
				default:
					if p.failed.Add(1) == 1 {
						t.Logf("neither: %+v, %v", d, err)
					}
				}
			}
		}()
	}
	waitFor(t, func() bool { return phases[0].redis.Load() >= 100 })
	current.Store(1)
	srv.Kill()
	waitFor(t, func() bool { return phases[1].fallback.Load() >= 200 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	current.Store(2)
	waitFor(t, func() bool { return phases[2].redis.Load() >= 100 })
	close(stop)
	wg.Wait()

	if n := phases[1].failed.Load() + phases[0].failed.Load() + phases[2].failed.Load(); n != 0 {
		t.Errorf("%d requests were neither decided by Redis nor by the fallback", n)
	}
	if w := time.Duration(worst.Load()); w > deadline+margin {
		t.Errorf("slowest request took %v, want at most the %v deadline + %v", w, deadline, margin)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(switches) != 2 || !switches[0] || switches[1] {
		t.Errorf("failover hook saw %v, want one switch to the fallback and one back", switches)
	}
	t.Logf("before: %d by Redis; down: %d by the fallback; after: %d by Redis; slowest %v",
		phases[0].redis.Load(), phases[1].fallback.Load(), phases[2].redis.Load(), time.Duration(worst.Load()))
}

// concurrently runs call n×each times from n goroutines, requires every error
// to satisfy ok, and returns the latencies, sorted.
func concurrently(t *testing.T, n, each int, call func() error, ok func(error) bool) []time.Duration {
	t.Helper()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if !ok(err) {
					t.Errorf("unexpected error %v", err)
				}
				mu.Lock()
				lat = append(lat, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

// waitFor polls cond until it holds, for events outside the test's control
// (a process restarting, traffic reaching a count); it fails after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
