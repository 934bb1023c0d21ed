package main

import (
	"math"
	"strconv"
	"strings"
)

// trend is how a line moves from one point to the next.
type trend int

const (
	flat  trend = iota // within the bend factor either way
	rises              // by more than the factor
	falls              // by more than the factor
)

// segment is a run of consecutive steps of one trend, from point index
// from to point index to.
type segment struct {
	kind     trend
	from, to int
}

// classify is the trend of the step from point a to point b: a rise or a
// fall when the median cost changes by more than factor (1.3: 30%) and
// the two points' rounds do not overlap (every round of one above every
// round of the other), so that one noisy round makes no bend.
func classify(a, b point, factor float64) trend {
	sa, sb := a.units["ns/op"], b.units["ns/op"]
	switch {
	case sb.median > sa.median*factor && sb.min > sa.max:
		return rises
	case sb.median*factor < sa.median && sb.max < sa.min:
		return falls
	}
	return flat
}

// segments splits a line into runs of one trend. A line of one point has
// none.
func segments(pts []point, factor float64) []segment {
	var out []segment
	for i := 1; i < len(pts); i++ {
		k := classify(pts[i-1], pts[i], factor)
		if n := len(out); n > 0 && out[n-1].kind == k {
			out[n-1].to = i
			continue
		}
		out = append(out, segment{kind: k, from: i - 1, to: i})
	}
	return out
}

// bend is a point whose step from the point before changes the line's
// trend: the first step that rises or falls, a step that turns, or one
// that levels off.
type bend struct {
	x     float64
	kind  trend   // the trend of the step that ends at x
	ratio float64 // the cost at x over the cost at the point before
}

// bends returns the points at which a line changes trend (a line starts
// flat): with factor 1.3, a point that costs more than 1.3 times the point
// before it, on a line that was flat, is a bend.
func bends(pts []point, factor float64) []bend {
	var out []bend
	prev := flat
	for i := 1; i < len(pts); i++ {
		k := classify(pts[i-1], pts[i], factor)
		if k != prev {
			out = append(out, bend{x: pts[i].x, kind: k, ratio: pts[i].ns() / pts[i-1].ns()})
		}
		prev = k
	}
	return out
}

// String says what happens at the bend, in describe's words:
// "1,000,000 (rises ×1.9)", "4 (falls ×2.0)": a fall's factor is the cost
// before over the cost after, as a rise's is after over before.
func (b bend) String() string {
	switch b.kind {
	case rises:
		return fmtX(b.x) + " (rises " + fmtRatio(b.ratio) + ")"
	case falls:
		return fmtX(b.x) + " (falls " + fmtRatio(1/b.ratio) + ")"
	}
	return fmtX(b.x) + " (levels off)"
}

// firstRise returns the first x at which the cost is more than factor
// times the previous point's, and that ratio.
func firstRise(pts []point, factor float64) (x, ratio float64, ok bool) {
	for i := 1; i < len(pts); i++ {
		if r := pts[i].ns() / pts[i-1].ns(); r > factor {
			return pts[i].x, r, true
		}
	}
	return 0, 0, false
}

// describe says in words how a line moves, run by run:
// "no clear step from 1,000 to 100,000 (165 → 190 ns); rises ×14 from
// 100,000 to 10,000,000 (190 ns → 2.67 µs)".
func describe(pts []point, factor float64, unit string) string {
	segs := segments(pts, factor)
	if len(segs) == 0 {
		if len(pts) == 1 {
			return "one point: " + fmtNS(pts[0].ns())
		}
		return "no points"
	}
	var parts []string
	for _, s := range segs {
		a, b := pts[s.from], pts[s.to]
		span := fmtX(a.x) + " to " + fmtX(b.x) + " " + unit + " (" + fmtNS(a.ns()) + " → " + fmtNS(b.ns()) + ")"
		switch s.kind {
		case flat:
			parts = append(parts, "no clear step from "+span)
		case rises:
			parts = append(parts, "rises "+fmtRatio(b.ns()/a.ns())+" from "+span)
		case falls:
			parts = append(parts, "falls "+fmtRatio(a.ns()/b.ns())+" from "+span)
		}
	}
	return strings.Join(parts, "; ")
}

// slope is the least-squares cost of one more unit of x (ns per limit,
// per rule), over the whole line.
func slope(pts []point) float64 {
	if len(pts) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(pts))
	for _, p := range pts {
		sx += p.x
		sy += p.ns()
		sxx += p.x * p.x
		sxy += p.x * p.ns()
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}

// fmtRatio formats a factor: "×1.4", "×12", "×0.71".
func fmtRatio(r float64) string {
	if r < 1 {
		return "×" + strconv.FormatFloat(r, 'g', 2, 64)
	}
	if r >= 10 {
		return "×" + strconv.FormatFloat(r, 'f', 0, 64)
	}
	return "×" + strconv.FormatFloat(r, 'f', 1, 64)
}

// fmtNS formats a time in ns with three significant figures in the
// largest unit that keeps it at least 1: "85.2 ns", "2.67 µs", "1.20 ms",
// "7.61 s".
func fmtNS(ns float64) string {
	switch a := math.Abs(ns); {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return "—"
	case a >= 1e9:
		return sig3(ns/1e9) + " s"
	case a >= 1e6:
		return sig3(ns/1e6) + " ms"
	case a >= 1e3:
		return sig3(ns/1e3) + " µs"
	}
	return sig3(ns) + " ns"
}

// sig3 formats v with three significant figures (whole numbers from 100).
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return commaInt(int64(math.Round(v)))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1 || a == 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64) // 0.003, not 0.00
}

// fmtX formats an x value: a whole number with thousands separators.
func fmtX(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return commaInt(int64(x))
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

// fmtBytes formats a size in bytes in binary units: "1 MiB", "32 MiB".
func fmtBytes(n float64) string {
	for _, u := range []struct {
		size float64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size {
			v := n / u.size
			if v == math.Trunc(v) {
				return strconv.FormatFloat(v, 'f', 0, 64) + " " + u.name
			}
			return sig3(v) + " " + u.name
		}
	}
	return strconv.FormatFloat(n, 'f', 0, 64) + " B"
}

// commaInt formats n with thousands separators: 52340 → "52,340".
func commaInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
