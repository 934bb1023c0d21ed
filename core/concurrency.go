package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ConcurrencyRetryAfter is the RetryAfter of a request a ConcurrencyLimiter
// denies. A slot frees when any request holding one ends, which no one can
// predict: it may be the next millisecond or an hour away (a websocket).
// One second is the shortest wait HTTP's Retry-After can say, the same as
// a fail-closed answer's: a client that retries then finds a slot as soon
// as the server can tell it to try, and one that finds none is told again.
// The slots' lease (the store's TTL) is no better a figure: it says when a
// crashed holder's slot frees, not a live one's.
const ConcurrencyRetryAfter = time.Second

// ErrInvalidConcurrency is returned for a concurrency limit below 1 (by
// NewConcurrencyLimiter, and by a store's Acquire).
var ErrInvalidConcurrency = errors.New("core: invalid concurrency limit")

// slotStore is storekit.SlotStore: a store that holds concurrency slots.
type slotStore interface {
	Store
	Acquire(ctx context.Context, key string, max int64) (id uint64, d Decision, err error)
	Release(ctx context.Context, key string, id uint64) error
}

// ConcurrencyLimiter admits at most Max requests in flight per key: a
// request takes a slot with Acquire before its work and gives it back with
// Slot.Release after, whatever happens to the work (return, panic, a client
// that went away). It is safe for concurrent use. Several limiters may share
// one store, each keeping its keys apart with its prefix, as a Limiter does.
//
// A store holds the slots: the memory store in the process, the Redis store
// under a lease it renews while a slot is held, so that the slots of an
// instance that crashes free themselves when their lease runs out, while a
// request open for hours (a websocket, a long poll) keeps its slot.
//
// The zero ConcurrencyLimiter is not usable: build one with
// NewConcurrencyLimiter.
type ConcurrencyLimiter struct {
	store    slotStore
	max      int64
	name     string
	prefix   string
	policy   FailurePolicy
	fallback slotStore // FailBack
	fbMax    int64     // max divided among the instances, for the fallback
	hook     func(context.Context, Event)
	onSwitch *notifier // WithFailoverHook; nil without one
}

// NewConcurrencyLimiter returns a limiter admitting at most n requests in
// flight per key, holding its slots in store, which must hold slots (a
// storekit.SlotStore: the memory and Redis stores do). It accepts the
// Limiter's options that apply to slots: WithName (default "concurrent-N"),
// WithPrefix, WithHook, and the failure policy (WithFailOpen,
// WithFailClosed, WithFallback, WithInstances; over a remote store the
// default falls back to its local store, with n divided among the
// instances, each share at least 1), WithFailoverHook (called as a
// Limiter calls it: once when the store starts failing, once when it
// decides again). WithCost and WithShadow are refused. An n below 1 is refused with an error
// wrapping ErrInvalidConcurrency: a limit of 0 would refuse every request.
func NewConcurrencyLimiter(store Store, n int64, opts ...Option) (*ConcurrencyLimiter, error) {
	if store == nil {
		return nil, errors.New("core: nil store")
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: concurrent %d: must be at least 1 request in flight", ErrInvalidConcurrency, n)
	}
	ss, ok := store.(slotStore)
	if !ok {
		return nil, fmt.Errorf("core: concurrency limit: store %T holds no concurrency slots (it is no storekit.SlotStore)", store)
	}
	c := config{name: "concurrent-" + strconv.FormatInt(n, 10), cost: 1, instances: 1}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("core: nil option")
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	switch {
	case c.cost != 1:
		return nil, errors.New("core: concurrency limit: WithCost does not apply (a request holds one slot)")
	case c.shadow:
		return nil, errors.New("core: concurrency limit: WithShadow is not supported")
	}
	l := &ConcurrencyLimiter{store: ss, max: n, name: c.name, prefix: defaultPrefix(c.name), policy: c.policy, hook: c.hook}
	if c.onSwitch != nil {
		l.onSwitch = &notifier{fn: c.onSwitch}
	}
	if c.prefix != nil {
		l.prefix = *c.prefix
	}
	if !c.policySet {
		// As a Limiter: a remote store's own local store, or closed.
		l.policy = FailClosed
		if rs, ok := store.(remoteStore); ok {
			if local, ok := rs.LocalStore().(slotStore); ok && local != nil {
				l.policy, c.fallback = FailBack, local
			}
		}
	}
	if l.policy == FailBack {
		fb, ok := c.fallback.(slotStore)
		if !ok {
			return nil, fmt.Errorf("core: concurrency limit: fallback store %T holds no concurrency slots", c.fallback)
		}
		l.fallback, l.fbMax = fb, max(n/int64(c.instances), 1)
	}
	return l, nil
}

// Name returns the limiter's name (WithName).
func (l *ConcurrencyLimiter) Name() string { return l.name }

// Max returns how many requests the limiter admits in flight per key.
func (l *ConcurrencyLimiter) Max() int64 { return l.max }

