package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// boxer returns the store as a BoxStore, or skips the test.
func (h *harness) boxer(t *testing.T) (storekit.BoxStore, *core.ManualClock) {
	t.Helper()
	return openAs[storekit.BoxStore](h, t, "storekit.BoxStore")
}

func takeBoxed(t *testing.T, s storekit.BoxStore, box core.Box, takes ...core.Take) ([]core.Decision, time.Duration) {
	t.Helper()
	return takeBoxes(t, s, []core.Box{box}, takes...)
}

func takeBoxes(t *testing.T, s storekit.BoxStore, boxes []core.Box, takes ...core.Take) ([]core.Decision, time.Duration) {
	t.Helper()
	ds := make([]core.Decision, len(takes))
	left, err := s.TakeBoxed(context.Background(), boxes, takes, ds)
	if err != nil {
		t.Fatalf("TakeBoxed: unexpected error: %v", err)
	}
	return ds, left
}

// penaltyBox: a login limit of 2 a minute under a box of 3 denials within
// a minute for 10 minutes. The third denial closes the box; a request in
// the box is refused with the time left and takes nothing; the box opens
// after 10 minutes with the denials forgotten, so it takes three more to
// close it again.
func (h *harness) penaltyBox(t *testing.T) {
	s, clock := h.boxer(t)
	login := core.PerMinute(2)
	box := core.Box{Key: "box:login:client", Penalty: core.Penalty{Denials: 3, Within: time.Minute, For: 10 * time.Minute}}
	tk := core.Take{Key: "login:client", Limit: login, Cost: 1}
	other := core.Take{Key: "login:other-limit", Limit: core.Limit{Rate: 100, Period: 24 * time.Hour}, Cost: 1}
	step := func(what string, wantAllowed bool, wantLeft time.Duration) []core.Decision {
		t.Helper()
		ds, left := takeBoxed(t, s, box, tk, other)
		if ds[0].Allowed != wantAllowed || !h.near(left, wantLeft) {
			t.Fatalf("%s: decision %+v, box left %v; want allowed %v, box left %v", what, ds[0], left, wantAllowed, wantLeft)
		}
		return ds
	}
	closeBox := func(round string, otherLeft int64) {
		t.Helper()
		step(round+": request 1", true, 0)
		step(round+": request 2", true, 0)
		for i := 1; i <= 2; i++ {
			clock.Advance(time.Second)
			if ds := step(round+": denial", false, 0); ds[0].Reason != core.ReasonLimited {
				t.Fatalf("%s: denial %d: Reason %v, want limited", round, i, ds[0].Reason)
			}
		}
		clock.Advance(time.Second)
		ds := step(round+": third denial", false, 10*time.Minute)
		if ds[0].Reason != core.ReasonLimited || ds[1].Remaining != otherLeft {
			t.Fatalf("%s: the denial that closes the box: %+v, want the step's own denial (other limit at %d: nothing taken)", round, ds, otherLeft)
		}
	}
	closeBox("first round", 98)

	clock.Advance(9 * time.Minute) // the login limit is whole again; the box is not
	ds := step("in the box", false, time.Minute)
	for i, d := range ds {
		if d.Reason != core.ReasonPenalty || d.Allowed || !h.near(d.RetryAfter, time.Minute) {
			t.Fatalf("in the box: decision %d %+v, want ReasonPenalty with RetryAfter 1m", i, d)
		}
	}
	if ds := peekMany(t, s, tk, other); ds[0].Remaining != 2 || ds[1].Remaining != 98 {
		t.Fatalf("after a request in the box: remaining %d and %d, want 2 and 98 (the box takes nothing)", ds[0].Remaining, ds[1].Remaining)
	}

	clock.Advance(time.Minute) // the box opens
	closeBox("after the box", 96)
}

