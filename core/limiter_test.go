package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// mapStore is the smallest correct Store: core.Apply behind one mutex, with a
// switch that makes it fail, since no real store in this module can.
type mapStore struct {
	mu     sync.Mutex
	states map[string]core.State
	clock  core.Clock
	err    error
	keys   []string
}

// put stores a key's state under a copy of the key: a caller's key may live
// in a buffer it reuses. (Always a copy: assigning to a string key that is
// present replaces the map's key with the one given.)
func (m *mapStore) put(key string, s core.State) {
	m.states[strings.Clone(key)] = s
}

func newMapStore(clock core.Clock) *mapStore {
	return &mapStore{states: map[string]core.State{}, clock: clock}
}

func (m *mapStore) Take(_ context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := core.CheckTake(key, l, cost); err != nil {
		return core.Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return core.Decision{}, m.err
	}
	m.keys = append(m.keys, strings.Clone(key)) // the Store contract: copy a key kept past Take
	s := m.states[key]
	d := core.Apply(&s, m.clock.Now().UnixNano(), l, cost)
	m.put(key, s)
	return d, nil
}

func (m *mapStore) Close() error { return nil }

// pickyStore enforces only limits of at most a minute, as a LimitChecker.
type pickyStore struct{ *mapStore }

func (pickyStore) CheckLimit(l core.Limit) error {
	if l.Period > time.Minute {
		return &core.LimitError{Field: "period", Value: l.Period.String(), Reason: "longer than this store keeps"}
	}
	return nil
}

func (m *mapStore) fail(err error) { m.mu.Lock(); m.err = err; m.mu.Unlock() }

func newLimiter(t *testing.T, s core.Store, l core.Limit, opts ...core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.NewLimiter(s, l, opts...)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	return lim
}

func TestNewLimiterRejectsBadConfiguration(t *testing.T) {
	s := newMapStore(core.SystemClock)
	tests := []struct {
		name  string
		store core.Store
		limit core.Limit
		opts  []core.Option
		says  string
	}{
		{"nil store", nil, core.PerSecond(1), nil, "nil store"},
		{"zero rate", s, core.Limit{Period: time.Second}, nil, "rate"},
		{"empty name", s, core.PerSecond(1), []core.Option{core.WithName("")}, "name"},
		{"name with a quote", s, core.PerSecond(1), []core.Option{core.WithName(`a"b`)}, "name"},
		{"cost zero", s, core.PerSecond(1), []core.Option{core.WithCost(0)}, "cost"},
		{"cost above burst", s, core.PerSecond(5), []core.Option{core.WithCost(6)}, "cost"},
		{"nil fallback", s, core.PerSecond(1), []core.Option{core.WithFallback(nil, 1)}, "fallback"},
		{"zero instances", s, core.PerSecond(1), []core.Option{core.WithFallback(s, 0)}, "instances"},
		{"nil hook", s, core.PerSecond(1), []core.Option{core.WithHook(nil)}, "hook"},
		{"nil failover hook", s, core.PerSecond(1), []core.Option{core.WithFailoverHook(nil)}, "failover hook"},
		{"limit the store cannot enforce", pickyStore{s}, core.PerHour(5), nil, "period"},
		{"prefix too long", s, core.PerSecond(1), []core.Option{core.WithPrefix(strings.Repeat("p", core.MaxKeyLen))}, "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.NewLimiter(tt.store, tt.limit, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("NewLimiter error = %v, want one mentioning %q", err, tt.says)
			}
		})
	}
}

