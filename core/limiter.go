package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// FailurePolicy says what a Limiter does when its store returns an error.
type FailurePolicy uint8

const (
	// FailOpen admits the request uncounted (ReasonFailOpen). It is the
	// default: a rate limiter whose store is down should not take the
	// service down with it.
	FailOpen FailurePolicy = iota
	// FailClosed denies the request (ReasonFailClosed, RetryAfter 1s); HTTP
	// adapters answer 503.
	FailClosed
	// FailBack decides with a fallback store (set by WithFallback).
	FailBack
)

func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "fail-open"
	case FailClosed:
		return "fail-closed"
	case FailBack:
		return "fallback"
	}
	return "policy(?)"
}

// FailClosedRetryAfter is the RetryAfter of a decision denied because the
// store failed under FailClosed.
const FailClosedRetryAfter = time.Second

// ErrStore wraps every store error a Limiter returns, so callers can tell a
// failed store (errors.Is(err, ErrStore)) from invalid input.
var ErrStore = errors.New("tollgate: store failed")

// Event describes one decision, for the hook set with WithHook.
type Event struct {
	// Policy is the limiter's name.
	Policy string
	// Key is the key as passed to Take, without the limiter's prefix.
	Key string
	// Cost is the cost asked for.
	Cost int64
	// Decision is what the limiter returned.
	Decision Decision
	// Err is the store's error, if it failed (the decision then follows the
	// failure policy), or the input error.
	Err error
	// Fallback is true when the fallback store decided.
	Fallback bool
	// Latency is how long the store took.
	Latency time.Duration
}

// Limiter applies one named Limit to keys, in a Store. It is safe for
// concurrent use. Several limiters may share one store: each keeps its keys
// apart with its prefix.
type Limiter struct {
	store    Store
	prefixed PrefixTaker // store, when it takes keys in two parts
	direct   bool        // Take may call prefixed at once: a prefix and no hooks
	limit    Limit
	name     string
	prefix   string
	cost     int64
	policy   FailurePolicy
	fallback Store
	fbLimit  Limit
	hook     func(context.Context, Event)
	onSwitch func(failing bool, err error)
	shadow   bool // WithShadow: denials are admitted as ReasonShadow
	// With onSwitch set, switches counts the switches to and from the
	// failure policy, so its low bit says the limiter is failing. A call
	// switches only with a compare-and-swap from the value it read when it
	// began, so a call that spans another switch never switches back: the
	// hook sees each outage once, not a flap at its edges.
	switches atomic.Uint64
}

type config struct {
	name      string
	prefix    *string
	cost      int64
	policy    FailurePolicy
	fallback  Store
	instances int
	hook      func(context.Context, Event)
	onSwitch  func(failing bool, err error)
	shadow    bool
}

// Option configures a Limiter.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithName names the limiter's policy, as headers and hooks show it (the
// IETF RateLimit field's policy id). Default: the limit's String form, such
// as "100/m". The name must be printable ASCII without '"' or '\'.
func WithName(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return errors.New("tollgate: name: empty")
		}
		for i := 0; i < len(name); i++ {
			if ch := name[i]; ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' {
				return fmt.Errorf("tollgate: name %q: byte %d is not printable ASCII (or is a quote or backslash)", name, i)
			}
		}
		c.name = name
		return nil
	})
}

// WithPrefix sets the prefix put before every key in the store. Default: the
// name followed by ':', so limiters with different names never share state.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if len(prefix) >= MaxKeyLen {
			return fmt.Errorf("tollgate: prefix: %d bytes leaves no room for a key", len(prefix))
		}
		c.prefix = &prefix
		return nil
	})
}

// WithCost sets the cost Take charges per request. Default 1.
func WithCost(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("tollgate: cost %d: must be at least 1 (use Peek to look without taking)", n)
		}
		c.cost = n
		return nil
	})
}

// WithFailOpen admits requests when the store fails. This is the default.
func WithFailOpen() Option {
	return optionFunc(func(c *config) error { c.policy = FailOpen; return nil })
}

// WithShadow puts the limiter in shadow mode: it decides and counts as it
// would enforcing (an admitted request takes from the quota, a denied one
// takes nothing), but every request it would deny is admitted, with Reason
// ReasonShadow and the RetryAfter it would have imposed. Hooks see those
// decisions, so a new limit can be watched on real traffic before it is
// enforced. httplimit sends no rate-limit fields for a shadow limit.
func WithShadow() Option {
	return optionFunc(func(c *config) error { c.shadow = true; return nil })
}

