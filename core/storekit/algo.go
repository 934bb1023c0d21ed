package storekit

import (
	"math"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// State is one key's state for any algorithm: three integers whose meaning
// each algorithm's file documents, and, for core.SlidingWindowLog only, a ring of
// admission times. Its zero value is a key that has never been used, and a
// state left alone until its ResetAfter has passed behaves exactly like the
// zero value, so a store may drop it then.
type State struct {
	A, B, C int64
	Log     []int64
}

// Apply is the state transition every store runs atomically: given a key's
// state, the current instant (nanoseconds since the Unix epoch; window
// algorithms align their windows to it), a valid limit and a cost >= 0, it
// updates the state in place and returns the decision. It depends on nothing
// but its arguments.
//
// Only an admitted request with cost > 0 changes *s; after any other outcome
// a store need not write anything. For core.SlidingWindowLog the new state may
// reuse s.Log's array. When now is earlier than a time recorded in s (a clock
// stepped backwards), Apply decides as if it were that later time, so a
// backwards step never admits more.
//
// State written under one limit may be read under another (a key moving
// between tiers, core.Limiter.Tier). Apply then reads it as the new limit's,
// and never admits more than the new limit admits a fresh key: every
// algorithm's state is an amount used, never credit. Each algorithm's file
// says what carries over; storetest checks it on every store.
func Apply(s *State, now int64, l core.Limit, cost int64) core.Decision {
	switch l.Algorithm {
	case core.TokenBucket:
		return takeTokenBucket(s, now, l, cost)
	case core.FixedWindow:
		return takeFixedWindow(s, now, l, cost)
	case core.SlidingWindowCounter:
		return takeSlidingCounter(s, now, l, cost)
	case core.SlidingWindowLog:
		return takeSlidingLog(s, now, l, cost)
	default:
		return takeGCRA(s, now, l, cost)
	}
}

// Algorithms lists every algorithm Apply implements, in declaration order:
// what a store's tests run through.
func Algorithms() []core.Algorithm {
	return []core.Algorithm{core.GCRA, core.TokenBucket, core.FixedWindow, core.SlidingWindowCounter, core.SlidingWindowLog}
}

// verdict fills in a decision from the quantities every algorithm computes.
// remaining and reset describe the key after the decision; wait is the
// RetryAfter of a denial.
func verdict(l core.Limit, allowed bool, remaining, reset, wait int64) (d core.Decision) {
	verdictTo(&d, l, allowed, remaining, reset, wait)
	return d
}

// verdictTo is verdict writing into *d, which it overwrites whole. Field
// by field: a composite literal is built aside and copied, which costs a
// tenth of a decision.
func verdictTo(d *core.Decision, l core.Limit, allowed bool, remaining, reset, wait int64) {
	d.Allowed, d.Reason, d.Limit = allowed, core.ReasonOK, l
	d.Remaining, d.ResetAfter, d.RetryAfter, d.Name = max(remaining, 0), durationOf(reset), 0, ""
	if !allowed {
		d.Reason = core.ReasonLimited
		d.RetryAfter = durationOf(wait)
	}
}

// tooCostly is the decision for cost > burst: denied for good, nothing taken.
func tooCostly(l core.Limit, remaining, reset int64) core.Decision {
	d := verdict(l, false, remaining, reset, 0)
	d.Reason = core.ReasonCostExceedsBurst
	d.RetryAfter = core.Never
	return d
}

func durationOf(ns int64) time.Duration { return time.Duration(max(ns, 0)) }

// satAdd adds two non-negative numbers, saturating instead of wrapping.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// floorDiv rounds towards minus infinity, so windows before 1970 align too.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
