package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// boxer returns the store as a BoxStore, or skips the test.
func (h *harness) boxer(t *testing.T) (core.BoxStore, *core.ManualClock) {
	t.Helper()
	return openAs[core.BoxStore](h, t, "core.BoxStore")
}

func takeBoxed(t *testing.T, s core.BoxStore, box core.Box, takes ...core.Take) ([]core.Decision, time.Duration) {
	t.Helper()
	ds := make([]core.Decision, len(takes))
	left, err := s.TakeBoxed(context.Background(), []core.Box{box}, takes, ds)
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
	cases := []struct {
		name   string
		box    core.Box
		takes  []core.Take
		target error
	}{
		{"no denials", core.Box{Key: "b", Penalty: core.Penalty{Within: time.Minute, For: time.Minute}}, tk, core.ErrInvalidPenalty},
		{"too many denials", core.Box{Key: "b", Penalty: core.Penalty{Denials: core.MaxPenaltyDenials + 1, Within: time.Minute, For: time.Minute}}, tk, core.ErrInvalidPenalty},
		{"no window", core.Box{Key: "b", Penalty: core.Penalty{Denials: 3, For: time.Minute}}, tk, core.ErrInvalidPenalty},
		{"a negative box time", core.Box{Key: "b", Penalty: core.Penalty{Denials: 3, Within: time.Minute, For: -time.Second}}, tk, core.ErrInvalidPenalty},
		{"an empty box key", core.Box{Penalty: good}, tk, core.ErrInvalidKey},
		{"no takes", core.Box{Key: "b", Penalty: good}, nil, core.ErrInvalidTakes},
	}
	for _, c := range cases {
		_, err := s.TakeBoxed(context.Background(), []core.Box{c.box}, c.takes, make([]core.Decision, len(c.takes)))
		if !errors.Is(err, c.target) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.target)
		}
	}
	if d := take(t, s, "k", core.PerSecond(1), 0); d.Remaining != 1 {
		t.Errorf("key k after refused calls: Remaining %d, want 1", d.Remaining)
	}
}
