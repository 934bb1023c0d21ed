package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// resets runs the scenarios of a storekit.Resetter (a key's state
// forgotten) and of a storekit.BoxReleaser (a client let out of its penalty
// box), and skips a store that is neither.
func (h *harness) resets(t *testing.T) {
	probe, _ := h.open(t)
	_, resets := probe.(storekit.Resetter)
	_, releases := probe.(storekit.BoxReleaser)
	if !resets && !releases {
		t.Skipf("%T resets no keys", probe)
	}
	if resets {
		for _, alg := range h.cfg.algorithms {
			t.Run(alg.String()+": a reset key is a fresh key, and no other key changes", func(t *testing.T) {
				t.Parallel()
				h.resetKey(t, alg)
			})
		}
		t.Run("reset: bad input is an error", h.resetBadInput)
	}
	if releases {
		t.Run("a released client is out of its box, its denials counted afresh", h.releaseBox)
		t.Run("release: bad input is an error", h.releaseBadInput)
	}
}

// resetKey: a spent key, reset, decides as a key never used at the same
// instant; a key beside it keeps its state; resetting a key that holds no
// state does nothing; a key taken in two parts (a limiter's prefix and the
// client's key) is reset by its joined key.
func (h *harness) resetKey(t *testing.T, alg core.Algorithm) {
	s, clock := h.open(t)
	r := s.(storekit.Resetter)
	ctx := context.Background()
	l := limit10(alg)
	take(t, s, "per-ip:spent", l, 10)
	take(t, s, "per-ip:beside", l, 3)
	clock.Advance(10 * ms)
	if d := take(t, s, "per-ip:spent", l, 1); d.Allowed {
		t.Fatalf("the spent key before the reset: %+v, want denied", d)
	}
	if err := r.Reset(ctx, "per-ip:spent"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if err := r.Reset(ctx, "per-ip:never-used"); err != nil {
		t.Fatalf("Reset of a key with no state: %v", err)
	}
	// Cost 1 first: a store that remembers denials (a deny cache) answers
	// those from memory.
	for _, cost := range []int64{1, 3} {
		got := take(t, s, "per-ip:spent", l, cost)
		fresh := take(t, s, "per-ip:fresh", l, cost)
		h.check(t, fmt.Sprintf("%d taken from the key just reset", cost), l, got, outcome{allowed: true, remaining: fresh.Remaining, reset: fresh.ResetAfter})
	}
	if d := take(t, s, "per-ip:fresh", l, 0); d.Remaining != 6 {
		t.Fatalf("4 of a fresh key: Remaining %d, want 6", d.Remaining)
	}
	if d := take(t, s, "per-ip:beside", l, 0); d.Remaining != 7 {
		t.Fatalf("the key beside the reset one: Remaining %d, want 7 (untouched)", d.Remaining)
	}
	if d := take(t, s, "per-ip:never-used", l, 0); !d.Allowed || d.Remaining != 10 {
		t.Fatalf("a key with no state, reset: %+v, want whole", d)
	}
	if pt, ok := s.(storekit.PrefixTaker); ok {
		if _, err := pt.TakePrefixed(ctx, "per-ip:", "split", l, 10); err != nil {
			t.Fatal(err)
		}
		if err := r.Reset(ctx, "per-ip:split"); err != nil {
			t.Fatalf("Reset of a key taken in two parts: %v", err)
		}
		if d, _ := pt.TakePrefixed(ctx, "per-ip:", "split", l, 0); d.Remaining != 10 {
			t.Fatalf("a key taken in two parts, reset by its joined key: Remaining %d, want 10", d.Remaining)
		}
	}
}

func (h *harness) resetBadInput(t *testing.T) {
	s, _ := h.open(t)
	r := s.(storekit.Resetter)
	ctx := context.Background()
	if err := r.Reset(ctx, ""); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("Reset of an empty key: %v, want ErrInvalidKey", err)
	}
	if err := r.Reset(ctx, strings.Repeat("k", core.MaxKeyLen+1)); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("Reset of a key over MaxKeyLen: %v, want ErrInvalidKey", err)
	}
	if err := r.Reset(ctx, strings.Repeat("k", core.MaxKeyLen)); err != nil {
		t.Errorf("Reset of a key of MaxKeyLen bytes: %v, want none", err)
	}
	_ = s.Close()
	if err := r.Reset(ctx, "k"); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Reset after Close: %v, want ErrClosed", err)
	}
}

