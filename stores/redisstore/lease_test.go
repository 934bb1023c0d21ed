package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func leased(t *testing.T, base *redisstore.Store, cfg redisstore.LeaseConfig) *redisstore.Leased {
	t.Helper()
	l, err := redisstore.NewLeased(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLeaseBadConfig(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	base := newStore(t, client)
	for _, c := range []struct {
		name string
		cfg  redisstore.LeaseConfig
	}{
		{"a negative predict window", redisstore.LeaseConfig{PredictWindow: -time.Second}},
		{"a negative min prefetch", redisstore.LeaseConfig{MinPrefetch: -1}},
		{"a negative close-wait", redisstore.LeaseConfig{CloseWaitWindow: -time.Millisecond}},
		{"a close-wait longer than the predict window", redisstore.LeaseConfig{PredictWindow: time.Second, CloseWaitWindow: 2 * time.Second}},
		{"a negative hot threshold", redisstore.LeaseConfig{HotThreshold: -3}},
	} {
		if _, err := redisstore.NewLeased(base, c.cfg); !errors.Is(err, redisstore.ErrInvalidLease) {
			t.Errorf("%s: %v, want ErrInvalidLease", c.name, err)
		}
	}
	l := leased(t, base, redisstore.LeaseConfig{MinPrefetch: 50})
	if _, err := core.NewLimiter(l, core.PerMinute(20)); !errors.Is(err, redisstore.ErrInvalidLease) {
		t.Errorf("a min prefetch above the quota: %v, want ErrInvalidLease at NewLimiter", err)
	}
}

// instance is one app process in lease mode: its own client, store and
// leased store.
func instances(t *testing.T, n int, client func() redis.UniversalClient, clock core.Clock, prefix string, cfg redisstore.LeaseConfig, opts ...redisstore.Option) []*redisstore.Leased {
	t.Helper()
	var out []*redisstore.Leased
	for i := 0; i < n; i++ {
		o := append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithClock(clock)}, opts...)
		out = append(out, leased(t, newStore(t, client(), o...), cfg))
	}
	return out
}

// Four instances, 16 goroutines each, hammering one key far past its quota:
// together they never admit more than the quota, admit nearly all of it,
// and ask Redis far less often than they decide. On one server and on a
// Cluster.
func TestLeaseNeverOverAdmits(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
		opts   []redisstore.Option
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient {
			return redistest.Shared(t).Client(t, &redis.Options{PoolSize: 16, ContextTimeoutEnabled: true})
		}, nil},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{PoolSize: 16, ContextTimeoutEnabled: true})
		}, []redisstore.Option{redisstore.WithHashTag(), redisstore.WithKeySecret(testSecret)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
			ins := instances(t, 4, func() redis.UniversalClient { return tt.client(t) }, clock, uniquePrefix(t), redisstore.LeaseConfig{MinPrefetch: 20}, tt.opts...)
			quota := core.Limit{Rate: 1000, Period: time.Hour}
			// 16 goroutines per instance, 100 decisions each.
			admitted := hammer(t, 64, 100, func(w int) (core.Decision, error) {
				return ins[w%4].Take(context.Background(), "tenant", quota, 1)
			})
			decisions := int64(64 * 100)
			grants := int64(0)
			for _, in := range ins {
				grants += in.Grants()
			}
			t.Logf("admitted %d of quota %d in %d decisions, with %d grants", admitted, quota.Rate, decisions, grants)
			if admitted > quota.Rate {
				t.Fatalf("admitted %d, over the quota %d", admitted, quota.Rate)
			}
			if admitted < quota.Rate*95/100 {
				t.Errorf("admitted %d of %d: more than 5%% under", admitted, quota.Rate)
			}
			if grants*10 > decisions {
				t.Errorf("%d grants for %d decisions: want at least 10 decisions per round trip", grants, decisions)
			}
		})
	}
}

