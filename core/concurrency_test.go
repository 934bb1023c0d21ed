package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// slotMap is the smallest correct SlotStore, with a switch that makes it
// fail, since no real store in this module can.
type slotMap struct {
	mapStore
	smu      sync.Mutex
	held     map[string]int64
	err      error
	released []string
}

var _ storekit.SlotStore = (*slotMap)(nil)

func newSlotMap() *slotMap {
	return &slotMap{mapStore: *newMapStore(core.SystemClock), held: map[string]int64{}}
}

func (m *slotMap) Acquire(_ context.Context, key string, max int64) (uint64, core.Decision, error) {
	if err := storekit.CheckAcquire(key, max); err != nil {
		return 0, core.Decision{}, err
	}
	m.smu.Lock()
	defer m.smu.Unlock()
	if m.err != nil {
		return 0, core.Decision{}, m.err
	}
	if m.held[key] >= max {
		return 0, core.Decision{Reason: core.ReasonLimited}, nil
	}
	m.held[key]++
	return 7, core.Decision{Allowed: true, Remaining: max - m.held[key]}, nil
}

func (m *slotMap) Release(_ context.Context, key string, id uint64) error {
	m.smu.Lock()
	defer m.smu.Unlock()
	if id != 7 {
		return errors.New("slotMap: unknown slot id")
	}
	m.released = append(m.released, key)
	if m.held[key]--; m.held[key] == 0 {
		delete(m.held, key)
	}
	return nil
}

func (m *slotMap) count(key string) int64 {
	m.smu.Lock()
	defer m.smu.Unlock()
	return m.held[key]
}

func (m *slotMap) failSlots(err error) { m.smu.Lock(); m.err = err; m.smu.Unlock() }

// remoteSlots is a slotMap that decides "remotely", with a local one.
type remoteSlots struct {
	*slotMap
	local *slotMap
}

func (r remoteSlots) LocalStore() core.Store { return r.local }

func TestNewConcurrencyLimiterRejectsBadInput(t *testing.T) {
	for _, c := range []struct {
		name  string
		store core.Store
		n     int64
		opts  []core.Option
		want  string
	}{
		{"a limit of 0 would refuse every request", newSlotMap(), 0, nil, "concurrent 0: must be at least 1"},
		{"a negative limit", newSlotMap(), -3, nil, "concurrent -3: must be at least 1"},
		{"a store without slots", newMapStore(core.SystemClock), 4, nil, "holds no concurrency slots"},
		{"a nil store", nil, 4, nil, "nil store"},
		{"a cost", newSlotMap(), 4, []core.Option{core.WithCost(2)}, "WithCost does not apply"},
		{"shadow mode", newSlotMap(), 4, []core.Option{core.WithShadow()}, "WithShadow is not supported"},
		{"a fallback without slots", newSlotMap(), 4, []core.Option{core.WithFallback(newMapStore(core.SystemClock), 2)}, "fallback store"},
		{"an empty name", newSlotMap(), 4, []core.Option{core.WithName("")}, "name: empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := core.NewConcurrencyLimiter(c.store, c.n, c.opts...)
			if err == nil || l != nil || !strings.HasPrefix(err.Error(), "core: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, %v; want an error starting \"core: \" and containing %q", l, err, c.want)
			}
		})
	}
	if _, err := core.NewConcurrencyLimiter(newSlotMap(), 0); !errors.Is(err, core.ErrInvalidConcurrency) {
		t.Fatalf("limit 0: %v, want an error wrapping ErrInvalidConcurrency", err)
	}
}