// WithFailClosed denies requests when the store fails.
func WithFailClosed() Option {
	return optionFunc(func(c *config) error { c.policy = FailClosed; return nil })
}

// WithFallback decides with store when the primary store fails, typically a
// memstore when the primary is shared. instances is how many processes share
// the primary's quota: each falls back to the limit divided by it (rate and
// burst, each at least 1), so N instances in fallback together admit about the
// quota rather than N times it. If the fallback fails too, the request is
// denied.
func WithFallback(store Store, instances int) Option {
	return optionFunc(func(c *config) error {
		if store == nil {
			return errors.New("tollgate: fallback: nil store")
		}
		if instances < 1 {
			return fmt.Errorf("tollgate: fallback instances %d: must be at least 1", instances)
		}
		c.policy, c.fallback, c.instances = FailBack, store, instances
		return nil
	})
}

// WithHook calls fn after every decision, on the caller's goroutine. fn must
// be fast and must not retain ev beyond the call.
func WithHook(fn func(ctx context.Context, ev Event)) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("tollgate: hook: nil func")
		}
		c.hook = fn
		return nil
	})
}

// WithFailoverHook calls fn when the store starts failing, so that the
// limiter switches to its failure policy (the fallback store, fail open or
// fail closed), with the error that made it switch; and again, with failing
// false and a nil error, on the first decision the store makes after that.
// It is called once per switch, on the goroutine of the request that saw it,
// and must be fast. Only a call that began after the last switch can switch
// again, so answers already on their way when the store failed (or came back)
// do not make the hook flap. Invalid input (an empty key) is not a store
// failure.
func WithFailoverHook(fn func(failing bool, err error)) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("tollgate: failover hook: nil func")
		}
		c.onSwitch = fn
		return nil
	})
}

// LimitChecker is implemented by stores that cannot enforce every valid
// Limit (a Redis script computes in microseconds with 53-bit numbers).
// NewLimiter calls CheckLimit so that such a limit fails at construction, with
// an error naming the field, rather than on every request.
type LimitChecker interface {
	CheckLimit(Limit) error
}

// NewLimiter returns a Limiter enforcing limit in store. It validates the
// limit and every option (and, when store is a LimitChecker, asks the store),
// and returns an error naming what is wrong.
func NewLimiter(store Store, limit Limit, opts ...Option) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("tollgate: nil store")
	}
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	if lc, ok := store.(LimitChecker); ok {
		if err := lc.CheckLimit(limit); err != nil {
			return nil, err
		}
	}
	c := config{name: limit.String(), cost: 1}
	for _, o := range opts {
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if c.cost > limit.EffectiveBurst() {
		return nil, fmt.Errorf("tollgate: cost %d: larger than the burst %d, so every request would be denied", c.cost, limit.EffectiveBurst())
	}
	l := &Limiter{store: store, limit: limit, name: c.name, prefix: c.name + ":", cost: c.cost, policy: c.policy, hook: c.hook, onSwitch: c.onSwitch, shadow: c.shadow}
	if c.prefix != nil {
		l.prefix = *c.prefix
	}
	l.prefixed, _ = store.(PrefixTaker)
	l.direct = l.prefixed != nil && l.prefix != "" && l.hook == nil && l.onSwitch == nil && !l.shadow
	if c.fallback != nil {
		l.fallback = c.fallback
		l.fbLimit = divideLimit(limit, int64(c.instances))
	}
	return l, nil
}

// keyBufs holds the buffers prefixed keys are built in; buffers that grew
// past maxPooledKey are left to the garbage collector.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

const maxPooledKey = 1024

// divideLimit shares limit among n instances.
func divideLimit(l Limit, n int64) Limit {
	burst := l.EffectiveBurst()
	l.Rate = max(l.Rate/n, 1)
	l.Burst = max(burst/n, 1)
	if l.Algorithm.windowed() {
		l.Burst = l.Rate
	}
	return l
}

// shade admits, in shadow mode, a request the limit (or a failing store)
// would deny.
func (l *Limiter) shade(d *Decision) {
	if l.shadow && !d.Allowed && d.Reason != ReasonInvalid {
		d.Allowed, d.Reason = true, ReasonShadow
	}
}

// Shadow reports whether the limiter is in shadow mode (WithShadow).
func (l *Limiter) Shadow() bool { return l.shadow }

// Name returns the limiter's policy name.
func (l *Limiter) Name() string { return l.name }

// Limit returns the limit the limiter enforces.
func (l *Limiter) Limit() Limit { return l.limit }

// Policy returns the limiter's failure policy.
func (l *Limiter) Policy() FailurePolicy { return l.policy }

