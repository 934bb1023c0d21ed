package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Penalty is a penalty box for repeat offenders: a client denied Denials
// times within Within is refused for For, each request answered at once
// without a decision of its limits, and so without spending their quota.
//
// Its state is two limits a store already knows how to keep, so every store
// keeps it the same way: the denials are a sliding window log of Denials per
// Within (DenialLimit), and the box is a GCRA of 1 per For (BoxLimit), which
// one take closes for For and a peek reads.
type Penalty struct {
	// Denials is how many denials within Within put a client in the box.
	// 1 to MaxPenaltyDenials.
	Denials int64
	// Within is the window over which denials count. Positive.
	Within time.Duration
	// For is how long a client stays in the box. Positive.
	For time.Duration
}

// MaxPenaltyDenials is the largest Penalty.Denials: a store keeps one
// timestamp per denial counted.
const MaxPenaltyDenials = 1000

// ErrInvalidPenalty is wrapped by the error Penalty.Validate returns.
var ErrInvalidPenalty = errors.New("tollgate: invalid penalty")

// Validate reports whether p is usable, with an error naming the field.
func (p Penalty) Validate() error {
	switch {
	case p.Denials < 1 || p.Denials > MaxPenaltyDenials:
		return fmt.Errorf("%w: denials %d: want 1 to %d", ErrInvalidPenalty, p.Denials, MaxPenaltyDenials)
	case p.Within <= 0:
		return fmt.Errorf("%w: within %v: must be positive", ErrInvalidPenalty, p.Within)
	case p.For <= 0:
		return fmt.Errorf("%w: for %v: must be positive", ErrInvalidPenalty, p.For)
	}
	if err := p.BoxLimit().Validate(); err != nil {
		return fmt.Errorf("%w: for %v: %w", ErrInvalidPenalty, p.For, err)
	}
	if err := p.DenialLimit().Validate(); err != nil {
		return fmt.Errorf("%w: within %v: %w", ErrInvalidPenalty, p.Within, err)
	}
	return nil
}

func (p Penalty) String() string {
	return strconv.FormatInt(p.Denials, 10) + " denials within " + p.Within.String() + ": boxed for " + p.For.String()
}

// BoxLimit is the limit that keeps the box: one take closes it for For.
func (p Penalty) BoxLimit() Limit { return Limit{Rate: 1, Period: p.For, Burst: 1} }

// DenialLimit is the limit that counts denials: the Denials-th within
// Within leaves it empty.
func (p Penalty) DenialLimit() Limit {
	return Limit{Rate: p.Denials, Period: p.Within, Algorithm: SlidingWindowLog}
}

// Box names a client's penalty box in a step: Key is the client (the store
// keeps the box under BoxKeys(Key)), Penalty the rule, and Takes which of
// the step's takes count toward it: bit i selects takes[i], and a denied
// step counts a denial toward the box only when one of its selected takes
// denied. Zero selects every take.
type Box struct {
	Key     string
	Penalty Penalty
	Takes   uint16
}

// MaxBoxes is the most boxes one TakeBoxed accepts.
const MaxBoxes = 4

// BoxKeys returns the two keys under which a store keeps the penalty box of
// key: the box and the denials' log.
func BoxKeys(key string) (box, denials string) { return key + "\x00box", key + "\x00denials" }

// BoxStore is a MultiStore that also keeps penalty boxes, checked and
// updated in the same step as the decision, so that a box shared by many
// instances (Redis) costs no extra round trip.
//
// TakeBoxed takes 1 to MaxBoxes boxes with distinct keys (CheckBoxes). If
// the client is in any of them, nothing is taken: every decisions[i] is a
// denial with Reason ReasonPenalty and RetryAfter the longest time left,
// which TakeBoxed also returns. Otherwise it is TakeMany; when that
// denies, the denial is counted toward each box whose selected takes
// (Box.Takes) include a denied one (decisions[i].Allowed false), and a box
// reaching its Penalty.Denials within Within closes for For (and forgets
// the denials counted). It returns the longest time left in any box after
// the step, 0 when the client is in none. Errors are those of TakeMany, or
// ErrInvalidPenalty.
//
// The conformance suite in core/storetest checks TakeBoxed for every store
// that implements it.
type BoxStore interface {
	MultiStore
	TakeBoxed(ctx context.Context, boxes []Box, takes []Take, decisions []Decision) (time.Duration, error)
}

