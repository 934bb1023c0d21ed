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

// prefixTaker is storekit.PrefixTaker, which a Limiter looks for in its
// store by its method (the interface stays unexported here, so that a
// user's page lists what users call).
type prefixTaker interface {
	TakePrefixed(ctx context.Context, prefix, key string, limit Limit, cost int64) (Decision, error)
}

// preparedTaker is storekit.PreparedTaker: a store that takes under a
// limit prepared once, found like prefixTaker.
type preparedTaker interface {
	prefixTaker
	PrepareLimit(limit Limit) (any, error)
	TakePrepared(ctx context.Context, prepared any, prefix, key string, cost int64) (Decision, error)
}

// Take is one of the limits a store applies in one step (the TakeMany of a
// storekit.MultiStore): a limit, the key it counts under and the cost to
// charge.
// The zero Take is invalid (no key, no limit): storekit.CheckTakeMany
// refuses it.
type Take struct {
	Key   string
	Limit Limit
	Cost  int64
}

// MaxTakes is the most takes one TakeMany accepts.
const MaxTakes = 16

// multiStore is storekit.MultiStore: a store that takes several limits in
// one atomic step.
type multiStore interface {
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