func TestLimiterNamesPrefixesAndCharges(t *testing.T) {
	s := newMapStore(core.NewManualClock(time.Unix(1e9, 0)))
	ip := newLimiter(t, s, core.PerMinute(3))
	login := newLimiter(t, s, core.PerMinute(3), core.WithName("login"), core.WithCost(3))
	ctx := context.Background()

	d, err := ip.Take(ctx, "1.2.3.4")
	if err != nil || !d.Allowed || d.Remaining != 2 || d.Policy != "3/m" {
		t.Fatalf("first take: %+v, %v; want admitted, 2 left, policy \"3/m\"", d, err)
	}
	d, _ = login.Take(ctx, "1.2.3.4")
	if !d.Allowed || d.Remaining != 0 || d.Policy != "login" {
		t.Fatalf("login take of cost 3 on the same key: %+v; want admitted (its own bucket), 0 left", d)
	}
	if d, _ = login.Peek(ctx, "1.2.3.4"); d.Allowed {
		t.Fatalf("peek at the spent login bucket: %+v, want denied", d)
	}
	if want := []string{"3/m:1.2.3.4", "login:1.2.3.4", "login:1.2.3.4"}; strings.Join(s.keys, ",") != strings.Join(want, ",") {
		t.Fatalf("store keys %q, want %q", s.keys, want)
	}
	raw := newLimiter(t, s, core.PerMinute(3), core.WithPrefix(""))
	raw.Take(ctx, "x")
	if got := s.keys[len(s.keys)-1]; got != "x" {
		t.Fatalf("empty prefix: store key %q, want \"x\"", got)
	}
}

func TestLimiterInvalidInputIsNeverAdmitted(t *testing.T) {
	s := newMapStore(core.SystemClock)
	lim := newLimiter(t, s, core.PerSecond(10), core.WithFailOpen())
	for _, tt := range []struct {
		key    string
		cost   int64
		target error
	}{{"", 1, core.ErrInvalidKey}, {"k", -1, core.ErrInvalidCost}, {strings.Repeat("k", core.MaxKeyLen), 1, core.ErrInvalidKey}} {
		d, err := lim.TakeN(context.Background(), tt.key, tt.cost)
		if d.Allowed || d.Reason != core.ReasonInvalid || !errors.Is(err, tt.target) || errors.Is(err, core.ErrStore) {
			t.Errorf("key of %d bytes, cost %d: %+v, %v; want denied as invalid with %v, not a store failure", len(tt.key), tt.cost, d, err, tt.target)
		}
	}
}

func TestLimiterFailurePolicies(t *testing.T) {
	down := errors.New("connection refused")
	ctx := context.Background()

	t.Run("fail open admits uncounted and reports the error", func(t *testing.T) {
		s := newMapStore(core.SystemClock)
		s.fail(down)
		d, err := newLimiter(t, s, core.PerSecond(1)).Take(ctx, "k")
		if !d.Allowed || d.Reason != core.ReasonFailOpen || !errors.Is(err, core.ErrStore) || !errors.Is(err, down) {
			t.Fatalf("got %+v, %v", d, err)
		}
	})
	t.Run("fail closed denies with a RetryAfter", func(t *testing.T) {
		s := newMapStore(core.SystemClock)
		s.fail(down)
		d, err := newLimiter(t, s, core.PerSecond(1), core.WithFailClosed()).Take(ctx, "k")
		if d.Allowed || d.Reason != core.ReasonFailClosed || d.RetryAfter != core.FailClosedRetryAfter || !errors.Is(err, down) {
			t.Fatalf("got %+v, %v", d, err)
		}
	})
	t.Run("fallback admits the limit divided by the instances", func(t *testing.T) {
		clock := core.NewManualClock(time.Unix(1e9, 0))
		primary, local := newMapStore(clock), newMapStore(clock)
		primary.fail(down)
		var events []core.Event
		lim := newLimiter(t, primary, core.PerSecond(100), core.WithFallback(local, 4),
			core.WithHook(func(_ context.Context, ev core.Event) { events = append(events, ev) }))
		admitted := 0
		for i := 0; i < 100; i++ {
			d, err := lim.Take(ctx, "k")
			if !errors.Is(err, down) {
				t.Fatalf("take %d: error %v, want the primary's", i, err)
			}
			if d.Allowed {
				admitted++
			}
		}
		if admitted != 25 {
			t.Fatalf("admitted %d in fallback, want 100/4 = 25", admitted)
		}
		if len(events) != 100 || !events[0].Fallback || events[0].Key != "k" || !errors.Is(events[0].Err, down) {
			t.Fatalf("hook saw %d events, first %+v; want 100 marked fallback with the key and error", len(events), events[0])
		}
		primary.fail(nil)
		if d, err := lim.Take(ctx, "k"); err != nil || !d.Allowed || d.Remaining != 99 {
			t.Fatalf("primary back: %+v, %v; want its own fresh bucket", d, err)
		}
	})
	t.Run("fallback failing too denies", func(t *testing.T) {
		primary, local := newMapStore(core.SystemClock), newMapStore(core.SystemClock)
		primary.fail(down)
		local.fail(errors.New("also down"))
		d, err := newLimiter(t, primary, core.PerSecond(1), core.WithFallback(local, 1)).Take(ctx, "k")
		if d.Allowed || d.Reason != core.ReasonFailClosed || err == nil {
			t.Fatalf("got %+v, %v; want denied, fail-closed", d, err)
		}
	})
}

