package storekit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// The clocks core offers read as nanoseconds without a time.Time.
var (
	_ storekit.UnixNanoClock = (*core.ManualClock)(nil)
	_ storekit.UnixNanoClock = (*core.CoarseClock)(nil)
)

func TestCheckTakeAndTakeManyRefuseBadInput(t *testing.T) {
	good := core.PerSecond(1)
	long := strings.Repeat("k", core.MaxKeyLen+1)
	for _, c := range []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"empty key", storekit.CheckTake("", good, 1), core.ErrInvalidKey, "invalid key: empty key"},
		{"long key", storekit.CheckTake(long, good, 1), core.ErrInvalidKey, "key of 4097 bytes is longer than 4096"},
		{"negative cost", storekit.CheckTake("k", good, -1), core.ErrInvalidCost, "cost -1 is negative"},
		{"invalid limit", storekit.CheckTake("k", core.Limit{}, 1), core.ErrInvalidLimit, "rate"},
		{"no takes", storekit.CheckTakeMany(nil, nil), core.ErrInvalidTakes, "0 takes, want 1 to 16"},
		{"too few decisions", storekit.CheckTakeMany([]core.Take{{Key: "k", Limit: good, Cost: 1}}, nil), core.ErrInvalidTakes, "0 decisions for 1 takes"},
		{"bad take", storekit.CheckTakeMany([]core.Take{{Key: "k", Limit: good, Cost: 1}, {Limit: good, Cost: 1}}, make([]core.Decision, 2)), core.ErrInvalidKey, "core: invalid key: empty key (take 1)"},
		{"repeated key", storekit.CheckTakeMany([]core.Take{{Key: "k", Limit: good, Cost: 1}, {Key: "k", Limit: good, Cost: 1}}, make([]core.Decision, 2)), core.ErrInvalidTakes, "take 1 repeats the key of take 0"},
	} {
		if !errors.Is(c.err, c.want) || !strings.HasPrefix(c.err.Error(), "core: ") || !strings.Contains(c.err.Error(), c.msg) || strings.Contains(c.err.Error(), long) {
			t.Errorf("%s: %v, want an error starting \"core: \", wrapping %v, saying %q", c.name, c.err, c.want, c.msg)
		}
	}
	if err := storekit.CheckTakeMany([]core.Take{{Key: "a", Limit: good, Cost: 1}, {Key: "b", Limit: good}}, make([]core.Decision, 2)); err != nil {
		t.Errorf("valid takes: %v", err)
	}
}

// boxStore is a BoxStore that admits every step, so that TakeAllBoxed's own
// checks decide what is refused.
type boxStore struct{}

func (boxStore) Take(context.Context, string, core.Limit, int64) (core.Decision, error) {
	return core.Decision{Allowed: true}, nil
}
func (boxStore) Close() error { return nil }
func (boxStore) TakeMany(_ context.Context, takes []core.Take, ds []core.Decision) error {
	for i := range ds {
		ds[i] = core.Decision{Allowed: true, Limit: takes[i].Limit}
	}
	return nil
}
func (s boxStore) TakeBoxed(ctx context.Context, boxes []core.Box, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	if err := storekit.CheckBoxes(boxes, len(takes)); err != nil {
		return 0, err
	}
	return 0, s.TakeMany(ctx, takes, ds)
}

