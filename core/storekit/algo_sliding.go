package storekit

import (
	"math/bits"

	"github.com/tollgate-go/tollgate/core"
)

// Sliding window counter state: A is the start of the current fixed window,
// B the count admitted in it and C the count of the window before it.
//
// At offset e into the current window, the sliding window of one Period
// still overlaps (Period − e)/Period of the previous window, so the estimate
// of events in the last Period is
//
//	used = ⌈prev × (Period − e) / Period⌉ + cur
//
// (rounded up, so the estimate never undercounts) and a request of cost n is
// admitted when used + n ≤ Rate. Products are taken in 128 bits.
//
// Under another limit (a tier change) both counts carry over while their
// windows are the new limit's; otherwise they start afresh.
func takeSlidingCounter(s *State, now int64, l core.Limit, cost int64) core.Decision {
	period, rate := int64(l.Period), l.Rate
	t, skew := now, int64(0)
	if t < s.A {
		t, skew = s.A, s.A-now
	}
	w := floorDiv(t, period) * period
	var cur, prev int64
	switch s.A {
	case w:
		cur, prev = s.B, s.C
	case w - period:
		prev = s.B
	}
	e := t - w
	used := cur + mulDivCeil(prev, period-e, period)
	reset := func(cur int64) int64 {
		switch {
		case cur > 0:
			return w + 2*period - t + skew
		case prev > 0:
			return w + period - t + skew
		}
		return 0
	}

	if cost > rate {
		return tooCostly(l, rate-used, reset(cur))
	}
	probe := max(cost, 1)
	if used+probe > rate {
		return verdict(l, false, rate-used, reset(cur), slidingWait(probe, rate, period, cur, prev, e)+skew)
	}
	if cost == 0 {
		return verdict(l, true, rate-used, reset(cur), 0)
	}
	cur += cost
	s.A, s.B, s.C = w, cur, prev
	return verdict(l, true, rate-used-cost, reset(cur), 0)
}

// slidingWait returns how long from offset e a request of cost n (≤ rate)
// waits until ⌈prev×(P−e')/P⌉ + cur + n ≤ rate, given that it does not fit at e.
func slidingWait(n, rate, period, cur, prev, e int64) int64 {
	// Later in this window: prev's weight falls; cur stays.
	if k := rate - n - cur; k >= 0 && prev > k {
		// ⌈prev×(P−e')/P⌉ ≤ k  ⇔  P−e' ≤ ⌊k×P/prev⌋
		return period - mulDivFloor(k, period, prev) - e
	}
	// In the next window cur becomes the previous count and nothing is new.
	k := rate - n
	if cur <= k {
		return period - e
	}
	return period - e + period - mulDivFloor(k, period, cur)
}

// mulDivCeil returns ⌈a×b/c⌉ for 0 ≤ a, 0 ≤ b ≤ c, c > 0.
func mulDivCeil(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, r := bits.Div64(hi, lo, uint64(c))
	if r != 0 {
		q++
	}
	return int64(q)
}

// mulDivFloor returns ⌊a×b/c⌋ for 0 ≤ a < c, 0 ≤ b.
func mulDivFloor(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