func TestLimiterHookSeesEveryDecision(t *testing.T) {
	s := newMapStore(core.NewManualClock(time.Unix(1e9, 0)))
	var got []core.Event
	lim := newLimiter(t, s, core.PerSecond(2), core.WithName("api"),
		core.WithHook(func(_ context.Context, ev core.Event) { got = append(got, ev) }))
	for i := 0; i < 3; i++ {
		lim.Take(context.Background(), "client")
	}
	if len(got) != 3 {
		t.Fatalf("hook called %d times, want 3", len(got))
	}
	last := got[2]
	if last.Policy != "api" || last.Key != "client" || last.Cost != 1 || last.Decision.Allowed || last.Err != nil || last.Latency < 0 {
		t.Fatalf("third event %+v, want a denial of client under api", last)
	}
}

func TestLimiterFailoverHookReportsEachSwitchOnce(t *testing.T) {
	down := errors.New("connection refused")
	primary, local := newMapStore(core.SystemClock), newMapStore(core.SystemClock)
	type sw struct {
		failing bool
		err     error
	}
	var mu sync.Mutex
	var got []sw
	lim := newLimiter(t, primary, core.PerSecond(1000), core.WithFallback(local, 2),
		core.WithFailoverHook(func(failing bool, err error) { mu.Lock(); got = append(got, sw{failing, err}); mu.Unlock() }))
	ctx := context.Background()
	run := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); lim.Take(ctx, "k") }()
		}
		wg.Wait()
	}
	run(20)
	primary.fail(down)
	run(20)
	lim.TakeN(ctx, "", 1) // invalid input is no store failure: no switch
	primary.fail(nil)
	run(20)
	primary.fail(down)
	run(5)
	if len(got) != 3 || !got[0].failing || !errors.Is(got[0].err, down) || !errors.Is(got[0].err, core.ErrStore) ||
		got[1].failing || got[1].err != nil || !got[2].failing {
		t.Fatalf("switches %+v, want: failing (with the error), recovered, failing", got)
	}
}

// gatedStore holds calls on key "slow" until release is closed, and fails
// calls on key "fail".
type gatedStore struct {
	*mapStore
	entered, release chan struct{}
}

func (g gatedStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	switch {
	case strings.HasSuffix(key, "slow"):
		g.entered <- struct{}{}
		<-g.release
	case strings.HasSuffix(key, "fail"):
		return core.Decision{}, errors.New("connection reset")
	}
	return g.mapStore.Take(ctx, key, l, cost)
}

func TestLimiterFailoverHookIgnoresAnswersBegunBeforeTheSwitch(t *testing.T) {
	g := gatedStore{newMapStore(core.SystemClock), make(chan struct{}), make(chan struct{})}
	var got []bool
	lim := newLimiter(t, g, core.PerSecond(100), core.WithFailoverHook(func(failing bool, _ error) { got = append(got, failing) }))
	ctx := context.Background()
	done := make(chan struct{})
	go func() { lim.Take(ctx, "slow"); close(done) }()
	<-g.entered           // a call is on its way to the store
	lim.Take(ctx, "fail") // the store fails: switch to the policy
	close(g.release)      // the earlier call succeeds now
	<-done
	if len(got) != 1 || !got[0] {
		t.Fatalf("switches %v after an answer begun before the failure, want only [true]", got)
	}
	lim.Take(ctx, "ok") // a call begun after the switch succeeds: switch back
	if len(got) != 2 || got[1] {
		t.Fatalf("switches %v, want [true false]", got)
	}
}
