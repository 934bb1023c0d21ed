package storekit

import "github.com/tollgate-go/tollgate/core"

// Fixed window state: A is the start of the window whose admissions B counts.
// Windows are [k×Period, (k+1)×Period) in Unix time, so every store and every
// instance agrees on where they begin. A request of cost n is admitted when
// count + n ≤ Rate; a denied one may retry when the window ends.
//
// Under another limit (a tier change) the count carries over while the
// window it counts in is the new limit's (same period, or a longer one that
// holds it); otherwise counting starts afresh in the new window.
func takeFixedWindow(s *State, now int64, l core.Limit, cost int64) core.Decision {
	period, rate := int64(l.Period), l.Rate
	w := floorDiv(now, period) * period
	count := s.B
	switch {
	case s.A < w:
		count = 0
	case s.A > w:
		// The clock stepped back into an earlier window: keep counting in
		// the recorded one rather than open a fresh window.
		w = s.A
	}
	until := w + period - now
	reset := func(count int64) int64 {
		if count == 0 {
			return 0
		}
		return until
	}

	if cost > rate {
		return tooCostly(l, rate-count, reset(count))
	}
	if count+max(cost, 1) > rate {
		return verdict(l, false, rate-count, reset(count), until)
	}
	if cost == 0 {
		return verdict(l, true, rate-count, reset(count), 0)
	}
	count += cost
	s.A, s.B = w, count
	return verdict(l, true, rate-count, until, 0)
}
