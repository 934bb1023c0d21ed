package core

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Algorithm selects how a Limit meters requests. The zero value is GCRA.
type Algorithm uint8

const (
	// GCRA (the generic cell rate algorithm) keeps one timestamp per key: the
	// theoretical arrival time of the next request. It admits Burst requests at
	// once and then one every Period/Rate, smoothly. It is the leaky bucket
	// used as a meter, so tollgate has no separate leaky bucket.
	GCRA Algorithm = iota
	// TokenBucket keeps a bucket of Burst tokens refilled continuously at
	// Rate per Period. For the same Limit it admits exactly what GCRA admits
	// when Period is a whole multiple of Rate nanoseconds (GCRA rounds its
	// emission interval Period/Rate up to a whole nanosecond; otherwise the
	// token bucket can admit a hair more over long runs). It is offered for
	// users who think in tokens, and computes its refill exactly.
	TokenBucket
	// FixedWindow counts requests in windows of Period aligned to the Unix
	// epoch and admits Rate per window. Cheap and easy to explain, but a
	// client can send 2×Rate across a window boundary.
	FixedWindow
	// SlidingWindowCounter weights the previous fixed window's count by how
	// much of it still overlaps the sliding window, plus the current count.
	// It approximates a sliding window with two integers per key.
	SlidingWindowCounter
	// SlidingWindowLog records the time of every admitted event and admits a
	// request when fewer than Rate events happened in the last Period. Exact,
	// at the cost of one timestamp per admitted event (Rate is capped at
	// MaxLogRate).
	SlidingWindowLog

	numAlgorithms
)

var algorithmNames = [numAlgorithms]string{
	GCRA:                 "gcra",
	TokenBucket:          "token-bucket",
	FixedWindow:          "fixed-window",
	SlidingWindowCounter: "sliding-window-counter",
	SlidingWindowLog:     "sliding-window-log",
}

// String returns the algorithm's name as ParseAlgorithm accepts it.
func (a Algorithm) String() string {
	if a < numAlgorithms {
		return algorithmNames[a]
	}
	return "algorithm(" + strconv.Itoa(int(a)) + ")"
}

// windowed reports whether the algorithm counts events per window and so
// has no burst distinct from its rate.
func (a Algorithm) windowed() bool {
	return a == FixedWindow || a == SlidingWindowCounter || a == SlidingWindowLog
}

// ParseAlgorithm returns the algorithm named s. It accepts the names String
// returns, with '_' for '-' and in any case, and "leaky-bucket" for GCRA.
func ParseAlgorithm(s string) (Algorithm, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	switch n {
	case "leaky-bucket":
		return GCRA, nil
	case "sliding-window":
		return SlidingWindowCounter, nil
	case "sliding-log":
		return SlidingWindowLog, nil
	}
	for a, name := range algorithmNames {
		if n == name {
			return Algorithm(a), nil
		}
	}
	return 0, &LimitError{Field: "algorithm", Value: s, Reason: "unknown algorithm (want gcra, token-bucket, fixed-window, sliding-window-counter or sliding-window-log)"}
}

// MaxLogRate caps Rate for SlidingWindowLog, whose state holds one 8-byte
// timestamp per admitted event: 10,000 events is 80 KB for one key.
const MaxLogRate = 10_000

// maxSpan bounds Burst×Period (and Burst×emission interval) so that the
// algorithms' integer arithmetic, which adds two such spans, cannot overflow.
const maxSpan = math.MaxInt64 / 2

// Limit is a quota: Rate events per Period, with bursts of up to Burst, metered
// by Algorithm. The zero value is not a valid Limit; build one with PerSecond,
// PerMinute, PerHour or ParseLimit, or fill the fields and call Validate.
type Limit struct {
	// Rate is how many events are admitted per Period. At least 1.
	Rate int64
	// Period is the length of the window over which Rate applies. Positive.
	Period time.Duration
	// Burst is how many events may be admitted at once by GCRA and
	// TokenBucket. Zero means Burst equals Rate. The window algorithms admit
	// Rate per window and accept only zero or Rate here.
	Burst int64
	// Algorithm meters the limit. The zero value is GCRA.
	Algorithm Algorithm
}

