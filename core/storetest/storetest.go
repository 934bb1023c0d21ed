// Package storetest is the conformance suite for core.Store implementations,
// in the spirit of testing/fstest: a store's own test calls Run with a
// constructor, and the suite drives it through every algorithm's exact
// admit/deny sequence, the decision values at chosen instants, window
// boundaries, burst, cost > 1, cost 0, cost > burst, many keys, expiry of idle
// state, clocks stepping backwards, a key moving between limits (tiers),
// bad input, costs settled after the request, and 64 goroutines on one key
// admitting exactly the quota; for a storekit.MultiStore, several limits taken
// all or nothing; for a storekit.BoxStore, the penalty box; for a
// storekit.Resetter and a storekit.BoxReleaser, keys reset and clients let
// out of their box.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
//			s, err := mystore.New(mystore.WithClock(clock))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The behaviour is defined here, once; stores do not re-assert it loosely.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// Factory returns a new, empty store that reads time from clock. The suite
// calls it once per subtest, possibly from parallel subtests, and closes every
// store it gets. Stores sharing a backend (one Redis server) must not share
// keys: give each a fresh key prefix. Close may be called on a store twice.
type Factory func(t *testing.T, clock core.Clock) core.Store

// Option adjusts the suite to a store.
type Option func(*config)

type config struct {
	resolution time.Duration
	algorithms []core.Algorithm
	split      bool
}

// WithResolution declares the store's clock resolution, for stores that keep
// time coarser than a nanosecond (a Redis script in microseconds). Durations
// are then accepted when they are at most one resolution later than the
// exact value (a store may round waits up, never down), and RetryAfter is
// checked to be earliest within one resolution.
func WithResolution(d time.Duration) Option {
	return func(c *config) { c.resolution = d }
}

// WithAlgorithms runs only the given algorithms, for a store that supports a
// subset. The default is every algorithm.
func WithAlgorithms(a ...core.Algorithm) Option {
	return func(c *config) { c.algorithms = a }
}

// WithSplitSteps declares a MultiStore that cannot take a step's keys in
// one atomic operation (the Redis store on a Cluster, where each key is in
// a slot of its own): it decides every take without consuming, then takes
// each key by itself, so that a concurrent step racing between the two may
// leave takes of a step that ends denied consumed. The suite then checks,
// under concurrency, that no limit admits more than it allows and that each
// key holds at least what its admitted steps took (under-admission, never
// over), instead of exactly that. Every serial scenario is unchanged.
func WithSplitSteps() Option {
	return func(c *config) { c.split = true }
}

// start is the instant at which every scenario begins: midnight UTC, so it is
// a window boundary for any period that divides a day.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore Factory, opts ...Option) {
	cfg := config{resolution: 1, algorithms: storekit.Algorithms()}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.resolution = max(cfg.resolution, 1)
	h := &harness{cfg: cfg, newStore: newStore}
	for _, alg := range cfg.algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			if sc, ok := sequences[alg]; ok {
				t.Run("sequence", func(t *testing.T) { h.sequence(t, alg, sc) })
			}
			t.Run("greedy client admitted per period", func(t *testing.T) { h.greedy(t, alg) })
			t.Run("peek takes nothing and writes nothing", func(t *testing.T) { h.peek(t, alg) })
			t.Run("cost above burst is denied without consuming", func(t *testing.T) { h.tooCostly(t, alg) })
			t.Run("many keys are independent", func(t *testing.T) { h.manyKeys(t, alg) })
			t.Run("a key taken in two parts is the joined key", func(t *testing.T) { h.prefixed(t, alg) })
			t.Run("a prepared limit decides as the limit", func(t *testing.T) { h.prepared(t, alg) })
			t.Run("idle key is whole again after ResetAfter", func(t *testing.T) { h.expiry(t, alg) })
			t.Run("clock stepping back admits nothing extra", func(t *testing.T) { h.backwards(t, alg) })
			t.Run("RetryAfter is the earliest admitting wait", func(t *testing.T) { h.retryIsEarliest(t, alg) })
			t.Run("64 goroutines on one key admit exactly the quota", func(t *testing.T) { h.hammer(t, alg, 1) })
			t.Run("64 goroutines on 4 keys admit exactly the quota each", func(t *testing.T) { h.hammer(t, alg, 4) })
			t.Run("several limits are taken together or not at all", func(t *testing.T) { h.takeMany(t, alg) })
			t.Run("a key moving between tiers is read by the new limit", func(t *testing.T) { h.tierMove(t, alg) })
			t.Run("a key moving between tiers admits no more than a fresh key", func(t *testing.T) { h.tierBound(t, alg) })
		})
	}
	t.Run("several limits under 64 goroutines: none is ever over-consumed", func(t *testing.T) { h.takeManyHammer(t, core.TokenBucket) })
	t.Run("several GCRA limits under 64 goroutines: none is ever over-consumed", func(t *testing.T) { h.takeManyHammer(t, core.GCRA) })
	t.Run("several limits: bad input is an error", h.takeManyBadInput)
	t.Run("penalty box closes on the K-th denial and takes nothing while closed", h.penaltyBox)
	t.Run("penalty box counts denials within its window only", h.penaltyWindow)
	t.Run("penalty box under 64 goroutines closes once", h.penaltyHammer)
	t.Run("penalty boxes count only the denials of the takes they select", h.penaltyMasks)
	t.Run("penalty boxes: a client in either is refused with the longest time left", h.penaltyEitherBox)
	t.Run("penalty box: bad input is an error", h.penaltyBadInput)
	t.Run("bad input is an error, never a panic", h.badInput)
	t.Run("take after close fails", h.closed)
	t.Run("concurrency slots", h.slots)                         // slots.go; skipped by a store that holds none
	t.Run("costs settled after the request", h.settles)         // settle.go; skipped by a store that settles none
	t.Run("keys reset, clients let out of their box", h.resets) // reset.go; skipped by a store that resets none
}

