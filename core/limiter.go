package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// FailurePolicy says what a Limiter does when its store returns an error.
//
// The default is never "unlimited": over a remote store (one that decides
// outside the process, such as Redis: a storekit.RemoteStore) a Limiter
// falls back to the store's
// local store, holding this instance's share of the limit (FailBack, see
// WithInstances); over any other store it fails closed. Admitting
// everything while the store is down (FailOpen) must be asked for by name.
// The zero value is FailOpen, but no Limiter falls into it: NewLimiter
// applies the default above unless an option names a policy.
type FailurePolicy uint8

const (
	// FailOpen admits the request uncounted (ReasonFailOpen). It is only
	// ever chosen by name (WithFailOpen): while the store fails, the limit
	// is off, so a flood that makes the store slow switches its own limit
	// off.
	FailOpen FailurePolicy = iota
	// FailClosed denies the request (ReasonFailClosed, RetryAfter 1s); HTTP
	// adapters answer 503. The default over a store that is not remote.
	FailClosed
	// FailBack decides with a fallback store: the one set by WithFallback,
	// or by default a remote store's own local store
	// (storekit.RemoteStore's LocalStore).
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

// failClosedRetryAfter is the RetryAfter of a decision denied because the
// store failed under FailClosed.
const failClosedRetryAfter = time.Second

// ErrStore wraps every store error a Limiter returns, so callers can tell a
// failed store (errors.Is(err, ErrStore)) from invalid input.
var ErrStore = errors.New("core: store failed")

// remoteStore is storekit.RemoteStore: a store that decides outside the
// process and offers a local store to fall back to.
type remoteStore interface {
	Store
	LocalStore() Store
}

// Event describes one decision, for the hook set with WithHook. A hook
// receives Events the Limiter fills in; the zero Event describes none.
type Event struct {
	// Name is the limiter's name (WithName).
	Name string
	// Key is the key as passed to Take, without the limiter's prefix.
	Key string
	// Cost is the cost asked for.
	Cost int64
	// Decision is what the limiter returned.
	Decision Decision
	// Err is the store's error, if it failed (the decision then follows the
	// failure policy), or the input error.
	Err error
	// Fallback is true when the fallback store decided (the store failed and
	// the limiter's policy is FailBack).
	Fallback bool
	// Latency is how long the store took.
	Latency time.Duration
	// Settled is true for a settlement (Limiter.Settle), not a decision:
	// Cost is then what was charged (negative: given back) and Decision
	// the key's state after it, as a peek reports it.
	Settled bool
}

// Outcome names what became of a request, as core/sloghook logs it.
func (e Event) Outcome() string {
	switch {
	case e.Settled && e.Err != nil:
		return "settle-error"
	case e.Settled:
		return "settled"
	case e.Err != nil && e.Decision.Reason != ReasonOK && e.Decision.Reason != ReasonLimited:
		return "error"
	case e.Decision.Reason == ReasonShadow:
		return "shadow-denied"
	case e.Decision.Reason == ReasonPenalty:
		return "penalty"
	case e.Decision.Allowed:
		return "allowed"
	}
	return "denied"
}

// Limiter applies one named Limit to keys, in a Store. It is safe for
// concurrent use. Several limiters may share one store: each keeps its keys
// apart with its prefix. The zero Limiter is not usable: build one with
// NewLimiter, which validates the limit and the options.
type Limiter struct {
	store     Store
	prefixed  prefixTaker   // store, when it takes keys in two parts
	pt        preparedTaker // store, when it takes under a prepared limit
	prepared  any           // limit, prepared by pt
	direct    bool          // Take may call prefixed at once: a prefix and no hooks
	limit     Limit
	name      string
	prefix    string
	cost      int64
	policy    FailurePolicy
	fallback  Store
	fbLimit   Limit
	hook      func(context.Context, Event)
	onSwitch  *notifier // shared by the limiter's tiers (Tier)
	shadow    bool      // WithShadow: denials are admitted as ReasonShadow
	instances int64     // WithInstances, WithFallback: fbLimit is limit divided by it
}

type config struct {
	name      string
	prefix    *string
	cost      int64
	policy    FailurePolicy
	policySet bool // a policy was named; otherwise the default applies
	fallback  Store
	instances int
	hook      func(context.Context, Event)
	onSwitch  func(failing bool, err error)
	shadow    bool
}

// Option configures a Limiter. A nil Option is not allowed.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithName names the limiter, as decisions, headers and hooks show it
// (Decision.Name, Event.Name; the IETF RateLimit fields' policy id).
// Default: the limit's String form, such as "100/m". The name must be
// printable ASCII without '"' or '\'.
func WithName(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return errors.New("core: name: empty")
		}
		for i := 0; i < len(name); i++ {
			if ch := name[i]; ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' {
				return fmt.Errorf("core: name %q: byte %d is not printable ASCII (or is a quote or backslash)", name, i)
			}
		}
		c.name = name
		return nil
	})
}

