// Package sloghook logs a core.Limiter's decisions to log/slog: a hook for
// core.WithHook that writes one structured line per denial, shadow denial
// or store error (every decision with WithAllowed), never the key itself
// but a keyed hash of it, at a bounded rate of its own.
//
//	hook, err := sloghook.New(slog.Default())
//	if err != nil {
//		return err
//	}
//	lim, err := core.NewLimiter(store, core.PerMinute(100), core.WithHook(hook))
package sloghook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// Option configures New. A nil Option is not allowed.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	rate    core.Limit
	allowed bool
	clock   core.Clock
	secret  []byte
}

// WithRate bounds the lines the hook writes, so that a flood of denials
// does not flood the log: limit is applied to the hook itself (default 10
// a second, burst 50). Lines over it are dropped and counted; the next line
// written says how many ("dropped").
func WithRate(limit core.Limit) Option {
	return optionFunc(func(c *config) { c.rate = limit })
}

// WithAllowed logs admitted requests too. By default the hook logs only
// what is worth a look: denials, shadow denials and errors.
func WithAllowed() Option {
	return optionFunc(func(c *config) { c.allowed = true })
}

// WithClock sets the clock of the hook's own rate (tests). Default:
// core.SystemClock. New refuses a nil clock.
func WithClock(clock core.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clock })
}

// WithKeySecret sets the secret keys are hashed with, so that instances
// sharing it log the same hash for the same client. Default: a random
// secret per hook.
func WithKeySecret(secret []byte) Option {
	return optionFunc(func(c *config) { c.secret = append([]byte(nil), secret...) })
}

// New returns a hook for core.WithHook that writes decisions to logger as
// structured lines: limiter (its name), key_hash, outcome (allowed, denied,
// shadow-denied, error), remaining, retry_after, latency and, on a store
// failure, error. The key is never logged, only a keyed hash of it (the
// first 16 hex digits of HMAC-SHA-256): a key may be a client's address or
// credential. Lines are rate-limited (WithRate). It returns an error naming
// what is wrong for a nil logger, an invalid rate or a nil clock.
func New(logger *slog.Logger, opts ...Option) (func(context.Context, core.Event), error) {
	c := config{rate: core.Limit{Rate: 10, Period: time.Second, Burst: 50}, clock: core.SystemClock}
	for _, o := range opts {
		o.apply(&c)
	}
	if logger == nil {
		return nil, errors.New("sloghook: nil logger")
	}
	if err := c.rate.Validate(); err != nil {
		return nil, fmt.Errorf("sloghook: rate: %w", err)
	}
	if c.clock == nil {
		return nil, errors.New("sloghook: clock: nil")
	}
	if c.secret == nil {
		c.secret = make([]byte, 32)
		if _, err := rand.Read(c.secret); err != nil {
			return nil, err
		}
	}
	h := &hook{logger: logger, cfg: c}
	return h.log, nil
}

type hook struct {
	logger *slog.Logger
	cfg    config

	mu      sync.Mutex
	state   storekit.State // the hook's own rate, guarded by mu
	dropped int64          // lines dropped since the last written, guarded by mu
}

func (h *hook) log(ctx context.Context, ev core.Event) {
	outcome := ev.Outcome()
	if outcome == "allowed" && !h.cfg.allowed {
		return
	}
	h.mu.Lock()
	d := storekit.Apply(&h.state, h.cfg.clock.Now().UnixNano(), h.cfg.rate, 1)
	dropped := h.dropped
	if d.Allowed {
		h.dropped = 0
	} else {
		h.dropped++
	}
	h.mu.Unlock()
	if !d.Allowed {
		return
	}
	mac := hmac.New(sha256.New, h.cfg.secret)
	mac.Write([]byte(ev.Key))
	sum := mac.Sum(nil)
	attrs := []slog.Attr{
		slog.String("limiter", ev.Name),
		slog.String("key_hash", hex.EncodeToString(sum[:8])),
		slog.String("outcome", outcome),
		slog.Int64("remaining", ev.Decision.Remaining),
		slog.Duration("latency", ev.Latency),
	}
	if ev.Decision.RetryAfter > 0 && ev.Decision.RetryAfter != core.Never {
		attrs = append(attrs, slog.Duration("retry_after", ev.Decision.RetryAfter))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int64("dropped", dropped))
	}
	level := slog.LevelInfo
	if outcome == "error" {
		level = slog.LevelWarn
	}
	h.logger.LogAttrs(ctx, level, "tollgate decision", attrs...)
}
