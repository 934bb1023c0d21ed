package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

var t0 = time.Unix(1e9, 0)

// mapMulti is mapStore with TakeMany: every take decided under its one
// mutex, state written only if all are admitted.
type mapMulti struct{ *mapStore }

func (m mapMulti) TakeMany(_ context.Context, takes []core.Take, ds []core.Decision) error {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	now := m.clock.Now().UnixNano()
	sts := make([]storekit.State, len(takes))
	all := true
	for i, t := range takes {
		sts[i] = m.states[t.Key]
		ds[i] = storekit.Apply(&sts[i], now, t.Limit, t.Cost)
		all = all && ds[i].Allowed
	}
	for i, t := range takes {
		switch {
		case all:
			m.put(t.Key, sts[i])
		case ds[i].Allowed:
			st := m.states[t.Key]
			ds[i] = storekit.Apply(&st, now, t.Limit, 0)
		}
	}
	return nil
}

func TestTakeAllTakesEveryLimitOrNone(t *testing.T) {
	for _, c := range []struct {
		name  string
		store func(core.Clock) core.Store
	}{
		{"one MultiStore: one atomic step", func(c core.Clock) core.Store { return mapMulti{newMapStore(c)} }},
		{"a plain Store: peek, then take", func(c core.Clock) core.Store { return newMapStore(c) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.store(core.NewManualClock(t0))
			var events []core.Event
			hook := core.WithHook(func(_ context.Context, ev core.Event) { events = append(events, ev) })
			ip := newLimiter(t, s, core.PerSecond(5), core.WithName("per-ip"), hook)
			tenant := newLimiter(t, s, core.PerSecond(3), core.WithName("per-tenant"))
			ls, keys := []*core.Limiter{ip, tenant}, []string{"192.0.2.1", "acme"}
			ds := make([]core.Decision, 2)
			for i := int64(1); i <= 3; i++ {
				if err := core.TakeAll(context.Background(), ls, keys, ds); err != nil {
					t.Fatal(err)
				}
				if !ds[0].Allowed || !ds[1].Allowed || ds[0].Remaining != 5-i || ds[1].Remaining != 3-i {
					t.Fatalf("request %d: %+v", i, ds)
				}
				if ds[0].Name != "per-ip" || ds[1].Name != "per-tenant" {
					t.Fatalf("policies %q and %q", ds[0].Name, ds[1].Name)
				}
			}
			if err := core.TakeAll(context.Background(), ls, keys, ds); err != nil {
				t.Fatal(err)
			}
			if ds[1].Allowed || ds[1].RetryAfter <= 0 || !ds[0].Allowed || ds[0].Remaining != 2 {
				t.Fatalf("request 4: %+v, want per-tenant denied and per-ip as it stays (2)", ds)
			}
			if d, _ := ip.Peek(context.Background(), "192.0.2.1"); d.Remaining != 2 {
				t.Fatalf("per-ip after the denied request: %d remaining, want 2", d.Remaining)
			}
			if len(events) < 4 || events[0].Name != "per-ip" || events[0].Key != "192.0.2.1" {
				t.Fatalf("hook events %+v, want per-ip's decisions with the unprefixed key", events)
			}
		})
	}
}

func TestTakeAllRefusesBadInputWholly(t *testing.T) {
	s := mapMulti{newMapStore(core.NewManualClock(t0))}
	a := newLimiter(t, s, core.PerSecond(5), core.WithName("a"))
	b := newLimiter(t, s, core.PerSecond(5), core.WithName("b"))
	ds := make([]core.Decision, 2)
	err := core.TakeAll(context.Background(), []*core.Limiter{a, b}, []string{"k", ""}, ds)
	if !errors.Is(err, core.ErrInvalidKey) || ds[0].Reason != core.ReasonInvalid || ds[1].Reason != core.ReasonInvalid {
		t.Fatalf("an empty second key: err %v, decisions %+v; want ErrInvalidKey and both invalid", err, ds)
	}
	if d, _ := a.Peek(context.Background(), "k"); d.Remaining != 5 {
		t.Fatalf("a consumed %d by a refused step", 5-d.Remaining)
	}
	if err := core.TakeAll(context.Background(), []*core.Limiter{a, b}, []string{"k"}, ds); !errors.Is(err, core.ErrInvalidTakes) {
		t.Fatalf("two limiters, one key: err %v, want ErrInvalidTakes", err)
	}
}

