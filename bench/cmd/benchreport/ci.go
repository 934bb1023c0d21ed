package main

import (
	"fmt"
	"math"
	"slices"
)

// The headline decides each goal from rounds. run.sh runs every benchmark
// once per round, round after round, so the i-th run of two benchmarks
// were measured within a minute of each other, under the same load from
// the rest of the machine. A goal's statistic is computed per round (the
// ratio or difference of the two runs of round i), and its median gets a
// confidence interval by order statistics: the method benchstat uses,
// which assumes nothing about how the rounds are distributed.
const (
	confidence = 0.95 // of every interval on the page
	minRounds  = 10   // fewer rounds decide nothing
)

// interval is the median of a sample and a confidence interval for the
// median it was drawn from. lo is -Inf or hi +Inf when the sample is too
// small for the confidence asked (fewer than 6 values at 95%).
type interval struct {
	median, lo, hi float64
	n              int
}

// medianCI returns xs's median and its confidence interval.
//
// The k-th smallest of n values lies below the true median when at least
// k values do, and the number of values below the median is Binomial(n,
// ½). So the interval between the l-th and r-th smallest values holds the
// median with probability P(l ≤ K < r). Starting from the most likely K,
// the band [l, r) grows by whichever neighbour is more likely (the lower
// on a tie, as benchstat does) until it holds the confidence asked.
// benchstat (go-moremath's QuantileCI) sums the same probabilities up to
// 30 values and uses a normal approximation above; here they are summed
// at every n, exact, which can move a bound by one value above 30.
func medianCI(xs []float64, confidence float64) interval {
	n := len(xs)
	if n == 0 {
		return interval{median: math.NaN(), lo: math.Inf(-1), hi: math.Inf(1)}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	iv := interval{median: s[n/2], n: n}
	if n%2 == 0 {
		iv.median = (s[n/2-1] + s[n/2]) / 2
	}
	l, r := medianOrders(n, confidence)
	iv.lo, iv.hi = math.Inf(-1), math.Inf(1)
	if l >= 1 {
		iv.lo = s[l-1]
	}
	if r <= n {
		iv.hi = s[r-1]
	}
	return iv
}

// medianOrders returns the 1-based order statistics (l-th and r-th
// smallest of n) bounding the median's interval; l == 0 and r == n+1
// stand for -Inf and +Inf.
func medianOrders(n int, confidence float64) (l, r int) {
	// P(K = k) for K ~ Binomial(n, ½): C(n, k) / 2ⁿ. The sum of the two
	// log-gammas is the same for k and n-k, so ties are exact.
	lgn, _ := math.Lgamma(float64(n + 1))
	pmf := func(k int) float64 {
		if k < 0 || k > n {
			return 0
		}
		a, _ := math.Lgamma(float64(k + 1))
		b, _ := math.Lgamma(float64(n - k + 1))
		return math.Exp(lgn - (a + b) - float64(n)*math.Ln2)
	}
	x := n / 2 // the mode; the lower of two when n is odd
	l, r = x, x+1
	sum := pmf(x)
	lp, rp := pmf(l-1), pmf(r)
	for sum < confidence && (lp > 0 || rp > 0) {
		if lp >= rp {
			sum += lp
			l--
			lp = pmf(l - 1)
		} else {
			sum += rp
			r++
			rp = pmf(r)
		}
	}
	return l, r
}

// paired applies f to the runs of a and b from the same round: the first
// min(len(a), len(b)) of each, in order.
func paired(a, b []float64, f func(a, b float64) float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, n)
	for i := range n {
		out[i] = f(a[i], b[i])
	}
	return out
}

// ratio and minus are the per-round statistics of the goals.
func ratio(a, b float64) float64 { return a / b }
func minus(a, b float64) float64 { return a - b }

// outcome is a goal's verdict.
type outcome int

const (
	undecided outcome = iota // the interval holds the target, or too few rounds
	met                      // the whole interval is on the goal's side
	missed                   // the whole interval is on the other side
	noData                   // a benchmark the goal needs is absent
)

// goal is a target for a per-round statistic.
type goal struct {
	target  float64
	atLeast bool // met at or above target; otherwise met at or below
}

// check is a goal decided on one sample of per-round values.
type check struct {
	goal
	interval
	outcome outcome
	missing string // what is absent, for noData
}

// decide checks g against the per-round values xs: met when the whole
// interval is on g's side of the target (the bound touching it counts),
// missed when the whole interval is on the other side, and undecided
// when it holds the target or fewer than minRounds rounds were run.
func decide(g goal, xs []float64) check {
	c := check{goal: g, interval: medianCI(xs, confidence)}
	switch {
	case c.n < minRounds:
		c.outcome = undecided
	case g.atLeast && c.lo >= g.target, !g.atLeast && c.hi <= g.target:
		c.outcome = met
	case g.atLeast && c.hi < g.target, !g.atLeast && c.lo > g.target:
		c.outcome = missed
	default:
		c.outcome = undecided
	}
	return c
}

// absent is the check of a goal whose data is missing.
func absent(g goal, what string) check {
	return check{goal: g, interval: interval{median: math.NaN(), lo: math.NaN(), hi: math.NaN()}, outcome: noData, missing: what}
}

// verdictCell renders a check's outcome for a table.
func (c check) verdictCell() string {
	switch c.outcome {
	case met:
		return "✅ met"
	case missed:
		return "❌ missed"
	case noData:
		return "⚠️ no " + mdCell(c.missing) + " result"
	}
	if c.n < minRounds {
		return fmt.Sprintf("⚠️ undecided: %d rounds, fewer than %d", c.n, minRounds)
	}
	return "⚠️ undecided: the interval holds the target"
}