type harness struct {
	cfg      config
	newStore Factory
}

// open returns a fresh store and its clock, set to start.
func (h *harness) open(t *testing.T) (core.Store, *core.ManualClock) {
	t.Helper()
	clock := core.NewManualClock(start)
	s := h.newStore(t, clock)
	if s == nil {
		t.Fatal("storetest: factory returned a nil store")
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func take(t *testing.T, s core.Store, key string, l core.Limit, cost int64) core.Decision {
	t.Helper()
	d, err := s.Take(context.Background(), key, l, cost)
	if err != nil {
		t.Fatalf("Take(%q, %v, cost %d): unexpected error: %v", key, l, cost, err)
	}
	return d
}

// limit10 is the limit of the sequences: 10 per second, burst 10.
func limit10(alg core.Algorithm) core.Limit { return core.PerSecond(10).WithAlgorithm(alg) }

const ms = time.Millisecond

// outcome is the part of a Decision a step asserts.
type outcome struct {
	allowed   bool
	reason    core.Reason
	remaining int64
	reset     time.Duration
	retry     time.Duration
}

func ok(remaining int64, reset time.Duration) outcome {
	return outcome{allowed: true, reason: core.ReasonOK, remaining: remaining, reset: reset}
}

func denied(remaining int64, reset, retry time.Duration) outcome {
	return outcome{reason: core.ReasonLimited, remaining: remaining, reset: reset, retry: retry}
}

func never(remaining int64, reset time.Duration) outcome {
	return outcome{reason: core.ReasonCostExceedsBurst, remaining: remaining, reset: reset, retry: core.Never}
}

type step struct {
	at   time.Duration // since start
	cost int64
	want outcome
	// times repeats the step with remaining and reset following the
	// pattern of a burst of cost-1 takes: remaining falls by one a take, and
	// reset grows by resetStep.
	times     int
	resetStep time.Duration
}

// sequences are the exact admit/deny sequences, one per algorithm, on
// limit10. Each row is one Take; comments give the state that explains it.
var sequences = map[core.Algorithm][]step{
	// GCRA: interval T = 100ms, tolerance τ = 1s. Remaining = ⌊(τ−used)/T⌋.
	core.GCRA: gcraSequence,
	// The token bucket admits exactly what GCRA admits here: limit10's
	// period is a whole multiple of its rate in nanoseconds.
	core.TokenBucket: gcraSequence,
	core.FixedWindow: {
		{at: 0, cost: 3, want: ok(7, 1000*ms)},
		{at: 500 * ms, cost: 7, want: ok(0, 500*ms)},
		{at: 500 * ms, cost: 1, want: denied(0, 500*ms, 500*ms)},
		{at: 999 * ms, cost: 0, want: denied(0, 1*ms, 1*ms)},
		// A new window: the count starts again (and 20 are admitted
		// within 500ms across the boundary: the fixed window's flaw).
		{at: 1000 * ms, cost: 1, want: ok(9, 1000*ms)},
		{at: 1000 * ms, cost: 9, want: ok(0, 1000*ms)},
		{at: 1500 * ms, cost: 11, want: never(0, 500*ms)},
		{at: 1500 * ms, cost: 2, want: denied(0, 500*ms, 500*ms)},
		{at: 2000 * ms, cost: 0, want: ok(10, 0)},
		{at: 2000 * ms, cost: 10, want: ok(0, 1000*ms)},
	},
	// used = ⌈prev×(P−e)/P⌉ + cur at offset e into the current window.
	core.SlidingWindowCounter: {
		{at: 0, cost: 4, want: ok(6, 2000*ms)},                     // cur 4; it weighs until the end of the next window
		{at: 600 * ms, cost: 6, want: ok(0, 1400*ms)},              // cur 10
		{at: 600 * ms, cost: 1, want: denied(0, 1400*ms, 500*ms)},  // next window at e=100ms: ⌈10×0.9⌉ = 9
		{at: 1000 * ms, cost: 0, want: denied(0, 1000*ms, 100*ms)}, // prev 10, e=0: used 10
		{at: 1100 * ms, cost: 1, want: ok(0, 1900*ms)},             // used 9 + 1
		{at: 1500 * ms, cost: 2, want: ok(2, 1500*ms)},             // ⌈10×0.5⌉ + 1 = 6, + 2
		{at: 1500 * ms, cost: 3, want: denied(2, 1500*ms, 100*ms)}, // at e=600ms: ⌈10×0.4⌉ + 3 + 3 = 10
		{at: 1500 * ms, cost: 11, want: never(2, 1500*ms)},
		{at: 2500 * ms, cost: 0, want: ok(8, 500*ms)},  // prev 3, e=500ms: used ⌈1.5⌉ = 2
		{at: 3000 * ms, cost: 1, want: ok(9, 2000*ms)}, // both windows empty again
	},
	// An entry at ts counts while now − ts < 1s.
	core.SlidingWindowLog: {
		{at: 0, cost: 4, want: ok(6, 1000*ms)},
		{at: 600 * ms, cost: 6, want: ok(0, 1000*ms)},
		{at: 600 * ms, cost: 1, want: denied(0, 1000*ms, 400*ms)}, // the entries at 0 age out at 1s
		{at: 999 * ms, cost: 0, want: denied(0, 601*ms, 1*ms)},
		{at: 1000 * ms, cost: 2, want: ok(2, 1000*ms)},             // the four at 0 are gone
		{at: 1000 * ms, cost: 3, want: denied(2, 1000*ms, 600*ms)}, // one of the six at 600ms must go
		{at: 1000 * ms, cost: 11, want: never(2, 1000*ms)},
		{at: 1600 * ms, cost: 3, want: ok(5, 1000*ms)},
		{at: 2599 * ms, cost: 0, want: ok(7, 1*ms)}, // only the three at 1600 count
		{at: 2600 * ms, cost: 1, want: ok(9, 1000*ms)},
	},
}

var gcraSequence = []step{
	{at: 0, cost: 1, times: 10, want: ok(9, 100*ms), resetStep: 100 * ms}, // the burst: 9..0 left, reset 100ms..1s
	{at: 0, cost: 1, want: denied(0, 1000*ms, 100*ms)},
	{at: 50 * ms, cost: 1, want: denied(0, 950*ms, 50*ms)},
	{at: 100 * ms, cost: 1, want: ok(0, 1000*ms)}, // one interval later, one more
	{at: 100 * ms, cost: 1, want: denied(0, 1000*ms, 100*ms)},
	{at: 250 * ms, cost: 0, want: ok(1, 850*ms)},            // peek: one would fit
	{at: 250 * ms, cost: 2, want: denied(1, 850*ms, 50*ms)}, // two need 50ms more
	{at: 300 * ms, cost: 2, want: ok(0, 1000*ms)},
	{at: 300 * ms, cost: 11, want: never(0, 1000*ms)},
	{at: 2300 * ms, cost: 1, want: ok(9, 100*ms)}, // idle for 2s: whole again
	{at: 2300 * ms, cost: 0, want: ok(9, 100*ms)},
}

// check compares a decision with an outcome, allowing durations to be late by
// less than the store's resolution.
func (h *harness) check(t *testing.T, what string, l core.Limit, got core.Decision, want outcome) {
	t.Helper()
	var bad []string
	if got.Allowed != want.allowed {
		bad = append(bad, fmt.Sprintf("Allowed %v, want %v", got.Allowed, want.allowed))
	}
	if got.Reason != want.reason {
		bad = append(bad, fmt.Sprintf("Reason %v, want %v", got.Reason, want.reason))
	}
	if got.Remaining != want.remaining {
		bad = append(bad, fmt.Sprintf("Remaining %d, want %d", got.Remaining, want.remaining))
	}
	if !h.near(got.ResetAfter, want.reset) {
		bad = append(bad, fmt.Sprintf("ResetAfter %v, want %v", got.ResetAfter, want.reset))
	}
	if !h.near(got.RetryAfter, want.retry) {
		bad = append(bad, fmt.Sprintf("RetryAfter %v, want %v", got.RetryAfter, want.retry))
	}
	if got.Limit != l {
		bad = append(bad, fmt.Sprintf("Limit %+v, want %+v", got.Limit, l))
	}
	if got.Name != "" {
		bad = append(bad, fmt.Sprintf("Name %q, want empty (the Limiter sets it)", got.Name))
	}
	if len(bad) > 0 {
		t.Errorf("%s: %s", what, strings.Join(bad, "; "))
	}
}

func (h *harness) near(got, want time.Duration) bool {
	if want == core.Never || got == core.Never {
		return got == want
	}
	return got >= want && got-want < h.cfg.resolution
}

func (h *harness) sequence(t *testing.T, alg core.Algorithm, steps []step) {
	s, clock := h.open(t)
	l := limit10(alg)
	for i, st := range steps {
		clock.Set(start.Add(st.at))
		n := max(st.times, 1)
		for j := 0; j < n; j++ {
			want := st.want
			if st.times > 0 {
				want.remaining = 10 - int64(j) - 1
				want.reset = st.resetStep * time.Duration(j+1)
			}
			d := take(t, s, "k", l, st.cost)
			h.check(t, fmt.Sprintf("step %d (at %v, cost %d, take %d)", i+1, st.at, st.cost, j+1), l, d, want)
		}
	}
}

// GreedyAdmitted is how many requests each algorithm admits to a greedy
// client of a fresh key under 10/s (burst 10) — one that, every 10ms, sends
// until it is denied — in the first period [0, 1s) and in the first two
// [0, 2s). The package doc of core states the same numbers. It returns a
// new map on every call.
func GreedyAdmitted() map[core.Algorithm][2]int {
	return map[core.Algorithm][2]int{
		core.GCRA:                 {19, 29},
		core.TokenBucket:          {19, 29},
		core.FixedWindow:          {10, 20},
		core.SlidingWindowCounter: {10, 19},
		core.SlidingWindowLog:     {10, 20},
	}
}

func (h *harness) greedy(t *testing.T, alg core.Algorithm) {
	s, clock := h.open(t)
	l := limit10(alg)
	var counts [2]int
	for tick := time.Duration(0); tick < 2*time.Second; tick += 10 * ms {
		clock.Set(start.Add(tick))
		for take(t, s, "greedy", l, 1).Allowed {
			counts[1]++
			if tick < time.Second {
				counts[0]++
			}
			if counts[1] > 100 {
				t.Fatalf("admitted over 100 requests at %v: runaway", tick)
			}
		}
	}
	if want := GreedyAdmitted()[alg]; counts != want {
		t.Errorf("greedy client admitted %d in the first second and %d in two, want %d and %d", counts[0], counts[1], want[0], want[1])
	}
}

func (h *harness) peek(t *testing.T, alg core.Algorithm) {
	s, clock := h.open(t)
	l := limit10(alg)
	clock.Set(start.Add(300 * ms))
	for i := 0; i < 3; i++ {
		h.check(t, "peek at a fresh key", l, take(t, s, "p", l, 0), ok(10, 0))
	}
	take(t, s, "p", l, 9)
	first := take(t, s, "p", l, 0)
	if !first.Allowed || first.Remaining != 1 {
		t.Errorf("peek with one left: Allowed %v Remaining %d, want true 1", first.Allowed, first.Remaining)
	}
	for i := 0; i < 5; i++ {
		if d := take(t, s, "p", l, 0); d != first {
			t.Errorf("peek %d changed the answer: %+v, then %+v", i+2, first, d)
		}
	}
	take(t, s, "p", l, 1)
	if d := take(t, s, "p", l, 0); d.Allowed || d.Reason != core.ReasonLimited || d.RetryAfter <= 0 {
		t.Errorf("peek at a spent key: %+v, want denied with a RetryAfter", d)
	}
}

func (h *harness) tooCostly(t *testing.T, alg core.Algorithm) {
	s, _ := h.open(t)
	l := limit10(alg)
	for _, cost := range []int64{11, 1000, 1 << 62} {
		d := take(t, s, "big", l, cost)
		if d.Allowed || d.Reason != core.ReasonCostExceedsBurst || d.RetryAfter != core.Never || d.Remaining != 10 {
			t.Errorf("cost %d on a fresh key: %+v, want denied, cost-exceeds-burst, RetryAfter Never, Remaining 10", cost, d)
		}
	}
	if d := take(t, s, "big", l, 10); !d.Allowed || d.Remaining != 0 {
		t.Errorf("the whole burst after the refusals: %+v, want admitted with 0 left", d)
	}
}

func (h *harness) manyKeys(t *testing.T, alg core.Algorithm) {
	s, _ := h.open(t)
	l := limit10(alg)
	const keys = 200
	for round := 0; round < 11; round++ {
		for k := 0; k < keys; k++ {
			d := take(t, s, fmt.Sprintf("key-%d", k), l, 1)
			if want := round < 10; d.Allowed != want || (want && d.Remaining != int64(9-round)) {
				t.Fatalf("key %d, take %d: Allowed %v Remaining %d, want %v %d", k, round+1, d.Allowed, d.Remaining, want, 9-round)
			}
		}
	}
	if d := take(t, s, "another-key", l, 0); !d.Allowed || d.Remaining != 10 {
		t.Errorf("an untouched key among spent ones: %+v, want whole", d)
	}
}

// prepared checks storekit.PreparedTaker, for stores that implement it:
// TakePrepared under a prepared limit shares its state and decisions with
// Take under the limit, refuses what Take refuses, and refuses a prepared
// value the store did not make and a limit Validate refuses.
func (h *harness) prepared(t *testing.T, alg core.Algorithm) {
	s, _ := h.open(t)
	pt, ok := s.(storekit.PreparedTaker)
	if !ok {
		return // nothing to check: the store takes under a limit each time
	}
	l := limit10(alg)
	p, err := pt.PrepareLimit(l)
	if err != nil {
		t.Fatalf("PrepareLimit(%v): %v", l, err)
	}
	ctx := context.Background()
	for i := range 12 {
		viaPrepared := i%2 == 0
		var d core.Decision
		if viaPrepared {
			d, err = pt.TakePrepared(ctx, p, "per-ip:", "192.0.2.1", 1)
		} else {
			d, err = s.Take(ctx, "per-ip:192.0.2.1", l, 1)
		}
		if err != nil {
			t.Fatalf("take %d: %v", i+1, err)
		}
		if want := i < 10; d.Allowed != want || d.Limit != l || (want && d.Remaining != int64(9-i)) {
			t.Fatalf("take %d (prepared %v): %+v, want Allowed %v, Remaining %d, the limit %v", i+1, viaPrepared, d, want, 9-i, l)
		}
	}
	if d, err := pt.TakePrepared(ctx, p, "per-ip:", "192.0.2.2", 0); err != nil || !d.Allowed || d.Remaining != 10 {
		t.Fatalf("a peek at a new key through a prepared limit: %+v, %v, want whole", d, err)
	}
	if _, err := pt.TakePrepared(ctx, p, "", "", 1); !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("two empty parts: err %v, want ErrInvalidKey", err)
	}
	if _, err := pt.TakePrepared(ctx, p, "p:", "k", -1); !errors.Is(err, core.ErrInvalidCost) {
		t.Fatalf("negative cost: err %v, want ErrInvalidCost", err)
	}
	if _, err := pt.TakePrepared(ctx, l, "p:", "k", 1); !errors.Is(err, core.ErrInvalidLimit) {
		t.Fatalf("a limit not prepared by the store: err %v, want ErrInvalidLimit", err)
	}
	if _, err := pt.PrepareLimit(core.Limit{Rate: 0, Period: time.Second, Algorithm: alg}); !errors.Is(err, core.ErrInvalidLimit) {
		t.Fatalf("PrepareLimit of a zero rate: err %v, want ErrInvalidLimit", err)
	}
}

// prefixed checks storekit.PrefixTaker, for stores that implement it:
// TakePrefixed(p, k) shares its state with Take(p+k), however the joined key
// is split, and refuses what Take refuses.
func (h *harness) prefixed(t *testing.T, alg core.Algorithm) {
	s, _ := h.open(t)
	pt, ok := s.(storekit.PrefixTaker)
	if !ok {
		return // nothing to check: the store takes whole keys only
	}
	l := limit10(alg)
	takeP := func(prefix, key string, cost int64) core.Decision {
		t.Helper()
		d, err := pt.TakePrefixed(context.Background(), prefix, key, l, cost)
		if err != nil {
			t.Fatalf("TakePrefixed(%q, %q, cost %d): %v", prefix, key, cost, err)
		}
		return d
	}
	// One joined key, four ways: each takes 2 of the same 10.
	takeP("per-ip:", "192.0.2.1", 2)
	takeP("per-ip", ":192.0.2.1", 2)
	takeP("", "per-ip:192.0.2.1", 2)
	take(t, s, "per-ip:192.0.2.1", l, 2)
	if d := takeP("per-ip:192.0.2.", "1", 0); d.Remaining != 2 {
		t.Fatalf("peek after four takes of 2 through different splits: Remaining %d, want 2 (the splits did not share one key)", d.Remaining)
	}
	// A long joined key, and input Take refuses.
	long := strings.Repeat("k", core.MaxKeyLen-7)
	if d := takeP("per-ip:", long, 1); !d.Allowed {
		t.Fatalf("a joined key of exactly MaxKeyLen bytes: %+v, want admitted", d)
	}
	if _, err := pt.TakePrefixed(context.Background(), "per-ip:", long+"k", l, 1); !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("a joined key over MaxKeyLen: err %v, want ErrInvalidKey", err)
	}
	if _, err := pt.TakePrefixed(context.Background(), "", "", l, 1); !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("two empty parts: err %v, want ErrInvalidKey", err)
	}
	if _, err := pt.TakePrefixed(context.Background(), "p:", "k", l, -1); !errors.Is(err, core.ErrInvalidCost) {
		t.Fatalf("negative cost: err %v, want ErrInvalidCost", err)
	}
}

