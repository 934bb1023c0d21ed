package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// mapStore is the smallest correct Store: storekit.Apply behind one mutex, with a
// switch that makes it fail, since no real store in this module can.
type mapStore struct {
	mu     sync.Mutex
	states map[string]storekit.State
	clock  core.Clock
	err    error
	keys   []string
}

// put stores a key's state under a copy of the key: a caller's key may live
// in a buffer it reuses. (Always a copy: assigning to a string key that is
// present replaces the map's key with the one given.)
func (m *mapStore) put(key string, s storekit.State) {
	m.states[strings.Clone(key)] = s
}

func newMapStore(clock core.Clock) *mapStore {
	return &mapStore{states: map[string]storekit.State{}, clock: clock}
}

func (m *mapStore) Take(_ context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := storekit.CheckTake(key, l, cost); err != nil {
		return core.Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return core.Decision{}, m.err
	}
	m.keys = append(m.keys, key) // a store may keep the key it is given
	s := m.states[key]
	d := storekit.Apply(&s, m.clock.Now().UnixNano(), l, cost)
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
	if err != nil || !d.Allowed || d.Remaining != 2 || d.Name != "3/m" {
		t.Fatalf("first take: %+v, %v; want admitted, 2 left, policy \"3/m\"", d, err)
	}
	d, _ = login.Take(ctx, "1.2.3.4")
	if !d.Allowed || d.Remaining != 0 || d.Name != "login" {
		t.Fatalf("login take of cost 3 on the same key: %+v; want admitted (its own bucket), 0 left", d)
	}
	if d, _ = login.Peek(ctx, "1.2.3.4"); d.Allowed {
		t.Fatalf("peek at the spent login bucket: %+v, want denied", d)
	}
	if want := []string{"3:3/m:1.2.3.4", "5:login:1.2.3.4", "5:login:1.2.3.4"}; strings.Join(s.keys, ",") != strings.Join(want, ",") {
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
		d, err := newLimiter(t, s, core.PerSecond(1), core.WithFailOpen()).Take(ctx, "k")
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
	if last.Name != "api" || last.Key != "client" || last.Cost != 1 || last.Decision.Allowed || last.Err != nil || last.Latency < 0 {
		t.Fatalf("third event %+v, want a denial of client under api", last)
	}
}

// switchLog collects failover callbacks, which run off the requests'
// goroutines.
type switchLog struct {
	ch chan switchEv
}

type switchEv struct {
	failing bool
	err     error
}

func newSwitchLog() *switchLog { return &switchLog{ch: make(chan switchEv, 64)} }

func (s *switchLog) hook(failing bool, err error) { s.ch <- switchEv{failing, err} }

// next waits for the next callback.
func (s *switchLog) next(t *testing.T) switchEv {
	t.Helper()
	select {
	case ev := <-s.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no failover callback within 10s")
		return switchEv{}
	}
}

// none checks that no callback is pending once every posted one ran. It
// runs in a synctest bubble, where synctest.Wait returns once the limiter's
// callback goroutine has finished.
func (s *switchLog) none(t *testing.T) {
	t.Helper()
	synctest.Wait()
	select {
	case ev := <-s.ch:
		t.Fatalf("unexpected failover callback %+v", ev)
	default:
	}
}

func TestLimiterFailoverHookReportsEachSwitchOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("connection refused")
		primary, local := newMapStore(core.SystemClock), newMapStore(core.SystemClock)
		log := newSwitchLog()
		lim := newLimiter(t, primary, core.PerSecond(1000), core.WithFallback(local, 2), core.WithFailoverHook(log.hook))
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
		got := []switchEv{log.next(t), log.next(t), log.next(t)}
		if !got[0].failing || !errors.Is(got[0].err, down) || !errors.Is(got[0].err, core.ErrStore) ||
			got[1].failing || got[1].err != nil || !got[2].failing {
			t.Fatalf("switches %+v, want: failing (with the error), recovered, failing", got)
		}
		primary.fail(nil)
		run(1)
		if ev := log.next(t); ev.failing {
			t.Fatalf("switch %+v after the store came back, want recovered", ev)
		}
		log.none(t)
	})
}

