package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

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
	if st := s.Figures(); !st.Breaker || !st.BreakerOpen || st.BreakerOpened != 1 {
		t.Fatalf("stats after 3 failures: %+v, want the breaker open, opened once", st)
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
	if st := s.Figures(); !st.BreakerOpen || st.BreakerOpened != 1 {
		t.Fatalf("stats after a failed probe: %+v, want still open, opened once (a failed probe is no new opening)", st)
	}
	clock.Advance(time.Millisecond)
	if err := take(); err != nil {
		t.Fatalf("probe with Redis back: %v", err)
	}
	if st := s.Figures(); st.BreakerOpen || st.BreakerOpened != 1 {
		t.Fatalf("stats after a good probe: %+v, want closed, opened once", st)
	}
	for i := 0; i < 5; i++ {
		if err := take(); err != nil {
			t.Fatalf("after a good probe, call %d: %v", i, err)
		}
	}
}

// TestStalledNetworkCostsAtMostTheDeadline holds every byte in a real TCP
// proxy: a hung Redis. Each call must end at the store's deadline, with both
// kinds of client: one that applies context deadlines to its sockets, and a
// default one (ContextTimeoutEnabled false), whose calls the store leaves
// behind at the deadline. The client's own timeouts are a minute, so while
// the network is stalled nothing but the store's deadline can release a
// caller.
//
// What is asserted holds on any machine, however busy:
//   - every call ends with the store's own deadline (ErrTimeout over
//     context.DeadlineExceeded), unadmitted, while the network is still
//     stalled: the test resumes it only once every call has returned;
//   - no call ends before the deadline, even when the request's own context
//     was cancelled or had an earlier deadline: a decision never depends on
//     whether the caller is still there;
//   - how long past the deadline a caller waits is the scheduling delay of
//     the machine, measured in the same run by control goroutines that wait
//     on a bare timer of the same length at the same time: the callers'
//     median delay past the deadline is within the controls' 90th
//     percentile (plus a millisecond for the call path's own work). A wall
//     clock bound of its own (the deadline plus 60 ms, as this test had)
//     fails on a saturated machine whatever the code does.
func TestStalledNetworkCostsAtMostTheDeadline(t *testing.T) {
	for _, ctxTimeouts := range []bool{true, false} {
		name := "client honours contexts"
		if !ctxTimeouts {
			name = "default client"
		}
		t.Run(name, func(t *testing.T) {
			srv := redistest.Shared(t)
			proxy := redistest.StartProxy(t, srv.Addr)
			client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: ctxTimeouts, PoolSize: 32,
				ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolTimeout: time.Minute})
			t.Cleanup(func() { client.Close() })
			const deadline = 25 * time.Millisecond
			s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(deadline), redisstore.WithoutBreaker())
			ctx := context.Background()
			l := core.PerHour(1000)
			// A connection dialled and the script loaded; a warm-up call that
			// misses the deadline on a busy machine is simply made again.
			waitFor(t, func() bool { _, err := s.Take(ctx, "k", l, 1); return err == nil })

			proxy.Stall()
			// Should calls wait for the network, this lets it through after
			// 10 s (400 deadlines) rather than the client's minute: they are
			// then answered, and fail the test for it.
			watchdog := time.AfterFunc(10*time.Second, proxy.Resume)
			// The request's own context: none, one already cancelled, one
			// whose 5 ms deadline comes before the store's.
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			contexts := []func() (context.Context, context.CancelFunc){
				func() (context.Context, context.CancelFunc) { return ctx, func() {} },
				func() (context.Context, context.CancelFunc) { return cancelled, func() {} },
				func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 5*time.Millisecond) },
			}
			calls, controls := alongside(t, 9, 8, func(g int) error {
				rctx, cancel := contexts[g%len(contexts)]()
				defer cancel()
				d, err := s.Take(rctx, "k", l, 1)
				if d.Allowed {
					t.Error("admitted while Redis could not answer")
				}
				if !errors.Is(err, redisstore.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("a call with the network stalled: %v, want the store's own deadline (ErrTimeout, context.DeadlineExceeded)", err)
				}
				return nil
			}, deadline)
			if !watchdog.Stop() {
				t.Error("the calls outlasted 10 s of stalled network: they waited for it, not for the store's deadline")
			}
			proxy.Resume()

			if calls[0] < deadline {
				t.Errorf("a call ended after %v, before the store's %v deadline: the request's context cut it short", calls[0], deadline)
			}
			over, ctl := quantile(calls, 0.5)-deadline, quantile(controls, 0.9)-deadline
			t.Logf("past the deadline: callers p50 %v, p90 %v, max %v; controls p50 %v, p90 %v, max %v",
				over, quantile(calls, 0.9)-deadline, calls[len(calls)-1]-deadline, quantile(controls, 0.5)-deadline, ctl, controls[len(controls)-1]-deadline)
			if over > ctl+time.Millisecond {
				t.Errorf("callers waited a median %v past the %v deadline; goroutines waiting on a bare timer at the same time, a 90th percentile of %v: the store held its callers beyond its deadline", over, deadline, ctl)
			}
			waitFor(t, func() bool { _, err := s.Take(ctx, "k", l, 1); return err == nil })
		})
	}
}