func (h *harness) expiry(t *testing.T, alg core.Algorithm) {
	s, clock := h.open(t)
	l := limit10(alg)
	clock.Set(start.Add(700 * ms))
	var last core.Decision
	for i := 0; i < 10; i++ {
		last = take(t, s, "idle", l, 1)
	}
	if !last.Allowed || last.ResetAfter <= 0 {
		t.Fatalf("burst: last decision %+v, want admitted with a ResetAfter", last)
	}
	clock.Advance(last.ResetAfter)
	h.check(t, "peek once ResetAfter has passed", l, take(t, s, "idle", l, 0), ok(10, 0))
	// And again much later, after any store-side expiry.
	clock.Advance(time.Hour)
	h.check(t, "peek an hour later", l, take(t, s, "idle", l, 0), ok(10, 0))
	if d := take(t, s, "idle", l, 10); !d.Allowed {
		t.Errorf("the whole burst once idle: %+v, want admitted", d)
	}
}

func (h *harness) backwards(t *testing.T, alg core.Algorithm) {
	s, clock := h.open(t)
	l := limit10(alg)
	at := start.Add(5*time.Second + 500*ms)
	clock.Set(at)
	if d := take(t, s, "back", l, 10); !d.Allowed {
		t.Fatalf("burst: %+v", d)
	}
	for _, back := range []time.Duration{time.Nanosecond, ms, 100 * ms, 600 * ms, time.Second, time.Hour} {
		clock.Set(at.Add(-back))
		if d := take(t, s, "back", l, 1); d.Allowed {
			t.Errorf("clock %v behind the burst: admitted %+v, want denied", back, d)
		} else if d.RetryAfter <= 0 {
			t.Errorf("clock %v behind the burst: RetryAfter %v, want positive", back, d.RetryAfter)
		}
	}
	// Back at the burst's instant nothing has refilled either.
	clock.Set(at)
	if d := take(t, s, "back", l, 1); d.Allowed {
		t.Errorf("at the burst's instant after stepping back: admitted %+v", d)
	}
}