// CheckBoxes validates the boxes of a step of ntakes takes: 1 to MaxBoxes,
// with distinct keys, each valid (CheckBox), and no Takes bit at or above
// ntakes.
func CheckBoxes(boxes []Box, ntakes int) error {
	if len(boxes) == 0 || len(boxes) > MaxBoxes {
		return &inputError{ErrInvalidPenalty, strconv.Itoa(len(boxes)) + " boxes, want 1 to " + strconv.Itoa(MaxBoxes)}
	}
	for i := range boxes {
		if err := CheckBox(boxes[i]); err != nil {
			return fmt.Errorf("box %d: %w", i, err)
		}
		if ntakes < 16 && boxes[i].Takes>>ntakes != 0 {
			return &inputError{ErrInvalidPenalty, "box " + strconv.Itoa(i) + " selects a take beyond the " + strconv.Itoa(ntakes) + " of the step"}
		}
		for j := 0; j < i; j++ {
			if boxes[j].Key == boxes[i].Key {
				return &inputError{ErrInvalidPenalty, "box " + strconv.Itoa(i) + " repeats the key of box " + strconv.Itoa(j)}
			}
		}
	}
	return nil
}

// CheckBox validates a box's arguments, so every store rejects the same
// input with the same errors.
func CheckBox(box Box) error {
	if err := box.Penalty.Validate(); err != nil {
		return err
	}
	if len(box.Key) == 0 || len(box.Key)+len("\x00denials") > MaxKeyLen {
		return &inputError{ErrInvalidKey, "box key of " + strconv.Itoa(len(box.Key)) + " bytes"}
	}
	return nil
}

// Boxed fills decisions with the answer to a client in the box for left.
func Boxed(takes []Take, decisions []Decision, left time.Duration) {
	for i := range takes {
		decisions[i] = Decision{Reason: ReasonPenalty, Limit: takes[i].Limit, RetryAfter: left}
	}
}

// ErrNoBoxStore is returned by TakeAllBoxed when the limiters do not keep
// their state in one BoxStore.
var ErrNoBoxStore = errors.New("tollgate: penalty box needs every limit in one store that keeps boxes (core.BoxStore)")

// CanBox reports, with ErrNoBoxStore, whether TakeAllBoxed can put a step
// of ls under a penalty box: every limiter's state is in one BoxStore.
func CanBox(ls []*Limiter) error {
	if len(ls) == 0 {
		return ErrNoBoxStore
	}
	if _, ok := ls[0].store.(BoxStore); !ok || sharedMulti(ls) == nil {
		return ErrNoBoxStore
	}
	return nil
}

// TakeAllBoxed is TakeAll under box (see BoxStore): a client in the box is
// refused without a decision (ReasonPenalty, RetryAfter the time left) and
// a denial counts towards the box. It returns the time the client has left
// in the box after the step, 0 when none. The box key is used as given:
// callers keep apart the boxes of different rules.
//
// Shadow limiters are taken apart, as by TakeAll, and never count towards
// the box. When the store fails each limiter follows its failure policy and
// the box is not consulted.
func TakeAllBoxed(ctx context.Context, box Box, ls []*Limiter, keys []string, ds []Decision) (time.Duration, error) {
	if err := checkAll(ls, keys, ds); err != nil {
		return 0, err
	}
	if err := CanBox(ls); err != nil {
		return 0, err
	}
	if err := CheckBox(box); err != nil {
		return 0, err
	}
	for _, l := range ls {
		if l.shadow {
			// Shadow limits never put anyone in the box: the step is an
			// ordinary one.
			return 0, takeShadowApart(ctx, ls, keys, ds)
		}
	}
	return takeAtomic(ctx, sharedMulti(ls), &box, ls, keys, ds)
}