// CheckBoxes refuses what core.TakeAllBoxed refuses, with the same error.
func TestCheckBoxesAgreesWithTakeAllBoxed(t *testing.T) {
	pen := core.Penalty{Denials: 3, Within: time.Minute, For: time.Hour}
	room := strings.Repeat("b", core.MaxKeyLen-len("\x00denials"))
	var l1, l2 *core.Limiter
	var err error
	if l1, err = core.NewLimiter(boxStore{}, core.PerSecond(1), core.WithName("a")); err != nil {
		t.Fatal(err)
	}
	if l2, err = core.NewLimiter(boxStore{}, core.PerSecond(1), core.WithName("b")); err != nil {
		t.Fatal(err)
	}
	ls := []*core.Limiter{l1, l2}
	for _, c := range []struct {
		name  string
		boxes []core.Box
		want  error // nil: valid
	}{
		{"one valid box", []core.Box{{Key: "b", Penalty: pen, Takes: 1}}, nil},
		{"the longest key", []core.Box{{Key: room, Penalty: pen}}, nil},
		{"a key too long for its suffix", []core.Box{{Key: room + "b", Penalty: pen}}, core.ErrInvalidKey},
		{"no boxes", nil, core.ErrInvalidPenalty},
		{"too many boxes", []core.Box{{Key: "1", Penalty: pen}, {Key: "2", Penalty: pen}, {Key: "3", Penalty: pen}, {Key: "4", Penalty: pen}, {Key: "5", Penalty: pen}}, core.ErrInvalidPenalty},
		{"zero box", []core.Box{{}}, core.ErrInvalidPenalty},
		{"box without a key", []core.Box{{Penalty: pen}}, core.ErrInvalidKey},
		{"box selecting a missing take", []core.Box{{Key: "b", Penalty: pen, Takes: 1 << 2}}, core.ErrInvalidPenalty},
		{"two boxes of one key", []core.Box{{Key: "b", Penalty: pen}, {Key: "b", Penalty: pen}}, core.ErrInvalidKey},
	} {
		kerr := storekit.CheckBoxes(c.boxes, len(ls))
		_, cerr := core.TakeAllBoxed(context.Background(), c.boxes, ls, []string{"x", "y"}, make([]core.Decision, 2))
		if c.want == nil {
			if kerr != nil || cerr != nil {
				t.Errorf("%s: CheckBoxes %v, TakeAllBoxed %v, want both nil", c.name, kerr, cerr)
			}
			continue
		}
		if !errors.Is(kerr, c.want) || cerr == nil || kerr.Error() != cerr.Error() || !strings.HasPrefix(kerr.Error(), "core: ") {
			t.Errorf("%s: CheckBoxes %v, TakeAllBoxed %v, want the same error wrapping %v", c.name, kerr, cerr, c.want)
		}
	}
}

// A box is two keys under two limits, the longest key a Box may have leaves
// room for both, and a penalty validates exactly when both limits do.
func TestBoxParts(t *testing.T) {
	p := core.Penalty{Denials: 3, Within: time.Minute, For: time.Hour}
	box, denials := storekit.BoxKeys("c")
	if box == denials || !strings.HasPrefix(box, "c") || !strings.HasPrefix(denials, "c") {
		t.Errorf("BoxKeys(c) = %q, %q: want two distinct keys starting with the client's", box, denials)
	}
	longest := strings.Repeat("k", core.MaxKeyLen)
	for len(longest) > 0 && (core.Box{Key: longest, Penalty: p}).Validate() != nil {
		longest = longest[1:]
	}
	if b, d := storekit.BoxKeys(longest); max(len(b), len(d)) != core.MaxKeyLen {
		t.Errorf("the longest valid box key (%d bytes) makes keys of %d and %d bytes, want the longer at MaxKeyLen %d", len(longest), len(b), len(d), core.MaxKeyLen)
	}
	if got, want := storekit.BoxLimit(p), (core.Limit{Rate: 1, Period: time.Hour, Burst: 1}); got != want {
		t.Errorf("BoxLimit = %v, want %v", got, want)
	}
	if got, want := storekit.DenialLimit(p), (core.Limit{Rate: 3, Period: time.Minute, Algorithm: core.SlidingWindowLog}); got != want {
		t.Errorf("DenialLimit = %v, want %v", got, want)
	}
	for _, q := range []core.Penalty{p, {Denials: 1000, Within: time.Nanosecond, For: 1}, {Denials: 1, Within: 1 << 62, For: time.Hour}, {Denials: 5, Within: time.Minute, For: 1 << 62}} {
		bothValid := storekit.BoxLimit(q).Validate() == nil && storekit.DenialLimit(q).Validate() == nil
		if (q.Validate() == nil) != bothValid {
			t.Errorf("%v: Validate %v, but its limits valid: %v", q, q.Validate(), bothValid)
		}
	}
	takes := []core.Take{{Key: "a", Limit: core.PerSecond(1), Cost: 1}, {Key: "b", Limit: core.PerMinute(5), Cost: 1}}
	ds := make([]core.Decision, 2)
	storekit.Boxed(takes, ds, 42*time.Second)
	for i, d := range ds {
		if d.Allowed || d.Reason != core.ReasonPenalty || d.RetryAfter != 42*time.Second || d.Limit != takes[i].Limit {
			t.Errorf("decision %d: %+v, want a penalty denial of %v for 42s", i, d, takes[i].Limit)
		}
	}
}

// fullStore implements every interface storekit names and records which
// of its methods a Limiter called.
type fullStore struct {
	boxStore
	called map[string]int
	local  core.Store
}

