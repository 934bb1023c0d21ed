package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// settles runs the scenarios of a storekit.Settler (a cost known after the
// response), and skips a store that is not one.
func (h *harness) settles(t *testing.T) {
	probe, _ := h.open(t)
	if _, ok := probe.(storekit.Settler); !ok {
		t.Skipf("%T settles no costs", probe)
	}
	open := func(t *testing.T) (storekit.Settler, core.Store, *core.ManualClock) {
		s, clock := h.open(t)
		return s.(storekit.Settler), s, clock
	}
	for _, alg := range h.cfg.algorithms {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			t.Run("takes and settlements decide as storekit's", func(t *testing.T) {
				st, s, clock := open(t)
				h.settleModel(t, st, s, clock, alg)
			})
			t.Run("an overdraft is paid off before more is admitted", func(t *testing.T) {
				st, s, clock := open(t)
				h.overdraft(t, st, s, clock, alg)
			})
			t.Run("a refund gives back what was reserved", func(t *testing.T) {
				st, s, _ := open(t)
				h.refund(t, st, s, alg)
			})
		})
	}
	t.Run("bad input is an error", func(t *testing.T) {
		st, s, _ := open(t)
		l := core.PerSecond(10)
		ctx := context.Background()
		for _, c := range []struct {
			name   string
			key    string
			l      core.Limit
			delta  int64
			target error
		}{
			{"empty key", "", l, 1, core.ErrInvalidKey},
			{"charge over the burst", "k", l, 11, core.ErrInvalidCost},
			{"refund over the burst", "k", l, -11, core.ErrInvalidCost},
			{"invalid limit", "k", core.Limit{Period: time.Second}, 1, core.ErrInvalidLimit},
		} {
			if _, err := st.Settle(ctx, c.key, c.l, c.delta); !errors.Is(err, c.target) {
				t.Errorf("%s: error %v, want one matching %v", c.name, err, c.target)
			}
		}
		if d := take(t, s, "k", l, 0); d.Remaining != 10 {
			t.Errorf("after refused settlements the key has %d left, want 10 (nothing charged)", d.Remaining)
		}
		_ = s.Close()
		if _, err := st.Settle(ctx, "k", l, 1); err == nil {
			t.Error("Settle after Close succeeded, want an error")
		}
	})
}

// settleModel runs a random sequence of takes, settlements and clock steps
// on one key, and checks every decision against storekit's Apply and
// Settle run on a State of its own: the store's twin of the model, in Go
// or in Lua, must agree with it to the store's resolution.
func (h *harness) settleModel(t *testing.T, st storekit.Settler, s core.Store, clock *core.ManualClock, alg core.Algorithm) {
	l := limit10(alg)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(alg)+1, modelSeed))
	var model storekit.State
	now := start
	for i := uint64(0); i < modelSteps; i++ {
		var what string
		var got, want core.Decision
		var err error
		switch op := rng.IntN(10); {
		case op < 4:
			cost := rng.Int64N(4)
			what = fmt.Sprintf("step %d: take %d", i, cost)
			want = storekit.Apply(&model, now.UnixNano(), l, cost)
			got, err = s.Take(ctx, "k", l, cost)
		case op < 8:
			delta := rng.Int64N(2*l.EffectiveBurst()+1) - l.EffectiveBurst()
			what = fmt.Sprintf("step %d: settle %+d", i, delta)
			want = storekit.Settle(&model, now.UnixNano(), l, delta)
			got, err = st.Settle(ctx, "k", l, delta)
		default:
			now = now.Add(time.Duration(rng.IntN(400)) * ms)
			clock.Set(now)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		h.check(t, what, l, got, outcomeOf(want))
		if t.Failed() {
			t.Logf("the model's state after it: %+v, at start+%v", model, now.Sub(start))
			return
		}
	}
}

// modelSeed and modelSteps shape settleModel's sequence (variables, so a
// store's author can run longer ones from a test of their own package).
var modelSeed, modelSteps uint64 = 7, 400

func outcomeOf(d core.Decision) outcome {
	return outcome{allowed: d.Allowed, reason: d.Reason, remaining: d.Remaining, reset: d.ResetAfter, retry: d.RetryAfter}
}

// overdraft: a request reserved at 1 costs 25 (a burst of 10 charged
// past what is left, and kept up to one burst of debt): the key is then
// denied until the debt is paid, and a greedy client charged this way for
// 20 periods gets no more than its quota of them plus two bursts.
func (h *harness) overdraft(t *testing.T, st storekit.Settler, s core.Store, clock *core.ManualClock, alg core.Algorithm) {
	l := limit10(alg)
	ctx := context.Background()
	if d := take(t, s, "k", l, 1); !d.Allowed {
		t.Fatal("first take denied")
	}
	d, err := st.Settle(ctx, "k", l, 9) // real cost 10: the whole burst
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("after a cost of the whole burst: %+v, want denied with nothing left", d)
	}
	if d, err = st.Settle(ctx, "k", l, 10); err != nil { // and ten more: debt
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter < 900*ms {
		t.Fatalf("in debt: %+v, want denied for at least 900ms (the debt is paid before anything more)", d)
	}
	// A greedy client: every 10ms it takes 1 and settles at 3.
	charged, admitted := int64(0), 0
	now := start
	for now.Before(start.Add(20 * time.Second)) {
		now = now.Add(10 * ms)
		clock.Set(now)
		if d := take(t, s, "g", l, 1); d.Allowed {
			if _, err := st.Settle(ctx, "g", l, 2); err != nil {
				t.Fatal(err)
			}
			charged += 3
			admitted++
		}
	}
	// 20 periods of 10, plus the first burst, plus one burst of debt left
	// unpaid at the end (the fixed window may also start its first
	// window full and end its last one owing).
	if most := int64(20*10 + 2*10); charged > most {
		t.Errorf("%d charged over 20 periods of 10/s (%d requests at 3), want at most %d", charged, admitted, most)
	}
	// Nothing within the ceiling is forgiven: the client gets about its
	// quota, not three times it.
	if least := int64(20*10 - 2*10); charged < least {
		t.Errorf("%d charged over 20 periods of 10/s, want at least %d (debt kept within the ceiling is paid, not lost)", charged, least)
	}
}

// refund: a request reserved at 5 that cost 1 leaves the key as a take of
// 1 would.
func (h *harness) refund(t *testing.T, st storekit.Settler, s core.Store, alg core.Algorithm) {
	l := limit10(alg)
	ctx := context.Background()
	take(t, s, "a", l, 5)
	d, err := st.Settle(ctx, "a", l, -4)
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != 9 || !d.Allowed {
		t.Errorf("reserved 5, settled at 1: %+v, want 9 left", d)
	}
	// A refund never gives more than was taken: settling a fresh key
	// back leaves it fresh, not with credit.
	d, err = st.Settle(ctx, "b", l, -5)
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != 10 {
		t.Errorf("refund on a fresh key: %d left, want 10", d.Remaining)
	}
	if d := take(t, s, "b", l, 10); !d.Allowed {
		t.Errorf("after a refund on a fresh key a take of the burst was denied: %+v", d)
	}
	if d := take(t, s, "b", l, 1); d.Allowed {
		t.Errorf("a refund on a fresh key gave credit: an 11th request admitted")
	}
}
