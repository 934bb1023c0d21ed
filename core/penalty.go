package core

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// Penalty is a penalty box for repeat offenders: a client denied Denials
// times within Within is refused for For, each request answered at once
// without a decision of its limits, and so without spending their quota.
//
// Its state is two limits a store already knows how to keep, so every store
// keeps it the same way: the denials are a sliding window log of Denials per
// Within, and the box is a GCRA of 1 per For, which one take closes for For
// and a peek reads (storekit.DenialLimit and storekit.BoxLimit).
//
// The zero Penalty is invalid (Validate refuses it); a rule or a Box needs
// all three fields.
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
var ErrInvalidPenalty = errors.New("core: invalid penalty")

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
	if err := boxLimit(p).Validate(); err != nil {
		return fmt.Errorf("%w: for %v: %w", ErrInvalidPenalty, p.For, err)
	}
	if err := denialLimit(p).Validate(); err != nil {
		return fmt.Errorf("%w: within %v: %w", ErrInvalidPenalty, p.Within, err)
	}
	return nil
}

func (p Penalty) String() string {
	return strconv.FormatInt(p.Denials, 10) + " denials within " + p.Within.String() + ": boxed for " + p.For.String()
}

// boxLimit is the limit that keeps the box: one take closes it for For.
// Stores use it as storekit.BoxLimit.
func boxLimit(p Penalty) Limit { return Limit{Rate: 1, Period: p.For, Burst: 1} }

// denialLimit is the limit that counts denials: the Denials-th within
// Within leaves it empty. Stores use it as storekit.DenialLimit.
func denialLimit(p Penalty) Limit {
	return Limit{Rate: p.Denials, Period: p.Within, Algorithm: SlidingWindowLog}
}

// Box is one penalty box over a step: Key names the client's box (a store
// keeps it under storekit.BoxKeys(Key)), Penalty says when it closes and for how
// long, and Takes says which of the step's takes count towards it.
//
// Takes is a bit set over the step's takes: bit i selects takes[i]. A
// denied step counts towards the box only when one of its selected takes
// denied (its Decision.Allowed is false), so a box keyed by a client is
// not filled by a limit the client shares with others (a global or a
// per-tenant limit). Takes zero selects every take: every denial of the
// step counts. A Box needs a Key and a valid Penalty (Validate): the zero
// Box is refused.
type Box struct {
	Key     string
	Penalty Penalty
	Takes   uint16
}

// MaxBoxes is the most boxes one step is under.
const MaxBoxes = 4

// denialSuffix is the longer of the two suffixes storekit.BoxKeys puts
// after a box's key; Box.Validate leaves room for it.
const denialSuffix = "\x00denials"

// boxStore is storekit.BoxStore: a multiStore that also keeps penalty
// boxes.
type boxStore interface {
	multiStore
	TakeBoxed(ctx context.Context, boxes []Box, takes []Take, decisions []Decision) (time.Duration, error)
}

// Validate reports whether b can be used in a step: its Penalty is valid
// and its Key is not empty and leaves room, within MaxKeyLen, for the
// suffixes a store puts after it. Errors wrap ErrInvalidPenalty or
// ErrInvalidKey.
func (b Box) Validate() error {
	if err := b.Penalty.Validate(); err != nil {
		return err
	}
	if len(b.Key) == 0 || len(b.Key)+len(denialSuffix) > MaxKeyLen {
		return &inputError{ErrInvalidKey, "box key of " + strconv.Itoa(len(b.Key)) + " bytes"}
	}
	return nil
}

// checkBoxes validates the boxes of a step of ntakes takes for
// TakeAllBoxed: 1 to MaxBoxes boxes, each valid, no two with one key, and
// none selecting a take the step does not have. Errors wrap
// ErrInvalidPenalty or ErrInvalidKey. Stores check their boxes with
// storekit.CheckBoxes, which must agree (its tests compare the two).
func checkBoxes(boxes []Box, ntakes int) error {
	if len(boxes) == 0 || len(boxes) > MaxBoxes {
		return &inputError{ErrInvalidPenalty, strconv.Itoa(len(boxes)) + " boxes, want 1 to " + strconv.Itoa(MaxBoxes)}
	}
	for i := range boxes {
		b := &boxes[i]
		if err := b.Validate(); err != nil {
			return fmt.Errorf("%w (box %d)", err, i)
		}
		if b.Takes>>max(ntakes, 0) != 0 {
			return &inputError{ErrInvalidPenalty, "box " + strconv.Itoa(i) + " selects take " + strconv.Itoa(bits.Len16(b.Takes)-1) + " of a step of " + strconv.Itoa(ntakes)}
		}
		for j := 0; j < i; j++ {
			if boxes[j].Key == b.Key {
				return &inputError{ErrInvalidKey, "box " + strconv.Itoa(i) + " repeats the key of box " + strconv.Itoa(j)}
			}
		}
	}
	return nil
}

// ErrNoBoxStore is returned by TakeAllBoxed when the limiters do not keep
// their state in one store that keeps penalty boxes (a storekit.BoxStore;
// the memory and Redis stores are).
var ErrNoBoxStore = errors.New("core: penalty box needs every limit in one store that keeps boxes (storekit.BoxStore)")

// CanBox reports, with ErrNoBoxStore, whether TakeAllBoxed can put a step
// of ls under a penalty box: every limiter's state is in one store that
// keeps boxes (a storekit.BoxStore).
func CanBox(ls []*Limiter) error {
	if len(ls) == 0 {
		return ErrNoBoxStore
	}
	if _, ok := ls[0].store.(boxStore); !ok || sharedMulti(ls) == nil {
		return ErrNoBoxStore
	}
	return nil
}

// TakeAllBoxed is TakeAll under boxes (see Box): a client in
// any box is refused without a decision, every decision ReasonPenalty with
// RetryAfter the longest time left in a box; otherwise the step is TakeAll's,
// and a denied step counts towards each box whose selected limiters (Takes:
// bit i selects ls[i]; zero selects all) include one that denied. A box
// reaching its Penalty.Denials within Within closes for For. TakeAllBoxed
// returns the longest time the client has left in any box after the step,
// 0 when none. Box keys are used as given: callers keep apart the boxes of
// different rules and clients, and from the limiters' keys.
//
// Invalid boxes (storekit.CheckBoxes) refuse the step as invalid input
// does, with ReasonInvalid decisions and nothing taken. Shadow limiters are
// taken apart, as by TakeAll, and never count towards a box; a box that
// selects only shadow limiters is left out of the step. When the store
// fails and every limiter falls back to one store that keeps boxes (by
// default a remote store's local store), the step is taken there under the
// boxes (boxes of that store: one closed only in the failing store is not
// seen); otherwise each limiter follows its own failure policy.
func TakeAllBoxed(ctx context.Context, boxes []Box, ls []*Limiter, keys []string, ds []Decision) (time.Duration, error) {
	if err := checkAll(ls, keys, ds); err != nil {
		return 0, err
	}
	if err := CanBox(ls); err != nil {
		return 0, err
	}
	if err := checkBoxes(boxes, len(ls)); err != nil {
		invalidAll(ls, ds)
		return 0, err
	}
	for _, l := range ls {
		if l.shadow {
			return takeShadowApart(ctx, boxes, ls, keys, ds)
		}
	}
	return takeAtomic(ctx, sharedMulti(ls), boxes, ls, keys, ds)
}
