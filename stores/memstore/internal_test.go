package memstore

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
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

// checkTable verifies the invariants of every shard: count matches the
// index's entries, each key is in its shard under its own tag and found
// from its home without crossing an empty entry, no key and no slot is held
// twice, the long table holds exactly the long keys, the shard's free slots
// are empty and its own, and the index is at most 7/8 full.
func checkTable(t *testing.T, s *Store) {
	t.Helper()
	owner := map[uint32]int{} // slot → shard
	for k := range s.shards {
		sh := &s.shards[k]
		n, long := 0, 0
		seen := map[string]bool{}
		if x := sh.idx.Load(); x != nil {
			for i := range x.e {
				v := x.e[i].Load()
				if v == 0 {
					continue
				}
				n++
				if o, dup := owner[entrySlot(v)]; dup {
					t.Fatalf("shard %d: slot %d held twice (also by shard %d)", k, entrySlot(v), o)
				}
				owner[entrySlot(v)] = k
				e := s.slab.at(entrySlot(v))
				key := sh.keyOf(e)
				if seen[key] {
					t.Fatalf("shard %d: key %q held twice", k, key)
				}
				seen[key] = true
				if got, tag := s.locate(key); got != sh || tag != entryTag(v) {
					t.Fatalf("shard %d: key %q has tag %#x here, but locates to another shard or tag %#x", k, key, entryTag(v), tag)
				}
				if w, j := sh.find(entryTag(v), key, nil); w != v || j != i {
					t.Fatalf("shard %d: key %q at entry %d, but find gives %d", k, key, i, j)
				}
				if e.flags&flagLong != 0 {
					long++
					if lk := sh.long[e.longIndex()]; e.alg != core.SlidingWindowLog && lk.log != nil {
						t.Fatalf("shard %d: key %q keeps a ring under %v", k, key, e.alg)
					}
				} else if e.alg == core.SlidingWindowLog {
					t.Fatalf("shard %d: key %q under the sliding window log has no place for its ring", k, key)
				}
				if e.mu.Load() != 0 {
					t.Fatalf("shard %d: key %q left locked", k, key)
				}
			}
			if n*8 > len(x.e)*7 {
				t.Fatalf("shard %d: %d keys in an index of %d, over 7/8 full", k, n, len(x.e))
			}
		}
		if n != sh.count {
			t.Fatalf("shard %d: %d entries, count %d", k, n, sh.count)
		}
		if long != len(sh.long)-len(sh.freeLong) {
			t.Fatalf("shard %d: %d long keys, long table of %d with %d free", k, long, len(sh.long), len(sh.freeLong))
		}
		for _, f := range sh.freeLong {
			if sh.long[f].key != "" || sh.long[f].log != nil {
				t.Fatalf("shard %d: free long entry %d holds %q", k, f, sh.long[f].key)
			}
		}
		for _, f := range sh.free {
			if o, dup := owner[f]; dup {
				t.Fatalf("shard %d: free slot %d also held by shard %d", k, f, o)
			}
			owner[f] = k
			if e := s.slab.at(f); e.klen != 0 || e.flags != 0 || e.expires != 0 {
				t.Fatalf("shard %d: free slot %d not empty", k, f)
			}
		}
	}
	if len(owner) != int(s.slab.next) {
		t.Fatalf("%d slots handed out, %d held or free", s.slab.next, len(owner))
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
	// Keys of every form a slot holds: inline, after a registered prefix
	// (given by TakePrefixed, or found by Take), and long.
	prefixes := []string{"", "6:per-ip:", "14:a-longer-name:", "x"}
	for step := 0; step < 20_000; step++ {
		prefix := prefixes[rng.IntN(len(prefixes))]
		key := "k" + strconv.Itoa(rng.IntN(200))
		switch rng.IntN(4) {
		case 0:
			key = "a-longer-key-" + key
		case 1:
			key = "a-key-longer-than-any-slot-holds-" + key
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
			before, _ := s.Take(context.Background(), prefix+key, l, 0)
			take := s.Take
			if rng.IntN(2) == 0 {
				take = func(ctx context.Context, k string, l core.Limit, cost int64) (core.Decision, error) {
					return s.TakePrefixed(ctx, prefix, key, l, cost)
				}
			}
			d, err := take(context.Background(), prefix+key, l, 1)
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
	if inline, prefixed, long := keyForms(s); inline == 0 || prefixed == 0 || long == 0 {
		t.Fatalf("keys held inline, after a prefix, long: %d, %d, %d: the churn does not exercise each", inline, prefixed, long)
	}
}

// keyForms counts the keys s holds in each form a slot has.
func keyForms(s *Store) (inline, prefixed, long int) {
	for k := range s.shards {
		x := s.shards[k].idx.Load()
		if x == nil {
			continue
		}
		for i := range x.e {
			v := x.e[i].Load()
			if v == 0 {
				continue
			}
			switch e := s.slab.at(entrySlot(v)); {
			case e.flags&flagLong != 0:
				long++
			case e.pid != 0:
				prefixed++
			default:
				inline++
			}
		}
	}
	return inline, prefixed, long
}

// holds reports whether s holds state for key.
func holds(s *Store, key string) bool {
	sh, tag := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, _ := sh.find(tag, key, nil)
	return v != 0
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
		if holds(s, gone) {
			t.Fatalf("%s still held after a newcomer, want it evicted", gone)
		}
		if !holds(s, "new-"+gone) {
			t.Fatalf("newcomer new-%s not held", gone)
		}
		if !holds(s, "d") {
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
		sh, tag := s.locate(key)
		v, _ := sh.find(tag, key, nil)
		if v == 0 {
			continue
		}
		e := s.slab.at(entrySlot(v))
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

// Decisions on known keys run beside a flood that makes room, sweeps and
// resets in the same shard: a key they leave limited is never dropped, and
// the table stays sound.
func TestLimitedKeysSurviveChurnBesideThem(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0)) // frozen: a limited key stays limited
	s, err := New(WithClock(clock), WithShards(1), WithMaxKeys(16), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	counted := []string{"c0", "c1", "c2", "a-counted-key-longer-than-a-slot"}
	l := core.PerHour(3)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() { // a flood of keys that are never limited, each making room
		defer churn.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := "flood-" + strconv.Itoa(i)
			s.Take(ctx, key, core.PerHour(1_000_000), 1)
			switch i % 7 {
			case 0:
				s.Sweep()
			case 1:
				s.Reset(ctx, "flood-"+strconv.Itoa(i-1))
			case 2:
				ds := make([]core.Decision, 2)
				s.TakeMany(ctx, []core.Take{{Key: key, Limit: core.PerHour(1_000_000), Cost: 1}, {Key: counted[i%len(counted)], Limit: l, Cost: 0}}, ds)
			}
		}
	}()
	var takers sync.WaitGroup
	for range 2 {
		takers.Add(1)
		go func() {
			defer takers.Done()
			for _, k := range counted {
				for denied := 0; denied < 3; {
					d, err := s.Take(ctx, k, l, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if !d.Allowed {
						denied++
					} else {
						denied = 0
					}
				}
			}
		}()
	}
	takers.Wait()
	time.Sleep(20 * time.Millisecond) // the flood goes on beside limited keys
	close(stop)
	churn.Wait()
	for _, k := range counted {
		if d, _ := s.Take(ctx, k, l, 1); d.Allowed {
			t.Fatalf("%s was limited, and after a flood beside it is admitted: its state was dropped", k)
		}
	}
	if st := s.Stats(); st.Evicted == 0 {
		t.Fatalf("stats %+v: the flood evicted nothing, so it tested nothing", st)
	}
	checkTable(t, s)
}

// A step over several keys and decisions on one of them alone, at once,
// admit exactly the key's quota between them.
func TestTakeManyBesideTakesIsExact(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0))
	s, err := New(WithClock(clock), WithShards(2), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	l := core.PerHour(500)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := make([]core.Decision, 2)
			for i := range 400 {
				if g%2 == 0 {
					if d, _ := s.Take(ctx, "shared", l, 1); d.Allowed {
						admitted.Add(1)
					}
					continue
				}
				other := "other-" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if err := s.TakeMany(ctx, []core.Take{{Key: "shared", Limit: l, Cost: 1}, {Key: other, Limit: l, Cost: 1}}, ds); err != nil {
					t.Error(err)
					return
				}
				if ds[0].Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != 500 {
		t.Fatalf("admitted %d of 1,600 requests on a quota of 500", got)
	}
	checkTable(t, s)
}

// Keys under more prefixes than the store registers, and more keys than a
// slab chunk and a first slab directory hold, keep exact state: each
// prefix's keys after the 255th are kept whole (inline or long).
func TestManyPrefixesAndKeysKeepTheirState(t *testing.T) {
	clock := core.NewManualClock(time.Unix(1_900_000_000, 0))
	s, err := New(WithClock(clock), WithShards(4), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	l := core.PerHour(3)
	const limiters, keys = 300, 20
	for round := range 2 {
		for i := range limiters {
			prefix := strconv.Itoa(10+len(strconv.Itoa(i))) + ":limiter-name-" + strconv.Itoa(i) + ":"
			for k := range keys {
				d, err := s.TakePrefixed(ctx, prefix, "198.51.100."+strconv.Itoa(k), l, 1)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Allowed || d.Remaining != int64(2-round) {
					t.Fatalf("round %d, %s198.51.100.%d: %+v, want admitted with %d left", round, prefix, k, d, 2-round)
				}
			}
		}
	}
	if n := s.prefixes.n.Load(); n != 255 {
		t.Fatalf("%d prefixes registered, want the 255 there is room for", n)
	}
	if got := s.Len(); got != limiters*keys {
		t.Fatalf("%d keys held, want %d", got, limiters*keys)
	}
	if s.slab.next <= 16*chunkSlots {
		t.Fatalf("%d slots handed out: the test does not grow the slab's directory", s.slab.next)
	}
	inline, prefixed, long := keyForms(s)
	if prefixed == 0 || long == 0 {
		t.Fatalf("keys inline, after a prefix, long: %d, %d, %d: want keys after a registered prefix and keys past the 255th kept long", inline, prefixed, long)
	}
	checkTable(t, s)
}

// sameBytes agrees with a comparison of strings at every length a slot
// holds, for equal keys and keys differing in any one byte.
func TestSameBytesComparesAsStrings(t *testing.T) {
	for n := 0; n <= inlineKey; n++ {
		var k [inlineKey]byte
		for i := range k {
			k[i] = byte('a' + i)
		}
		rest := string(k[:n])
		if !sameBytes(rest, &k) {
			t.Fatalf("length %d: equal bytes called different", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(rest)
			b[i] ^= 0x20
			if sameBytes(string(b), &k) {
				t.Fatalf("length %d: bytes differing at %d called equal", n, i)
			}
		}
	}
}