// retryIsEarliest replays random histories: at every denial with RetryAfter
// r, a fresh store given the same history denies the request at r minus one
// resolution and admits it at r.
func (h *harness) retryIsEarliest(t *testing.T, alg core.Algorithm) {
	rng := rand.New(rand.NewPCG(uint64(alg)+1, 99))
	l := core.Limit{Rate: 5, Period: 700 * ms, Algorithm: alg}
	if alg == core.GCRA || alg == core.TokenBucket {
		l.Burst = 3
	}
	type past struct {
		at   time.Duration
		cost int64
	}
	replay := func(history []past) (core.Store, *core.ManualClock) {
		s, clock := h.open(t)
		for _, p := range history {
			clock.Set(start.Add(p.at))
			take(t, s, "r", l, p.cost)
		}
		return s, clock
	}
	checks := 0
	for trial := 0; trial < 6; trial++ {
		s, clock := h.open(t)
		var history []past
		at := time.Duration(0)
		for i := 0; i < 25; i++ {
			at += time.Duration(rng.IntN(300)) * ms
			cost := int64(1 + rng.IntN(int(l.EffectiveBurst())))
			clock.Set(start.Add(at))
			d := take(t, s, "r", l, cost)
			if d.Allowed {
				history = append(history, past{at, cost})
				continue
			}
			if d.RetryAfter <= 0 || d.RetryAfter == core.Never {
				t.Fatalf("denied cost %d at %v with RetryAfter %v", cost, at, d.RetryAfter)
			}
			checks++
			rs, rc := replay(history)
			rc.Set(start.Add(at + d.RetryAfter - h.cfg.resolution))
			if e := take(t, rs, "r", l, cost); e.Allowed {
				t.Errorf("trial %d: cost %d denied at %v with RetryAfter %v, but admitted %v earlier", trial, cost, at, d.RetryAfter, h.cfg.resolution)
			}
			rc.Set(start.Add(at + d.RetryAfter))
			if e := take(t, rs, "r", l, cost); !e.Allowed {
				t.Errorf("trial %d: cost %d denied at %v with RetryAfter %v, still denied then: %+v", trial, cost, at, d.RetryAfter, e)
			}
		}
	}
	if checks == 0 {
		t.Fatal("no denial happened: the random histories test nothing")
	}
}

