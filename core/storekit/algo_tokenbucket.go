package storekit

import (
	"math"
	"math/bits"

	"github.com/tollgate-go/tollgate/core"
)

// Token bucket state: A is the deficit, how far the bucket is below full,
// B the instant it was last written and C the Period it was written under
// (0 in state written before C was kept: read as the current Period). The deficit is kept in units where
// one token is Period units and the bucket refills Rate units per nanosecond,
// so refill is exact integer arithmetic with no rounded interval: capacity is
// Burst×Period, a request of cost n needs n×Period, and a deficit D is
// refilled after ⌈D/Rate⌉ nanoseconds. The zero state is a full bucket.
//
// For the same Limit it admits exactly what GCRA admits (they are the same
// meter, seen from opposite ends) whenever Period/Rate is a whole number of
// nanoseconds; otherwise it is the more exact of the two by under a
// nanosecond per event.
//
// Under a limit of another Period than C (a key moving between tiers), the
// tokens missing carry over: the deficit becomes D×Period/C, rounded up,
// as of the last write, and refills at the new rate from then on. A key
// short of more tokens than the new burst waits until they are refilled.
func takeTokenBucket(s *State, now int64, l core.Limit, cost int64) core.Decision {
	period, rate, burst := int64(l.Period), l.Rate, l.EffectiveBurst()
	capacity := burst * period
	deficit, t, skew := tokenDeficit(s, now, l)
	left := func(d int64) int64 { return (capacity - d) / period }
	refill := func(d int64) int64 { return ceilDiv(d, rate) + skew }

	if cost > burst {
		return tooCostly(l, left(deficit), refill(deficit))
	}
	probe := max(cost, 1)
	if over := deficit + probe*period - capacity; over > 0 {
		return verdict(l, false, left(deficit), refill(deficit), ceilDiv(over, rate)+skew)
	}
	if cost == 0 {
		return verdict(l, true, left(deficit), refill(deficit), 0)
	}
	deficit += cost * period
	s.A, s.B, s.C = deficit, t, period
	return verdict(l, true, left(deficit), refill(deficit), 0)
}

// tokenDeficit returns the key's deficit at now, refilled since the last
// write and in the units of l's Period, with the instant it is taken at:
// now, or the last write's instant when the clock stepped back behind it,
// skew being the difference, which refills nothing and adds to every wait.
func tokenDeficit(s *State, now int64, l core.Limit) (deficit, t, skew int64) {
	period, rate := int64(l.Period), l.Rate
	t = now
	if t < s.B {
		t, skew = s.B, s.B-now
	}
	deficit = s.A
	if s.C != 0 && s.C != period && deficit > 0 {
		deficit = rescale(deficit, period, s.C)
	}
	if deficit > 0 {
		if elapsed := t - s.B; elapsed >= ceilDiv(deficit, rate) {
			deficit = 0
		} else {
			deficit -= elapsed * rate // elapsed×rate < deficit+rate: no overflow
		}
	}
	return deficit, t, skew
}

// rescale returns ⌈d×to/from⌉ for d, to, from > 0, saturating at half the
// int64 range so that the deficit plus a cost never overflows.
func rescale(d, to, from int64) int64 {
	const most = math.MaxInt64 / 2
	hi, lo := bits.Mul64(uint64(d), uint64(to))
	if hi >= uint64(from) {
		return most
	}
	q, r := bits.Div64(hi, lo, uint64(from))
	if r != 0 {
		q++
	}
	return int64(min(q, most))
}