func TestConcurrencyLimiterHoldsAtMostNPerKey(t *testing.T) {
	s := newSlotMap()
	l, err := core.NewConcurrencyLimiter(s, 2, core.WithName("uploads"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "uploads" || l.Max() != 2 || l.Prefix() != "7:uploads:" || l.FailurePolicy() != core.FailClosed {
		t.Fatalf("name %q max %d prefix %q policy %v", l.Name(), l.Max(), l.Prefix(), l.FailurePolicy())
	}
	ctx := context.Background()
	a, da, _ := l.Acquire(ctx, "ip1")
	b, db, _ := l.Acquire(ctx, "ip1")
	c, dc, err := l.Acquire(ctx, "ip1")
	if !da.Allowed || da.Remaining != 1 || !db.Allowed || db.Remaining != 0 || da.Name != "uploads" {
		t.Fatalf("first two: %+v, %+v; want admitted with 1 then 0 remaining", da, db)
	}
	if dc.Allowed || dc.Reason != core.ReasonLimited || dc.RetryAfter != core.ConcurrencyRetryAfter || c.Held() || err != nil {
		t.Fatalf("third: %+v held %v err %v; want denied, RetryAfter %v, nothing held", dc, c.Held(), err, core.ConcurrencyRetryAfter)
	}
	if got := s.count("7:uploads:ip1"); got != 2 {
		t.Fatalf("store holds %d slots of the key, want 2", got)
	}
	if _, d, _ := l.Acquire(ctx, "ip2"); !d.Allowed {
		t.Fatal("another key: denied")
	}
	if err := a.Release(); err != nil || a.Held() {
		t.Fatalf("Release: %v, held %v", err, a.Held())
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second Release: %v, want nothing done", err)
	}
	if got := s.count("7:uploads:ip1"); got != 1 {
		t.Fatalf("after one release (twice): %d held, want 1", got)
	}
	b.Release()
	var zero core.Slot
	if err := zero.Release(); err != nil {
		t.Fatalf("zero Slot's Release: %v", err)
	}
	if _, d, err := l.Acquire(ctx, ""); d.Allowed || d.Reason != core.ReasonInvalid || !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("empty key: %+v, %v; want invalid", d, err)
	}
}

func TestConcurrencyLimiterFailurePolicies(t *testing.T) {
	down := errors.New("down")
	ctx := context.Background()
	t.Run("the default over a remote store falls back to its local store, holding the instance's share", func(t *testing.T) {
		r := remoteSlots{newSlotMap(), newSlotMap()}
		var events []core.Event
		l, err := core.NewConcurrencyLimiter(r, 4, core.WithInstances(2), core.WithHook(func(_ context.Context, ev core.Event) { events = append(events, ev) }))
		if err != nil {
			t.Fatal(err)
		}
		if l.FailurePolicy() != core.FailBack {
			t.Fatalf("policy %v, want fallback", l.FailurePolicy())
		}
		r.failSlots(down)
		s1, d1, err1 := l.Acquire(ctx, "k")
		_, d2, _ := l.Acquire(ctx, "k")
		_, d3, _ := l.Acquire(ctx, "k")
		if !d1.Allowed || !d2.Allowed || d3.Allowed || !errors.Is(err1, core.ErrStore) || !errors.Is(err1, down) {
			t.Fatalf("fallback of 4/2: %v %v %v (%v); want two admitted, the third denied, errors wrapping ErrStore", d1.Allowed, d2.Allowed, d3.Allowed, err1)
		}
		if got := r.local.count("12:concurrent-4:k"); got != 2 {
			t.Fatalf("local store holds %d, want 2", got)
		}
		r.failSlots(nil)
		s1.Release() // given back where it was taken, though the store is back
		if got := r.local.count("12:concurrent-4:k"); got != 1 {
			t.Fatalf("after a release: local store holds %d, want 1", got)
		}
		if len(events) != 3 || !events[0].Fallback || events[0].Err == nil || events[0].Key != "k" {
			t.Fatalf("hook saw %+v", events)
		}
	})
	t.Run("fail closed denies, fail open admits holding nothing", func(t *testing.T) {
		s := newSlotMap()
		s.failSlots(down)
		closed, _ := core.NewConcurrencyLimiter(s, 1, core.WithFailClosed())
		if slot, d, err := closed.Acquire(ctx, "k"); d.Allowed || d.Reason != core.ReasonFailClosed || d.RetryAfter <= 0 || slot.Held() || !errors.Is(err, core.ErrStore) {
			t.Fatalf("fail closed: %+v, %v", d, err)
		}
		open, _ := core.NewConcurrencyLimiter(s, 1, core.WithFailOpen())
		if slot, d, err := open.Acquire(ctx, "k"); !d.Allowed || d.Reason != core.ReasonFailOpen || slot.Held() || !errors.Is(err, core.ErrStore) {
			t.Fatalf("fail open: %+v, %v", d, err)
		}
	})
	t.Run("the failover hook hears each switch once, as a Limiter's", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := remoteSlots{newSlotMap(), newSlotMap()}
			log := newSwitchLog()
			l, err := core.NewConcurrencyLimiter(r, 100, core.WithFailoverHook(log.hook))
			if err != nil {
				t.Fatalf("WithFailoverHook: %v", err)
			}
			acquire := func(n int) {
				for i := 0; i < n; i++ {
					s, _, _ := l.Acquire(ctx, "k")
					s.Release()
				}
			}
			acquire(3)
			log.none(t)
			r.failSlots(down)
			acquire(3)
			if ev := log.next(t); !ev.failing || !errors.Is(ev.err, down) || !errors.Is(ev.err, core.ErrStore) {
				t.Fatalf("switch %+v, want failing with the store's error", ev)
			}
			r.failSlots(nil)
			acquire(3)
			if ev := log.next(t); ev.failing || ev.err != nil {
				t.Fatalf("switch %+v, want recovered", ev)
			}
			log.none(t)
		})
	})
	t.Run("a caller gone away when the store fails is refused", func(t *testing.T) {
		r := remoteSlots{newSlotMap(), newSlotMap()}
		r.failSlots(down)
		l, _ := core.NewConcurrencyLimiter(r, 4)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, d, err := l.Acquire(cctx, "k"); d.Allowed || !errors.Is(err, context.Canceled) || r.local.count("12:concurrent-4:k") != 0 {
			t.Fatalf("%+v, %v; want refused, nothing held in the fallback", d, err)
		}
	})
}