// penaltyWindow: denials count within the window only. With 2 denials
// within 10s, denials 11s apart never close the box; two 1s apart do.
func (h *harness) penaltyWindow(t *testing.T) {
	s, clock := h.boxer(t)
	one := core.Limit{Rate: 1, Period: 24 * time.Hour}
	box := core.Box{Key: "box:w", Penalty: core.Penalty{Denials: 2, Within: 10 * time.Second, For: time.Hour}}
	tk := core.Take{Key: "w", Limit: one, Cost: 1}
	if ds, _ := takeBoxed(t, s, box, tk); !ds[0].Allowed {
		t.Fatalf("first request: %+v, want admitted", ds[0])
	}
	for i := 0; i < 3; i++ {
		clock.Advance(11 * time.Second)
		if ds, left := takeBoxed(t, s, box, tk); ds[0].Allowed || left != 0 {
			t.Fatalf("denial %d, 11s after the last: %+v, box left %v; want denied and no box", i+1, ds[0], left)
		}
	}
	clock.Advance(time.Second)
	if _, left := takeBoxed(t, s, box, tk); !h.near(left, time.Hour) {
		t.Fatalf("second denial within 10s: box left %v, want 1h", left)
	}
	// Another client's box is its own.
	other := core.Box{Key: "box:w2", Penalty: box.Penalty}
	if ds, left := takeBoxed(t, s, other, core.Take{Key: "w2", Limit: one, Cost: 1}); !ds[0].Allowed || left != 0 {
		t.Fatalf("another client: %+v, box left %v; want admitted", ds[0], left)
	}
}