// WithPrefix sets the prefix put before every key in the store, used as
// given: two limiters with the same prefix share their keys' state. Default:
// the name's length, ':', the name and ':' ("5:login:" for "login"), so
// limiters with different names never share state, whatever the names and
// keys hold (a name may contain ':'; the length says where it ends).
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if len(prefix) >= MaxKeyLen {
			return fmt.Errorf("core: prefix: %d bytes leaves no room for a key", len(prefix))
		}
		c.prefix = &prefix
		return nil
	})
}

// WithCost sets the cost Take charges per request. Default 1.
func WithCost(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("core: cost %d: must be at least 1 (use Peek to look without taking)", n)
		}
		c.cost = n
		return nil
	})
}

// WithFailOpen admits requests, uncounted, while the store fails. The limit
// is then off: a store made slow or unreachable (by a flood, a partition,
// a saturated host) stops limiting exactly when limiting matters. Choose it
// only where admitting everything costs less than refusing anything.
func WithFailOpen() Option {
	return optionFunc(func(c *config) error { c.policy, c.policySet = FailOpen, true; return nil })
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
	return optionFunc(func(c *config) error { c.policy, c.policySet = FailClosed, true; return nil })
}

// WithInstances says how many processes share the store's quota, so that a
// fallback (the default over a remote store, or WithFallback's) holds this
// instance's share: the limit's rate and burst divided by n, each at least
// 1. While the store cannot decide, n instances together then admit about
// the quota per window, not n times it. Default 1: each instance alone
// admits up to the whole quota while the remote store is down.
func WithInstances(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("core: instances %d: must be at least 1", n)
		}
		c.instances = n
		return nil
	})
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
			return errors.New("core: fallback: nil store")
		}
		if instances < 1 {
			return fmt.Errorf("core: fallback instances %d: must be at least 1", instances)
		}
		c.policy, c.policySet, c.fallback, c.instances = FailBack, true, store, instances
		return nil
	})
}

// WithHook calls fn after every decision, on the caller's goroutine. fn must
// be fast and must not retain ev beyond the call: the request waits for it
// (a hook that blocks holds up the requests that call it, and only those).
// A hook that panics does not take the request down: the panic is
// recovered, the decision stands, and the first such panic is logged with
// slog.Default. Given several times, every hook is called, in the order
// given (a metrics module's beside the application's own).
func WithHook(fn func(ctx context.Context, ev Event)) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("core: hook: nil func")
		}
		if prev := c.hook; prev != nil {
			// Each on its own: one that panics does not keep the next from
			// seeing the event.
			c.hook = func(ctx context.Context, ev Event) {
				runHook(prev, ctx, ev)
				runHook(fn, ctx, ev)
			}
		} else {
			c.hook = fn
		}
		return nil
	})
}

// WithFailoverHook calls fn when the store starts failing, so that the
// limiter switches to its failure policy (the fallback store, fail open or
// fail closed), with the error that made it switch; and again, with failing
// false and a nil error, on the first decision the store makes after that.
// It is called once per switch, in order, on a goroutine of the limiter's
// (started for the switch, gone when fn returns), never on a request's: a
// callback that blocks delays only later callbacks, and one that panics is
// recovered (and logged once with slog.Default). Only a call that began after
// the last switch can switch again, so answers already on their way when the
// store failed (or came back) do not make the hook flap. Invalid input (an
// empty key) and a caller that went away are not store failures. Given
// several times, every callback is called, in the order given.
func WithFailoverHook(fn func(failing bool, err error)) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("core: failover hook: nil func")
		}
		if prev := c.onSwitch; prev != nil {
			c.onSwitch = func(failing bool, err error) {
				defer fn(failing, err) // called even if prev panics
				prev(failing, err)
			}
		} else {
			c.onSwitch = fn
		}
		return nil
	})
}

