package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// source is who decided a request.
type source uint8

const (
	byRedis    source = iota // the Redis store (in lease mode: from tokens Redis granted)
	byFallback               // the failure policy's local store
	byNone                   // nobody: the user saw an error
)

// sample is one decision as its caller saw it.
type sample struct {
	start   int64         // Unix ns when the caller called Take
	decided int64         // Unix ns when the limiter's hook saw the decision
	wait    time.Duration // until Take returned
	reset   time.Duration // the decision's ResetAfter: locates its window
	inst    int           // which instance decided
	src     source
	allowed bool
	userErr bool   // an HTTP adapter would answer with an error (503)
	errKind string // why the store failed, when it did
}

// end is when the caller had its answer.
func (s sample) end() int64 { return s.start + int64(s.wait) }

// latency is the spread of caller waits.
type latency struct {
	p50, p99, p999, max time.Duration
}

// percentile is the nearest-rank p-quantile (0 < p ≤ 1) of sorted: the
// smallest value at least a share p of the values do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

func latencies(ss []sample) latency {
	w := make([]time.Duration, len(ss))
	for i, s := range ss {
		w[i] = s.wait
	}
	slices.Sort(w)
	if len(w) == 0 {
		return latency{}
	}
	return latency{percentile(w, 0.50), percentile(w, 0.99), percentile(w, 0.999), w[len(w)-1]}
}

// windowOf is the index of the fixed window (k×period to (k+1)×period in
// Unix time) an admitted decision counted in.
//
// Redis' decision's ResetAfter runs to its window's end (in Redis' time, the
// same clock) from the moment Redis decided, somewhere between the call and
// the hook: the middle of that span plus ResetAfter, rounded to the nearest
// window end, is exact while the span stays under half a period. In lease
// mode that is the window of the tokens Redis granted, which is what Redis
// counted them in, even when a pool spends a token a little after the
// window ends (its expiry is reckoned from when the grant came back).
//
// The fallback decided just before the hook saw it: its window is the one
// the hook ran in, in wall-clock time, whatever the fallback store's own
// clock said.
func windowOf(s sample, period time.Duration) int64 {
	if s.src == byFallback {
		return floorDiv(s.decided, int64(period))
	}
	end := float64(s.start+(s.decided-s.start)/2+int64(s.reset)) / float64(period)
	return int64(math.Round(end)) - 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// accounting is what a case admitted against the quota, window by window.
type accounting struct {
	windows          int   // windows the traffic spanned
	quota            int64 // rate × windows
	redis, fallback  int64 // admitted, by who decided
	overRedis        int64 // Σ over windows of what Redis alone admitted beyond the rate
	overFallback     int64 // Σ over windows of the rest of the over-admission
	redisWithinBound bool  // in every window, Redis' excess ≤ the state the fault lost in it
	fallbackMax      int64 // the most one instance's fallback admitted in one window
}

// account counts admitted decisions per window. lostWindow and lost say
// where a fault lost Redis' state and how much: the bound of Redis'
// over-admission in that window (elsewhere it is 0).
func account(ss []sample, rate int64, period time.Duration, lostWindow, lost int64) accounting {
	var a accounting
	a.redisWithinBound = true
	if len(ss) == 0 {
		return a
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range ss {
		first = min(first, s.start/int64(period))
		last = max(last, s.end()/int64(period))
	}
	a.windows = int(last - first + 1)
	a.quota = rate * int64(a.windows)

	type key struct {
		inst int
		w    int64
	}
	redis, all := map[int64]int64{}, map[int64]int64{}
	fb := map[key]int64{}
	for _, s := range ss {
		if !s.allowed || s.src == byNone {
			continue
		}
		w := windowOf(s, period)
		all[w]++
		if s.src == byRedis {
			redis[w]++
			a.redis++
		} else {
			fb[key{s.inst, w}]++
			a.fallback++
		}
	}
	for w, n := range all {
		over := max(n-rate, 0)
		overRedis := max(redis[w]-rate, 0)
		a.overRedis += overRedis
		a.overFallback += over - overRedis
		bound := int64(0)
		if w == lostWindow {
			bound = lost
		}
		if overRedis > bound {
			a.redisWithinBound = false
		}
	}
	for _, n := range fb {
		a.fallbackMax = max(a.fallbackMax, n)
	}
	return a
}

// recovery is how long after the fault ended (Unix ns) every instance that
// fell back had Redis deciding again: for each such instance, from the
// fault's end to the answer of its first Redis decision begun after both the
// end and its last decision that Redis did not make. fellBack is false when
// no instance ever fell back; ok is false when one never came back.
func recovery(ss []sample, faultEnd int64) (d time.Duration, fellBack, ok bool) {
	lastBad := map[int]int64{}
	for _, s := range ss {
		if s.src != byRedis {
			lastBad[s.inst] = max(lastBad[s.inst], s.start)
		}
	}
	if len(lastBad) == 0 {
		return 0, false, true
	}
	ok = true
	for inst, bad := range lastBad {
		from := max(bad+1, faultEnd)
		back := int64(math.MaxInt64)
		for _, s := range ss {
			if s.inst == inst && s.src == byRedis && s.start >= from {
				back = min(back, s.end())
			}
		}
		if back == math.MaxInt64 {
			ok = false
			continue
		}
		d = max(d, time.Duration(back-faultEnd))
	}
	return d, true, ok
}

// slowest says what the calls that waited longer than limit ended with:
// "12 fallback after timeout (max 180ms), 2 Redis (max 115ms)".
func slowest(ss []sample, limit time.Duration) string {
	type group struct {
		n   int
		max time.Duration
	}
	groups := map[string]*group{}
	for _, s := range ss {
		if s.wait <= limit {
			continue
		}
		var what string
		switch s.src {
		case byRedis:
			what = "Redis"
		case byFallback:
			what = "fallback after " + s.errKind
		default:
			what = "error after " + s.errKind
		}
		g := groups[what]
		if g == nil {
			g = &group{}
			groups[what] = g
		}
		g.n++
		g.max = max(g.max, s.wait)
	}
	names := make([]string, 0, len(groups))
	for k := range groups {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := groups[names[i]], groups[names[j]]
		if a.n != b.n {
			return a.n > b.n
		}
		return names[i] < names[j]
	})
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%d %s (max %s)", groups[k].n, k, ms(groups[k].max)))
	}
	return strings.Join(parts, ", ")
}

