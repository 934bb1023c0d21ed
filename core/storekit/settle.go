package storekit

import (
	"strconv"

	"github.com/tollgate-go/tollgate/core"
)

// Settle is the state transition of a settlement (Settler): the cost a
// request was admitted at was an estimate, and delta is what its real cost
// differs by. A positive delta is charged whatever is left, so the key may
// end in debt, which it pays off before anything more is admitted; a
// negative one gives -delta back. Like Apply, it takes a key's state, the
// current instant and a valid limit, updates the state in place, and
// depends on nothing but its arguments; |delta| must be at most the
// limit's burst (CheckSettle). It returns what a peek (Apply with cost 0)
// decides after it.
//
// How far a key may go into debt, and how it pays, differs per algorithm.
// Every algorithm keeps at most one burst of debt: a charge beyond that is
// forgiven, so that one response can never lock a key out for more than
// about one Period after the usual wait. Within the ceiling nothing is
// forgiven: over any run of windows, what was charged never exceeds the
// quota of those windows plus the debt still unpaid at the end.
//
//	algorithm        debt kept as                 at most        paid off
//	GCRA             the arrival time pushed on    2×burst used   as time passes, one interval per unit
//	token bucket     a deficit past empty          2×burst used   by the refill, Rate per Period
//	fixed window     a carry into the next window  Rate           the next window starts with it counted
//	sliding counter  the next window's count       Rate           the next window starts with it counted
//	sliding log      the oldest entries renewed    a full log     as the renewed entries age out
//
// A refund (delta < 0) gives back only what the state can still show was
// reserved, never more, so it never admits more than the real costs allow:
// GCRA and the token bucket move back by -delta units (never past a full
// bucket); the window counters take it off the window the reservation could
// have been counted in while that window still counts (the sliding counter
// from the previous window's count first, which weighs less); the sliding
// log drops its -delta oldest live entries, the ones that would expire
// first anyway. A refund after the window has passed gives nothing back.
func Settle(s *State, now int64, l core.Limit, delta int64) core.Decision {
	switch {
	case delta == 0:
	case l.Algorithm == core.TokenBucket:
		settleTokenBucket(s, now, l, delta)
	case l.Algorithm == core.FixedWindow:
		settleFixedWindow(s, now, l, delta)
	case l.Algorithm == core.SlidingWindowCounter:
		settleSlidingCounter(s, now, l, delta)
	case l.Algorithm == core.SlidingWindowLog:
		settleSlidingLog(s, now, l, delta)
	default:
		settleGCRA(s, now, l, delta)
	}
	return Apply(s, now, l, 0)
}

// CheckSettle validates the arguments of a Settler's Settle, so every store
// rejects the same input with the same errors: the key and the limit as
// CheckTake checks them, and a delta larger than the limit's burst either
// way (core.ErrInvalidCost), which core.Limiter.Settle never sends.
func CheckSettle(key string, l core.Limit, delta int64) error {
	if err := CheckTake(key, l, 0); err != nil {
		return err
	}
	if b := l.EffectiveBurst(); delta > b || delta < -b {
		return &inputError{core.ErrInvalidCost, "settlement " + strconv.FormatInt(delta, 10) + " is larger than the burst " + strconv.FormatInt(b, 10)}
	}
	return nil
}

func settleGCRA(s *State, now int64, l core.Limit, delta int64) {
	t := int64(l.Interval())
	tau := l.EffectiveBurst() * t
	used := max(s.A-now, 0)
	if delta > 0 {
		s.A = now + max(used, min(satAdd(used, delta*t), satAdd(tau, tau)))
	} else if used > 0 {
		s.A = now + max(used+delta*t, 0)
	}
}

func settleTokenBucket(s *State, now int64, l core.Limit, delta int64) {
	period := int64(l.Period)
	capacity := l.EffectiveBurst() * period
	deficit, t, _ := tokenDeficit(s, now, l)
	if delta > 0 {
		deficit = max(deficit, min(satAdd(deficit, delta*period), satAdd(capacity, capacity)))
	} else {
		deficit = max(deficit+delta*period, 0)
	}
	s.A, s.B, s.C = deficit, t, period
}