// PerSecond returns a GCRA limit of n events per second with a burst of n.
func PerSecond(n int64) Limit { return Limit{Rate: n, Period: time.Second, Burst: n} }

// PerMinute returns a GCRA limit of n events per minute with a burst of n.
func PerMinute(n int64) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// PerHour returns a GCRA limit of n events per hour with a burst of n.
func PerHour(n int64) Limit { return Limit{Rate: n, Period: time.Hour, Burst: n} }

// WithBurst returns a copy of l whose Burst is n.
func (l Limit) WithBurst(n int64) Limit { l.Burst = n; return l }

// WithAlgorithm returns a copy of l metered by a.
func (l Limit) WithAlgorithm(a Algorithm) Limit { l.Algorithm = a; return l }

// EffectiveBurst returns Burst, or Rate when Burst is zero: how many events a
// fresh key admits at one instant.
func (l Limit) EffectiveBurst() int64 {
	if l.Burst == 0 {
		return l.Rate
	}
	return l.Burst
}

// Interval returns the emission interval Period/Rate, rounded up to a whole
// nanosecond so that rounding never admits more than the quota. GCRA admits
// one event per Interval once its burst is spent.
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 {
		return 0
	}
	return time.Duration((int64(l.Period) + l.Rate - 1) / l.Rate)
}

// ErrInvalidLimit is matched (with errors.Is) by every error that rejects a
// Limit; the error itself is a *LimitError naming the field.
var ErrInvalidLimit = errors.New("core: invalid limit")

// LimitError reports an invalid Limit or limit string, naming the field.
// Its zero value reports an invalid limit without naming a field.
type LimitError struct {
	Field  string // "rate", "period", "burst", "algorithm" or "limit" for the whole string
	Value  string // the offending value as given
	Reason string
}

func (e *LimitError) Error() string {
	s := "core: invalid limit: " + e.Field
	if e.Value != "" {
		s += " " + strconv.Quote(e.Value)
	}
	return s + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidLimit) true for every LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrInvalidLimit }

func limitErr(field string, v int64, reason string) error {
	return &LimitError{Field: field, Value: strconv.FormatInt(v, 10), Reason: reason}
}

// Validate reports whether l can be enforced, with a *LimitError naming the
// first field that cannot.
func (l Limit) Validate() error {
	if l.Rate < 1 {
		return limitErr("rate", l.Rate, "must be at least 1")
	}
	if l.Period <= 0 {
		return &LimitError{Field: "period", Value: l.Period.String(), Reason: "must be positive"}
	}
	if l.Algorithm >= numAlgorithms {
		return &LimitError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "unknown algorithm"}
	}
	if l.Burst < 0 {
		return limitErr("burst", l.Burst, "must be at least 1 (or 0 for the rate)")
	}
	b := l.EffectiveBurst()
	if l.Algorithm.windowed() {
		if b != l.Rate {
			return limitErr("burst", l.Burst, l.Algorithm.String()+" admits rate per period and has no separate burst (leave it 0 or equal to rate)")
		}
		if l.Algorithm == SlidingWindowLog && l.Rate > MaxLogRate {
			return limitErr("rate", l.Rate, "sliding-window-log keeps one timestamp per event and allows at most "+strconv.Itoa(MaxLogRate))
		}
		// The sliding counter multiplies counts by durations in 128 bits, and
		// windows end at start+2×Period.
		if int64(l.Period) > maxSpan/2 {
			return &LimitError{Field: "period", Value: l.Period.String(), Reason: "too long"}
		}
		return nil
	}
	if int64(l.Period) < l.Rate {
		return limitErr("rate", l.Rate, "more than one event per nanosecond of period "+l.Period.String())
	}
	// TokenBucket keeps Burst×Period; GCRA only Burst×Interval, so that a
	// million a day with a burst of a million is a valid GCRA limit.
	span, what := uint64(l.Period), "burst × period overflows"
	if l.Algorithm == GCRA {
		span, what = uint64(l.Interval()), "burst × (period / rate) overflows"
	}
	hi, lo := bits.Mul64(uint64(b), span)
	if hi != 0 || lo > maxSpan-uint64(b) {
		return limitErr("burst", b, what)
	}
	return nil
}

