package storekit

import "github.com/tollgate-go/tollgate/core"

// Sliding window log state: Log is a ring of the instants of admitted events
// in ascending order (an event of cost n is n entries), A the index of the
// oldest entry and B the number of entries. An entry at instant ts counts
// while now − ts < Period. A request of cost n is admitted when the entries
// that count plus n are at most Rate; a denied one waits until enough of the
// oldest entries age out. Once allocated, the ring holds exactly Rate entries.
//
// C counts the newest entries that are debt (Settle): an entry renewed to
// the instant its slot frees, Period after its old time, so stamped in the
// future when written. They are at the end of the ring; the next admitted
// take, which comes only once they are past, ends the count. While there
// are any, the newest entry says nothing about the clock, so it is not
// taken for a clock stepped back.
//
// Under another limit (a tier change) every entry carries over, counted over
// the new Period: a key with more live entries than the new Rate is denied
// until enough age out, and the ring is resized to the new Rate on the next
// admitted take (which fits in it, or it would have been denied).
func takeSlidingLog(s *State, now int64, l core.Limit, cost int64) core.Decision {
	period, rate := int64(l.Period), l.Rate
	n := int64(len(s.Log))
	at := func(i int64) int64 { return s.Log[(s.A+i)%n] } // i-th oldest entry

	t, skew := now, int64(0)
	var newest int64
	if s.B > 0 {
		newest = at(s.B - 1)
		if t < newest && s.C == 0 {
			t, skew = newest, newest-now
		}
	}
	var expired int64
	for expired < s.B && at(expired) <= t-period {
		expired++
	}
	used := s.B - expired
	reset := int64(0)
	if used > 0 {
		reset = newest + period - t + skew
	}

	if cost > rate {
		return tooCostly(l, rate-used, reset)
	}
	probe := max(cost, 1)
	if over := used + probe - rate; over > 0 {
		// The over-th oldest live entry must age out first.
		return verdict(l, false, rate-used, reset, at(expired+over-1)+period-t+skew)
	}
	if cost == 0 {
		return verdict(l, true, rate-used, reset, 0)
	}
	if n != rate {
		// First use, or the limit's rate changed: move the live entries
		// into a ring of the right size.
		ring := make([]int64, rate)
		for i := int64(0); i < used; i++ {
			ring[i] = at(expired + i)
		}
		s.Log, s.A, n = ring, 0, rate
	} else {
		s.A = (s.A + expired) % n
	}
	s.B, s.C = used, 0
	for i := int64(0); i < cost; i++ {
		s.Log[(s.A+s.B)%n] = t
		s.B++
	}
	return verdict(l, true, rate-s.B, period+skew, 0)
}
