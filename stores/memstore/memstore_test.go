package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/core/storetest"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func newStore(t *testing.T, opts ...memstore.Option) *memstore.Store {
	t.Helper()
	s, err := memstore.New(opts...)
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		return newStore(t, memstore.WithClock(clock))
	})
}

func TestConformanceOneShard(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		return newStore(t, memstore.WithClock(clock), memstore.WithShards(1))
	})
}

var (
	ctx = context.Background()
	t0  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

func mustTake(t testing.TB, s core.Store, key string, l core.Limit, cost int64) core.Decision {
	t.Helper()
	d, err := s.Take(ctx, key, l, cost)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return d
}

func TestTakeOnAnExistingKeyDoesNotAllocate(t *testing.T) {
	for _, alg := range storekit.Algorithms() {
		t.Run(alg.String(), func(t *testing.T) {
			clock := core.NewManualClock(t0)
			s := newStore(t, memstore.WithClock(clock))
			l := core.PerSecond(1000).WithAlgorithm(alg)
			mustTake(t, s, "existing", l, 1)
			allocs := testing.AllocsPerRun(1000, func() {
				clock.Advance(time.Millisecond)
				s.Take(ctx, "existing", l, 1)
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per Take on an existing key, want 0", allocs)
			}
			// Through a Limiter (its prefix, the prepared limit), and for a
			// key too long for a slot.
			lim, err := core.NewLimiter(s, l, core.WithName("api"))
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"203.0.113.254", "a-key-longer-than-any-slot-holds-" + alg.String()} {
				if _, err := lim.Take(ctx, key); err != nil {
					t.Fatal(err)
				}
				allocs = testing.AllocsPerRun(1000, func() {
					clock.Advance(time.Millisecond)
					lim.Take(ctx, key)
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per Limiter.Take on the existing key %q, want 0", allocs, key)
				}
			}
		})
	}
}

func TestMaxKeysBoundsTheKeysHeld(t *testing.T) {
	s := newStore(t, memstore.WithClock(core.NewManualClock(t0)), memstore.WithShards(4), memstore.WithMaxKeys(1000))
	for i := 0; i < 100_000; i++ {
		mustTake(t, s, fmt.Sprintf("flood-%d", i), core.PerHour(10), 1)
	}
	if n := s.Len(); n > 1000 || n < 990 {
		t.Fatalf("after 100,000 distinct keys the store holds %d, want at most 1000 (and close to it)", n)
	}
}

func TestFloodOfOneShotKeysEvictsThemFirst(t *testing.T) {
	s := newStore(t, memstore.WithClock(core.NewManualClock(t0)), memstore.WithShards(1), memstore.WithMaxKeys(100))
	l := core.PerMinute(10)
	for i := 0; i < 60; i++ { // regular clients: they come back
		mustTake(t, s, fmt.Sprintf("regular-%d", i), l, 1)
		mustTake(t, s, fmt.Sprintf("regular-%d", i), l, 1)
	}
	for i := 0; i < 10_000; i++ {
		mustTake(t, s, fmt.Sprintf("flood-%d", i), l, 1)
	}
	for i := 0; i < 60; i++ {
		if d := mustTake(t, s, fmt.Sprintf("regular-%d", i), l, 0); d.Remaining != 8 {
			t.Fatalf("regular-%d after the flood: Remaining %d, want 8 (its state kept)", i, d.Remaining)
		}
	}
	if n := s.Len(); n != 100 {
		t.Fatalf("store holds %d keys, want its bound, 100", n)
	}
}

func TestFullShardDropsExpiredStateFirst(t *testing.T) {
	clock := core.NewManualClock(t0)
	s := newStore(t, memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(10))
	for i := 0; i < 5; i++ {
		mustTake(t, s, fmt.Sprintf("short-%d", i), core.PerSecond(10), 1) // expires in 100ms
		mustTake(t, s, fmt.Sprintf("long-%d", i), core.PerHour(10), 1)    // expires in 6m
		mustTake(t, s, fmt.Sprintf("long-%d", i), core.PerHour(10), 1)
	}
	clock.Advance(time.Second)
	mustTake(t, s, "newcomer", core.PerHour(10), 1)
	if n := s.Len(); n != 6 {
		t.Fatalf("after one insert into a full shard with 5 expired keys: %d keys, want 6", n)
	}
	for i := 0; i < 5; i++ {
		if d := mustTake(t, s, fmt.Sprintf("long-%d", i), core.PerHour(10), 0); d.Remaining != 8 {
			t.Fatalf("long-%d: Remaining %d, want 8", i, d.Remaining)
		}
	}
}

func TestSweepDropsOnlyExpiredState(t *testing.T) {
	clock := core.NewManualClock(t0)
	s := newStore(t, memstore.WithClock(clock), memstore.WithSweepInterval(0))
	for i := 0; i < 100; i++ {
		mustTake(t, s, fmt.Sprintf("second-%d", i), core.PerSecond(10), 1)
		mustTake(t, s, fmt.Sprintf("minute-%d", i), core.PerMinute(10), 1)
		mustTake(t, s, fmt.Sprintf("log-%d", i), core.PerSecond(10).WithAlgorithm(core.SlidingWindowLog), 1)
	}
	clock.Advance(2 * time.Second)
	s.Sweep()
	if n := s.Len(); n != 100 {
		t.Fatalf("after the sweep: %d keys, want the 100 per-minute ones", n)
	}
	clock.Advance(time.Minute)
	s.Sweep()
	if n := s.Len(); n != 0 {
		t.Fatalf("a minute later: %d keys, want 0", n)
	}
}

func TestBackgroundSweeperRunsWhileInUse(t *testing.T) {
	clock := core.NewManualClock(t0)
	s := newStore(t, memstore.WithClock(clock), memstore.WithSweepInterval(time.Millisecond))
	for i := 0; i < 1000; i++ {
		mustTake(t, s, fmt.Sprintf("k-%d", i), core.PerSecond(10), 1)
	}
	clock.Advance(time.Second)
	// The sweeper runs on a real ticker; wait for it, bounded.
	deadline := time.Now().Add(10 * time.Second)
	mustTake(t, s, "busy", core.PerSecond(1e6), 1)
	for s.Len() > 1 { // all but "busy", which never expires: the clock stands still
		mustTake(t, s, "busy", core.PerSecond(1e6), 1) // the store stays in use meanwhile
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d expired keys after 10s", s.Len()-1)
		}
		runtime.Gosched()
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for name, opt := range map[string]memstore.Option{
		"nil clock":       memstore.WithClock(nil),
		"zero shards":     memstore.WithShards(0),
		"too many shards": memstore.WithShards(1 << 17),
		"zero max keys":   memstore.WithMaxKeys(0),
		"negative sweep":  memstore.WithSweepInterval(-time.Second),
	} {
		if _, err := memstore.New(opt); err == nil || !strings.HasPrefix(err.Error(), "memstore: ") {
			t.Errorf("%s: error %v, want a memstore error", name, err)
		}
	}
}

// With a real memstore as the fallback, a limiter whose primary store is
// closed keeps limiting at its share of the quota.
func TestFallbackToMemstore(t *testing.T) {
	primary := newStore(t)
	primary.Close()
	lim, err := core.NewLimiter(primary, core.PerMinute(30), core.WithFallback(newStore(t), 3))
	if err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for i := 0; i < 50; i++ {
		d, err := lim.Take(ctx, "client")
		if !errors.Is(err, core.ErrClosed) {
			t.Fatalf("error %v, want the primary's ErrClosed", err)
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("admitted %d in fallback, want 30/3 = 10", admitted)
	}
}

// Steps over the same keys in every order never wait on each other: the
// store locks shards in ascending order whatever the takes' order. One
// shard per key (WithShards(4) and 64 goroutines) makes a wrong order
// deadlock at once; the quota of every key is taken exactly.
func TestTakeManyInEveryKeyOrderNeverDeadlocks(t *testing.T) {
	s := newStore(t, memstore.WithShards(4), memstore.WithClock(core.NewManualClock(t0))) // no refill while it runs
	l := core.Limit{Rate: 100_000, Period: time.Hour}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			ds := make([]core.Decision, 3)
			for i := 0; i < 500; i++ {
				p := rng.Perm(len(keys))[:3]
				takes := []core.Take{{Key: keys[p[0]], Limit: l, Cost: 1}, {Key: keys[p[1]], Limit: l, Cost: 1}, {Key: keys[p[2]], Limit: l, Cost: 1}}
				if err := s.TakeMany(context.Background(), takes, ds); err != nil {
					t.Error(err)
					return
				}
				if ds[0].Allowed && ds[1].Allowed && ds[2].Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("64 goroutines taking three keys in random orders did not finish in 30s: deadlock")
	}
	// Each admitted step took one from each of three keys: 3 per step in all.
	left := int64(0)
	for _, k := range keys {
		d, _ := s.Take(context.Background(), k, l, 0)
		left += d.Remaining
	}
	if used := int64(len(keys))*l.Rate - left; used != 3*admitted.Load() {
		t.Fatalf("%d steps admitted took %d in all, want %d", admitted.Load(), used, 3*admitted.Load())
	}
}