// String formats l so that ParseLimit reads it back: "100/m", "10/s burst 20",
// "5/30s fixed-window".
func (l Limit) String() string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, l.Rate, 10)
	b = append(b, '/')
	b = appendPeriod(b, l.Period)
	if l.Burst != 0 && l.Burst != l.Rate {
		b = append(b, " burst "...)
		b = strconv.AppendInt(b, l.Burst, 10)
	}
	if l.Algorithm != GCRA {
		b = append(b, ' ')
		b = append(b, l.Algorithm.String()...)
	}
	return string(b)
}

func appendPeriod(b []byte, p time.Duration) []byte {
	for _, u := range [...]struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if p > 0 && p%u.d == 0 {
			if n := p / u.d; n != 1 {
				b = strconv.AppendInt(b, int64(n), 10)
			}
			return append(b, u.name...)
		}
	}
	return append(b, p.String()...)
}

var periodUnits = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseLimit reads a limit written as RATE/PERIOD, optionally followed by
// "burst N" (or "burst=N") and an algorithm name, separated by spaces:
//
//	100/m            100 per minute (GCRA, burst 100)
//	10/s burst 20    10 per second, bursts of 20
//	5000/h           5000 per hour
//	300/5m fixed-window
//	50/1m30s sliding-window-log
//
// PERIOD is a unit (ms, s, m, h, d, or their long forms), a count and a unit
// ("5m", "30s"), or any time.ParseDuration string. The result is validated.
func ParseLimit(s string) (Limit, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Limit{}, &LimitError{Field: "limit", Value: s, Reason: "empty"}
	}
	rateStr, periodStr, ok := strings.Cut(fields[0], "/")
	if !ok {
		return Limit{}, &LimitError{Field: "limit", Value: s, Reason: "want RATE/PERIOD, as in 100/m"}
	}
	rate, err := strconv.ParseInt(rateStr, 10, 64)
	if err != nil {
		return Limit{}, &LimitError{Field: "rate", Value: rateStr, Reason: "not a whole number in range"}
	}
	period, err := parsePeriod(periodStr)
	if err != nil {
		return Limit{}, err
	}
	l := Limit{Rate: rate, Period: period}
	rest := fields[1:]
	for len(rest) > 0 {
		f := strings.ToLower(rest[0])
		switch {
		case f == "burst" || strings.HasPrefix(f, "burst="):
			v := strings.TrimPrefix(f, "burst=")
			rest = rest[1:]
			if f == "burst" {
				if len(rest) == 0 {
					return Limit{}, &LimitError{Field: "burst", Reason: "missing value after burst"}
				}
				v, rest = rest[0], rest[1:]
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Limit{}, &LimitError{Field: "burst", Value: v, Reason: "not a whole number in range"}
			}
			if n < 1 {
				return Limit{}, limitErr("burst", n, "must be at least 1")
			}
			l.Burst = n
		default:
			a, err := ParseAlgorithm(f)
			if err != nil {
				return Limit{}, err
			}
			l.Algorithm = a
			rest = rest[1:]
		}
	}
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	if err := l.Validate(); err != nil {
		return Limit{}, err
	}
	return l, nil
}

func parsePeriod(s string) (time.Duration, error) {
	bad := func(reason string) error { return &LimitError{Field: "period", Value: s, Reason: reason} }
	ls := strings.ToLower(s)
	if d, ok := periodUnits[ls]; ok {
		return d, nil
	}
	// A count and a unit: "5m", "30s", "2hours".
	i := 0
	for i < len(ls) && ls[i] >= '0' && ls[i] <= '9' {
		i++
	}
	if i > 0 && i < len(ls) {
		if unit, ok := periodUnits[ls[i:]]; ok {
			n, err := strconv.ParseInt(ls[:i], 10, 64)
			if err != nil || n > math.MaxInt64/int64(unit) {
				return 0, bad("overflows (at most about 292 years)")
			}
			if n == 0 {
				return 0, bad("must be positive")
			}
			return time.Duration(n) * unit, nil
		}
	}
	d, err := time.ParseDuration(ls)
	if err != nil {
		return 0, bad("want a unit (s, m, h, d), a count and unit (5m) or a duration (1m30s) of at most about 292 years")
	}
	if d <= 0 {
		return 0, bad("must be positive")
	}
	return d, nil
}
