package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// resetter is storekit.Resetter: a store that can forget a key's state.
type resetter interface {
	Reset(ctx context.Context, key string) error
}

// boxReleaser is storekit.BoxReleaser: a store that can let a client out of
// a penalty box.
type boxReleaser interface {
	ReleaseBox(ctx context.Context, key string) error
}

// ErrNoReset is returned by Limiter.Reset and ReleaseBox when the store
// cannot forget a key's state (it is not a storekit.Resetter, or for a box
// not a storekit.BoxReleaser). The memory and Redis stores can.
var ErrNoReset = errors.New("core: the store cannot reset keys")

// Reset forgets key's state under l, so that the key starts afresh with its
// whole burst, as a key never used: an operator giving a customer back its
// quota. The key is the one Take is given (without the limiter's prefix);
// every tier of l (Tier) shares it, so all are reset. The key is reset in
// the limiter's store and in its fallback store, if it has one that can
// reset (what the fallback counted while the store was failing); a
// fallback that cannot keeps its state until that lapses by itself.
//
// Reset returns an error wrapping ErrInvalidKey for an empty key or one
// too long for the store (the prefix included), ErrNoReset when the store
// cannot reset keys, and ErrStore with the store's error when it failed.
// Concurrency slots (ConcurrencyLimiter) are not a quota and are not reset.
// Hooks are not called: a reset is no decision.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if key == "" {
		return &inputError{ErrInvalidKey, "empty key"}
	}
	if n := len(l.prefix) + len(key); n > MaxKeyLen {
		return &inputError{ErrInvalidKey, "key of " + strconv.Itoa(n) + " bytes with its prefix is longer than " + strconv.Itoa(MaxKeyLen)}
	}
	r, ok := l.store.(resetter)
	if !ok {
		return fmt.Errorf("%w (%T)", ErrNoReset, l.store)
	}
	full := l.prefix + key
	var errs []error
	if err := r.Reset(ctx, full); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrStore, err))
	}
	// Reset here even when the store failed: while it fails, the fallback
	// is what decides.
	if fr, ok := l.fallback.(resetter); ok {
		if err := fr.Reset(ctx, full); err != nil {
			errs = append(errs, fmt.Errorf("%w (fallback): %w", ErrStore, err))
		}
	}
	return errors.Join(errs...)
}

// ReleaseBox lets the client of the penalty box key (a Box's Key, as
// TakeAllBoxed was given it) out of its box in store: the box opens at
// once and its count of denials starts afresh, so the client is boxed
// again only after Penalty.Denials more denials. When store is a remote
// store with a local store (storekit.RemoteStore), the box is released
// there too: a step taken while the remote store failed was boxed there.
// Releasing a client that is in no box does nothing.
//
// ReleaseBox returns an error wrapping ErrInvalidKey for a key Box.Validate
// refuses, ErrNoReset when store cannot release boxes (it is not a
// storekit.BoxReleaser), and ErrStore with the store's error when it
// failed.
func ReleaseBox(ctx context.Context, store Store, key string) error {
	if len(key) == 0 || len(key)+len(denialSuffix) > MaxKeyLen {
		return &inputError{ErrInvalidKey, "box key of " + strconv.Itoa(len(key)) + " bytes"}
	}
	r, ok := store.(boxReleaser)
	if !ok {
		return fmt.Errorf("%w: no penalty boxes to release (%T)", ErrNoReset, store)
	}
	var errs []error
	if err := r.ReleaseBox(ctx, key); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrStore, err))
	}
	if rs, ok := store.(remoteStore); ok {
		if lr, ok := rs.LocalStore().(boxReleaser); ok {
			if err := lr.ReleaseBox(ctx, key); err != nil {
				errs = append(errs, fmt.Errorf("%w (local store): %w", ErrStore, err))
			}
		}
	}
	return errors.Join(errs...)
}
