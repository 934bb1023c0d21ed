package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// settler is storekit.Settler, which a Limiter looks for in its store by
// its method.
type settler interface {
	Settle(ctx context.Context, key string, limit Limit, delta int64) (Decision, error)
}

// ErrNoSettle is returned by Settle when the limiter's store cannot settle
// costs (it does not implement storekit.Settler). The memory and Redis
// stores can; check with CanSettle when the limiter is built.
var ErrNoSettle = errors.New("core: the store cannot settle costs")

// CanSettle reports whether the limiter's store, and its fallback if it has
// one, can settle costs (Settle).
func (l *Limiter) CanSettle() bool {
	if _, ok := l.store.(settler); !ok {
		return false
	}
	if l.fallback != nil {
		_, ok := l.fallback.(settler)
		return ok
	}
	return true
}

// Settle corrects a take whose cost was an estimate (a reservation) once
// the real cost is known: a request admitted at cost reserved (the
// limiter's cost, WithCost, for Take) turns out to have cost actual, such as
// the bytes of its response or the tokens a model consumed. The difference
// is charged to key (or given back, when actual is smaller) whatever is
// left: the request was served, so a key may end in debt, and is denied
// until it has paid it off. Package storekit's Settle has the table of how
// far each algorithm carries debt and how it is paid; in short, at most one
// burst of debt is kept, and over any run of windows the cost charged never
// exceeds their quota plus the debt still unpaid.
//
// The returned Decision is the key's state after the settlement, as Peek
// reports it (the zero Decision, with the limiter's Name and Limit, when
// actual equals reserved: nothing is asked of the store). Settle never
// denies anything: it is bookkeeping for a request already answered.
//
// Bad input is answered deliberately, and the error says what was done:
//   - a negative actual (or reserved) changes nothing: the reservation
//     stands, and the error wraps ErrInvalidCost;
//   - an actual above the limit's burst is charged as the burst, the most
//     one request can cost, and the error wraps ErrInvalidCost;
//   - an empty key changes nothing (ErrInvalidKey).
//
// When the store fails, nothing is charged and the error wraps ErrStore; a
// limiter with a fallback store (FailBack) settles there instead, where its
// take was likely decided too. Settling needs a store that implements
// storekit.Settler (ErrNoSettle otherwise; see CanSettle). ctx should
// outlive the request's own context, which ends when its client goes away:
// context.WithoutCancel(r.Context()), as package httplimit does. The hook
// (WithHook) sees every settlement, with Event.Settled set.
func (l *Limiter) Settle(ctx context.Context, key string, reserved, actual int64) (Decision, error) {
	var start time.Time
	if l.hook != nil {
		start = time.Now()
	}
	delta, d, err, fb := l.settle(ctx, key, reserved, actual)
	d.Name = l.name
	if l.hook != nil {
		l.callHook(ctx, Event{Name: l.name, Key: key, Cost: delta, Decision: d, Err: err, Fallback: fb, Latency: time.Since(start), Settled: true})
	}
	return d, err
}

func (l *Limiter) settle(ctx context.Context, key string, reserved, actual int64) (delta int64, d Decision, err error, fallback bool) {
	d = Decision{Limit: l.limit}
	if key == "" {
		return 0, d, checkInput(key, 0), false
	}
	if reserved < 0 || actual < 0 {
		return 0, d, &inputError{ErrInvalidCost, "settling a reservation of " + strconv.FormatInt(reserved, 10) + " at " + strconv.FormatInt(actual, 10) + ": a cost is never negative; the reservation stands"}, false
	}
	if burst := l.limit.EffectiveBurst(); actual > burst {
		err = &inputError{ErrInvalidCost, "cost " + strconv.FormatInt(actual, 10) + " is larger than the burst " + strconv.FormatInt(burst, 10) + ": charged as the burst"}
		actual = burst
	}
	reserved = min(reserved, l.limit.EffectiveBurst())
	if delta = actual - reserved; delta == 0 {
		return 0, d, err, false
	}
	s, ok := l.store.(settler)
	if !ok {
		return delta, d, ErrNoSettle, false
	}
	full := l.prefix + key
	sd, serr := s.Settle(ctx, full, l.limit, delta)
	if serr == nil {
		return delta, sd, err, false
	}
	serr = fmt.Errorf("%w: settling: %w", ErrStore, serr)
	if l.policy == FailBack {
		if fs, ok := l.fallback.(settler); ok {
			fd, ferr := fs.Settle(ctx, full, l.fbLimit, max(min(delta, l.fbLimit.EffectiveBurst()), -l.fbLimit.EffectiveBurst()))
			if ferr == nil {
				return delta, fd, errors.Join(serr, err), true
			}
			serr = fmt.Errorf("%w (fallback: %w)", serr, ferr)
		}
	}
	return delta, d, errors.Join(serr, err), false
}