func (h *harness) hammer(t *testing.T, alg core.Algorithm, keys int) {
	s, _ := h.open(t)
	const quota, workers, each = 1000, 64, 50
	l := core.PerSecond(quota).WithAlgorithm(alg)
	admitted := make([]atomic.Int64, keys)
	err := race(workers, func(w int) error {
		for i := 0; i < each*keys; i++ {
			k := (w + i) % keys
			d, err := s.Take(context.Background(), fmt.Sprintf("hammer-%d", k), l, 1)
			if err != nil {
				return err
			}
			if d.Allowed {
				admitted[k].Add(1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Take failed under concurrency: %v", err)
	}
	for k := range admitted {
		if n := admitted[k].Load(); n != quota {
			t.Errorf("key %d: %d goroutines made %d attempts and %d were admitted, want exactly %d", k, workers, workers*each, n, quota)
		}
	}
}

// race runs fn(0) to fn(workers-1) on goroutines released together and
// returns the first error any of them returned.
func race(workers int, fn func(w int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error // guarded by mu
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(w); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return first
}

// multi returns the store as a MultiStore, or skips the test.
func (h *harness) multi(t *testing.T) (storekit.MultiStore, *core.ManualClock) {
	t.Helper()
	return openAs[storekit.MultiStore](h, t, "storekit.MultiStore")
}

// openAs returns a fresh store as the optional interface T, or skips the
// test when the store does not implement it.
func openAs[T core.Store](h *harness, t *testing.T, name string) (T, *core.ManualClock) {
	t.Helper()
	s, clock := h.open(t)
	x, ok := s.(T)
	if !ok {
		t.Skip("the store does not implement " + name)
	}
	return x, clock
}

func takeMany(t *testing.T, s storekit.MultiStore, takes ...core.Take) []core.Decision {
	t.Helper()
	ds := make([]core.Decision, len(takes))
	if err := s.TakeMany(context.Background(), takes, ds); err != nil {
		t.Fatalf("TakeMany: unexpected error: %v", err)
	}
	return ds
}

// peekMany peeks keys in one step, as the suite wrote them.
func peekMany(t *testing.T, s storekit.MultiStore, takes ...core.Take) []core.Decision {
	t.Helper()
	for i := range takes {
		takes[i].Cost = 0
	}
	return takeMany(t, s, takes...)
}

// takeMany: a key under 5/s and another under 3/s, taken together. Three
// requests pass both; the fourth is denied by the smaller and consumes
// nothing from the larger; a take above its burst and a refused peek in a
// step take nothing either. Every step has the same first key.
func (h *harness) takeMany(t *testing.T, alg core.Algorithm) {
	s, _ := h.multi(t)
	five := core.PerSecond(5).WithAlgorithm(alg)
	three := core.PerSecond(3).WithAlgorithm(alg)
	ip := func(cost int64) core.Take { return core.Take{Key: "per-ip", Limit: five, Cost: cost} }
	tenant := func(cost int64) core.Take { return core.Take{Key: "per-tenant", Limit: three, Cost: cost} }
	route := func(cost int64) core.Take { return core.Take{Key: "per-route", Limit: five, Cost: cost} }
	for i := int64(1); i <= 3; i++ {
		ds := takeMany(t, s, ip(1), tenant(1))
		if !ds[0].Allowed || !ds[1].Allowed || ds[0].Remaining != 5-i || ds[1].Remaining != 3-i {
			t.Fatalf("request %d: decisions %+v and %+v, want both admitted with %d and %d remaining", i, ds[0], ds[1], 5-i, 3-i)
		}
	}
	ds := takeMany(t, s, ip(1), tenant(1))
	if ds[1].Allowed || ds[1].Reason != core.ReasonLimited || ds[1].RetryAfter <= 0 {
		t.Fatalf("request 4: per-tenant decision %+v, want denied with a RetryAfter", ds[1])
	}
	if !ds[0].Allowed || ds[0].Remaining != 2 {
		t.Fatalf("request 4: per-ip decision %+v, want what a peek shows: admitted, 2 remaining (nothing taken)", ds[0])
	}
	// The first key of a step is the key Take uses too.
	if d := take(t, s, "per-ip", five, 0); d.Remaining != 2 {
		t.Fatalf("per-ip after a denied step: Remaining %d, want 2 (the step consumed it)", d.Remaining)
	}
	// A cost above one limit's burst is refused for good, and takes nothing
	// from the others.
	ds = takeMany(t, s, ip(1), route(1), core.Take{Key: "per-other", Limit: three, Cost: 4})
	if ds[2].Reason != core.ReasonCostExceedsBurst || ds[2].RetryAfter != core.Never || !ds[0].Allowed || !ds[1].Allowed {
		t.Fatalf("a take above its burst: %+v, want it refused for good and the others admitted as peeks", ds)
	}
	if ds := peekMany(t, s, ip(0), route(0)); ds[0].Remaining != 2 || ds[1].Remaining != 5 {
		t.Fatalf("after the refused step: per-ip %d and per-route %d remaining, want 2 and 5", ds[0].Remaining, ds[1].Remaining)
	}
	// A refused peek among the takes refuses the step.
	ds = takeMany(t, s, ip(2), tenant(0), route(1))
	if ds[1].Allowed || !ds[0].Allowed || !ds[2].Allowed {
		t.Fatalf("a peek of the spent key beside two takes: %+v", ds)
	}
	if ds := peekMany(t, s, ip(0), route(0)); ds[0].Remaining != 2 || ds[1].Remaining != 5 {
		t.Fatalf("after a step whose peek was refused: per-ip %d and per-route %d remaining, want 2 and 5", ds[0].Remaining, ds[1].Remaining)
	}
	ds = takeMany(t, s, ip(2), route(1))
	if !ds[0].Allowed || ds[0].Remaining != 0 || !ds[1].Allowed || ds[1].Remaining != 4 {
		t.Fatalf("two admitted takes: %+v, want 0 and 4 remaining", ds)
	}
}

// takeManyHammer: 64 goroutines, each request under a shared tenant's limit
// (500 a day, first in every step) and its own client's (300 a day, four
// clients), with the client's algorithm given (GCRA, the default, is a
// store's fast path). Exactly 500 requests are admitted, and
// afterwards every key holds exactly what its admitted requests took: no
// take of a denied step was ever consumed.
func (h *harness) takeManyHammer(t *testing.T, clientAlg core.Algorithm) {
	s, _ := h.multi(t)
	client := core.Limit{Rate: 300, Period: 24 * time.Hour, Algorithm: clientAlg}
	tenant := core.Limit{Rate: 500, Period: 24 * time.Hour}
	const workers, each, clients = 64, 30, 4
	var admitted [clients]atomic.Int64
	err := race(workers, func(w int) error {
		ds := make([]core.Decision, 2)
		for i := 0; i < each; i++ {
			c := (w + i) % clients
			takes := []core.Take{{Key: "tenant", Limit: tenant, Cost: 1}, {Key: fmt.Sprintf("client-%d", c), Limit: client, Cost: 1}}
			if err := s.TakeMany(context.Background(), takes, ds); err != nil {
				return err
			}
			if ds[0].Allowed && ds[1].Allowed {
				admitted[c].Add(1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("TakeMany failed under concurrency: %v", err)
	}
	total := int64(0)
	for c := range admitted {
		n := admitted[c].Load()
		total += n
		if n > client.Rate {
			t.Errorf("client-%d: %d admitted, over its 300", c, n)
		}
		ds := peekMany(t, s, core.Take{Key: "tenant", Limit: tenant}, core.Take{Key: fmt.Sprintf("client-%d", c), Limit: client})
		if ds[1].Remaining != client.Rate-n && !(h.cfg.split && ds[1].Remaining < client.Rate-n) {
			t.Errorf("client-%d: %d requests admitted but %d remaining, want %d: a denied step consumed it", c, n, ds[1].Remaining, client.Rate-n)
		}
	}
	if total != tenant.Rate {
		t.Errorf("%d requests admitted in all, want exactly the tenant's %d (each client's 300 leaves room for it)", total, tenant.Rate)
	}
	if d := take(t, s, "tenant", tenant, 0); d.Remaining != 0 {
		t.Errorf("tenant: %d remaining after %d admitted, want 0", d.Remaining, total)
	}
}

func (h *harness) takeManyBadInput(t *testing.T) {
	s, _ := h.multi(t)
	good := core.PerSecond(10)
	tk := func(key string) core.Take { return core.Take{Key: key, Limit: good, Cost: 1} }
	many := make([]core.Take, core.MaxTakes+1)
	for i := range many {
		many[i] = tk(fmt.Sprintf("k%d", i))
	}
	cases := []struct {
		name   string
		takes  []core.Take
		nds    int
		target error
	}{
		{"no takes", nil, 0, core.ErrInvalidTakes},
		{"more than MaxTakes", many, len(many), core.ErrInvalidTakes},
		{"fewer decisions than takes", []core.Take{tk("a"), tk("b")}, 1, core.ErrInvalidTakes},
		{"a key twice", []core.Take{tk("a"), tk("b"), tk("a")}, 3, core.ErrInvalidTakes},
		{"an empty key", []core.Take{tk("a"), tk("")}, 2, core.ErrInvalidKey},
		{"a negative cost", []core.Take{tk("a"), {Key: "b", Limit: good, Cost: -1}}, 2, core.ErrInvalidCost},
		{"an invalid limit", []core.Take{tk("a"), {Key: "b", Limit: core.Limit{Rate: 0, Period: time.Second}, Cost: 1}}, 2, core.ErrInvalidLimit},
	}
	for _, c := range cases {
		err := s.TakeMany(context.Background(), c.takes, make([]core.Decision, c.nds))
		if !errors.Is(err, c.target) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.target)
		}
	}
	// Nothing was consumed by the refused calls.
	if d := take(t, s, "a", good, 0); d.Remaining != 10 {
		t.Errorf("key a after refused calls: Remaining %d, want 10", d.Remaining)
	}
}

func (h *harness) badInput(t *testing.T) {
	s, _ := h.open(t)
	good := core.PerSecond(10)
	cases := []struct {
		name   string
		key    string
		limit  core.Limit
		cost   int64
		target error
	}{
		{"empty key", "", good, 1, core.ErrInvalidKey},
		{"key longer than MaxKeyLen", strings.Repeat("k", core.MaxKeyLen+1), good, 1, core.ErrInvalidKey},
		{"negative cost", "k", good, -1, core.ErrInvalidCost},
		{"zero rate", "k", core.Limit{Period: time.Second}, 1, core.ErrInvalidLimit},
		{"negative rate", "k", core.Limit{Rate: -5, Period: time.Second}, 1, core.ErrInvalidLimit},
		{"zero period", "k", core.Limit{Rate: 5}, 1, core.ErrInvalidLimit},
		{"negative burst", "k", good.WithBurst(-1), 1, core.ErrInvalidLimit},
		{"unknown algorithm", "k", good.WithAlgorithm(99), 1, core.ErrInvalidLimit},
		{"burst × period overflow", "k", core.Limit{Rate: 1, Period: time.Duration(1 << 62), Burst: 4}, 1, core.ErrInvalidLimit},
		{"window algorithm with a burst", "k", good.WithBurst(20).WithAlgorithm(core.FixedWindow), 1, core.ErrInvalidLimit},
	}
	for _, c := range cases {
		d, err := s.Take(context.Background(), c.key, c.limit, c.cost)
		if !errors.Is(err, c.target) {
			t.Errorf("%s: error %v, want one matching %v", c.name, err, c.target)
		}
		if d.Allowed {
			t.Errorf("%s: admitted", c.name)
		}
	}
	// The store is still usable after bad input.
	if d := take(t, s, "k", good, 1); !d.Allowed || d.Remaining != 9 {
		t.Errorf("first good take after bad input: %+v", d)
	}
}

func (h *harness) closed(t *testing.T) {
	s, _ := h.open(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Take(context.Background(), "k", core.PerSecond(1), 1); err == nil {
		t.Error("Take after Close succeeded, want an error")
	}
}