// Redis stops: the pool's tokens are spent, then the error comes back for
// the limiter's failure policy; Redis back, leasing resumes by itself.
func TestLeaseRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	base := newStore(t, client, redisstore.WithPrefix("down:"), redisstore.WithClock(clock), redisstore.WithoutBreaker())
	l := leased(t, base, redisstore.LeaseConfig{MinPrefetch: 30, HotThreshold: 1})
	lim := core.Limit{Rate: 1000, Period: time.Hour}
	ctx := context.Background()
	// The first request turns the key hot and takes a grant of 30.
	for i := 0; i < 5; i++ {
		if d, err := l.Take(ctx, "k", lim, 1); err != nil || !d.Allowed {
			t.Fatalf("take %d with Redis up: %+v, %v", i, d, err)
		}
	}
	srv.Kill()
	local := 0
	var err error
	for i := 0; i < 200; i++ {
		var d core.Decision
		if d, err = l.Take(ctx, "k", lim, 1); err != nil {
			break
		}
		if !d.Allowed {
			t.Fatalf("a local decision denied with tokens left: %+v", d)
		}
		local++
	}
	if err == nil || local == 0 || local > 30 {
		t.Fatalf("with Redis down: %d admitted from the pool, then %v; want some (at most a grant's 30), then an error", local, err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var d core.Decision
	for i := 0; i < 50; i++ { // the client redials on its own
		if d, err = l.Take(ctx, "k", lim, 1); err == nil {
			break
		}
	}
	if err != nil || !d.Allowed {
		t.Fatalf("with Redis back: %+v, %v; want leasing to resume", d, err)
	}
}

// A window whose quota is spent grants 0: every request is denied, none is
// admitted, and the instance does not ask once per request.
func TestLeaseGrantsNothingForever(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	prefix := uniquePrefix(t)
	base := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock))
	lim := core.Limit{Rate: 50, Period: time.Hour}
	// Another instance, deciding one at a time, spends the window.
	for i := 0; i < 50; i++ {
		if d, err := base.Take(context.Background(), "k", core.Limit{Rate: 50, Period: time.Hour, Algorithm: core.FixedWindow}, 1); err != nil || !d.Allowed {
			t.Fatalf("spending the window: %+v, %v", d, err)
		}
	}
	l := leased(t, base, redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 10})
	for i := 0; i < 500; i++ {
		d, err := l.Take(context.Background(), "k", lim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			t.Fatalf("request %d admitted in a spent window", i)
		}
		if d.RetryAfter <= 0 {
			t.Fatalf("a denial without RetryAfter: %+v", d)
		}
	}
	if g := l.Grants(); g > 1 {
		t.Fatalf("%d grants for 500 requests in a spent window with the clock still: want 1 (then close-wait)", g)
	}
	// After the close-wait it asks again, once, in the background: the
	// request is denied without waiting for it. (Close waits for refills.)
	clock.Advance(redisstore.DefaultCloseWaitWindow)
	for i := 0; i < 10; i++ {
		if d, _ := l.Take(context.Background(), "k", lim, 1); d.Allowed {
			t.Fatalf("after the close-wait: %+v, want denied", d)
		}
	}
	l.Close()
	if g := l.Grants(); g != 2 {
		t.Fatalf("%d grants after the close-wait, want 2", g)
	}
}

// Clock jumps: forward past the window, the pool's tokens are void and the
// new window's quota applies; back, nothing extra is admitted. The limit
// changed while tokens are out: they are dropped, and the new limit holds.
func TestLeaseClockJumpsAndLimitChange(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	base := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithClock(clock))
	l := leased(t, base, redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 10})
	lim := core.Limit{Rate: 20, Period: time.Minute}
	ctx := context.Background()
	count := func() int {
		n := 0
		for i := 0; i < 100; i++ {
			d, err := l.Take(ctx, "k", lim, 1)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				n++
			}
		}
		return n
	}
	if n := count(); n != 20 {
		t.Fatalf("first window: %d admitted, want 20", n)
	}
	clock.Advance(time.Minute) // the next window
	if n := count(); n != 20 {
		t.Fatalf("after a jump forward to the next window: %d admitted, want 20", n)
	}
	clock.Advance(-90 * time.Second) // back before both windows
	if n := count(); n != 0 {
		t.Fatalf("after a jump back: %d admitted, want 0 (the window counted last is spent)", n)
	}
	clock.Advance(3 * time.Minute) // a fresh window
	if d, err := l.Take(ctx, "k", lim, 1); err != nil || !d.Allowed {
		t.Fatalf("a fresh window: %+v, %v", d, err) // a grant of 10, 9 left in the pool
	}
	// The limit drops to 5 while 9 tokens are out: they are dropped, and the
	// window has already counted 10, over the new 5.
	small := core.Limit{Rate: 5, Period: time.Minute}
	for i := 0; i < 50; i++ {
		d, err := l.Take(ctx, "k", small, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			t.Fatalf("request %d under the smaller limit admitted with 10 counted", i)
		}
	}
}