// alongside runs call from callers goroutines, each times times, and as many
// control goroutines that each wait the same number of times on a bare timer
// of d, all released together; it returns the calls' durations and the
// controls', sorted. Both are measured alike, in the same run: what a
// control waits past d is the machine's scheduling delay, which a call
// pays too.
func alongside(t *testing.T, callers, times int, call func(g int) error, d time.Duration) (calls, controls []time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var start, wg sync.WaitGroup
	start.Add(1)
	for g := 0; g < 2*callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for range times {
				began := time.Now()
				if g < callers {
					if err := call(g); err != nil {
						t.Error(err)
					}
				} else {
					timer := time.NewTimer(d)
					<-timer.C
				}
				took := time.Since(began)
				mu.Lock()
				if g < callers {
					calls = append(calls, took)
				} else {
					controls = append(controls, took)
				}
				mu.Unlock()
			}
		}()
	}
	start.Done()
	wg.Wait()
	slices.Sort(calls)
	slices.Sort(controls)
	return calls, controls
}

// quantile returns the q-quantile of sorted, which is not empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(int(float64(len(sorted))*q), len(sorted)-1)]
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
//
// The store's own client (the default) and the given one (WithClientPool)
// reach this differently: the first runs the command on the caller's
// goroutine and, at the deadline, hands the connection to its recycler,
// which reads the late reply and gives the connection to the next dial;
// the second leaves the command running on a goroutine of its own.
func TestCallersThatStopWaitingNeitherOpenTheBreakerNorCloseConnections(t *testing.T) {
	for _, tt := range []struct {
		ctxTimeouts, clientPool bool
	}{{true, false}, {false, false}, {true, true}, {false, true}} {
		ctxTimeouts := tt.ctxTimeouts
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v/WithClientPool=%v", ctxTimeouts, tt.clientPool), func(t *testing.T) {
			srv := redistest.Shared(t)
			proxy := redistest.StartProxy(t, srv.Addr)
			client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: ctxTimeouts, PoolSize: 1})
			t.Cleanup(func() { client.Close() })
			opts := []redisstore.Option{redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(50 * time.Millisecond), redisstore.WithBreaker(2, time.Hour)}
			if tt.clientPool {
				opts = append(opts, redisstore.WithClientPool())
			}
			s := newStore(t, client, opts...)
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
			if st := client.PoolStats(); tt.clientPool && (st.TotalConns != 1 || st.StaleConns != 0) {
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
	t.Run("own client", func(t *testing.T) {
		// The store's own connections, dialled while Redis answers; then
		// every command's caller leaves at 20ms and the recycler waits
		// the ReadTimeout for each late reply in vain.
		srv := redistest.Shared(t)
		proxy := redistest.StartProxy(t, srv.Addr)
		client := redis.NewClient(&redis.Options{Addr: proxy.Addr, PoolSize: 4, ReadTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { client.Close() })
		s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(20*time.Millisecond), redisstore.WithBreaker(2, time.Hour))
		ctx := context.Background()
		waitFor(t, func() bool { _, err := s.Take(ctx, "warm", core.PerMinute(10), 0); return err == nil })
		proxy.Stall()
		t.Cleanup(proxy.Resume)
		waitFor(t, func() bool {
			_, err := s.Take(ctx, "k", core.PerMinute(10), 1)
			return errors.Is(err, redisstore.ErrBreakerOpen)
		})
	})
	t.Run("WithClientPool", testNeverAnswersOnTheClientsPool)
}