// Prefix returns the prefix the limiter puts before its keys in the store.
func (l *ConcurrencyLimiter) Prefix() string { return l.prefix }

// FailurePolicy returns what the limiter does when its store fails.
func (l *ConcurrencyLimiter) FailurePolicy() FailurePolicy { return l.policy }

// Slot is a concurrency slot held from an admitted Acquire until Release.
// The zero Slot holds nothing: its Release does nothing.
type Slot struct {
	store slotStore
	key   string
	id    uint64
}

// Held reports whether s holds a slot (Release has not been called).
func (s *Slot) Held() bool { return s.store != nil }

// Release gives the slot back, so that another request of the key may take
// it. It is called once the work is over, however it ended, and with a
// context of its own: the request's may be done by then (its client went
// away), while the slot must still be given back. A second Release of the
// same Slot does nothing. An error means the store could not be told (it is
// down): a slot of a store with leases (Redis) then frees when its lease
// runs out, since Release stops renewing it in any case.
func (s *Slot) Release() error {
	if s.store == nil {
		return nil
	}
	st, key, id := s.store, s.key, s.id
	*s = Slot{}
	return st.Release(context.Background(), key, id)
}

// Acquire takes a slot of key, if fewer than Max requests of key hold one,
// and returns it with the decision. Release the slot when the work is done
// (defer it): a slot not released is held as long as the process lives.
//
// A denied decision has Reason ReasonLimited, Remaining 0 and RetryAfter
// ConcurrencyRetryAfter; an admitted one has Remaining the slots left after
// this one. Decision.Limit is the zero Limit (Max says the limit).
// An empty key is denied with ReasonInvalid and an error wrapping
// ErrInvalidKey. When the store fails, the decision follows the failure
// policy, as Limiter.TakeN's does: FailBack takes the slot in the fallback
// store (the Slot then releases it there), FailOpen admits holding nothing,
// FailClosed denies; the error wraps ErrStore. A caller whose context is
// done when the store fails is refused.
func (l *ConcurrencyLimiter) Acquire(ctx context.Context, key string) (Slot, Decision, error) {
	var start time.Time
	if l.hook != nil {
		start = time.Now()
	}
	s, d, err, fb := l.acquire(ctx, key)
	d.Name = l.name
	if l.hook != nil {
		l.callHook(ctx, Event{Name: l.name, Key: key, Cost: 1, Decision: d, Err: err, Fallback: fb, Latency: time.Since(start)})
	}
	return s, d, err
}

// callHook calls the limiter's hook, recovering a panic as a Limiter does.
func (l *ConcurrencyLimiter) callHook(ctx context.Context, ev Event) {
	runHook(l.hook, ctx, ev)
}

func (l *ConcurrencyLimiter) acquire(ctx context.Context, key string) (Slot, Decision, error, bool) {
	if key == "" {
		return Slot{}, Decision{Reason: ReasonInvalid}, checkInput(key, 0), false
	}
	full := l.prefix + key // a store keeps the key of a slot it holds
	epoch := l.onSwitch.epoch()
	id, d, err := l.store.Acquire(ctx, full, l.max)
	if err == nil {
		l.onSwitch.recovered(epoch)
		s := l.decided(l.store, full, id, &d)
		return s, d, nil, false
	}
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidConcurrency) {
		return Slot{}, Decision{Reason: ReasonInvalid}, err, false
	}
	if cerr := ctx.Err(); cerr != nil {
		return Slot{}, Decision{Reason: ReasonFailClosed, RetryAfter: failClosedRetryAfter}, fmt.Errorf("%w: the caller went away (%w): %w", ErrStore, cerr, err), false
	}
	err = fmt.Errorf("%w: %w", ErrStore, err)
	l.onSwitch.failed(epoch, err)
	switch l.policy {
	case FailClosed:
		return Slot{}, Decision{Reason: ReasonFailClosed, RetryAfter: failClosedRetryAfter}, err, false
	case FailBack:
		id, d, ferr := l.fallback.Acquire(ctx, full, l.fbMax)
		if ferr != nil {
			return Slot{}, Decision{Reason: ReasonFailClosed, RetryAfter: failClosedRetryAfter}, fmt.Errorf("%w (fallback: %w)", err, ferr), true
		}
		s := l.decided(l.fallback, full, id, &d)
		return s, d, err, true
	default:
		return Slot{}, Decision{Allowed: true, Reason: ReasonFailOpen}, err, false
	}
}

// decided returns the slot of a store's decision d, and sets the
// RetryAfter of a denial.
func (l *ConcurrencyLimiter) decided(st slotStore, full string, id uint64, d *Decision) Slot {
	if !d.Allowed {
		d.Remaining, d.RetryAfter = 0, ConcurrencyRetryAfter
		return Slot{}
	}
	return Slot{store: st, key: full, id: id}
}
