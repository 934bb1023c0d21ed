package memstore_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// A flood of distinct keys must never hand a limited key a fresh quota
// (issue 15, item 6). Each attack drains a victim's 3/m login limit, then
// sends a flood of distinct keys on another limit of the same store, many
// times the store's bound, and asks the victim again: it must still be
// refused. Under the old eviction order (one-shot keys first, then the
// sampled key expiring soonest) every one of these evicted the victim.
var floodAttacks = []struct {
	name   string
	victim core.Limit
	flood  core.Limit
	// advance is how long after draining the victim the flood comes.
	advance time.Duration
	// allLimited: every flood key drains itself, so the store fills with
	// limited keys and must refuse, never evict.
	allLimited bool
}{
	// Each flood key sent twice is no longer "seen once", and on a limit
	// of 10/h it expires after the victim's 3/m.
	{"each-key-twice", core.PerMinute(3), core.PerHour(10), 0, false},
	// Fixed windows of one period end together: the victim ties with
	// every flood key on its expiry.
	{"fixed-window-tie", core.PerMinute(3).WithAlgorithm(core.FixedWindow), core.PerMinute(10).WithAlgorithm(core.FixedWindow), 0, false},
	// GCRA: flood keys drained by one request (1/m) and sent a second
	// time, a second after the victim, so they expire a second after it.
	{"gcra-drained-flood", core.PerMinute(3), core.PerMinute(1), time.Second, true},
}

func runFloodAttack(t *testing.T, s *memstore.Store, clock *core.ManualClock, victim, flood core.Limit, advance time.Duration, keys int) {
	t.Helper()
	const victimKey = "login:203.0.113.5"
	for i := 0; i < 3; i++ {
		if d := mustTake(t, s, victimKey, victim, 1); !d.Allowed {
			t.Fatalf("victim's request %d denied before the flood", i+1)
		}
	}
	if d := mustTake(t, s, victimKey, victim, 1); d.Allowed {
		t.Fatal("victim's 4th request admitted before the flood: not drained")
	}
	clock.Advance(advance)
	burst := flood.EffectiveBurst()
	for i := 0; i < keys; i++ {
		k := "api:" + strconv.Itoa(i)
		a := mustTake(t, s, k, flood, 1)
		b := mustTake(t, s, k, flood, 1)
		// No flood key may get more than its quota either: a limited
		// flood key is refused, never reset.
		if burst == 1 && b.Allowed {
			t.Fatalf("flood key %d admitted twice on a limit of 1 (first %v)", i, a.Allowed)
		}
	}
	if d := mustTake(t, s, victimKey, victim, 1); d.Allowed {
		st := s.Stats()
		t.Fatalf("after %d flood keys the drained victim was admitted: its state was evicted (stats %+v)", keys, st)
	}
}

func TestFloodNeverResetsALimitedKey(t *testing.T) {
	for _, a := range floodAttacks {
		t.Run(a.name, func(t *testing.T) {
			// 4,096 keys over 16 shards: 256 a shard. The flood is 12
			// times that, so that even a victim that ties with every
			// flood key (and so would go at 1 in 256 of its shard's
			// evictions under a random order) is not spared by luck:
			// 2,816 evictions in its shard.
			const maxKeys = 1 << 12
			clock := core.NewManualClock(t0.Add(10 * time.Second)) // inside a minute's window
			s := newStore(t, memstore.WithClock(clock), memstore.WithShards(16), memstore.WithMaxKeys(maxKeys), memstore.WithSweepInterval(0))
			runFloodAttack(t, s, clock, a.victim, a.flood, a.advance, 12*maxKeys)
			st := s.Stats()
			if st.Keys > maxKeys {
				t.Fatalf("store holds %d keys, bound %d", st.Keys, maxKeys)
			}
			if a.allLimited && (st.Evicted != 0 || st.Refused == 0) {
				t.Fatalf("stats %+v: with every key limited, want refusals and no eviction", st)
			}
			if !a.allLimited && (st.Evicted == 0 || st.Refused != 0) {
				t.Fatalf("stats %+v: with unlimited flood keys, want evictions and no refusal", st)
			}
		})
	}
}

