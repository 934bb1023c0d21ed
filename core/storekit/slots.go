package storekit

import (
	"context"
	"strconv"

	"github.com/tollgate-go/tollgate/core"
)

// SlotStore is a core.Store that also holds concurrency slots, for a
// core.ConcurrencyLimiter: at most max holders per key at once.
//
// Acquire admits the caller if fewer than max slots of key are held, and
// then holds one more, atomically: concurrent Acquires of one key never hold
// more than max. An admitted decision has Allowed true, Reason
// core.ReasonOK and Remaining the slots left; a denied one Allowed false,
// Reason core.ReasonLimited, Remaining 0, and holds nothing. id names the
// slot held (non-zero) for Release; it is 0 when nothing is held.
//
// Release gives back the slot id of key, once per admitted Acquire
// (core.Slot sees to that). It must work after Close, so that requests in
// flight still give their slots back, and do nothing for a slot the store
// no longer holds (a lease that lapsed).
//
// A store that decides outside the process (Redis) holds each slot under a
// lease that it renews while the slot is held and that lapses by itself
// when its holder's process dies; a store inside the process (memory) needs
// none, since its slots die with their holders. Errors are those of Take:
// core.ErrInvalidKey for an empty or too long key, core.ErrClosed after
// Close, anything else when the store cannot decide (never "denied");
// core.ErrInvalidConcurrency for a max below 1. The conformance suite in
// core/storetest (RunSlots) checks every SlotStore. Its zero value is nil:
// a store without it cannot hold concurrency limits, and
// core.NewConcurrencyLimiter refuses it.
type SlotStore interface {
	core.Store
	Acquire(ctx context.Context, key string, max int64) (id uint64, d core.Decision, err error)
	Release(ctx context.Context, key string, id uint64) error
}

// CheckAcquire validates the arguments of a SlotStore's Acquire, so every
// store rejects the same input with the same errors.
func CheckAcquire(key string, max int64) error {
	if len(key) == 0 {
		return &inputError{core.ErrInvalidKey, "empty key"}
	}
	if len(key) > core.MaxKeyLen {
		return &inputError{core.ErrInvalidKey, "key of " + strconv.Itoa(len(key)) + " bytes is longer than " + strconv.Itoa(core.MaxKeyLen)}
	}
	if max < 1 {
		return &inputError{core.ErrInvalidConcurrency, "max " + strconv.FormatInt(max, 10) + " is below 1"}
	}
	return nil
}
