package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// LeaseConfig tunes lease mode (NewLeased). Its zero value takes every
// default.
type LeaseConfig struct {
	// PredictWindow is how far back a hot key's request rate is measured,
	// and how far ahead a grant should last: a grant asks for the requests
	// seen over the last PredictWindow. Shorter follows changes in traffic
	// faster and holds fewer tokens (less under-admission when demand
	// stops); longer asks Redis less often. Default 1s.
	PredictWindow time.Duration
	// MinPrefetch is the fewest tokens a grant asks for, so a key that has
	// just turned hot does not ask once per request. At most the limit's
	// rate (checked when a limiter is made). Default 10.
	MinPrefetch int64
	// CloseWaitWindow is how long an instance does not ask again after a
	// grant that was not full: the window's quota is spent, so asking again
	// at once would cost a round trip per request for nothing. Requests in
	// it are denied locally until the window ends. At most PredictWindow.
	// Default 100ms.
	CloseWaitWindow time.Duration
	// HotThreshold is how many requests within one PredictWindow make a key
	// hot, and leased. Cold keys (most per-client keys) are decided by Redis
	// one request at a time, so idle clients hold no tokens. Default 10.
	HotThreshold int64
	// MaxTracked caps the keys whose request counts are kept to find hot
	// ones, per PredictWindow. Default 65536.
	MaxTracked int
}

// Lease defaults.
const (
	DefaultPredictWindow   = time.Second
	DefaultMinPrefetch     = 10
	DefaultCloseWaitWindow = 100 * time.Millisecond
	DefaultHotThreshold    = 10
	DefaultMaxTracked      = 65536
)

// ErrInvalidLease is wrapped by NewLeased's errors for bad parameters.
var ErrInvalidLease = errors.New("redisstore: invalid lease config")

// Leased is a core.Store in lease mode: each hot key is decided in process
// memory from a pool of tokens granted by Redis, many at a time, by one
// atomic script that takes up to n from the key's global count (a grant
// may be partial). Refills are asynchronous, triggered when a pool falls
// below half the predicted need. Cold keys go to Redis one decision at a
// time, as the Store does.
//
// Every limit is metered as a fixed window of Rate per Period, whatever its
// Algorithm: a window is the unit a token belongs to, and a token expires
// with its window. Because Redis grants each token once, the instances
// together never admit more than the quota of a window; the price is
// under-admission: tokens left in a pool when its window ends, or when its
// instance stops (Close gives back what it can), are never used.
//
// When Redis fails, a pool's tokens are used until they run out; then Take
// returns the error and the limiter's failure policy applies. Leasing
// resumes by itself when Redis answers again.
// The zero Leased is not usable: build one with NewLeased.
type Leased struct {
	s   *Store
	cfg LeaseConfig

	pools sync.Map // key → *pool

	mu        sync.Mutex
	seen      map[string]int64 // requests per cold key in the current window; guarded by mu
	seenSince int64            // when the window began; guarded by mu

	wg     sync.WaitGroup // refills in flight
	closed atomic.Bool

	grants    atomic.Int64  // round trips for grants, for tests and reports
	granted   atomic.Uint64 // tokens they got (Figures)
	givenBack atomic.Uint64 // unused tokens returned (Figures)
}

var (
	_ core.Store            = (*Leased)(nil)
	_ storekit.LimitChecker = (*Leased)(nil)
)

// pool is a hot key's local tokens.
type pool struct {
	key       string // the key, copied
	mu        sync.Mutex
	limit     core.Limit
	tokens    int64   // granted and unused, valid until expires
	expires   int64   // local time (ns) the tokens' window ends
	window    int64   // the window's start, in the script's microseconds
	left      int64   // what Redis had left in the window at the last grant
	closeTill int64   // after a partial grant (the window spent): no grant before this; 0 otherwise
	inflight  *flight // the grant in flight; nil for none
	// The request rate: count requests since since; rate is the last
	// PredictWindow's count.
	count, rate int64
	since       int64
	used        int64 // the last request, for dropping idle pools
}