// When every key of a shard is limited, a new key is refused until the first
// of them stops being limited, and counted; then it takes that key's place.
func TestFullShardOfLimitedKeysRefusesNewKeys(t *testing.T) {
	clock := core.NewManualClock(t0)
	s := newStore(t, memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(10), memstore.WithSweepInterval(0))
	l := core.PerMinute(1) // one request drains a key for a minute
	for i := 0; i < 10; i++ {
		mustTake(t, s, fmt.Sprintf("held-%d", i), l, 1)
		clock.Advance(time.Second) // held-0 frees first, at t0+1m
	}
	d := mustTake(t, s, "newcomer", l, 1)
	if d.Allowed || d.Reason != core.ReasonLimited {
		t.Fatalf("newcomer into a shard of limited keys: %+v, want a denial", d)
	}
	if want := time.Minute - 10*time.Second; d.RetryAfter != want {
		t.Fatalf("RetryAfter %v, want %v: until held-0 stops being limited", d.RetryAfter, want)
	}
	if st := s.Stats(); st.Refused != 1 || st.Evicted != 0 || st.Keys != 10 {
		t.Fatalf("stats %+v, want 1 refused, 0 evicted, 10 keys", st)
	}
	if f := s.Figures(); f != (storekit.Figures{Kind: "memory", Mode: "direct", Keys: 10, Refused: 1}) {
		t.Fatalf("figures %+v, want Stats' counts", f)
	}
	for i := 0; i < 10; i++ {
		if d := mustTake(t, s, fmt.Sprintf("held-%d", i), l, 1); d.Allowed {
			t.Fatalf("held-%d admitted again while limited", i)
		}
	}
	clock.Advance(d.RetryAfter)
	if d := mustTake(t, s, "newcomer", l, 1); !d.Allowed {
		t.Fatalf("newcomer after RetryAfter: %+v, want admitted", d)
	}
	// held-0 was whole again: dropping it was exact, not an eviction.
	if st := s.Stats(); st.Evicted != 0 || st.Keys != 10 {
		t.Fatalf("stats %+v, want 0 evicted, 10 keys", st)
	}
	for i := 1; i < 10; i++ {
		if d := mustTake(t, s, fmt.Sprintf("held-%d", i), l, 1); d.Allowed {
			t.Fatalf("held-%d admitted while limited after the newcomer came in", i)
		}
	}
}

// A step whose new key finds no room is refused whole: nothing is taken
// from its other keys, and the step's own keys are never evicted to make
// room for one another.
func TestTakeManyWithNoRoomTakesNothing(t *testing.T) {
	clock := core.NewManualClock(t0)
	s := newStore(t, memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(2), memstore.WithSweepInterval(0))
	tenant := core.PerMinute(100)
	mustTake(t, s, "tenant:acme", tenant, 1)       // unlimited, 1/100 used: the best victim
	mustTake(t, s, "ip:old", core.PerMinute(1), 1) // limited
	takes := []core.Take{{Key: "tenant:acme", Limit: tenant, Cost: 1}, {Key: "ip:new", Limit: core.PerMinute(1), Cost: 1}}
	ds := make([]core.Decision, 2)
	if err := s.TakeMany(ctx, takes, ds); err != nil {
		t.Fatal(err)
	}
	if ds[0].Allowed && ds[1].Allowed {
		t.Fatal("step admitted: its new key evicted the step's own tenant key")
	}
	if ds[1].Allowed || ds[1].Reason != core.ReasonLimited {
		t.Fatalf("the new key's decision %+v, want the refusal", ds[1])
	}
	if d := mustTake(t, s, "tenant:acme", tenant, 0); d.Remaining != 99 {
		t.Fatalf("tenant after the refused step: Remaining %d, want 99 (nothing taken)", d.Remaining)
	}
	if st := s.Stats(); st.Refused != 1 || st.Evicted != 0 {
		t.Fatalf("stats %+v, want 1 refused, 0 evicted", st)
	}
	// With room (the limited key's minute over), the same step is admitted.
	clock.Advance(time.Minute)
	if err := s.TakeMany(ctx, takes, ds); err != nil {
		t.Fatal(err)
	}
	if !ds[0].Allowed || !ds[1].Allowed {
		t.Fatalf("step after a minute: %+v", ds)
	}
}
