package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// settleMap is a mapStore that settles, as storekit.Settler.
type settleMap struct{ *mapStore }

func (m settleMap) Settle(_ context.Context, key string, l core.Limit, delta int64) (core.Decision, error) {
	if err := storekit.CheckSettle(key, l, delta); err != nil {
		return core.Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return core.Decision{}, m.err
	}
	s := m.states[key]
	d := storekit.Settle(&s, m.clock.Now().UnixNano(), l, delta)
	m.put(key, s)
	return d, nil
}

func memLimiter(t *testing.T, l core.Limit, opts ...core.Option) (*core.Limiter, *core.ManualClock) {
	t.Helper()
	clock := core.NewManualClock(time.Unix(1e9, 0))
	s, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return newLimiter(t, s, l, opts...), clock
}

func TestSettleChargesTheDifference(t *testing.T) {
	ctx := context.Background()
	var events []core.Event
	lim, _ := memLimiter(t, core.PerMinute(10), core.WithName("bytes"), core.WithHook(func(_ context.Context, ev core.Event) { events = append(events, ev) }))
	if !lim.CanSettle() {
		t.Fatal("a memory store's limiter cannot settle")
	}
	if d, _ := lim.Take(ctx, "k"); d.Remaining != 9 {
		t.Fatalf("after the reservation: %d left, want 9", d.Remaining)
	}
	d, err := lim.Settle(ctx, "k", 1, 7)
	if err != nil || d.Remaining != 3 || d.Name != "bytes" || !d.Allowed {
		t.Fatalf("settled at 7: %+v, %v; want 3 left, named bytes", d, err)
	}
	// Past what is left: charged anyway, into debt.
	d, err = lim.Settle(ctx, "k", 1, 8)
	if err != nil || d.Allowed || d.Remaining != 0 || d.RetryAfter < 4*6*time.Second {
		t.Fatalf("settled at 8 with 3 left: %+v, %v; want denied for at least 4 intervals (the debt)", d, err)
	}
	// A cost below the reservation gives the difference back.
	d, err = lim.Settle(ctx, "k", 5, 1)
	if err != nil || d.RetryAfter >= 4*6*time.Second {
		t.Fatalf("refunded 4: %+v, %v; want the wait shortened", d, err)
	}
	var settled int
	for _, ev := range events {
		if ev.Settled {
			settled++
			if ev.Outcome() != "settled" {
				t.Errorf("a settlement's outcome is %q, want settled", ev.Outcome())
			}
		}
	}
	if settled != 3 || events[1].Cost != 6 || events[3].Cost != -4 {
		t.Errorf("the hook saw %d settlements (%+v), want 3, charging 6 then 7 then -4", settled, events)
	}
}

func TestSettleBadInput(t *testing.T) {
	ctx := context.Background()
	lim, _ := memLimiter(t, core.PerMinute(10))
	lim.Take(ctx, "k")
	t.Run("a negative cost changes nothing", func(t *testing.T) {
		if _, err := lim.Settle(ctx, "k", 1, -3); !errors.Is(err, core.ErrInvalidCost) {
			t.Fatalf("error %v, want ErrInvalidCost", err)
		}
		if d, _ := lim.Peek(ctx, "k"); d.Remaining != 9 {
			t.Fatalf("%d left, want 9: the reservation stands", d.Remaining)
		}
	})
	t.Run("a cost over the burst is charged as the burst", func(t *testing.T) {
		d, err := lim.Settle(ctx, "k", 1, 1_000_000)
		if !errors.Is(err, core.ErrInvalidCost) {
			t.Fatalf("error %v, want ErrInvalidCost", err)
		}
		// 1 reserved, 9 more charged: the key is empty, and owes nothing
		// past the burst.
		if d.Allowed || d.Remaining != 0 || d.RetryAfter > 6*time.Second {
			t.Fatalf("%+v: want empty, admitting again one interval (6s) on", d)
		}
	})
	t.Run("an empty key", func(t *testing.T) {
		if _, err := lim.Settle(ctx, "", 1, 2); !errors.Is(err, core.ErrInvalidKey) {
			t.Fatalf("error %v, want ErrInvalidKey", err)
		}
	})
	t.Run("nothing to settle asks nothing", func(t *testing.T) {
		d, err := lim.Settle(ctx, "k", 2, 2)
		if err != nil || d != (core.Decision{Name: lim.Name(), Limit: lim.Limit()}) {
			t.Fatalf("%+v, %v: want the zero decision", d, err)
		}
	})
}

func TestSettleStores(t *testing.T) {
	ctx := context.Background()
	down := errors.New("connection refused")
	t.Run("a store that cannot settle", func(t *testing.T) {
		lim := newLimiter(t, newMapStore(core.SystemClock), core.PerMinute(10))
		if lim.CanSettle() {
			t.Fatal("CanSettle over a store without Settle")
		}
		if _, err := lim.Settle(ctx, "k", 1, 2); !errors.Is(err, core.ErrNoSettle) {
			t.Fatalf("error %v, want ErrNoSettle", err)
		}
	})
	t.Run("a failing store charges nothing and says so", func(t *testing.T) {
		s := settleMap{newMapStore(core.SystemClock)}
		lim := newLimiter(t, s, core.PerMinute(10))
		s.fail(down)
		if _, err := lim.Settle(ctx, "k", 1, 2); !errors.Is(err, core.ErrStore) || !errors.Is(err, down) {
			t.Fatalf("error %v, want ErrStore wrapping the store's", err)
		}
	})
	t.Run("a fallback store settles when the store fails", func(t *testing.T) {
		clock := core.NewManualClock(time.Unix(1e9, 0))
		local := settleMap{newMapStore(clock)}
		r := remoteSettle{remoteStore{newMapStore(clock), local}}
		lim := newLimiter(t, r, core.PerMinute(10))
		r.fail(down)
		lim.Take(ctx, "k") // decided by the fallback
		d, err := lim.Settle(ctx, "k", 1, 5)
		if !errors.Is(err, core.ErrStore) || d.Remaining != 5 {
			t.Fatalf("%+v, %v: want the fallback's 5 left, and the store's error", d, err)
		}
	})
}

// remoteSettle is a remoteStore that settles (failing as its mapStore does).
type remoteSettle struct{ remoteStore }

func (r remoteSettle) Settle(ctx context.Context, key string, l core.Limit, delta int64) (core.Decision, error) {
	return settleMap{r.mapStore}.Settle(ctx, key, l, delta)
}
