package memstore

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

func TestCloseStopsTheSweeper(t *testing.T) {
	s, err := New(WithSweepInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.sweep.done:
	default:
		t.Fatal("Close returned with the sweeper still running")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// The default clock is one coarse clock of DefaultResolution, shared by
// every store; WithClock replaces it.
func TestDefaultClockIsTheSharedCoarseClock(t *testing.T) {
	a, _ := New(WithSweepInterval(0))
	b, _ := New(WithSweepInterval(0))
	defer a.Close()
	defer b.Close()
	if a.coarse == nil || a.coarse != b.coarse {
		t.Fatalf("default clocks %p and %p: want one shared *core.CoarseClock", a.coarse, b.coarse)
	}
	if got := a.coarse.Resolution(); got != DefaultResolution {
		t.Fatalf("default clock resolution %v, want %v", got, DefaultResolution)
	}
	c, _ := New(WithSweepInterval(0), WithClock(core.SystemClock))
	defer c.Close()
	if c.coarse != nil || !c.system {
		t.Fatal("WithClock(core.SystemClock) still reads the coarse clock")
	}
}

// checkTable verifies the open-addressing invariants of every shard: count
// matches the occupied slots, each key is found from its home without
// crossing an empty slot, and no key is held twice.
func checkTable(t *testing.T, s *Store) {
	t.Helper()
	for k := range s.shards {
		sh := &s.shards[k]
		n := 0
		seen := map[string]bool{}
		for i := range sh.table {
			e := &sh.table[i]
			if sh.hashes[i] == 0 {
				continue
			}
			n++
			if seen[e.key] {
				t.Fatalf("shard %d: key %q held twice", k, e.key)
			}
			seen[e.key] = true
			if j, found := sh.find(sh.hashes[i], e.key); !found || j != i {
				t.Fatalf("shard %d: key %q at slot %d, but find gives %d, %v", k, e.key, i, j, found)
			}
		}
		if n != sh.count {
			t.Fatalf("shard %d: %d occupied slots, count %d", k, n, sh.count)
		}
		if sh.count > 0 && sh.count*8 > len(sh.table)*7 {
			t.Fatalf("shard %d: %d keys in %d slots, over 7/8 full", k, sh.count, len(sh.table))
		}
	}
}

// Random inserts, expiries, evictions and sweeps keep the table sound, and
// a key that is held keeps its state.
func TestTableStaysSoundUnderChurn(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0))
	s, err := New(WithClock(clock), WithShards(2), WithMaxKeys(64), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	short, long := core.PerSecond(10), core.PerHour(1000)
	logged := core.Limit{Rate: 20, Period: time.Second, Algorithm: core.SlidingWindowLog}
	for step := 0; step < 20_000; step++ {
		key := "k" + strconv.Itoa(rng.IntN(200))
		if rng.IntN(3) == 0 {
			key = "a-longer-key-" + key
		}
		l := long
		switch rng.IntN(3) {
		case 0:
			l = short
		case 1:
			l = logged // its rings live beside the table and move with their keys
		}
		switch r := rng.IntN(100); {
		case r < 2:
			s.Sweep()
		case r < 12:
			clock.Advance(time.Duration(rng.IntN(200)) * time.Millisecond)
		default:
			before, _ := s.Take(context.Background(), key, l, 0)
			d, err := s.Take(context.Background(), key, l, 1)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed && d.Remaining != before.Remaining-1 {
				t.Fatalf("step %d: %s took 1 of %d remaining and has %d", step, key, before.Remaining, d.Remaining)
			}
		}
		if step%97 == 0 {
			checkTable(t, s)
		}
	}
	checkTable(t, s)
	if n := s.Len(); n > 64+2 {
		t.Fatalf("%d keys held, bound 64", n)
	}
}

// held reports whether s holds state for key.
func held(s *Store, key string) bool {
	h := hashKey(&s.secret, key) | 1
	sh := s.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, found := sh.find(h, key)
	return found
}

// Among keys that are not limited, the one closest to a whole quota goes
// first, whatever its limit or expiry; a limited key never goes.
func TestEvictionTakesTheKeyClosestToAWholeQuota(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0))
	s, err := New(WithClock(clock), WithShards(1), WithMaxKeys(4), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	take := func(key string, l core.Limit, n int) {
		t.Helper()
		for range n {
			if _, err := s.Take(context.Background(), key, l, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	take("a", core.PerMinute(4), 3) // 3/4 used, expires in 45s
	take("b", core.PerSecond(2), 1) // 1/2 used, expires first, in 0.5s
	take("c", core.PerHour(10), 1)  // 1/10 used, expires last, in 6m
	take("d", core.PerSecond(1), 1) // limited for 1s
	// Each comes back (a peek), so none is a one-shot key, which would go
	// first.
	for k, l := range map[string]core.Limit{"a": core.PerMinute(4), "b": core.PerSecond(2), "c": core.PerHour(10), "d": core.PerSecond(1)} {
		if _, err := s.Take(context.Background(), k, l, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, gone := range []string{"c", "b", "a"} {
		// Each newcomer drains itself: limited, it is never the next victim.
		take("new-"+gone, core.PerMinute(2), 2)
		if held(s, gone) {
			t.Fatalf("%s still held after a newcomer, want it evicted", gone)
		}
		if !held(s, "new-"+gone) {
			t.Fatalf("newcomer new-%s not held", gone)
		}
		if !held(s, "d") {
			t.Fatal("d, limited, was evicted")
		}
	}
	d, _ := s.Take(context.Background(), "last", core.PerMinute(2), 1)
	if d.Allowed {
		t.Fatal("a newcomer into a shard of limited keys was admitted")
	}
	if st := s.Stats(); st.Evicted != 3 || st.Refused != 1 || st.Keys != 4 {
		t.Fatalf("stats %+v, want 3 evicted, 1 refused, 4 keys", st)
	}
	checkTable(t, s)
}

func TestPackSpanRoundsDown(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int64{0, 1, 1<<26 - 1, 1 << 26, 1<<26 + 1, int64(24 * time.Hour), 1 << 57, math.MaxInt64} {
		checkPack(t, d)
	}
	for range 100_000 {
		checkPack(t, rng.Int64N(math.MaxInt64>>rng.IntN(63)))
	}
}

func checkPack(t *testing.T, d int64) {
	t.Helper()
	p := packSpan(d)
	got := unpackSpan(p)
	if p+1 == 0 {
		t.Fatalf("packSpan(%d) = %#x leaves no room for the limited mark", d, p)
	}
	if got > d {
		t.Fatalf("packSpan(%d) unpacks to %d: rounded up", d, got)
	}
	if d < 1<<26 && got != d {
		t.Fatalf("packSpan(%d) unpacks to %d: not exact below 2^26", d, got)
	}
	if d < (1<<26-1)<<31 && float64(d-got) > float64(d)/(1<<25) {
		t.Fatalf("packSpan(%d) unpacks to %d: error %d", d, got, d-got)
	}
}

// The store calls a key unlimited only when it is: whenever free() has
// passed, a request of cost 1 is admitted, for every algorithm, under random
// histories of takes and time. (The reverse may lag: free is rounded up.)
func TestUnlimitedKeysAdmit(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0))
	s, err := New(WithClock(clock), WithShards(1), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var limits []core.Limit
	for _, alg := range storekit.Algorithms() {
		for _, l := range []core.Limit{core.PerSecond(3), core.PerMinute(1), core.PerSecond(10).WithBurst(4), core.PerHour(7)} {
			if alg.String() != "gcra" && alg.String() != "token-bucket" {
				l.Burst = 0
			}
			limits = append(limits, l.WithAlgorithm(alg))
		}
	}
	ctx := context.Background()
	limited, checked := 0, 0
	for step := range 50_000 {
		l := limits[rng.IntN(len(limits))]
		key := l.String() + "/" + strconv.Itoa(rng.IntN(3))
		if rng.IntN(4) == 0 {
			clock.Advance(time.Duration(rng.Int64N(int64(2 * time.Second))))
		}
		if _, err := s.Take(ctx, key, l, int64(1+rng.IntN(2))); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 {
			clock.Advance(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
		}
		now := s.nanotime()
		h := hashKey(&s.secret, key) | 1
		sh := s.shardOf(h)
		i, found := sh.find(h, key)
		if !found {
			continue
		}
		e := sh.table[i]
		if e.free() > e.expires {
			t.Fatalf("step %d: %s free %d after expires %d", step, key, e.free(), e.expires)
		}
		if e.free() > now {
			limited++
			continue
		}
		checked++
		if d, _ := s.Take(ctx, key, l, 0); d.Remaining < 1 {
			t.Fatalf("step %d: %s called unlimited (free %v ago) but a peek gives %+v", step, key, time.Duration(now-e.free()), d)
		}
	}
	if limited < 1000 || checked < 1000 {
		t.Fatalf("%d keys seen limited, %d unlimited: the history does not exercise both", limited, checked)
	}
}

// share orders fractions as exact arithmetic does, exactly below a burst of
// 256 and whenever they differ by more than 1/64 above.
func TestShareOrdersFractions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	burst := func() int64 {
		if rng.IntN(2) == 0 {
			return 1 + rng.Int64N(255)
		}
		return 1 + rng.Int64N(1<<(1+rng.IntN(62)))
	}
	for range 200_000 {
		b1, b2 := burst(), burst()
		u1, u2 := rng.Int64N(b1+1), rng.Int64N(b2+1)
		f1, f2 := float64(u1)/float64(b1), float64(u2)/float64(b2)
		got := shareOf(u1, b1).less(shareOf(u2, b2))
		exact := b1 < 256 && b2 < 256
		if (exact || f2-f1 > 1.0/64 || f1-f2 > 1.0/64) && got != (f1 < f2) {
			t.Fatalf("%d/%d < %d/%d: share says %v", u1, b1, u2, b2, got)
		}
	}
}
