package core

import (
	"math"
	"time"
)

// Never is the RetryAfter of a request that no wait can admit: its cost is
// larger than the limit's burst.
const Never = time.Duration(math.MaxInt64)

// Reason says why a Decision came out as it did. The zero value is ReasonOK.
type Reason uint8

const (
	// ReasonOK: the request fits the quota and was admitted.
	ReasonOK Reason = iota
	// ReasonLimited: the quota is spent; RetryAfter says when it is not.
	ReasonLimited
	// ReasonCostExceedsBurst: the request costs more than the limit can
	// ever admit at once; RetryAfter is Never.
	ReasonCostExceedsBurst
	// ReasonFailOpen: the store failed and the limiter's policy admitted the
	// request without counting it.
	ReasonFailOpen
	// ReasonFailClosed: the store failed and the limiter's policy denied the
	// request. HTTP adapters answer 503, not 429.
	ReasonFailClosed
	// ReasonInvalid: the request could not be keyed or costed (empty key,
	// negative cost); it was denied without asking the store.
	ReasonInvalid
	// ReasonShadow: a limiter in shadow mode (WithShadow) would have denied
	// the request and admitted it instead. Allowed is true; RetryAfter is
	// the wait the limit would have imposed.
	ReasonShadow
	// ReasonPenalty: the client is in a penalty box (core.Penalty) and was
	// refused without a decision of the limit; RetryAfter is the time left
	// in the box.
	ReasonPenalty
)

var reasonNames = [...]string{"ok", "limited", "cost-exceeds-burst", "fail-open", "fail-closed", "invalid", "shadow-denied", "penalty"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(?)"
}

// Decision is the outcome of one Take: whether the request is admitted and
// what the client should be told. Durations are relative to the moment of the
// decision; adapters turn them into header values.
// The zero Decision denies (Allowed false) with ReasonOK; a Take never
// returns it without an error.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Reason says why.
	Reason Reason
	// Limit is the limit the decision was made against.
	Limit Limit
	// Remaining is how many requests of cost 1 would be admitted right after
	// this decision, at the same instant. Never negative.
	Remaining int64
	// ResetAfter is the wait until the key's quota is whole again (Remaining
	// would equal the burst). Zero for an untouched key.
	ResetAfter time.Duration
	// RetryAfter is zero when Allowed. When denied, it is the shortest wait
	// after which the same request would be admitted (if nothing else is
	// admitted on the key meanwhile), or Never.
	RetryAfter time.Duration
	// Name is the name of the limiter that decided (WithName), for headers
	// (the IETF fields' policy id) and logs. Stores leave it empty; Limiter
	// fills it in.
	Name string
}