// When the shared store fails, each limiter applies its own policy.
func TestTakeAllFollowsEachPolicyWhenTheStoreFails(t *testing.T) {
	m := newMapStore(core.NewManualClock(t0))
	s := mapMulti{m}
	open := newLimiter(t, s, core.PerSecond(5), core.WithName("open"), core.WithFailOpen())
	closed := newLimiter(t, s, core.PerSecond(5), core.WithName("closed"), core.WithFailClosed())
	m.err = errors.New("down")
	ds := make([]core.Decision, 2)
	err := core.TakeAll(context.Background(), []*core.Limiter{open, closed}, []string{"k", "k"}, ds)
	if !errors.Is(err, core.ErrStore) {
		t.Fatalf("err %v, want ErrStore", err)
	}
	if ds[0].Reason != core.ReasonFailOpen || !ds[0].Allowed || ds[1].Reason != core.ReasonFailClosed || ds[1].Allowed {
		t.Fatalf("decisions %+v, want open admitted (fail-open) and closed denied (fail-closed)", ds)
	}
	if ds[1].RetryAfter != core.FailClosedRetryAfter {
		t.Fatalf("fail-closed RetryAfter %v", ds[1].RetryAfter)
	}
}

func TestShadowLimiterAdmitsWhatItWouldDenyAndReportsIt(t *testing.T) {
	s := newMapStore(core.NewManualClock(t0))
	var events []core.Event
	l := newLimiter(t, s, core.PerSecond(2), core.WithName("new-limit"), core.WithShadow(),
		core.WithHook(func(_ context.Context, ev core.Event) { events = append(events, ev) }))
	if !l.Shadow() {
		t.Fatal("Shadow() is false for a limiter made WithShadow")
	}
	for i := 0; i < 4; i++ {
		d, err := l.Take(context.Background(), "k")
		if err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v; want admitted", i, d, err)
		}
		want := core.ReasonOK
		if i >= 2 {
			want = core.ReasonShadow
		}
		if d.Reason != want || (want == core.ReasonShadow) != (d.RetryAfter > 0) {
			t.Fatalf("take %d: reason %v, RetryAfter %v; want %v (with the wait it would impose)", i, d.Reason, d.RetryAfter, want)
		}
	}
	// It counted as an enforcing limit does: two taken, none since.
	if d, _ := l.Peek(context.Background(), "k"); d.Remaining != 0 {
		t.Fatalf("remaining %d after 2 admitted and 2 shadow-denied, want 0", d.Remaining)
	}
	if len(events) != 5 || events[3].Decision.Reason != core.ReasonShadow || core.ReasonShadow.String() != "shadow-denied" {
		t.Fatalf("hook events %+v, want each decision with the would-be denials as shadow-denied", events)
	}
}

// A shadow limit's would-be denial does not hold back the enforced limits
// of the same step.
func TestTakeAllTakesShadowLimitsApart(t *testing.T) {
	s := mapMulti{newMapStore(core.NewManualClock(t0))}
	enforced := newLimiter(t, s, core.PerSecond(5), core.WithName("per-ip"))
	shadow := newLimiter(t, s, core.PerSecond(1), core.WithName("per-ip-strict"), core.WithShadow())
	ls, keys := []*core.Limiter{shadow, enforced}, []string{"192.0.2.1", "192.0.2.1"}
	ds := make([]core.Decision, 2)
	for i := int64(1); i <= 3; i++ {
		if err := core.TakeAll(context.Background(), ls, keys, ds); err != nil {
			t.Fatal(err)
		}
		if !ds[0].Allowed || !ds[1].Allowed || ds[1].Remaining != 5-i {
			t.Fatalf("request %d: %+v; want both admitted, per-ip at %d", i, ds, 5-i)
		}
		if i > 1 && ds[0].Reason != core.ReasonShadow {
			t.Fatalf("request %d: shadow limit's reason %v, want shadow-denied", i, ds[0].Reason)
		}
	}
}

