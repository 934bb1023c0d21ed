package main

import (
	"math"
	"strconv"
	"strings"
)

const dash = "—"

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

// fmtMeasure formats a timing or size with about three significant
// figures, which is all repeated benchmark runs support.
func fmtMeasure(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return dash
	case a >= 100:
		return commaInt(int64(math.Round(v)))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// fmtCount formats B/op and allocs/op: whole numbers as such, a median
// that fell between two runs with one decimal.
func fmtCount(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dash
	}
	if r := math.Round(v); math.Abs(v-r) < 1e-9 {
		return commaInt(int64(r))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// fmtSigned formats a difference with an explicit "+" when positive.
func fmtSigned(v float64) string {
	if v > 0 {
		return "+" + fmtCount(v)
	}
	return fmtCount(v)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dash
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" }

// perSecond turns ns/op into operations per second.
func perSecond(ns float64) string { return commaInt(int64(math.Round(1e9 / ns))) }

// fmtSignedMeasure formats a difference of timings with its sign.
func fmtSignedMeasure(v float64) string {
	if v > 0 {
		return "+" + fmtMeasure(v)
	}
	return fmtMeasure(v)
}

// fmtBound formats an interval's bound with f; an interval too wide for
// the sample is unbounded.
func fmtBound(v float64, f func(float64) string) string {
	switch {
	case math.IsInf(v, -1):
		return "−∞"
	case math.IsInf(v, 1):
		return "+∞"
	}
	return f(v)
}

// fmtMeasureOr is fmtMeasure with a dash for a missing (zero) value.
func fmtMeasureOr(v float64) string {
	if v == 0 {
		return dash
	}
	return fmtMeasure(v)
}

// perSecondOr is perSecond with a dash for a missing (zero) value.
func perSecondOr(ns float64) string {
	if ns == 0 {
		return dash
	}
	return perSecond(ns)
}

// mdCell makes s safe inside a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "<", "&lt;")
}

// codeSpan wraps s in enough backticks that any it contains stay literal.
func codeSpan(s string) string {
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// codeFence returns a fence longer than any backtick run in s (at least
// three), so a code block can hold any text.
func codeFence(s string) string {
	return strings.Repeat("`", max(3, longestRun(s, '`')+1))
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}
