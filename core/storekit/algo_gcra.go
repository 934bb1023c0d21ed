package storekit

import "github.com/tollgate-go/tollgate/core"

// GCRA state: A is the theoretical arrival time (TAT), the instant at which
// the key's bucket would be empty again if nothing more were admitted.
//
// With interval T = Period/Rate (rounded up) and tolerance τ = Burst×T, a
// request of cost n at instant t is admitted when
//
//	max(TAT, t) + n×T − t ≤ τ
//
// and then TAT becomes max(TAT, t) + n×T. "used" below is max(TAT, t) − t,
// the part of τ taken: Remaining is ⌊(τ − used)/T⌋, ResetAfter is used, and a
// denied request may retry after used + n×T − τ.
//
// Under another limit (a tier change) the debt carries over in time: used
// is measured against the new τ. With tiers of one period and burst = rate
// (τ = Period), that is the same share of the quota.
func takeGCRA(s *State, now int64, l core.Limit, cost int64) (d core.Decision) {
	t := int64(l.Interval())
	burst := l.EffectiveBurst()
	gcra(&d, s, now, l, cost, t, burst, burst*t, &divisor{d: t})
	return d
}

// gcra is takeGCRA with the limit's interval t, burst and tolerance tau,
// and a divisor by t, given (Prepared computes them once), writing the
// decision into *d (a decision returned through several calls is copied
// at each).
func gcra(d *core.Decision, s *State, now int64, l core.Limit, cost, t, burst, tau int64, per *divisor) {
	used := max(s.A-now, 0)
	left := func(used int64) int64 { return per.div(tau - used) } // floor; negative only after a backwards clock step

	if cost > burst {
		*d = tooCostly(l, left(used), used)
		return
	}
	probe := max(cost, 1)
	after := satAdd(used, probe*t)
	if after > tau {
		verdictTo(d, l, false, left(used), used, after-tau)
		return
	}
	if cost == 0 {
		verdictTo(d, l, true, left(used), used, 0)
		return
	}
	s.A = now + after
	verdictTo(d, l, true, left(after), after, 0)
}