// countingMulti counts the calls that reach a failing store.
type countingMulti struct {
	mapMulti
	calls *int
}

func (c countingMulti) TakeMany(ctx context.Context, takes []core.Take, ds []core.Decision) error {
	*c.calls++
	return c.mapMulti.TakeMany(ctx, takes, ds)
}

func (c countingMulti) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	*c.calls++
	return c.mapMulti.Take(ctx, key, l, cost)
}

// When the shared store fails and every limiter falls back to one
// MultiStore, the step is taken there in one atomic step, each limit divided
// among the instances, and the failing store is asked once.
func TestTakeAllFallsBackAsOneStep(t *testing.T) {
	clock := core.NewManualClock(t0)
	m := newMapStore(clock)
	calls := 0
	s := countingMulti{mapMulti{m}, &calls}
	local := mapMulti{newMapStore(clock)}
	var fallbacks int
	hook := core.WithHook(func(_ context.Context, ev core.Event) {
		if ev.Fallback && errors.Is(ev.Err, core.ErrStore) {
			fallbacks++
		}
	})
	ip := newLimiter(t, s, core.PerMinute(20), core.WithName("per-ip"), core.WithFallback(local, 2), hook)
	tenant := newLimiter(t, s, core.PerMinute(6), core.WithName("per-tenant"), core.WithFallback(local, 2), hook)
	m.err = errors.New("down")
	ds := make([]core.Decision, 2)
	admitted := 0
	for i := 0; i < 10; i++ {
		err := core.TakeAll(context.Background(), []*core.Limiter{ip, tenant}, []string{"1.2.3.4", "acme"}, ds)
		if !errors.Is(err, core.ErrStore) {
			t.Fatalf("step %d: err %v, want ErrStore", i, err)
		}
		if ds[0].Allowed && ds[1].Allowed {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("admitted %d steps in fallback, want the tenant's share 6/2 = 3", admitted)
	}
	if d, _ := local.Take(context.Background(), core.DefaultPrefix("per-ip")+"1.2.3.4", core.PerMinute(10), 0); d.Remaining != 7 {
		t.Fatalf("per-ip fallback bucket has %d left, want 10-3 = 7: denied steps took nothing", d.Remaining)
	}
	if calls != 10 {
		t.Fatalf("the failing store was asked %d times for 10 steps, want once a step", calls)
	}
	if fallbacks != 20 {
		t.Fatalf("hooks saw %d fallback decisions, want 20", fallbacks)
	}
}

// A caller that went away is refused, whatever the policy: never admitted
// uncounted, never decided by a fallback.
func TestTakeAllRefusesACallerThatWentAway(t *testing.T) {
	m := newMapStore(core.NewManualClock(t0))
	s := cancelMulti{mapMulti{m}}
	local := mapMulti{newMapStore(core.NewManualClock(t0))}
	open := newLimiter(t, s, core.PerMinute(5), core.WithName("open"), core.WithFailOpen())
	back := newLimiter(t, s, core.PerMinute(5), core.WithName("back"), core.WithFallback(local, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ls := range [][]*core.Limiter{{open, back}, {back, open}, {back}} {
		ds := make([]core.Decision, len(ls))
		keys := make([]string, len(ls))
		for i := range keys {
			keys[i] = "k"
		}
		err := core.TakeAll(ctx, ls, keys, ds)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want the caller's cancellation", err)
		}
		for i, d := range ds {
			if d.Allowed || d.Reason != core.ReasonFailClosed {
				t.Fatalf("decision %d for a caller gone: %+v, want refused", i, d)
			}
		}
	}
}

// cancelMulti fails with the caller's context error once it is done.
type cancelMulti struct{ mapMulti }

func (c cancelMulti) TakeMany(ctx context.Context, takes []core.Take, ds []core.Decision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.mapMulti.TakeMany(ctx, takes, ds)
}

func (c cancelMulti) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := ctx.Err(); err != nil {
		return core.Decision{}, err
	}
	return c.mapMulti.Take(ctx, key, l, cost)
}