func settleFixedWindow(s *State, now int64, l core.Limit, delta int64) {
	rate := l.Rate
	w, count, carry := fixedWindowOf(s, now, l)
	if delta > 0 {
		c := count + delta
		// Only what this charge pushes past the quota is carried: a count
		// already past it (a key moved to a smaller tier) carries nothing.
		if over := c - max(rate, count); over > 0 {
			carry = min(carry+over, rate)
			c -= over
		}
		count = c
	} else {
		if s.A < w {
			return // the reservation's window has passed: nothing to give back
		}
		count = max(count+delta, 0)
	}
	s.A, s.B, s.C = w, count, carry
}

func settleSlidingCounter(s *State, now int64, l core.Limit, delta int64) {
	period, rate := int64(l.Period), l.Rate
	t := max(now, s.A)
	w := floorDiv(t, period) * period
	var cur, prev int64
	switch s.A {
	case w:
		cur, prev = s.B, s.C
	case w - period:
		prev = s.B
	default:
		if delta < 0 {
			return // the reservation's windows have passed
		}
	}
	if delta < 0 {
		back := -delta
		if s.A == w {
			// The previous window's count first: it weighs less.
			from := min(prev, back)
			prev, back = prev-from, back-from
			cur = max(cur-back, 0)
		} else {
			prev = max(prev-back, 0)
		}
		if cur == 0 && prev == 0 {
			w = 0 // nothing left: a fresh key (and no window ahead kept)
		}
		s.A, s.B, s.C = w, cur, prev
		return
	}
	cur += delta
	if over := cur - max(rate, cur-delta); over > 0 {
		if w > floorDiv(now, period)*period {
			// Already a window ahead: the ceiling, nothing more is kept.
			cur -= over
		} else {
			// The window ends full, and the next starts with the debt
			// counted: the state moves on to it, and until then it is
			// read there, as for a clock stepped back.
			s.A, s.B, s.C = w+period, min(over, rate), cur-over
			return
		}
	}
	s.A, s.B, s.C = w, cur, prev
}

func settleSlidingLog(s *State, now int64, l core.Limit, delta int64) {
	period, rate := int64(l.Period), l.Rate
	n := int64(len(s.Log))
	at := func(i int64) int64 { return s.Log[(s.A+i)%n] }
	t := now
	if s.B > 0 && s.C == 0 {
		t = max(t, at(s.B-1))
	}
	var expired int64
	for expired < s.B && at(expired) <= t-period {
		expired++
	}
	used := s.B - expired
	if n > 0 {
		s.A = (s.A + expired) % n
	}
	s.B, s.C = used, min(s.C, used)
	if delta < 0 {
		back := -delta
		// Debt first, newest first: a renewed entry goes back to its old
		// time (if that still counts), the exact inverse of the renewal.
		for ; back > 0 && s.C > 0; back-- {
			x := at(s.B - 1)
			s.B--
			s.C--
			if x-period > t-period {
				s.A = (s.A + n - 1) % n
				s.Log[s.A] = x - period
				s.B++
			}
		}
		drop := min(back, s.B)
		if drop > 0 {
			s.A = (s.A + drop) % n
			s.B -= drop
			s.C = min(s.C, s.B)
		}
		return
	}
	if size := max(used, rate); n != size {
		// A ring of the limit's size (or larger, holding every live entry
		// of a key moved to a smaller tier): the entries move into it.
		ring := make([]int64, size)
		for i := int64(0); i < used; i++ {
			ring[i] = at(i)
		}
		s.Log, s.A, n = ring, 0, size
	}
	for i := int64(0); i < delta; i++ {
		if s.B < rate {
			// Room in the window: an entry now, as a take of 1 writes
			// (while debt is kept the ring is full; should a tier change
			// have left room, the entry goes after the debt, as debt).
			stamp := t
			if s.C > 0 {
				stamp = max(t, at(s.B-1))
			}
			s.Log[(s.A+s.B)%n] = stamp
			s.B++
			if stamp > t {
				s.C++
			} else {
				s.C = 0
			}
			continue
		}
		old := at(0)
		if old > t {
			break // every entry is debt already: the ceiling, one full log
		}
		// The oldest slot, once it frees at old+Period, is taken for one
		// Period more.
		s.A = (s.A + 1) % n
		s.Log[(s.A+s.B-1)%n] = old + period
		s.C++
	}
}
