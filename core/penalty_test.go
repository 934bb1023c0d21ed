package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// boxRecorder is a BoxStore that records the boxes and takes of each step
// and decides the step as TakeMany, never boxing anyone: core's own part,
// what it hands a store, is what these tests check (the boxes themselves
// are the stores', checked by core/storetest).
type boxRecorder struct {
	mapMulti
	boxes [][]core.Box
	takes [][]string
}

func (r *boxRecorder) TakeBoxed(ctx context.Context, boxes []core.Box, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return 0, err
	}
	if err := storekit.CheckBoxes(boxes, len(takes)); err != nil {
		return 0, err
	}
	bs := make([]core.Box, len(boxes))
	for i, b := range boxes {
		b.Key = strings.Clone(b.Key)
		bs[i] = b
	}
	var keys []string
	for _, t := range takes {
		keys = append(keys, strings.Clone(t.Key))
	}
	r.boxes, r.takes = append(r.boxes, bs), append(r.takes, keys)
	return 0, r.TakeMany(ctx, takes, ds)
}

var pen = core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}

func TestCheckBoxes(t *testing.T) {
	box := func(key string, takes uint16) core.Box { return core.Box{Key: key, Penalty: pen, Takes: takes} }
	for _, c := range []struct {
		name   string
		boxes  []core.Box
		ntakes int
		target error // nil: valid
	}{
		{"one box over every take", []core.Box{box("a", 0)}, 1, nil},
		{"MaxBoxes boxes, each over its own take", []core.Box{box("a", 1), box("b", 2), box("c", 4), box("d", 8)}, 4, nil},
		{"a box over the 16th take", []core.Box{box("a", 1<<15)}, core.MaxTakes, nil},
		{"no boxes", nil, 1, core.ErrInvalidPenalty},
		{"more than MaxBoxes", []core.Box{box("a", 0), box("b", 0), box("c", 0), box("d", 0), box("e", 0)}, 1, core.ErrInvalidPenalty},
		{"two boxes with one key", []core.Box{box("a", 1), box("a", 2)}, 2, core.ErrInvalidKey},
		{"an empty key", []core.Box{box("", 0)}, 1, core.ErrInvalidKey},
		{"a key too long", []core.Box{box(strings.Repeat("k", core.MaxKeyLen), 0)}, 1, core.ErrInvalidKey},
		{"no penalty", []core.Box{{Key: "a"}}, 1, core.ErrInvalidPenalty},
		{"a take beyond the step", []core.Box{box("a", 1), box("b", 4)}, 2, core.ErrInvalidPenalty},
	} {
		err := storekit.CheckBoxes(c.boxes, c.ntakes)
		if c.target == nil && err != nil || c.target != nil && !errors.Is(err, c.target) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.target)
		}
	}
	if err := storekit.CheckBoxes([]core.Box{box("a", 1), box("b", 4)}, 2); err == nil || !strings.Contains(err.Error(), "box 1 selects take 2 of a step of 2") {
		t.Errorf("a take beyond the step: %v, want the box and take named", err)
	}
}

// TakeAllBoxed hands the store every box, each selecting its limiters by
// their place in the step; shadow limiters are taken apart, so the boxes
// are renumbered over the enforced ones, and a box over shadow limiters
// only is left out (it could count nothing). Before several boxes, a
// shadow limiter in the step left the box out altogether.
func TestTakeAllBoxedRenumbersBoxesAroundShadowLimiters(t *testing.T) {
	r := &boxRecorder{mapMulti: mapMulti{newMapStore(core.NewManualClock(t0))}}
	shadow := newLimiter(t, r, core.PerSecond(5), core.WithName("strict"), core.WithShadow())
	ip := newLimiter(t, r, core.PerSecond(5), core.WithName("ip"))
	global := newLimiter(t, r, core.PerSecond(5), core.WithName("global"))
	ls, keys := []*core.Limiter{ip, shadow, global}, []string{"c", "c", "all"}
	boxes := []core.Box{
		{Key: "box:ip", Penalty: pen, Takes: 1<<0 | 1<<1}, // ip and the shadow limiter
		{Key: "box:shadow", Penalty: pen, Takes: 1 << 1},  // the shadow limiter alone
		{Key: "box:all", Penalty: pen},                    // every limiter
		{Key: "box:global", Penalty: pen, Takes: 1 << 2},  // global
	}
	ds := make([]core.Decision, 3)
	if _, err := core.TakeAllBoxed(context.Background(), boxes, ls, keys, ds); err != nil {
		t.Fatal(err)
	}
	if len(r.boxes) != 1 {
		t.Fatalf("%d boxed steps, want 1", len(r.boxes))
	}
	want := []core.Box{{Key: "box:ip", Penalty: pen, Takes: 1 << 0}, {Key: "box:all", Penalty: pen}, {Key: "box:global", Penalty: pen, Takes: 1 << 1}}
	if got := r.boxes[0]; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("the store got boxes %+v over takes %q, want %+v", got, r.takes[0], want)
	}
	if got := strings.Join(r.takes[0], ","); got != core.DefaultPrefix("ip")+"c,"+core.DefaultPrefix("global")+"all" {
		t.Fatalf("the boxed step took %s, want the ip and global limiters' keys", got)
	}
	if !ds[0].Allowed || !ds[1].Allowed || !ds[2].Allowed || ds[1].Name != "strict" {
		t.Fatalf("decisions %+v, want all admitted, in the limiters' order", ds)
	}
	// With only the shadow limiter's box, the enforced step is a plain one.
	if _, err := core.TakeAllBoxed(context.Background(), boxes[1:2], ls, keys, ds); err != nil || len(r.boxes) != 1 {
		t.Fatalf("a box over the shadow limiter only: err %v, %d boxed steps; want a plain step", err, len(r.boxes))
	}
}

// Bad boxes refuse the whole step as bad keys do: every decision invalid,
// nothing taken.
func TestTakeAllBoxedRefusesBadBoxesWholly(t *testing.T) {
	r := &boxRecorder{mapMulti: mapMulti{newMapStore(core.NewManualClock(t0))}}
	a := newLimiter(t, r, core.PerSecond(5), core.WithName("a"))
	b := newLimiter(t, r, core.PerSecond(5), core.WithName("b"))
	box := func(key string) core.Box { return core.Box{Key: key, Penalty: pen} }
	for _, c := range []struct {
		name   string
		boxes  []core.Box
		target error
	}{
		{"five boxes", []core.Box{box("1"), box("2"), box("3"), box("4"), box("5")}, core.ErrInvalidPenalty},
		{"two boxes with one key", []core.Box{box("1"), box("1")}, core.ErrInvalidKey},
		{"a box over a third take", []core.Box{{Key: "1", Penalty: pen, Takes: 1 << 2}}, core.ErrInvalidPenalty},
	} {
		ds := make([]core.Decision, 2)
		_, err := core.TakeAllBoxed(context.Background(), c.boxes, []*core.Limiter{a, b}, []string{"k", "k"}, ds)
		if !errors.Is(err, c.target) || ds[0].Reason != core.ReasonInvalid || ds[1].Reason != core.ReasonInvalid {
			t.Errorf("%s: err %v, decisions %+v; want %v and both invalid", c.name, err, ds, c.target)
		}
	}
	if d, _ := a.Peek(context.Background(), "k"); d.Remaining != 5 || len(r.boxes) != 0 {
		t.Fatalf("after refused steps: a at %d, %d boxed steps; want 5 and none", d.Remaining, len(r.boxes))
	}
}