// ms formats a duration in milliseconds, with one decimal below 10 ms.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 10 {
		return fmt.Sprintf("%.1f ms", f)
	}
	return fmt.Sprintf("%.0f ms", f)
}

// timeline draws who decided, per instance, in 100 ms steps from t0: R
// Redis only, F fallback only, m both, E an error, . no decision; | marks
// the fault's start and end, and each line ends with the slowest wait.
func timeline(ss []sample, t0, start, end time.Time) string {
	const step = 100 * time.Millisecond
	var b strings.Builder
	insts := 0
	var last int64
	for _, s := range ss {
		insts = max(insts, s.inst+1)
		last = max(last, s.start)
	}
	steps := int(time.Duration(last-t0.UnixNano())/step) + 1
	for inst := 0; inst < insts; inst++ {
		redis, fb, bad := make([]int, steps), make([]int, steps), make([]int, steps)
		var slow time.Duration
		for _, s := range ss {
			if s.inst != inst {
				continue
			}
			i := max(int(time.Duration(s.start-t0.UnixNano())/step), 0)
			switch s.src {
			case byRedis:
				redis[i]++
			case byFallback:
				fb[i]++
			default:
				bad[i]++
			}
			slow = max(slow, s.wait)
		}
		fmt.Fprintf(&b, "  %d ", inst+1)
		for i := 0; i < steps; i++ {
			at := t0.Add(time.Duration(i) * step)
			if !at.Before(start) && at.Add(-step).Before(start) || !at.Before(end) && at.Add(-step).Before(end) {
				b.WriteByte('|')
			}
			switch {
			case bad[i] > 0:
				b.WriteByte('E')
			case redis[i] > 0 && fb[i] > 0:
				b.WriteByte('m')
			case redis[i] > 0:
				b.WriteByte('R')
			case fb[i] > 0:
				b.WriteByte('F')
			default:
				b.WriteByte('.')
			}
		}
		fmt.Fprintf(&b, "  slowest %s\n", ms(slow))
	}
	return b.String()
}

// tailErrors counts, by kind, the store errors of calls begun after the
// fault ended: why Redis did not decide again at once.
func tailErrors(ss []sample, faultEnd int64) map[string]int {
	out := map[string]int{}
	for _, s := range ss {
		if s.start >= faultEnd && s.errKind != "" {
			out[s.errKind]++
		}
	}
	return out
}