func testNeverAnswersOnTheClientsPool(t *testing.T) {
	srv := redistest.Shared(t)
	proxy := redistest.StartProxy(t, srv.Addr)
	const conns = 4
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, PoolSize: conns, ReadTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	prefix := uniquePrefix(t)
	ctx := context.Background()
	// Every connection of the pool dialled and in use once, through a store
	// with time to spare.
	warm := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithTimeout(10*time.Second), redisstore.WithClientPool())
	waitFor(t, func() bool {
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); warm.Take(ctx, "warm", core.PerMinute(10), 0) }()
		}
		wg.Wait()
		return client.PoolStats().TotalConns == conns
	})
	s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithTimeout(20*time.Millisecond), redisstore.WithBreaker(2, time.Hour), redisstore.WithClientPool())
	proxy.Stall()
	t.Cleanup(proxy.Resume)
	waitFor(t, func() bool {
		_, err := s.Take(ctx, "k", core.PerMinute(10), 1)
		return errors.Is(err, redisstore.ErrBreakerOpen)
	})
}

// TestKillingRedisFallsBackAndRecovers kills the Redis process while requests
// flow through a Limiter with the default policy (the store's local store,
// holding a quarter of the limit for four instances), then starts it again.
// What is asserted holds on any machine, however busy (on a saturated one
// some calls miss the 20 ms deadline before the kill and after the restart
// too, and go to the local store, as they should):
//   - every request is decided, by Redis or by the local store;
//   - the local store admits at most the instance's share, and exactly it
//     once it has decided more requests than that; Redis at most the quota
//     in each of its two lives (the restarted server has lost the count);
//   - the failover hook sees the limiter switch to the fallback and back,
//     switch after switch in turn, ending back on Redis;
//   - no caller waits for anything but the store: with the client's own
//     timeouts at a minute, every call ends within 10 s; and the typical
//     caller is answered at memory speed (the breaker skips a dead Redis, the
//     local store decides): the callers' median time is within half the
//     deadline of the median of a memory limiter's callers at the same time.
//     How close to the deadline a caller that waits for it is released is
//     TestStalledNetworkCostsAtMostTheDeadline's subject, where every call
//     waits for it; here few do, and each call's path (a goroutine started,
//     a wake-up) differs from a memory limiter's, so their tails differ.
func TestKillingRedisFallsBackAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true, PoolSize: 16,
		DialTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolTimeout: time.Minute})
	const deadline = 20 * time.Millisecond
	s := newStore(t, client, redisstore.WithTimeout(deadline), redisstore.WithBreaker(5, 100*time.Millisecond))
	limit := core.PerHour(400)
	const instances = 4
	share := limit.Rate / instances // the local store's quota: 100 an hour

	var by tally
	type switched struct {
		failing bool
		err     error
	}
	var mu sync.Mutex
	var switches []switched
	lim, err := core.NewLimiter(s, limit, core.WithInstances(instances), core.WithHook(by.hook),
		core.WithFailoverHook(func(failing bool, err error) {
			mu.Lock()
			switches = append(switches, switched{failing, err})
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	control, err := core.NewLimiter(mem, limit, core.WithInstances(instances), core.WithHook(func(context.Context, core.Event) {}))
	if err != nil {
		t.Fatal(err)
	}

	type phase struct{ redis, fallback atomic.Int64 }
	var phases [3]phase // before the kill, while down, after the restart
	var current atomic.Int32
	began := time.Now()
	stop := make(chan struct{})
	var lmu sync.Mutex
	var calls, controls []time.Duration // the callers' times; the memory limiter's callers'
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() {
				lmu.Lock()
				if g%2 == 0 {
					calls = append(calls, mine...)
				} else {
					controls = append(controls, mine...)
				}
				lmu.Unlock()
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if g%2 == 1 {
					start := time.Now()
					control.Take(context.Background(), "client")
					mine = append(mine, time.Since(start))
					continue
				}
				p := &phases[current.Load()]
				start := time.Now()
				_, err := lim.Take(context.Background(), "client")
				mine = append(mine, time.Since(start))
				if err == nil {
					p.redis.Add(1)
				} else {
					p.fallback.Add(1)
				}
			}
		}()
	}
	waitFor(t, func() bool { return phases[0].redis.Load() >= 100 })
	current.Store(1)
	srv.Kill()
	waitFor(t, func() bool { return phases[1].fallback.Load() >= 2*share })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	current.Store(2)
	waitFor(t, func() bool { return phases[2].redis.Load() >= 100 })
	close(stop)
	wg.Wait()
	// Back on Redis for good: one more decision by Redis (a call that
	// misses the deadline on a busy machine is made again), then the
	// switch back, if the limiter was failing, reaches the hook.
	waitFor(t, func() bool { _, err := lim.Take(context.Background(), "client"); return err == nil })
	for wait := time.Now(); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n, back := len(switches), len(switches) > 0 && !switches[len(switches)-1].failing
		mu.Unlock()
		if back {
			break
		}
		if time.Since(wait) > 10*time.Second {
			t.Fatalf("Redis decides again, and the failover hook has not seen the way back after 10s (%d switches)", n)
		}
	}
	earned := int64(time.Since(began) / limit.Interval()) // nothing in practice: one token per 9 s in the local share

	ra, fa, fb := by.redisAdmitted.Load(), by.fallbackAdmitted.Load(), by.fallbacks()
	t.Logf("before: %d by Redis; down: %d by the local store; after: %d by Redis; in all, Redis admitted %d, the local store %d of %d",
		phases[0].redis.Load(), phases[1].fallback.Load(), phases[2].redis.Load(), ra, fa, fb)
	if n := by.neither.Load(); n != 0 {
		t.Errorf("%d requests were decided by neither Redis nor the local store (the first: %v)", n, by.neitherErr())
	}
	if fa > share+earned || fa < min(fb, share) {
		t.Errorf("the local store admitted %d of %d requests, want exactly the instance's share, %d", fa, fb, share)
	}
	if ra > 2*limit.Rate+earned {
		t.Errorf("Redis admitted %d in two lives, more than twice the quota %d", ra, limit.Rate)
	}

	mu.Lock()
	defer mu.Unlock()
	for i, sw := range switches {
		if sw.failing != (i%2 == 0) || sw.failing != (sw.err != nil) || sw.failing && !errors.Is(sw.err, core.ErrStore) {
			t.Errorf("switch %d of %d: failing %v, %v; want switches to the fallback (with the store's error) and back (nil), in turn", i, len(switches), sw.failing, sw.err)
		}
	}
	t.Logf("%d switches to the fallback and back (a busy machine adds some for missed deadlines); the first: %v", len(switches)/2, switches[0].err)

	slices.Sort(calls)
	slices.Sort(controls)
	worst, p50, ctl := calls[len(calls)-1], quantile(calls, 0.5), quantile(controls, 0.5)
	t.Logf("callers: p50 %v, p99 %v, max %v; a memory limiter's callers: p50 %v, p99 %v, max %v",
		p50, quantile(calls, 0.99), worst, ctl, quantile(controls, 0.99), controls[len(controls)-1])
	if worst > 10*time.Second {
		t.Errorf("a call took %v with a %v deadline: it waited for the client's own timeouts", worst, deadline)
	}
	if p50 > ctl+deadline/2 {
		t.Errorf("callers took a median %v; callers of a memory limiter at the same time %v: with Redis dead, callers waited", p50, ctl)
	}
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

