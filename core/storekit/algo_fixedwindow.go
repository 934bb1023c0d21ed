package storekit

import "github.com/tollgate-go/tollgate/core"

// Fixed window state: A is the start of the window whose admissions B counts,
// and C what the window carries into the next one: debt a settlement
// charged past the quota (Settle), which the next window starts counted
// with. Windows are [k×Period, (k+1)×Period) in Unix time, so every store
// and every instance agrees on where they begin. A request of cost n is
// admitted when count + n ≤ Rate; a denied one may retry when the window
// ends (or the next one, when the key carries debt into it).
//
// Under another limit (a tier change) the count carries over while the
// window it counts in is the new limit's (same period, or a longer one that
// holds it); otherwise counting starts afresh in the new window.
func takeFixedWindow(s *State, now int64, l core.Limit, cost int64) core.Decision {
	period, rate := int64(l.Period), l.Rate
	w, count, carry := fixedWindowOf(s, now, l)
	until := w + period - now
	reset := func(count int64) int64 {
		switch {
		case carry > 0:
			return until + period
		case count == 0:
			return 0
		}
		return until
	}
	if cost > rate {
		return tooCostly(l, rate-count, reset(count))
	}
	if count+max(cost, 1) > rate {
		wait := until
		if carry+max(cost, 1) > rate {
			wait += period // the next window opens with the debt counted
		}
		return verdict(l, false, rate-count, reset(count), wait)
	}
	if cost == 0 {
		return verdict(l, true, rate-count, reset(count), 0)
	}
	count += cost
	s.A, s.B, s.C = w, count, carry
	return verdict(l, true, rate-count, max(until, reset(count)), 0)
}

// fixedWindowOf returns the window now is in (or the later one recorded, if
// the clock stepped back), its count and what it carries into the next: a
// key last written in the window before starts with the debt that window
// carried (at most Rate), one written earlier afresh.
func fixedWindowOf(s *State, now int64, l core.Limit) (w, count, carry int64) {
	period := int64(l.Period)
	w = floorDiv(now, period) * period
	switch {
	case s.A == w:
		return w, s.B, s.C
	case s.A > w:
		// The clock stepped back into an earlier window: keep counting in
		// the recorded one rather than open a fresh window.
		return s.A, s.B, s.C
	case s.A == w-period && s.C > 0:
		return w, min(s.C, l.Rate), 0
	}
	return w, 0, 0
}
