package memstore

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
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
	case <-s.done:
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