// limitChecker is storekit.LimitChecker: a store that cannot enforce every
// valid Limit says which at construction.
type limitChecker interface {
	CheckLimit(Limit) error
}

// NewLimiter returns a Limiter enforcing limit in store. It validates the
// limit and every option (and, when store is a storekit.LimitChecker, asks
// the store), and returns an error naming what is wrong.
func NewLimiter(store Store, limit Limit, opts ...Option) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("core: nil store")
	}
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	if lc, ok := store.(limitChecker); ok {
		if err := lc.CheckLimit(limit); err != nil {
			return nil, err
		}
	}
	c := config{name: limit.String(), cost: 1, instances: 1}
	for _, o := range opts {
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if c.cost > limit.EffectiveBurst() {
		return nil, fmt.Errorf("core: cost %d: larger than the burst %d, so every request would be denied", c.cost, limit.EffectiveBurst())
	}
	if !c.policySet {
		// Never unlimited by accident: a remote store's own local store,
		// or closed.
		c.policy = FailClosed
		if rs, ok := store.(remoteStore); ok {
			if local := rs.LocalStore(); local != nil {
				c.policy, c.fallback = FailBack, local
			}
		}
	}
	l := &Limiter{store: store, limit: limit, name: c.name, prefix: defaultPrefix(c.name), cost: c.cost, policy: c.policy, hook: c.hook, shadow: c.shadow, instances: int64(c.instances)}
	if c.onSwitch != nil {
		l.onSwitch = &notifier{fn: c.onSwitch}
	}
	if c.prefix != nil {
		l.prefix = *c.prefix
	}
	l.prefixed, _ = store.(prefixTaker)
	if err := l.prepare(); err != nil {
		return nil, err
	}
	l.direct = l.prefixed != nil && l.prefix != "" && l.hook == nil && l.onSwitch == nil && !l.shadow
	if c.policy == FailBack {
		l.fallback = c.fallback
		l.fbLimit = divideLimit(limit, int64(c.instances))
	}
	return l, nil
}

// Tier returns a limiter enforcing limit on the same keys as l: the same
// name, prefix, store, cost, failure policy (a fallback holds limit divided
// among the same instances), hooks and shadow mode. A key's state is one
// whatever the tier it is taken under, so a client moving between plans
// keeps its count: pick the tier per request (a plan read from an API-key
// table) and take from its limiter. The limit is validated as NewLimiter
// validates it, with an error naming the field; the cost must fit in its
// burst. Tiers share l's failover hook, which sees one outage once.
//
// A key taken under a limit other than the one that last wrote it is
// interpreted by the new limit; whatever it carries, the new limit never
// admits more than it admits a key never used (package storekit's Apply
// says what each algorithm carries). Tier allocates a Limiter: make the
// tiers once, not per request.
func (l *Limiter) Tier(limit Limit) (*Limiter, error) {
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	if lc, ok := l.store.(limitChecker); ok {
		if err := lc.CheckLimit(limit); err != nil {
			return nil, err
		}
	}
	if l.cost > limit.EffectiveBurst() {
		return nil, fmt.Errorf("core: cost %d: larger than the burst %d of tier %v, so every request would be denied", l.cost, limit.EffectiveBurst(), limit)
	}
	t := &Limiter{store: l.store, prefixed: l.prefixed, direct: l.direct, limit: limit, name: l.name, prefix: l.prefix,
		cost: l.cost, policy: l.policy, fallback: l.fallback, hook: l.hook, onSwitch: l.onSwitch, shadow: l.shadow, instances: l.instances}
	if err := t.prepare(); err != nil {
		return nil, err
	}
	if l.policy == FailBack {
		t.fbLimit = divideLimit(limit, l.instances)
	}
	return t, nil
}

// prepare has the store prepare the limiter's limit, when it can
// (storekit.PreparedTaker) and the limiter takes keys in two parts.
func (l *Limiter) prepare() error {
	pt, ok := l.store.(preparedTaker)
	if !ok || l.prefixed == nil || l.prefix == "" {
		return nil
	}
	p, err := pt.PrepareLimit(l.limit)
	if err != nil {
		return err
	}
	l.pt, l.prepared = pt, p
	return nil
}

