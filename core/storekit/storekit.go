package storekit

import (
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// inputError is an error for input a store refuses: a sentinel of core's
// and what is wrong, without the key's contents (a key may be a client's
// credentials).
type inputError struct {
	sentinel error
	detail   string
}

func (e *inputError) Error() string { return e.sentinel.Error() + ": " + e.detail }
func (e *inputError) Unwrap() error { return e.sentinel }

// CheckTake validates the arguments of a core.Store's Take, so every store
// rejects the same input with the same errors: an empty key or one longer
// than core.MaxKeyLen (core.ErrInvalidKey), a negative cost
// (core.ErrInvalidCost), an invalid limit (core.ErrInvalidLimit).
func CheckTake(key string, l core.Limit, cost int64) error {
	if err := CheckPrepared(key, cost); err != nil {
		return err
	}
	return l.Validate()
}

// CheckPrepared is CheckTake under a limit that Prepare validated: the key
// and the cost.
func CheckPrepared(key string, cost int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if cost < 0 {
		return &inputError{core.ErrInvalidCost, "cost " + strconv.FormatInt(cost, 10) + " is negative"}
	}
	return nil
}

// CheckKey validates a key as CheckTake does, for a Resetter's Reset: an
// empty key or one longer than core.MaxKeyLen is core.ErrInvalidKey.
func CheckKey(key string) error {
	if len(key) == 0 {
		return &inputError{core.ErrInvalidKey, "empty key"}
	}
	if len(key) > core.MaxKeyLen {
		return &inputError{core.ErrInvalidKey, "key of " + strconv.Itoa(len(key)) + " bytes is longer than " + strconv.Itoa(core.MaxKeyLen)}
	}
	return nil
}

// CheckBoxKey validates the key of a penalty box as core.Box.Validate
// does, for a BoxReleaser's ReleaseBox: core.ErrInvalidKey for an empty key
// or one that leaves no room, within core.MaxKeyLen, for BoxKeys' suffixes.
func CheckBoxKey(key string) error {
	if _, denials := BoxKeys(key); len(key) == 0 || len(denials) > core.MaxKeyLen {
		return &inputError{core.ErrInvalidKey, "box key of " + strconv.Itoa(len(key)) + " bytes"}
	}
	return nil
}

// CheckTakeMany validates the arguments of a MultiStore's TakeMany, so
// every store rejects the same input with the same errors: each take as
// CheckTake does, and core.ErrInvalidTakes for no takes, more than
// core.MaxTakes, a decisions slice of another length or a repeated key.
func CheckTakeMany(takes []core.Take, decisions []core.Decision) error {
	if len(takes) == 0 || len(takes) > core.MaxTakes {
		return &inputError{core.ErrInvalidTakes, strconv.Itoa(len(takes)) + " takes, want 1 to " + strconv.Itoa(core.MaxTakes)}
	}
	if len(decisions) != len(takes) {
		return &inputError{core.ErrInvalidTakes, strconv.Itoa(len(decisions)) + " decisions for " + strconv.Itoa(len(takes)) + " takes"}
	}
	for i := range takes {
		if err := CheckTake(takes[i].Key, takes[i].Limit, takes[i].Cost); err != nil {
			return fmt.Errorf("%w (take %d)", err, i)
		}
		for j := 0; j < i; j++ {
			if takes[j].Key == takes[i].Key {
				return &inputError{core.ErrInvalidTakes, "take " + strconv.Itoa(i) + " repeats the key of take " + strconv.Itoa(j)}
			}
		}
	}
	return nil
}

// CheckBoxes validates the boxes of a BoxStore's TakeBoxed over a step
// of ntakes takes, so every store rejects the same input with the same
// errors, and the errors core.TakeAllBoxed gives: 1 to core.MaxBoxes boxes,
// each valid (core.Box.Validate), no two with one key, and none selecting a
// take the step does not have. Errors wrap core.ErrInvalidPenalty or
// core.ErrInvalidKey.
func CheckBoxes(boxes []core.Box, ntakes int) error {
	if len(boxes) == 0 || len(boxes) > core.MaxBoxes {
		return &inputError{core.ErrInvalidPenalty, strconv.Itoa(len(boxes)) + " boxes, want 1 to " + strconv.Itoa(core.MaxBoxes)}
	}
	for i := range boxes {
		b := &boxes[i]
		if err := b.Validate(); err != nil {
			return fmt.Errorf("%w (box %d)", err, i)
		}
		if b.Takes>>max(ntakes, 0) != 0 {
			return &inputError{core.ErrInvalidPenalty, "box " + strconv.Itoa(i) + " selects take " + strconv.Itoa(bits.Len16(b.Takes)-1) + " of a step of " + strconv.Itoa(ntakes)}
		}
		for j := 0; j < i; j++ {
			if boxes[j].Key == b.Key {
				return &inputError{core.ErrInvalidKey, "box " + strconv.Itoa(i) + " repeats the key of box " + strconv.Itoa(j)}
			}
		}
	}
	return nil
}

// BoxKeys returns the two keys under which a store keeps the penalty box of
// key: the box (kept under BoxLimit) and the denials' log (DenialLimit).
// core.Box.Validate leaves room for both within core.MaxKeyLen.
func BoxKeys(key string) (box, denials string) { return key + "\x00box", key + "\x00denials" }

// BoxLimit is the limit that keeps a box of p: a GCRA of 1 per p.For, which
// one take closes for For and a peek reads.
func BoxLimit(p core.Penalty) core.Limit { return core.Limit{Rate: 1, Period: p.For, Burst: 1} }

// DenialLimit is the limit that counts the denials of a box of p: a sliding
// window log of p.Denials per p.Within, which the Denials-th denial within
// Within leaves empty.
func DenialLimit(p core.Penalty) core.Limit {
	return core.Limit{Rate: p.Denials, Period: p.Within, Algorithm: core.SlidingWindowLog}
}

// Boxed fills decisions with the answer to a client in a box for left: for
// each take, a denial with core.ReasonPenalty and RetryAfter left.
func Boxed(takes []core.Take, decisions []core.Decision, left time.Duration) {
	for i := range takes {
		decisions[i] = core.Decision{Reason: core.ReasonPenalty, Limit: takes[i].Limit, RetryAfter: left}
	}
}

// UnixNanoClock is a core.Clock that can also give its reading as Unix
// nanoseconds without building a time.Time: core.ManualClock and
// core.CoarseClock are. A store reads it so when its clock has it.
// Its zero value is nil: a store whose clock does not implement it calls
// Now.
type UnixNanoClock interface {
	core.Clock
	UnixNano() int64
}