func TestLimiterFailoverCallbackThatBlocksOrPanicsStallsNoRequest(t *testing.T) {
	down := errors.New("connection refused")
	primary, local := newMapStore(core.SystemClock), newMapStore(core.SystemClock)
	release := make(chan struct{})
	calls := make(chan bool, 8)
	lim := newLimiter(t, primary, core.PerSecond(1000), core.WithFallback(local, 1), core.WithFailoverHook(func(failing bool, _ error) {
		calls <- failing
		if failing {
			<-release // blocks until the test lets it go
			panic("broken callback")
		}
	}))
	ctx := context.Background()
	primary.fail(down)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			if d, _ := lim.Take(ctx, "k"); !d.Allowed {
				t.Errorf("take %d in fallback denied", i)
			}
		}
		primary.fail(nil)
		for i := 0; i < 50; i++ {
			if d, err := lim.Take(ctx, "k"); err != nil || !d.Allowed {
				t.Errorf("take %d after recovery: %+v, %v", i, d, err)
			}
		}
	}()
	select {
	case <-done: // 100 requests decided while the callback was blocked
	case <-time.After(10 * time.Second):
		t.Fatal("requests stalled behind a blocked failover callback")
	}
	if failing := <-calls; !failing {
		t.Fatal("first callback: recovered, want failing")
	}
	close(release) // the callback panics now; the next one still runs
	select {
	case failing := <-calls:
		if failing {
			t.Fatal("second callback: failing, want recovered")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the callback after a panicking one never ran")
	}
}

func TestLimiterHookThatPanicsKeepsTheDecision(t *testing.T) {
	s := newMapStore(core.NewManualClock(time.Unix(1e9, 0)))
	lim := newLimiter(t, s, core.PerSecond(2), core.WithHook(func(context.Context, core.Event) { panic("broken hook") }))
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		d, err := lim.Take(ctx, "k")
		if err != nil || d.Allowed != want {
			t.Fatalf("take %d with a panicking hook: %+v, %v; want allowed=%v", i, d, err, want)
		}
	}
}

// remoteStore is a mapStore that names a local store, as a remote store does.
type remoteStore struct {
	*mapStore
	local core.Store
}

func (r remoteStore) LocalStore() core.Store { return r.local }

func TestLimiterDefaultPolicyIsNeverUnlimited(t *testing.T) {
	down := errors.New("connection refused")
	ctx := context.Background()
	t.Run("a plain store fails closed", func(t *testing.T) {
		s := newMapStore(core.SystemClock)
		s.fail(down)
		lim := newLimiter(t, s, core.PerSecond(10))
		d, err := lim.Take(ctx, "k")
		if d.Allowed || d.Reason != core.ReasonFailClosed || !errors.Is(err, down) || lim.FailurePolicy() != core.FailClosed {
			t.Fatalf("got %+v, %v (policy %v); want denied, fail-closed", d, err, lim.FailurePolicy())
		}
	})
	t.Run("a remote store falls back to its local store, divided by the instances", func(t *testing.T) {
		clock := core.NewManualClock(time.Unix(1e9, 0))
		local := newMapStore(clock)
		r := remoteStore{newMapStore(clock), local}
		r.fail(down)
		var fallbacks int
		lim := newLimiter(t, r, core.PerMinute(30), core.WithInstances(3),
			core.WithHook(func(_ context.Context, ev core.Event) {
				if ev.Fallback {
					fallbacks++
				}
			}))
		if lim.FailurePolicy() != core.FailBack {
			t.Fatalf("policy %v, want fallback", lim.FailurePolicy())
		}
		admitted := 0
		for i := 0; i < 30; i++ {
			if d, _ := lim.Take(ctx, "k"); d.Allowed {
				admitted++
			}
		}
		if admitted != 10 || fallbacks != 30 {
			t.Fatalf("admitted %d (%d by the fallback), want 30/3 = 10 of 30 decided by the fallback", admitted, fallbacks)
		}
	})
	t.Run("one instance by default", func(t *testing.T) {
		clock := core.NewManualClock(time.Unix(1e9, 0))
		r := remoteStore{newMapStore(clock), newMapStore(clock)}
		r.fail(down)
		lim := newLimiter(t, r, core.PerMinute(5))
		admitted := 0
		for i := 0; i < 20; i++ {
			if d, _ := lim.Take(ctx, "k"); d.Allowed {
				admitted++
			}
		}
		if admitted != 5 {
			t.Fatalf("admitted %d of 20 in fallback, want the whole quota 5", admitted)
		}
	})
	t.Run("a named policy wins", func(t *testing.T) {
		r := remoteStore{newMapStore(core.SystemClock), newMapStore(core.SystemClock)}
		r.fail(down)
		d, _ := newLimiter(t, r, core.PerMinute(1), core.WithFailOpen()).Take(ctx, "k")
		if !d.Allowed || d.Reason != core.ReasonFailOpen {
			t.Fatalf("fail open by name: %+v", d)
		}
	})
}