// takeParts takes cost from key in a store that takes keys in two parts:
// under the prepared limit when the store prepared it.
func (l *Limiter) takeParts(ctx context.Context, key string, cost int64) (Decision, error) {
	if l.pt != nil {
		return l.pt.TakePrepared(ctx, l.prepared, l.prefix, key, cost)
	}
	return l.prefixed.TakePrefixed(ctx, l.prefix, key, l.limit, cost)
}

// defaultPrefix is the prefix a Limiter named name puts before its keys
// unless WithPrefix says otherwise: the name's length in decimal, ':', the
// name, ':'. The length makes the join unambiguous: no two distinct (name,
// key) pairs give one stored key, whatever bytes either holds.
func defaultPrefix(name string) string {
	return strconv.Itoa(len(name)) + ":" + name + ":"
}

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

// Name returns the limiter's name (WithName): Decision.Name and Event.Name.
func (l *Limiter) Name() string { return l.name }

// Limit returns the limit the limiter enforces.
func (l *Limiter) Limit() Limit { return l.limit }

// Cost returns what Take charges (WithCost, default 1): the reservation of
// a request whose real cost is settled later (Settle).
func (l *Limiter) Cost() int64 { return l.cost }

// FailurePolicy returns what the limiter does when its store fails.
func (l *Limiter) FailurePolicy() FailurePolicy { return l.policy }

// Prefix returns the prefix the limiter puts before its keys in the store.
func (l *Limiter) Prefix() string { return l.prefix }

// Take charges the limiter's cost (default 1) to key.
func (l *Limiter) Take(ctx context.Context, key string) (d Decision, err error) {
	if l.direct && key != "" {
		// The common case in one call: a store taking the key in two
		// parts, no hooks. Anything but a decision goes the long way.
		// (Named results: the decision is written in place, not copied.)
		if l.pt != nil {
			d, err = l.pt.TakePrepared(ctx, l.prepared, l.prefix, key, l.cost)
		} else {
			d, err = l.prefixed.TakePrefixed(ctx, l.prefix, key, l.limit, l.cost)
		}
		if err != nil {
			// No hooks, no shadow, no failover callback: the policy alone.
			// (The store is not asked twice.)
			d, err, _ = l.failed(ctx, l.prefix+key, l.cost, err, 0)
		}
		d.Name = l.name
		return
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
	d.Name = l.name
	l.shade(&d)
	if l.hook != nil {
		l.callHook(ctx, Event{Name: l.name, Key: key, Cost: cost, Decision: d, Err: err, Fallback: fb, Latency: time.Since(start)})
	}
	return d, err
}

// hookPanicked is set by the first hook panic, which is logged; later ones
// are recovered silently.
var hookPanicked atomic.Bool

// callHook calls the limiter's hook, recovering a panic: a broken hook must
// not take the request (or the server) down.
func (l *Limiter) callHook(ctx context.Context, ev Event) {
	runHook(l.hook, ctx, ev)
}

// runHook calls a decision hook, recovering (and logging once) a panic.
func runHook(fn func(context.Context, Event), ctx context.Context, ev Event) {
	defer func() {
		if v := recover(); v != nil && hookPanicked.CompareAndSwap(false, true) {
			slog.Default().Error("core: a decision hook panicked; the decision stands (later panics are not logged)", "limiter", ev.Name, "panic", fmt.Sprint(v))
		}
	}()
	fn(ctx, ev)
}

func (l *Limiter) decide(ctx context.Context, key string, cost int64) (d Decision, err error, fallback bool) {
	if key == "" || cost < 0 {
		return Decision{Reason: ReasonInvalid, Limit: l.limit}, checkInput(key, cost), false
	}
	epoch := l.onSwitch.epoch()
	full := key
	if l.prefixed != nil && l.prefix != "" {
		d, err = l.takeParts(ctx, key, cost)
		if err == nil {
			l.recovered(epoch)
			return d, nil, false
		}
		full = l.prefix + key // for the fallback and the error
	} else {
		if l.prefix != "" {
			// A store may keep the key it is given, so it is a string of
			// its own (one allocation; a prefixTaker such as the memory
			// store joins prefix and key itself, only when it stores one).
			full = l.prefix + key
		}
		d, err = l.store.Take(ctx, full, l.limit, cost)
		if err == nil {
			l.recovered(epoch)
			return d, nil, false
		}
	}
	return l.failed(ctx, full, cost, err, epoch)
}

// failed decides, by the limiter's failure policy, a take of cost on the
// prefixed key full that the store could not decide (err), in a call begun
// at epoch.
func (l *Limiter) failed(ctx context.Context, full string, cost int64, err error, epoch uint64) (Decision, error, bool) {
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidCost) || errors.Is(err, ErrInvalidTakes) || errors.Is(err, ErrInvalidLimit) {
		return Decision{Reason: ReasonInvalid, Limit: l.limit}, err, false
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller went away (a closed connection, a reset stream) while
		// the store was deciding. Its answer no longer matters, so it is
		// refused: a caller that leaves must never be admitted uncounted,
		// nor decided by a fallback that has not seen its peers. This says
		// nothing about the store, so it is no switch.
		return Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: failClosedRetryAfter}, fmt.Errorf("%w: the caller went away (%w): %w", ErrStore, cerr, err), false
	}
	err = fmt.Errorf("%w: %w", ErrStore, err)
	l.onSwitch.failed(epoch, err)
	switch l.policy {
	case FailClosed:
		return Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: failClosedRetryAfter}, err, false
	case FailBack:
		fd, ferr := l.fallback.Take(ctx, full, l.fbLimit, cost)
		if ferr != nil {
			return Decision{Reason: ReasonFailClosed, Limit: l.limit, RetryAfter: failClosedRetryAfter}, fmt.Errorf("%w (fallback: %w)", err, ferr), true
		}
		return fd, err, true
	default:
		return Decision{Allowed: true, Reason: ReasonFailOpen, Limit: l.limit}, err, false
	}
}

