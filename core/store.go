package core

import (
	"context"
	"errors"
	"strconv"
)

// Store keeps per-key state and applies a limit to it atomically.
//
// Take reads the key's state, decides and writes the new state in one atomic
// step: concurrent Takes on one key never admit more than the limit allows.
// A non-nil error means the store could not decide (it is down, closed, or
// the input is invalid); it never means "denied", which is a Decision with
// Allowed false. A Decision returned with a nil error has Name empty.
//
// Cost is how much of the quota the request uses. Cost 0 peeks: nothing is
// consumed, no state is written, and the Decision says whether a request of
// cost 1 would be admitted now. A cost larger than the limit's burst is
// denied with ReasonCostExceedsBurst and RetryAfter Never, and consumes
// nothing.
//
// Keys are compared as given: callers that share a store between limits
// must keep their keys apart (Limiter does so with a prefix). A Store may
// keep the key it is given: it is the store's as much as the caller's.
//
// Every Store must pass the conformance suite in core/storetest; package
// core/storekit has the parts every store shares (the input checks, the
// penalty box keys).
// The zero value of an interface is nil: NewLimiter refuses a nil Store.
type Store interface {
	Take(ctx context.Context, key string, limit Limit, cost int64) (Decision, error)
	// Close releases the store's resources and stops any goroutine it
	// started. Take after Close returns ErrClosed.
	Close() error
}

// PrefixTaker is implemented by stores that can take a key given in two
// parts, a prefix and the rest, without the caller joining them. A Limiter
// uses it when its store has it: a call through the Store interface makes
// a joined key escape to the heap (or a pooled buffer), where the memory
// store joins the parts on its own stack.
//
// TakePrefixed(ctx, prefix, key, limit, cost) must behave exactly as
// Take(ctx, prefix+key, limit, cost): the same state, the same errors.
// core/storetest checks that for stores that implement it.
// Like every interface here, its zero value is nil: a store that does not
// implement it is called through Take.
type PrefixTaker interface {
	TakePrefixed(ctx context.Context, prefix, key string, limit Limit, cost int64) (Decision, error)
}

// Take is one of the limits a MultiStore applies in one step: a limit, the
// key it counts under and the cost to charge.
// The zero Take is invalid (no key, no limit): CheckTakeMany refuses it.
type Take struct {
	Key   string
	Limit Limit
	Cost  int64
}

// MaxTakes is the most takes one TakeMany accepts.
const MaxTakes = 16

// MultiStore is a Store that can apply several limits, each to its own key,
// in one atomic step: a request under several named limits (per IP and per
// tenant, say) is admitted by all of them or consumes none.
//
// TakeMany decides every take at one instant and writes decisions[i] for
// takes[i] (the two slices have the same length). If every take is
// admitted, each is consumed and decisions[i] is what Take would have
// returned. If any is denied, no state changes at all: a denied take's
// decision is its denial, and every other decision is what a peek (cost 0)
// of its key shows, the state as it stays. Takes must not repeat a key.
//
// Every take is counted under its own key, the one Take uses: a store never
// keeps one take's state under another's key, so a limit counts the same
// whatever other limits share its steps, and the order of the takes does
// not matter. A store that cannot act atomically on every key of a step
// (Redis Cluster, whose scripts touch one hash slot) may decide every take
// without consuming and then take each key by itself: a step any take
// denies at that first decision still changes nothing, but one racing a
// concurrent step between the two may leave the takes it had consumed
// consumed although it ends denied. Such a store may admit less than its
// limits allow under concurrency, never more, and says so in its doc.
// Errors are those of Take, for the first take at fault, and ErrInvalidTakes
// for a wrong number of takes or decisions, or a repeated key.
//
// The conformance suite in core/storetest checks TakeMany for every store
// that implements it.
// A store that does not implement it (a nil MultiStore) is taken one limit
// at a time, as TakeAll describes.
type MultiStore interface {
	Store
	TakeMany(ctx context.Context, takes []Take, decisions []Decision) error
}

// ErrInvalidTakes is returned by TakeMany for no takes, more than MaxTakes,
// a decisions slice of another length, or two takes of one key.
var ErrInvalidTakes = errors.New("core: invalid takes")

// MaxKeyLen is the longest key a store accepts, prefix included.
const MaxKeyLen = 4096

var (
	// ErrInvalidKey is returned for an empty key or one longer than MaxKeyLen.
	ErrInvalidKey = errors.New("core: invalid key")
	// ErrInvalidCost is returned for a negative cost.
	ErrInvalidCost = errors.New("core: invalid cost")
	// ErrClosed is returned by a Store or Limiter used after Close.
	ErrClosed = errors.New("core: store closed")
)

type inputError struct {
	sentinel error
	detail   string
}

func (e *inputError) Error() string { return e.sentinel.Error() + ": " + e.detail }
func (e *inputError) Unwrap() error { return e.sentinel }

// checkInput is the error for a Limiter given an empty key or a negative
// cost (storekit.CheckTake checks a store's input in full).
func checkInput(key string, cost int64) error {
	if len(key) == 0 {
		return &inputError{ErrInvalidKey, "empty key"}
	}
	if cost < 0 {
		return &inputError{ErrInvalidCost, "cost " + strconv.FormatInt(cost, 10) + " is negative"}
	}
	return nil
}