var (
	_ storekit.MultiStore    = (*fullStore)(nil)
	_ storekit.BoxStore      = (*fullStore)(nil)
	_ storekit.PrefixTaker   = (*fullStore)(nil)
	_ storekit.PreparedTaker = (*fullStore)(nil)
	_ storekit.LimitChecker  = (*fullStore)(nil)
	_ storekit.RemoteStore   = (*fullStore)(nil)
)

func (s *fullStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	s.called["Take"]++
	return core.Decision{}, errors.New("down")
}
func (s *fullStore) TakePrefixed(ctx context.Context, prefix, key string, l core.Limit, cost int64) (core.Decision, error) {
	s.called["TakePrefixed"]++
	return core.Decision{Allowed: true, Limit: l}, nil
}
func (s *fullStore) PrepareLimit(l core.Limit) (any, error) {
	s.called["PrepareLimit"]++
	return storekit.Prepare(l)
}
func (s *fullStore) TakePrepared(ctx context.Context, p any, prefix, key string, cost int64) (core.Decision, error) {
	s.called["TakePrepared"]++
	return core.Decision{Allowed: true, Limit: p.(*storekit.Prepared).Limit()}, nil
}
func (s *fullStore) TakeMany(ctx context.Context, takes []core.Take, ds []core.Decision) error {
	s.called["TakeMany"]++
	return s.boxStore.TakeMany(ctx, takes, ds)
}
func (s *fullStore) CheckLimit(l core.Limit) error {
	s.called["CheckLimit"]++
	return nil
}
func (s *fullStore) LocalStore() core.Store { s.called["LocalStore"]++; return s.local }

// A core.Limiter finds each interface named here in its store by its
// methods alone: core's own (unexported) copies have the same method sets.
func TestLimiterFindsTheInterfaces(t *testing.T) {
	s := &fullStore{called: map[string]int{}, local: boxStore{}}
	l, err := core.NewLimiter(s, core.PerSecond(1))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := l.Take(context.Background(), "k"); err != nil || !d.Allowed {
		t.Fatalf("Take: %+v, %v", d, err)
	}
	if err := core.TakeAll(context.Background(), []*core.Limiter{l}, []string{"k"}, make([]core.Decision, 1)); err != nil {
		t.Fatal(err)
	}
	if err := core.CanBox([]*core.Limiter{l}); err != nil {
		t.Errorf("CanBox over a storekit.BoxStore: %v", err)
	}
	if l.FailurePolicy() != core.FailBack {
		t.Errorf("policy over a storekit.RemoteStore: %v, want fallback to its local store", l.FailurePolicy())
	}
	if _, err := l.Tier(core.PerMinute(5)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"CheckLimit", "LocalStore", "PrepareLimit", "TakePrepared", "TakeMany"} {
		if s.called[m] == 0 {
			t.Errorf("the Limiter never called %s", m)
		}
	}
	if s.called["PrepareLimit"] != 2 {
		t.Errorf("PrepareLimit called %d times, want once for the limiter and once for its tier", s.called["PrepareLimit"])
	}
	if s.called["Take"] != 0 || s.called["TakePrefixed"] != 0 {
		t.Errorf("Take called %d times, TakePrefixed %d, want TakePrepared instead", s.called["Take"], s.called["TakePrefixed"])
	}
	// Without PreparedTaker, TakePrefixed.
	p := &prefixStore{called: map[string]int{}}
	l, err = core.NewLimiter(p, core.PerSecond(1))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := l.Take(context.Background(), "k"); err != nil || !d.Allowed {
		t.Fatalf("Take: %+v, %v", d, err)
	}
	if p.called["TakePrefixed"] != 1 || p.called["Take"] != 0 {
		t.Errorf("over a PrefixTaker, Take called %d times, TakePrefixed %d, want TakePrefixed once", p.called["Take"], p.called["TakePrefixed"])
	}
}

// prefixStore is a PrefixTaker and no more.
type prefixStore struct{ called map[string]int }

func (s *prefixStore) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	s.called["Take"]++
	return core.Decision{}, errors.New("down")
}
func (s *prefixStore) TakePrefixed(ctx context.Context, prefix, key string, l core.Limit, cost int64) (core.Decision, error) {
	s.called["TakePrefixed"]++
	return core.Decision{Allowed: true, Limit: l}, nil
}
func (s *prefixStore) Close() error { return nil }