// recovered reports the switch back from the failure policy, if there was
// one and the successful call began after it: an answer that was already on
// its way when the store failed says nothing about the store now.
func (l *Limiter) recovered(epoch uint64) { l.onSwitch.recovered(epoch) }

// notifier calls a failover callback off the requests' goroutines, one call
// at a time and in the order of the switches. Its goroutine runs only while
// calls are queued, so an idle limiter holds none.
type notifier struct {
	fn func(failing bool, err error)

	// switches counts the switches to and from the failure policy, so its
	// low bit says the limiter (and its tiers, which share the notifier) is
	// failing. A call switches only with a compare-and-swap from the value
	// it read when it began, so a call that spans another switch never
	// switches back: the hook sees each outage once, not a flap at its
	// edges.
	switches atomic.Uint64

	mu      sync.Mutex // guards queue and running
	queue   []switchEvent
	running bool
}

// epoch is the switch count a call begins at; 0 without a notifier.
func (n *notifier) epoch() uint64 {
	if n == nil {
		return 0
	}
	return n.switches.Load()
}

// failed reports a switch to the failure policy by a call begun at epoch,
// unless the limiter was failing then or has switched since.
func (n *notifier) failed(epoch uint64, err error) {
	if n != nil && epoch&1 == 0 && n.switches.CompareAndSwap(epoch, epoch+1) {
		n.post(true, err)
	}
}

// recovered reports a switch back by a call begun at epoch, if the limiter
// was failing then and has not switched since.
func (n *notifier) recovered(epoch uint64) {
	if n != nil && epoch&1 == 1 && n.switches.CompareAndSwap(epoch, epoch+1) {
		n.post(false, nil)
	}
}

type switchEvent struct {
	failing bool
	err     error
}

// maxQueuedSwitches bounds the switches waiting for a blocked callback; the
// oldest are dropped past it (switches alternate, so the newest say where
// the limiter stands).
const maxQueuedSwitches = 64

func (n *notifier) post(failing bool, err error) {
	n.mu.Lock()
	if len(n.queue) >= maxQueuedSwitches {
		n.queue = append(n.queue[:0], n.queue[2:]...)
	}
	n.queue = append(n.queue, switchEvent{failing, err})
	start := !n.running
	n.running = true
	n.mu.Unlock()
	if start {
		go n.run()
	}
}

func (n *notifier) run() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		ev := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.call(ev)
	}
}

// switchPanicked is set by the first failover callback panic.
var switchPanicked atomic.Bool

func (n *notifier) call(ev switchEvent) {
	defer func() {
		if v := recover(); v != nil && switchPanicked.CompareAndSwap(false, true) {
			slog.Default().Error("core: a failover callback panicked (later panics are not logged)", "panic", fmt.Sprint(v))
		}
	}()
	n.fn(ev.failing, ev.err)
}
