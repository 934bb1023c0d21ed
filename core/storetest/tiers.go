package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// Tiers: one key taken under one limit, then another (a client moving between
// plans, core.Limiter.Tier). The new limit reads the state the old one wrote;
// each algorithm's file in core/storekit says what carries over.

// tierFree, tierPro and tierSlow are the tiers of the scenarios: 10/s, 40/s,
// and 20 per 2s (the free pace with twice its burst and period).
func tierFree(alg core.Algorithm) core.Limit { return core.PerSecond(10).WithAlgorithm(alg) }
func tierPro(alg core.Algorithm) core.Limit  { return core.PerSecond(40).WithAlgorithm(alg) }
func tierSlow(alg core.Algorithm) core.Limit {
	return core.Limit{Rate: 20, Period: 2 * time.Second, Burst: 20, Algorithm: alg}
}

// tierMove is one scenario: cost taken under from at 0, then takes of cost 1
// under to at 100ms, with the outcomes wanted.
type tierMove struct {
	name     string
	from, to func(core.Algorithm) core.Limit
	cost     int64
	first    outcome
	then     []outcome
}

// tierMoves are the scenarios, per algorithm.
var tierMoves = map[core.Algorithm][]tierMove{
	// GCRA carries its debt in time: max(TAT−now, 0). Under tiers of one
	// period with burst = rate, that is the same share of the quota.
	core.GCRA: {
		// 30 of 40 taken at 0: 750ms of debt, 650ms at 100ms; under free
		// (interval 100ms, tolerance 1s) three more fit.
		{"down", tierPro, tierFree, 30, ok(10, 750*ms), []outcome{ok(2, 750*ms), ok(1, 850*ms), ok(0, 950*ms), denied(0, 950*ms, 50*ms)}},
		// 10 of 10: 1s of debt, 900ms at 100ms; under pro (interval 25ms)
		// four more fit.
		{"up", tierFree, tierPro, 10, ok(0, 1000*ms), []outcome{ok(3, 925*ms), ok(2, 950*ms), ok(1, 975*ms), ok(0, 1000*ms), denied(0, 1000*ms, 25*ms)}},
		// Under 20/2s (interval 100ms, tolerance 2s) 900ms of debt leaves 11.
		{"longer period", tierFree, tierSlow, 10, ok(0, 1000*ms), []outcome{ok(10, 1000*ms)}},
	},
	// The token bucket carries the tokens missing, refilled at the new rate
	// from the last write on.
	core.TokenBucket: {
		// 30 missing, one refilled at 10/s by 100ms: 29 missing of a
		// burst of 10, so 20 must come back first: 2s.
		{"down", tierPro, tierFree, 30, ok(10, 750*ms), []outcome{denied(0, 2900*ms, 2000*ms)}},
		// 10 missing, 4 refilled at 40/s: 6 missing of 40.
		{"up", tierFree, tierPro, 10, ok(0, 1000*ms), []outcome{ok(33, 175*ms)}},
		// 10 missing, 1 refilled at 20 per 2s: 9 missing of 20, then 10.
		{"longer period", tierFree, tierSlow, 10, ok(0, 1000*ms), []outcome{ok(10, 1000*ms)}},
	},
	// The fixed window carries its count while the window it counts in is
	// the new limit's.
	core.FixedWindow: {
		{"down", tierPro, tierFree, 30, ok(10, 1000*ms), []outcome{denied(0, 900*ms, 900*ms)}},
		{"up", tierFree, tierPro, 10, ok(0, 1000*ms), []outcome{ok(29, 900*ms)}},
		// [0, 1s) is within the new window [0, 2s): its 10 count there.
		{"longer period", tierFree, tierSlow, 10, ok(0, 1000*ms), []outcome{ok(9, 1900*ms)}},
	},
	// The sliding window counter carries its two counts while their windows
	// are the new limit's.
	core.SlidingWindowCounter: {
		// 30 in this window: the next one starts with 30 weighing until
		// ⌈30×(1−e)⌉ ≤ 9, at e = 0.7: 1.6s from now.
		{"down", tierPro, tierFree, 30, ok(10, 2000*ms), []outcome{denied(0, 1900*ms, 1600*ms)}},
		{"up", tierFree, tierPro, 10, ok(0, 2000*ms), []outcome{ok(29, 1900*ms)}},
		{"longer period", tierFree, tierSlow, 10, ok(0, 2000*ms), []outcome{ok(9, 3900*ms)}},
	},
	// The sliding window log carries every entry, counted under the new
	// limit's period.
	core.SlidingWindowLog: {
		{"down", tierPro, tierFree, 30, ok(10, 1000*ms), []outcome{denied(0, 900*ms, 900*ms)}},
		{"up", tierFree, tierPro, 10, ok(0, 1000*ms), []outcome{ok(29, 1000*ms)}},
		{"longer period", tierFree, tierSlow, 10, ok(0, 1000*ms), []outcome{ok(9, 2000*ms)}},
	},
}

func (h *harness) tierMove(t *testing.T, alg core.Algorithm) {
	for _, m := range tierMoves[alg] {
		t.Run(m.name, func(t *testing.T) {
			s, clock := h.open(t)
			from, to := m.from(alg), m.to(alg)
			h.check(t, fmt.Sprintf("cost %d under %v at 0", m.cost, from), from, take(t, s, "k", from, m.cost), m.first)
			clock.Set(start.Add(100 * ms))
			for i, want := range m.then {
				h.check(t, fmt.Sprintf("take %d under %v at 100ms", i+1, to), to, take(t, s, "k", to, 1), want)
			}
		})
	}
}

// tierBound checks the promise tiers make: from the instant a key moves to
// another limit, it admits no more than a key never used would under that
// limit. A greedy client (every 30ms it sends until denied) on the moved key
// and on a fresh one, over four seconds after the move: the moved key's
// admissions never run ahead of the fresh key's.
func (h *harness) tierBound(t *testing.T, alg core.Algorithm) {
	pairs := []struct {
		name     string
		from, to func(core.Algorithm) core.Limit
	}{
		{"pro to free", tierPro, tierFree},
		{"free to pro", tierFree, tierPro},
		{"free to 20/2s", tierFree, tierSlow},
		{"20/2s to free", tierSlow, tierFree},
		{"pro to 20/2s", tierPro, tierSlow},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			s, clock := h.open(t)
			from, to := p.from(alg), p.to(alg)
			greedy := func(key string, l core.Limit) int {
				n := 0
				for take(t, s, key, l, 1).Allowed {
					if n++; n > 1000 {
						t.Fatalf("%s: over 1000 admitted at once: runaway", key)
					}
				}
				return n
			}
			// Spend the old tier at 0 and 250ms, then move at 350ms.
			greedy("moved", from)
			clock.Set(start.Add(250 * ms))
			greedy("moved", from)
			var moved, fresh int
			for at := 350 * ms; at < 4350*ms; at += 30 * ms {
				clock.Set(start.Add(at))
				moved += greedy("moved", to)
				fresh += greedy("fresh", to)
				if moved > fresh {
					t.Fatalf("at %v the moved key has %d admitted since the move, a fresh key %d", at, moved, fresh)
				}
			}
			if moved == 0 {
				t.Errorf("the moved key admitted nothing in 4s under %v", to)
			}
		})
	}
}