// Take charges the limiter's cost (default 1) to key.
func (l *Limiter) Take(ctx context.Context, key string) (d Decision, err error) {
	if l.direct && key != "" {
		// The common case in one call: a store taking the key in two
		// parts, no hooks. Anything but a decision goes the long way.
		// (Named results: the decision is written in place, not copied.)
		if d, err = l.prefixed.TakePrefixed(ctx, l.prefix, key, l.limit, l.cost); err == nil {
			d.Policy = l.name
			return
		}
	}
	return l.TakeN(ctx, key, l.cost)
}

// Peek reports whether a request of cost 1 would be admitted for key now,
// without taking anything.
func (l *Limiter) Peek(ctx context.Context, key string) (Decision, error) {
	return l.TakeN(ctx, key, 0)
}

// TakeN charges cost to key and returns the decision.
//
// An empty key or a negative cost is denied with ReasonInvalid and an error
// wrapping ErrInvalidKey or ErrInvalidCost: invalid input is never admitted
// by a failure policy, nor counted in a shared bucket. When the store fails,
// the decision follows the failure policy and the error wraps ErrStore and
// the store's error; act on the decision, log the error.
func (l *Limiter) TakeN(ctx context.Context, key string, cost int64) (Decision, error) {
	var start time.Time
	if l.hook != nil {
		start = time.Now()
	}
	d, err, fb := l.decide(ctx, key, cost)
	d.Policy = l.name
	l.shade(&d)
	if l.hook != nil {
		l.hook(ctx, Event{Policy: l.name, Key: key, Cost: cost, Decision: d, Err: err, Fallback: fb, Latency: time.Since(start)})
	}
	return d, err
}

func (l *Limiter) decide(ctx context.Context, key string, cost int64) (d Decision, err error, fallback bool) {
	if key == "" || cost < 0 {
		return Decision{Reason: ReasonInvalid, Limit: l.limit}, CheckTake(key, l.limit, cost), false
	}
	var epoch uint64
	if l.onSwitch != nil {
		epoch = l.switches.Load()
	}
	full := key
	if l.prefixed != nil && l.prefix != "" {
		d, err = l.prefixed.TakePrefixed(ctx, l.prefix, key, l.limit, cost)
		if err == nil {
			l.recovered(epoch)
			return d, nil, false
		}
		full = l.prefix + key // for the fallback and the error
	} else if l.prefix != "" {
		// The prefixed key is built in a pooled buffer rather than by
		// concatenation, which would cost an allocation per request. Stores
		// copy a key they keep (the Store contract, checked by storetest), so
		// the buffer is reused once Take returns without an error. After an
		// error it is dropped instead, since the error may still refer to
		// the key.
		bp := keyBufs.Get().(*[]byte)
		b := append(append((*bp)[:0], l.prefix...), key...)
		full = unsafe.String(unsafe.SliceData(b), len(b))
		d, err = l.store.Take(ctx, full, l.limit, cost)
		if err == nil {
			if cap(b) <= maxPooledKey {
				*bp = b[:0]
				keyBufs.Put(bp)
			}
			l.recovered(epoch)
			return d, nil, false
		}
		full = string(b) // the buffer is not reused; the fallback and the error may keep this
	} else {
		d, err = l.store.Take(ctx, full, l.limit, cost)
		if err == nil {
			l.recovered(epoch)
			return d, nil, false
		}
	}
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidCost) {
		return Decision{Reason: ReasonInvalid, Limit: l.limit}, err, false
	}
	err = fmt.Errorf("%w: %w", ErrStore, err)
	if l.onSwitch != nil && epoch&1 == 0 && l.switches.CompareAndSwap(epoch, epoch+1) {
		l.onSwitch(true, err)
	}
	switch l.policy {
	case FailClosed:
		return Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: FailClosedRetryAfter}, err, false
	case FailBack:
		fd, ferr := l.fallback.Take(ctx, full, l.fbLimit, cost)
		if ferr != nil {
			return Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: FailClosedRetryAfter}, fmt.Errorf("%w (fallback: %w)", err, ferr), true
		}
		return fd, err, true
	default:
		return Decision{Allowed: true, Reason: ReasonFailOpen, Limit: l.limit}, err, false
	}
}

// recovered reports the switch back from the failure policy, if there was
// one and the successful call began after it: an answer that was already on
// its way when the store failed says nothing about the store now.
func (l *Limiter) recovered(epoch uint64) {
	if l.onSwitch != nil && epoch&1 == 1 && l.switches.CompareAndSwap(epoch, epoch+1) {
		l.onSwitch(false, nil)
	}
}
