package storekit

import (
	"math/bits"

	"github.com/tollgate-go/tollgate/core"
)

// Prepared is a limit made ready for many decisions: validated once, with
// what Apply computes from the limit alone (GCRA's emission interval and
// tolerance, and a reciprocal that replaces its division) computed once. A
// store that decides many times under one limit (a core.Limiter's, through
// PreparedTaker) keeps one. Its zero value is not valid: make one with
// Prepare.
type Prepared struct {
	limit    core.Limit
	burst    int64
	interval int64 // GCRA: Period/Rate, rounded up
	tau      int64 // GCRA: burst × interval
	per      divisor
}

// Prepare validates l (as core.Limit.Validate) and returns it prepared.
func Prepare(l core.Limit) (*Prepared, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	p := &Prepared{limit: l, burst: l.EffectiveBurst()}
	if l.Algorithm == core.GCRA {
		p.interval = int64(l.Interval())
		p.tau = p.burst * p.interval
		p.per = newDivisor(p.interval)
	}
	return p, nil
}

// Limit returns the limit p was prepared from.
func (p *Prepared) Limit() core.Limit { return p.limit }

// Apply is Apply(s, now, p.Limit(), cost), the same transition and the same
// decision, computed with what p prepared.
func (p *Prepared) Apply(s *State, now int64, cost int64) (d core.Decision) {
	p.ApplyTo(&d, s, now, cost)
	return d
}

// ApplyTo is Apply writing the decision into *d, which it overwrites whole:
// a store that returns the decision through several calls saves a copy of
// it at each.
func (p *Prepared) ApplyTo(d *core.Decision, s *State, now int64, cost int64) {
	if p.limit.Algorithm == core.GCRA {
		gcra(d, s, now, p.limit, cost, p.interval, p.burst, p.tau, &p.per)
		return
	}
	*d = Apply(s, now, p.limit, cost)
}

// divisor divides by d ≥ 1: by a multiplication with m = ⌊2^64/d⌋ when m
// is set, which costs a few cycles where a 64-bit division costs tens.
// For 0 ≤ n < 2^63 the high word of n·m is ⌊n/d⌋ or one less (m ≤ 2^64/d
// < m+1, and n < 2^64), so one comparison corrects it. Without m (d = 1,
// or a divisor made for one division) it divides.
type divisor struct {
	d int64
	m uint64
}

func newDivisor(d int64) divisor {
	if d <= 1 {
		return divisor{d: d}
	}
	m, _ := bits.Div64(1, 0, uint64(d))
	return divisor{d: d, m: m}
}

// div returns n/d, rounded towards zero as Go's division.
func (v *divisor) div(n int64) int64 {
	if v.m == 0 || n < 0 {
		return n / v.d
	}
	q, _ := bits.Mul64(uint64(n), v.m)
	if uint64(n)-q*uint64(v.d) >= uint64(v.d) {
		q++
	}
	return int64(q)
}