// penaltyHammer: 64 goroutines, one client over its limit: the box closes
// once, and every request after that is answered from the box. No request
// is ever admitted past the quota.
func (h *harness) penaltyHammer(t *testing.T) {
	s, _ := h.boxer(t)
	l := core.Limit{Rate: 10, Period: 24 * time.Hour}
	box := core.Box{Key: "box:h", Penalty: core.Penalty{Denials: 5, Within: time.Hour, For: time.Hour}}
	var admitted, limited, boxed, closed atomic.Int64
	err := race(64, func(int) error {
		ds := make([]core.Decision, 1)
		for i := 0; i < 10; i++ {
			left, err := s.TakeBoxed(context.Background(), []core.Box{box}, []core.Take{{Key: "h", Limit: l, Cost: 1}}, ds)
			if err != nil {
				return err
			}
			switch {
			case ds[0].Allowed:
				admitted.Add(1)
			case ds[0].Reason == core.ReasonPenalty:
				boxed.Add(1)
			case left > 0:
				closed.Add(1)
				limited.Add(1)
			default:
				limited.Add(1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("TakeBoxed under concurrency: %v", err)
	}
	if admitted.Load() != 10 || limited.Load() != 5 || closed.Load() != 1 || boxed.Load() != 640-15 {
		t.Fatalf("admitted %d, limited %d (closing the box %d), boxed %d; want 10, 5, 1 and %d",
			admitted.Load(), limited.Load(), closed.Load(), boxed.Load(), 640-15)
	}
}

func (h *harness) penaltyBadInput(t *testing.T) {
	s, _ := h.boxer(t)
	good := core.Penalty{Denials: 3, Within: time.Minute, For: time.Minute}
	tk := []core.Take{{Key: "k", Limit: core.PerSecond(1), Cost: 1}}
	two := []core.Take{tk[0], {Key: "k2", Limit: core.PerSecond(1), Cost: 1}}
	box := func(key string) core.Box { return core.Box{Key: key, Penalty: good} }
	cases := []struct {
		name   string
		boxes  []core.Box
		takes  []core.Take
		target error
	}{
		{"no denials", []core.Box{{Key: "b", Penalty: core.Penalty{Within: time.Minute, For: time.Minute}}}, tk, core.ErrInvalidPenalty},
		{"too many denials", []core.Box{{Key: "b", Penalty: core.Penalty{Denials: core.MaxPenaltyDenials + 1, Within: time.Minute, For: time.Minute}}}, tk, core.ErrInvalidPenalty},
		{"no window", []core.Box{{Key: "b", Penalty: core.Penalty{Denials: 3, For: time.Minute}}}, tk, core.ErrInvalidPenalty},
		{"a negative box time", []core.Box{{Key: "b", Penalty: core.Penalty{Denials: 3, Within: time.Minute, For: -time.Second}}}, tk, core.ErrInvalidPenalty},
		{"an empty box key", []core.Box{{Penalty: good}}, tk, core.ErrInvalidKey},
		{"no takes", []core.Box{box("b")}, nil, core.ErrInvalidTakes},
		{"no boxes", nil, tk, core.ErrInvalidPenalty},
		{"more than MaxBoxes boxes", []core.Box{box("b1"), box("b2"), box("b3"), box("b4"), box("b5")}, tk, core.ErrInvalidPenalty},
		{"two boxes with one key", []core.Box{box("b1"), box("b2"), box("b1")}, tk, core.ErrInvalidKey},
		{"a bad second box", []core.Box{box("b1"), {Key: "b2"}}, tk, core.ErrInvalidPenalty},
		{"a box selecting a take beyond the step", []core.Box{box("b1"), {Key: "b2", Penalty: good, Takes: 1 << 2}}, two, core.ErrInvalidPenalty},
		{"a box selecting the last bit", []core.Box{{Key: "b", Penalty: good, Takes: 1 << 15}}, tk, core.ErrInvalidPenalty},
	}
	for _, c := range cases {
		_, err := s.TakeBoxed(context.Background(), c.boxes, c.takes, make([]core.Decision, len(c.takes)))
		if !errors.Is(err, c.target) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.target)
		}
	}
	if ds := peekMany(t, s, two...); ds[0].Remaining != 1 || ds[1].Remaining != 1 {
		t.Errorf("keys k and k2 after refused calls: Remaining %d and %d, want 1 and 1", ds[0].Remaining, ds[1].Remaining)
	}
	// Boxes may be given up to MaxBoxes, and a box may select the step's
	// last take.
	four := []core.Box{box("b1"), box("b2"), box("b3"), {Key: "b4", Penalty: good, Takes: 1 << 1}}
	if ds, left := takeBoxes(t, s, four, two...); !ds[0].Allowed || !ds[1].Allowed || left != 0 {
		t.Errorf("a step under %d boxes: %+v, box left %v; want both admitted", core.MaxBoxes, ds, left)
	}
}

// penaltyMasks: two boxes over a step of a client's own limit (ip, 3 a
// day) and a limit it shares with everyone (global, 1 a day). The client's
// box selects only its own limit (2 denials within an hour: 1h); the
// other selects every take (3 denials within an hour: 10m). The global
// limit denies three times: only the box over every take counts them, and
// closes. Once it opens, the client's own limit denies twice: both boxes
// count, and the client's closes on its second denial, which it would
// have done long before had it counted the global limit's.
func (h *harness) penaltyMasks(t *testing.T) {
	s, clock := h.boxer(t)
	ipBox := core.Box{Key: "box:ip:c", Penalty: core.Penalty{Denials: 2, Within: time.Hour, For: time.Hour}, Takes: 1 << 0}
	allBox := core.Box{Key: "box:all:c", Penalty: core.Penalty{Denials: 3, Within: time.Hour, For: 10 * time.Minute}}
	boxes := []core.Box{ipBox, allBox}
	day := 24 * time.Hour
	ip := core.Take{Key: "ip:c", Limit: core.Limit{Rate: 3, Period: day}, Cost: 1}
	global := core.Take{Key: "ip:c:global", Limit: core.Limit{Rate: 1, Period: day}, Cost: 1}
	if ds, left := takeBoxes(t, s, boxes, ip, global); !ds[0].Allowed || !ds[1].Allowed || left != 0 {
		t.Fatalf("first request: %+v, box left %v; want admitted, no box", ds, left)
	}
	for i := 1; i <= 3; i++ {
		ds, left := takeBoxes(t, s, boxes, ip, global)
		if !ds[0].Allowed || ds[1].Allowed || ds[1].Reason != core.ReasonLimited {
			t.Fatalf("global denial %d: %+v, want denied by the global limit only", i, ds)
		}
		want := time.Duration(0)
		if i == 3 {
			want = 10 * time.Minute // the third denial closes the box over every take
		}
		if !h.near(left, want) {
			t.Fatalf("global denial %d: box left %v, want %v (the client's own box counts no global denial)", i, left, want)
		}
	}
	ds, left := takeBoxes(t, s, boxes, ip, global)
	if !h.near(left, 10*time.Minute) || ds[0].Reason != core.ReasonPenalty || ds[1].Reason != core.ReasonPenalty || !h.near(ds[0].RetryAfter, 10*time.Minute) {
		t.Fatalf("in the box over every take: %+v, box left %v; want ReasonPenalty, 10m", ds, left)
	}

	clock.Advance(10 * time.Minute) // that box opens, with its denials forgotten
	other := core.Take{Key: "ip:c:other", Limit: core.Limit{Rate: 100, Period: day}, Cost: 1}
	for i := 1; i <= 2; i++ {
		if ds, left := takeBoxes(t, s, boxes, ip, other); !ds[0].Allowed || left != 0 {
			t.Fatalf("after the box, request %d: %+v, box left %v; want admitted", i, ds, left)
		}
	}
	if ds, left := takeBoxes(t, s, boxes, ip, other); ds[0].Allowed || !ds[1].Allowed || left != 0 {
		t.Fatalf("the client's first own denial: %+v, box left %v; want denied by ip, no box", ds, left)
	}
	if ds, left := takeBoxes(t, s, boxes, ip, other); ds[0].Reason != core.ReasonLimited || !h.near(left, time.Hour) {
		t.Fatalf("the client's second own denial: %+v, box left %v; want the step's denial, box left 1h", ds, left)
	}
	if ds := peekMany(t, s, ip, other); ds[0].Remaining != 0 || ds[1].Remaining != 98 {
		t.Fatalf("remaining %d and %d, want 0 and 98", ds[0].Remaining, ds[1].Remaining)
	}
}

// penaltyEitherBox: a client in either of two boxes is refused, with the
// longest time left in one, wherever that box stands in the list. Box a
// selects take a, box b take b; each closes on one denial. Take b's denial
// closes b (1h) and not a; 50 minutes later a closes (30m) on a step of
// its own; both are then refused with 30m (b alone: 10m), then 10m once b
// has opened. Nothing is taken while the client is in a box.
func (h *harness) penaltyEitherBox(t *testing.T) {
	s, clock := h.boxer(t)
	boxA := core.Box{Key: "box:a", Penalty: core.Penalty{Denials: 1, Within: time.Hour, For: 30 * time.Minute}, Takes: 1 << 0}
	boxB := core.Box{Key: "box:b", Penalty: core.Penalty{Denials: 1, Within: time.Hour, For: time.Hour}, Takes: 1 << 1}
	day := 24 * time.Hour
	a := core.Take{Key: "e:a", Limit: core.Limit{Rate: 5, Period: day}, Cost: 1}
	b := core.Take{Key: "e:b", Limit: core.Limit{Rate: 1, Period: day}, Cost: 1}
	c := core.Take{Key: "e:c", Limit: core.Limit{Rate: 1, Period: day}, Cost: 1}
	both := []core.Box{boxA, boxB}
	if ds, left := takeBoxes(t, s, both, a, b); !ds[0].Allowed || !ds[1].Allowed || left != 0 {
		t.Fatalf("first request: %+v, box left %v; want admitted", ds, left)
	}
	if ds, left := takeBoxes(t, s, both, a, b); !ds[0].Allowed || ds[1].Reason != core.ReasonLimited || !h.near(left, time.Hour) {
		t.Fatalf("denied by b: %+v, box left %v; want b's denial closing box b (1h) and not box a", ds, left)
	}
	if ds, left := takeBoxes(t, s, []core.Box{boxA}, a); !ds[0].Allowed || left != 0 {
		t.Fatalf("box a alone after b's denial: %+v, box left %v; want admitted, no box (a counted nothing)", ds[0], left)
	}
	clock.Advance(50 * time.Minute)
	takeBoxes(t, s, []core.Box{boxA}, c)
	if ds, left := takeBoxes(t, s, []core.Box{boxA}, c); ds[0].Allowed || !h.near(left, 30*time.Minute) {
		t.Fatalf("denied by c under box a: %+v, box left %v; want box a closed, 30m", ds, left)
	}
	for _, bs := range []struct {
		name  string
		boxes []core.Box
		want  time.Duration
	}{
		{"a then b", []core.Box{boxA, boxB}, 30 * time.Minute},
		{"b then a", []core.Box{boxB, boxA}, 30 * time.Minute},
		{"b alone", []core.Box{boxB}, 10 * time.Minute},
	} {
		ds, left := takeBoxes(t, s, bs.boxes, a, b)
		if !h.near(left, bs.want) {
			t.Fatalf("in both boxes, %s: box left %v, want %v", bs.name, left, bs.want)
		}
		for i, d := range ds {
			if d.Allowed || d.Reason != core.ReasonPenalty || !h.near(d.RetryAfter, bs.want) {
				t.Fatalf("in both boxes, %s: decision %d %+v, want ReasonPenalty with RetryAfter %v", bs.name, i, d, bs.want)
			}
		}
	}
	clock.Advance(20 * time.Minute) // b opens; a has 10m left
	if ds, left := takeBoxes(t, s, []core.Box{boxB, boxA}, a, b); !h.near(left, 10*time.Minute) || ds[0].Reason != core.ReasonPenalty {
		t.Fatalf("in box a only: %+v, box left %v; want ReasonPenalty, 10m", ds, left)
	}
	clock.Advance(10 * time.Minute) // both open
	if ds := peekMany(t, s, a, b); ds[0].Remaining != 3 {
		t.Fatalf("take a: %d remaining, want 3 (nothing taken in the boxes)", ds[0].Remaining)
	}
	if ds, left := takeBoxes(t, s, []core.Box{boxA}, a, c); !ds[0].Allowed || ds[1].Allowed || left != 0 {
		t.Fatalf("box a open, denied by c, which it does not select: %+v, box left %v; want no box", ds, left)
	}
}