// NewLeased returns base in lease mode. base's prefix, hash tag, timeout,
// clock and batching apply; its deny cache is not consulted.
func NewLeased(base *Store, cfg LeaseConfig) (*Leased, error) {
	if base == nil {
		return nil, errors.New("redisstore: NewLeased: nil store")
	}
	if cfg.PredictWindow == 0 {
		cfg.PredictWindow = DefaultPredictWindow
	}
	if cfg.MinPrefetch == 0 {
		cfg.MinPrefetch = DefaultMinPrefetch
	}
	if cfg.CloseWaitWindow == 0 {
		cfg.CloseWaitWindow = DefaultCloseWaitWindow
	}
	if cfg.HotThreshold == 0 {
		cfg.HotThreshold = DefaultHotThreshold
	}
	if cfg.MaxTracked == 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	switch {
	case cfg.PredictWindow < time.Millisecond:
		return nil, fmt.Errorf("%w: PredictWindow %v: at least 1ms", ErrInvalidLease, cfg.PredictWindow)
	case cfg.MinPrefetch < 1:
		return nil, fmt.Errorf("%w: MinPrefetch %d: at least 1", ErrInvalidLease, cfg.MinPrefetch)
	case cfg.CloseWaitWindow < 0:
		return nil, fmt.Errorf("%w: CloseWaitWindow %v: negative", ErrInvalidLease, cfg.CloseWaitWindow)
	case cfg.CloseWaitWindow > cfg.PredictWindow:
		return nil, fmt.Errorf("%w: CloseWaitWindow %v is longer than PredictWindow %v", ErrInvalidLease, cfg.CloseWaitWindow, cfg.PredictWindow)
	case cfg.HotThreshold < 1:
		return nil, fmt.Errorf("%w: HotThreshold %d: at least 1", ErrInvalidLease, cfg.HotThreshold)
	case cfg.MaxTracked < 1:
		return nil, fmt.Errorf("%w: MaxTracked %d: at least 1", ErrInvalidLease, cfg.MaxTracked)
	}
	l := &Leased{s: base, cfg: cfg, seen: map[string]int64{}}
	l.seenSince = l.now()
	return l, nil
}

// CheckLimit implements storekit.LimitChecker: a limit the scripts can meter as
// a fixed window, whose rate is at least MinPrefetch.
func (l *Leased) CheckLimit(lim core.Limit) error {
	fw := fixed(lim)
	if _, err := paramsOf(fw); err != nil {
		return err
	}
	if lim.Rate < l.cfg.MinPrefetch {
		return fmt.Errorf("%w: MinPrefetch %d is above the limit's rate %d", ErrInvalidLease, l.cfg.MinPrefetch, lim.Rate)
	}
	return nil
}

// fixed is the fixed window lease mode meters lim as.
func fixed(lim core.Limit) core.Limit {
	return core.Limit{Rate: lim.Rate, Period: lim.Period, Algorithm: core.FixedWindow}
}

func (l *Leased) now() int64 { return l.s.localNow() }

// Hot is how many keys are leased now.
func (l *Leased) Hot() int {
	n := 0
	l.pools.Range(func(any, any) bool { n++; return true })
	return n
}

// Grants is how many grant round trips the store has made.
func (l *Leased) Grants() int64 { return l.grants.Load() }

// Take implements core.Store.
func (l *Leased) Take(ctx context.Context, key string, lim core.Limit, cost int64) (core.Decision, error) {
	if err := storekit.CheckTake(key, lim, cost); err != nil {
		return core.Decision{}, err
	}
	if l.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	fw := fixed(lim)
	if v, ok := l.pools.Load(key); ok {
		return l.takeLeased(ctx, key, v.(*pool), lim, fw, cost)
	}
	if l.hot(key) {
		// The key is copied: a caller may pass one that lives in a buffer
		// it reuses (core.Limiter does), and the pool outlives the call.
		k := strings.Clone(key)
		p := &pool{key: k, limit: fw, since: l.now()}
		v, _ := l.pools.LoadOrStore(k, p)
		return l.takeLeased(ctx, key, v.(*pool), lim, fw, cost)
	}
	d, err := l.s.Take(ctx, key, fw, cost)
	d.Limit = lim
	return d, err
}

// hot counts a request on a cold key and reports whether the key has
// turned hot. Counts start afresh every PredictWindow.
func (l *Leased) hot(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now-l.seenSince >= int64(l.cfg.PredictWindow) {
		clear(l.seen)
		l.seenSince = now
		l.dropIdle(now)
	}
	n, ok := l.seen[key]
	if !ok {
		if len(l.seen) >= l.cfg.MaxTracked {
			return false
		}
		key = strings.Clone(key) // kept past the call: see Take
	}
	n++
	l.seen[key] = n
	if n >= l.cfg.HotThreshold {
		delete(l.seen, key)
		return true
	}
	return false
}