// cancelStore fails with the caller's context error once the caller is
// gone, as a network store honouring the context does.
type cancelStore struct{ *mapStore }

func (c cancelStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := ctx.Err(); err != nil {
		return core.Decision{}, err
	}
	return c.mapStore.Take(ctx, key, l, cost)
}

func (c cancelStore) LocalStore() core.Store { return newMapStore(core.SystemClock) }

func TestLimiterCallerThatGoesAwayIsNeverAdmitted(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []core.Option
	}{
		{"default (fallback)", nil},
		{"fail open", []core.Option{core.WithFailOpen()}},
		{"explicit fallback", []core.Option{core.WithFallback(newMapStore(core.SystemClock), 1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := newSwitchLog()
				lim := newLimiter(t, cancelStore{newMapStore(core.SystemClock)}, core.PerMinute(3), append(tt.opts, core.WithFailoverHook(log.hook))...)
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				for i := 0; i < 10; i++ {
					d, err := lim.Take(ctx, "k")
					if d.Allowed || d.Reason != core.ReasonFailClosed || !errors.Is(err, context.Canceled) {
						t.Fatalf("take %d by a caller gone: %+v, %v; want refused", i, d, err)
					}
				}
				log.none(t) // a caller going away says nothing about the store
			})
		})
	}
}

func TestLimiterInstancesMustBePositive(t *testing.T) {
	_, err := core.NewLimiter(newMapStore(core.SystemClock), core.PerSecond(1), core.WithInstances(0))
	if err == nil || !strings.Contains(err.Error(), "instances") {
		t.Fatalf("WithInstances(0): %v, want an error naming instances", err)
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
	synctest.Test(t, func(t *testing.T) {
		g := gatedStore{newMapStore(core.SystemClock), make(chan struct{}), make(chan struct{})}
		log := newSwitchLog()
		lim := newLimiter(t, g, core.PerSecond(100), core.WithFailoverHook(log.hook))
		ctx := context.Background()
		done := make(chan struct{})
		go func() { lim.Take(ctx, "slow"); close(done) }()
		<-g.entered           // a call is on its way to the store
		lim.Take(ctx, "fail") // the store fails: switch to the policy
		close(g.release)      // the earlier call succeeds now
		<-done
		if ev := log.next(t); !ev.failing {
			t.Fatalf("first switch %+v, want failing", ev)
		}
		log.none(t)         // the answer begun before the failure switched nothing back
		lim.Take(ctx, "ok") // a call begun after the switch succeeds: switch back
		if ev := log.next(t); ev.failing {
			t.Fatalf("second switch %+v, want recovered", ev)
		}
	})
}

// Several hooks are all called, in order, and one that panics keeps
// neither the decision nor the next hook from happening; several failover
// callbacks likewise.
func TestSeveralHooks(t *testing.T) {
	var got []string
	s := newMapStore(core.SystemClock)
	down := errors.New("down")
	switched := make(chan string, 4)
	lim := newLimiter(t, s, core.PerMinute(1),
		core.WithHook(func(_ context.Context, ev core.Event) { got = append(got, "first "+ev.Outcome()) }),
		core.WithHook(func(context.Context, core.Event) { panic("a broken hook") }),
		core.WithHook(func(_ context.Context, ev core.Event) { got = append(got, "third "+ev.Outcome()) }),
		core.WithFailoverHook(func(failing bool, _ error) { switched <- "a" }),
		core.WithFailoverHook(func(failing bool, _ error) { switched <- "b" }))
	ctx := context.Background()
	if d, _ := lim.Take(ctx, "k"); !d.Allowed {
		t.Fatal("denied")
	}
	lim.Take(ctx, "k")
	want := []string{"first allowed", "third allowed", "first denied", "third denied"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("hooks saw %q, want %q", got, want)
	}
	s.fail(down)
	lim.Take(ctx, "k")
	for _, w := range []string{"a", "b"} {
		select {
		case g := <-switched:
			if g != w {
				t.Fatalf("failover callback %q, want %q", g, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("failover callback %q never called", w)
		}
	}
}