// releaseBox: a login limit of 1 a minute under a box of 2 denials within
// a minute for an hour. Released, the client's next step is decided (its
// own denial, not the box's), and it takes two more denials to box it
// again: the denials that closed the box are not carried over.
func (h *harness) releaseBox(t *testing.T) {
	s, clock := h.boxer(t)
	rel := s.(storekit.BoxReleaser)
	ctx := context.Background()
	box := core.Box{Key: "box:login:client", Penalty: core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}}
	other := core.Box{Key: "box:login:other", Penalty: box.Penalty}
	tk := core.Take{Key: "login:client", Limit: core.PerMinute(1), Cost: 1}
	otk := core.Take{Key: "login:other", Limit: core.PerMinute(1), Cost: 1}
	closeBox := func(b core.Box, tk core.Take) {
		t.Helper()
		takeBoxed(t, s, b, tk)
		for i := 1; i <= 2; i++ {
			clock.Advance(time.Second)
			_, left := takeBoxed(t, s, b, tk)
			if want := time.Duration(0); i == 2 {
				want = time.Hour
				if !h.near(left, want) {
					t.Fatalf("denial %d of 2: box left %v, want %v", i, left, want)
				}
			} else if left != 0 {
				t.Fatalf("denial %d of 2: box left %v, want none", i, left)
			}
		}
	}
	closeBox(box, tk)
	closeBox(other, otk)
	clock.Advance(time.Second)
	if ds, left := takeBoxed(t, s, box, tk); ds[0].Reason != core.ReasonPenalty || left == 0 {
		t.Fatalf("in the box: %+v, left %v; want ReasonPenalty", ds[0], left)
	}
	if err := rel.ReleaseBox(ctx, box.Key); err != nil {
		t.Fatalf("ReleaseBox: %v", err)
	}
	if err := rel.ReleaseBox(ctx, "box:nobody"); err != nil {
		t.Fatalf("ReleaseBox of a client in no box: %v", err)
	}
	ds, left := takeBoxed(t, s, box, tk)
	if ds[0].Reason != core.ReasonLimited || left != 0 {
		t.Fatalf("the first step after the release: %+v, box left %v; want the limit's own denial and no box", ds[0], left)
	}
	clock.Advance(time.Second)
	if _, left := takeBoxed(t, s, box, tk); !h.near(left, time.Hour) {
		t.Fatalf("the second denial after the release: box left %v, want 1h (two denials counted afresh)", left)
	}
	if ds, _ := takeBoxed(t, s, other, otk); ds[0].Reason != core.ReasonPenalty {
		t.Fatalf("another client's box after the release: %+v, want still ReasonPenalty", ds[0])
	}
}

func (h *harness) releaseBadInput(t *testing.T) {
	s, _ := h.boxer(t)
	rel := s.(storekit.BoxReleaser)
	ctx := context.Background()
	if err := rel.ReleaseBox(ctx, ""); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("ReleaseBox of an empty key: %v, want ErrInvalidKey", err)
	}
	// A box key must leave room for the suffixes a store puts after it, as
	// core.Box.Validate says.
	longest := strings.Repeat("k", core.MaxKeyLen-len("\x00denials"))
	if err := (core.Box{Key: longest, Penalty: core.Penalty{Denials: 1, Within: time.Second, For: time.Second}}).Validate(); err != nil {
		t.Fatalf("the longest box key Box.Validate should take: %v", err)
	}
	if err := rel.ReleaseBox(ctx, longest); err != nil {
		t.Errorf("ReleaseBox of the longest box key: %v, want none", err)
	}
	if err := rel.ReleaseBox(ctx, longest+"k"); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("ReleaseBox of a box key one byte too long: %v, want ErrInvalidKey", err)
	}
	_ = s.Close()
	if err := rel.ReleaseBox(ctx, "box:k"); !errors.Is(err, core.ErrClosed) {
		t.Errorf("ReleaseBox after Close: %v, want ErrClosed", err)
	}
}