// dropIdle forgets the pools of keys idle for two PredictWindows whose
// tokens have expired: a key that cools down holds nothing.
func (l *Leased) dropIdle(now int64) {
	l.pools.Range(func(k, v any) bool {
		p := v.(*pool)
		p.mu.Lock()
		idle := now-p.used > 2*int64(l.cfg.PredictWindow) && (p.tokens == 0 || now >= p.expires) && p.inflight == nil
		p.mu.Unlock()
		if idle {
			l.pools.Delete(k)
		}
		return true
	})
}

// takeLeased decides from the key's pool, asking Redis only when the pool
// cannot answer. Requests that find a grant in flight wait for it rather
// than ask too, at most the store's timeout: like a call to Redis, the wait
// is the store's, not the request's (see call.go), so a request whose
// client has gone is decided as any other.
func (l *Leased) takeLeased(ctx context.Context, key string, p *pool, lim, fw core.Limit, cost int64) (core.Decision, error) {
	var wait *time.Timer // for a grant in flight; made on first use
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	now := l.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit != fw {
		// The limit changed while tokens were out: they were granted under
		// the old one, and are dropped (Redis counted them; no over-admission).
		p.limit, p.tokens, p.expires, p.closeTill = fw, 0, 0, 0
	}
	p.used = now
	if now-p.since >= int64(l.cfg.PredictWindow) {
		p.rate, p.count, p.since = p.count, 0, now
	}
	p.count++
	if now >= p.expires {
		p.closeTill = 0 // a new window: its quota is not spent
	}
	if cost > lim.Rate {
		return l.verdict(lim, false, p, now, core.ReasonCostExceedsBurst), nil
	}
	for {
		if now >= p.expires {
			p.tokens = 0
		}
		if p.tokens >= cost {
			p.tokens -= cost
			d := l.verdict(lim, true, p, now, core.ReasonOK)
			l.maybeRefill(p, now)
			return d, nil
		}
		if now < p.expires && p.closeTill != 0 {
			// The window's quota was spent at the last grant: deny without
			// waiting, and after the close-wait ask again in the background
			// (other instances may give tokens back).
			if now >= p.closeTill && p.inflight == nil && !l.closed.Load() {
				l.refill(p, max(l.need(p), cost))
			}
			return l.verdict(lim, false, p, now, core.ReasonLimited), nil
		}
		if f := p.inflight; f != nil {
			p.mu.Unlock()
			if wait == nil {
				wait = time.NewTimer(l.s.timeout)
			}
			select {
			case <-f.done:
			case <-wait.C:
				p.mu.Lock()
				return core.Decision{}, fmt.Errorf("%w (%v): waiting for a lease grant in flight", ErrTimeout, l.s.timeout)
			}
			p.mu.Lock()
			if f.err != nil {
				// The grant this caller waited for failed: Redis could not
				// grant just now, so the caller takes that answer rather
				// than a whole deadline more of its own.
				return core.Decision{}, f.err
			}
			now = l.now()
			continue
		}
		// The pool is empty: ask Redis now, for this request and those the
		// rate predicts.
		want := max(l.need(p), cost)
		f := &flight{done: make(chan struct{})}
		p.inflight = f
		p.mu.Unlock()
		g, err := l.grant(ctx, key, fw, want)
		now = l.now()
		p.mu.Lock()
		p.inflight = nil
		f.err = err
		close(f.done)
		if err != nil {
			return core.Decision{}, err
		}
		if p.limit == fw {
			l.apply(p, g, want, now)
		}
		if p.tokens < cost && (p.closeTill == 0 || now >= p.expires) {
			// A grant that came back short without closing the window (a
			// limit changed meanwhile): deny rather than ask again at once.
			return l.verdict(lim, false, p, now, core.ReasonLimited), nil
		}
	}
}

// need is the predicted demand of a PredictWindow: the last window's
// requests, at least MinPrefetch, at most the limit's rate.
func (l *Leased) need(p *pool) int64 {
	n := max(p.rate, p.count, l.cfg.MinPrefetch)
	// Scale the rate seen over PredictWindow to the limit's period when
	// the period is shorter: a grant never outlives its window.
	return min(n, p.limit.Rate)
}