// TestBlackHoleEndsAndRedisDecidesAgain: a network that swallows traffic
// loses the replies of the commands sent into it, so the connections they
// were sent on never come back in step. Once the black hole ends, the store
// must decide again at once, on new connections, not after the client's
// ReadTimeout (a minute here) that bounds the wait for the lost replies.
func TestBlackHoleEndsAndRedisDecidesAgain(t *testing.T) {
	srv := redistest.Shared(t)
	proxy := redistest.StartProxy(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, PoolSize: 4, ReadTimeout: time.Minute})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(50*time.Millisecond), redisstore.WithoutBreaker())
	ctx := context.Background()
	l := core.PerHour(1000)
	waitFor(t, func() bool { _, err := s.Take(ctx, "warm", l, 0); return err == nil })
	proxy.BlackHole()
	for i := 0; i < 8; i++ {
		if _, err := s.Take(ctx, "k", l, 1); !errors.Is(err, redisstore.ErrTimeout) {
			t.Fatalf("in the black hole: %v, want ErrTimeout", err)
		}
	}
	proxy.Resume()
	ended := time.Now()
	waitFor(t, func() bool { _, err := s.Take(ctx, "k", l, 1); return err == nil })
	if took := time.Since(ended); took > 5*time.Second {
		t.Fatalf("Redis decided again %v after the black hole ended, want well under the minute's ReadTimeout", took)
	}
}