// Close gives back the unused tokens of an open window.
func TestLeaseCloseGivesBack(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	prefix := uniquePrefix(t)
	base := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock))
	l, err := redisstore.NewLeased(base, redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 40})
	if err != nil {
		t.Fatal(err)
	}
	lim := core.Limit{Rate: 100, Period: time.Hour}
	for i := 0; i < 3; i++ {
		if d, err := l.Take(context.Background(), "k", lim, 1); err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
	}
	before := l.Figures()
	if before.Mode != "leased" || before.LeaseGrants < 1 || before.LeaseGranted < 3 || before.LeaseGivenBack != 0 || before.LeaseHot != 1 {
		t.Fatalf("stats before Close: %+v, want a grant of at least 3 tokens, one hot key, nothing given back", before)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if after := l.Figures(); after.LeaseGranted-after.LeaseGivenBack != 3 {
		t.Fatalf("stats after Close: %+v, want all but the 3 used given back", after)
	}
	d, err := base.Take(context.Background(), "k", core.Limit{Rate: 100, Period: time.Hour, Algorithm: core.FixedWindow}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != 97 {
		t.Fatalf("after Close: %d left in the window, want 97 (3 used, the rest given back)", d.Remaining)
	}
	if _, err := l.Take(context.Background(), "k", lim, 1); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Take after Close: %v", err)
	}
}

// Idle clients stay cold: 20,000 keys with two requests each hold no pool,
// and each is decided exactly by Redis. The store reads a still clock: lease
// mode meters fixed windows (of an hour here), and one that ended between a
// key's two requests would admit the second.
func TestLeaseColdKeysHoldNothing(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true, PoolSize: 16})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	base := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithClock(clock), redisstore.WithBatching(64, 0))
	l := leased(t, base, redisstore.LeaseConfig{})
	lim := core.Limit{Rate: 1, Period: time.Hour}
	var wg sync.WaitGroup
	var denied atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1250; i++ {
				key := fmt.Sprintf("client-%d-%d", w, i)
				for r := 0; r < 2; r++ {
					d, err := l.Take(context.Background(), key, lim, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if !d.Allowed {
						denied.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if h := l.Hot(); h != 0 {
		t.Fatalf("%d keys leased after one request each, want 0", h)
	}
	if denied.Load() != 20000 || l.Grants() != 0 {
		t.Fatalf("%d second requests denied (want all 20,000), %d grants (want 0)", denied.Load(), l.Grants())
	}
}

// Keys handed in a buffer the caller reuses (core.Limiter does) are copied:
// each client keeps its own pool and gets exactly its quota.
func TestLeaseCopiesKeys(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	l := leased(t, newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithClock(clock)), redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 10})
	lim, err := core.NewLimiter(l, core.PerMinute(30), core.WithName("per-client"))
	if err != nil {
		t.Fatal(err)
	}
	admitted := map[string]int{}
	for r := 0; r < 100; r++ {
		for _, c := range []string{"client-1", "client-2", "client-3"} {
			d, err := lim.Take(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				admitted[c]++
			}
		}
	}
	if h := l.Hot(); h != 3 {
		t.Errorf("%d pools for 3 keys", h)
	}
	for c, n := range admitted {
		if n != 30 {
			t.Errorf("%s: %d admitted, want its quota of 30", c, n)
		}
	}
}

// An instance that crashes (never Closes) loses at most its pool: the
// others go on, and together they admit at most the quota and at least the
// quota less what the crashed pool held.
func TestLeaseCrashedInstanceLosesItsPool(t *testing.T) {
	srv := redistest.Shared(t)
	clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
	prefix := uniquePrefix(t)
	mk := func() *redisstore.Leased {
		c := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
		l, err := redisstore.NewLeased(newStore(t, c, redisstore.WithPrefix(prefix), redisstore.WithClock(clock)), redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 25})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lim := core.Limit{Rate: 100, Period: time.Hour}
	crashed, survivor := mk(), mk()
	defer survivor.Close()
	admitted := 0
	for i := 0; i < 5; i++ { // takes a grant of 25, uses 5, then dies holding 20
		if d, err := crashed.Take(context.Background(), "k", lim, 1); err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
		admitted++
	}
	for i := 0; i < 300; i++ {
		d, err := survivor.Take(context.Background(), "k", lim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted > 100 || admitted < 100-20 {
		t.Fatalf("admitted %d with a crashed instance holding up to 20 tokens: want 80 to 100", admitted)
	}
	t.Logf("admitted %d of 100; the crashed instance's pool held the rest", admitted)
}