// maybeRefill starts an asynchronous grant when the pool is below half the
// predicted need. p.mu is held.
func (l *Leased) maybeRefill(p *pool, now int64) {
	need := l.need(p)
	if p.inflight != nil || p.tokens*2 >= need || now < p.closeTill || l.closed.Load() {
		return
	}
	l.refill(p, need-p.tokens)
}

// refill asks for want tokens in the background. p.mu is held.
func (l *Leased) refill(p *pool, want int64) {
	f := &flight{done: make(chan struct{})}
	p.inflight = f
	fw := p.limit
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		g, err := l.grant(context.Background(), p.key, fw, want)
		now := l.now()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.inflight = nil
		f.err = err
		close(f.done)
		if err != nil || p.limit != fw {
			return // the next request on an empty pool asks again
		}
		l.apply(p, g, want, now)
	}()
}

// flight is a grant in flight: done closes when it is in, err (written
// before, under the pool's lock) says whether it failed.
type flight struct {
	done chan struct{}
	err  error
}

// granted is a grant's reply.
type granted struct {
	n, until, window, left int64 // until in µs from the grant
}

// apply adds a grant to the pool. p.mu is held.
func (l *Leased) apply(p *pool, g granted, want, now int64) {
	expires := now + g.until*int64(time.Microsecond)
	if g.window != p.window || now >= p.expires {
		// A new window: the old window's tokens are void.
		p.tokens = 0
	}
	p.window, p.expires, p.left = g.window, expires, g.left
	p.tokens += g.n
	if g.n < want {
		p.closeTill = now + int64(l.cfg.CloseWaitWindow)
	} else {
		p.closeTill = 0
	}
}

// verdict is a local decision's values: the pool's tokens and what Redis
// had left count as remaining; the window's end is the reset.
func (l *Leased) verdict(lim core.Limit, allowed bool, p *pool, now int64, reason core.Reason) core.Decision {
	until := time.Duration(max(p.expires-now, 0))
	d := core.Decision{Allowed: allowed, Reason: reason, Limit: lim, Remaining: p.tokens + p.left, ResetAfter: until}
	switch reason {
	case core.ReasonLimited:
		d.Remaining = p.tokens
		d.RetryAfter = max(until, time.Microsecond)
	case core.ReasonCostExceedsBurst:
		d.RetryAfter = core.Never
	}
	return d
}

// grant asks Redis for up to want tokens of key's window.
func (l *Leased) grant(ctx context.Context, key string, fw core.Limit, want int64) (granted, error) {
	l.grants.Add(1)
	g, err := l.script(ctx, key, fw, want, "", 0)
	if err == nil && g.n > 0 {
		l.granted.Add(uint64(g.n))
	}
	return g, err
}

func (l *Leased) script(ctx context.Context, key string, fw core.Limit, want int64, back any, from int64) (granted, error) {
	s := l.s
	p, err := paramsOf(fw)
	if err != nil {
		return granted{}, err
	}
	var now any = ""
	if s.clock != nil {
		now = floorDiv(s.clock.Now().UnixNano(), int64(time.Microsecond))
	}
	full := s.keys.key(key)
	args := []any{"evalsha", grantScript.sha, "1", full, now, want, s.grace, p.args[0], p.args[1], back, from}
	cmd, err := s.call(ctx, &grantScript, args)
	if err != nil {
		return granted{}, s.callError(err, "lease")
	}
	vals, err := cmd.Int64Slice()
	if err != nil || len(vals) != 4 {
		return granted{}, fmt.Errorf("redisstore: unexpected lease reply %v (%v)", vals, err)
	}
	return granted{n: vals[0], until: vals[1], window: vals[2], left: vals[3]}, nil
}

// Close waits for the refills in flight (each ends within the store's
// timeout), gives back to Redis the unused tokens of windows
// still open (what it can, within the store's timeout each), and marks the
// store closed. It does not close base.
func (l *Leased) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.wg.Wait() // each refill ends within the store's timeout
	now := l.now()
	var first error
	l.pools.Range(func(k, v any) bool {
		p := v.(*pool)
		p.mu.Lock()
		n, window, fw, live := p.tokens, p.window, p.limit, now < p.expires
		p.tokens = 0
		p.mu.Unlock()
		if n > 0 && live {
			g, err := l.script(context.Background(), k.(string), fw, 0, n, window)
			if err == nil && g.n > 0 {
				l.givenBack.Add(uint64(g.n))
			}
			if err != nil && first == nil {
				first = err
			}
		}
		return true
	})
	return first
}
