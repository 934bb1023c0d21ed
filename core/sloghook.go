package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Outcome names what became of a request, as SlogHook logs it.
func (e Event) Outcome() string {
	switch {
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

// SlogOption configures SlogHook. A nil SlogOption is not allowed.
type SlogOption interface{ applySlog(*slogConfig) }

type slogOptionFunc func(*slogConfig)

func (f slogOptionFunc) applySlog(c *slogConfig) { f(c) }

type slogConfig struct {
	rate    Limit
	allowed bool
	clock   Clock
	secret  []byte
}

// WithLogRate bounds the lines SlogHook writes, so that a flood of denials
// does not flood the log: limit is applied to the hook itself (default 10
// a second, burst 50). Lines over it are dropped and counted; the next line
// written says how many ("dropped").
func WithLogRate(limit Limit) SlogOption {
	return slogOptionFunc(func(c *slogConfig) { c.rate = limit })
}

// WithLogAllowed logs admitted requests too. By default SlogHook logs only
// what is worth a look: denials, shadow denials and errors.
func WithLogAllowed() SlogOption {
	return slogOptionFunc(func(c *slogConfig) { c.allowed = true })
}

// WithLogClock sets the clock of the hook's own rate (tests).
func WithLogClock(clock Clock) SlogOption {
	return slogOptionFunc(func(c *slogConfig) { c.clock = clock })
}

// WithLogKeySecret sets the secret keys are hashed with, so that instances
// sharing it log the same hash for the same client. Default: a random
// secret per hook.
func WithLogKeySecret(secret []byte) SlogOption {
	return slogOptionFunc(func(c *slogConfig) { c.secret = append([]byte(nil), secret...) })
}

// SlogHook returns a hook for WithHook that writes decisions to logger as
// structured lines: limiter (its name), key_hash, outcome (allowed, denied,
// shadow-denied, error), remaining, retry_after, latency and, on a store
// failure, error. The key is never logged, only a keyed hash of it (the
// first 16 hex digits of HMAC-SHA-256): a key may be a client's address or
// credential. Lines are rate-limited (WithLogRate).
func SlogHook(logger *slog.Logger, opts ...SlogOption) (func(context.Context, Event), error) {
	c := slogConfig{rate: Limit{Rate: 10, Period: time.Second, Burst: 50}, clock: SystemClock}
	for _, o := range opts {
		o.applySlog(&c)
	}
	if logger == nil {
		return nil, errors.New("core: slog hook: nil logger")
	}
	if err := c.rate.Validate(); err != nil {
		return nil, err
	}
	if c.secret == nil {
		c.secret = make([]byte, 32)
		if _, err := rand.Read(c.secret); err != nil {
			return nil, err
		}
	}
	h := &slogHook{logger: logger, cfg: c}
	return h.log, nil
}

type slogHook struct {
	logger *slog.Logger
	cfg    slogConfig

	mu      sync.Mutex
	state   State // the hook's own rate, guarded by mu
	dropped int64 // lines dropped since the last written, guarded by mu
}

func (h *slogHook) log(ctx context.Context, ev Event) {
	outcome := ev.Outcome()
	if outcome == "allowed" && !h.cfg.allowed {
		return
	}
	h.mu.Lock()
	d := Apply(&h.state, h.cfg.clock.Now().UnixNano(), h.cfg.rate, 1)
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
	if ev.Decision.RetryAfter > 0 && ev.Decision.RetryAfter != Never {
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
