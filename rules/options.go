package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Option configures an Engine. A nil Option is not allowed.
type Option interface{ apply(*options) error }

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	resolver   *keyfuncs.IPResolver
	limiter    []core.Option
	gate       []httplimit.Option
	hook       func(context.Context, Event)
	onReload   func(ReloadEvent)
	watch      time.Duration
	maxHeader  int
	denyStatus int
	clock      core.Clock
}

// WithIPResolver sets how the client IP is read, for the ip key and CIDR
// matches. Default keyfuncs.NewIPResolver(): the connection's address, no
// proxy header trusted.
func WithIPResolver(r *keyfuncs.IPResolver) Option {
	return optionFunc(func(o *options) error {
		if r == nil {
			return errors.New("rules: WithIPResolver: nil resolver")
		}
		o.resolver = r
		return nil
	})
}

// WithLimiterOptions adds options to every limiter the rules make: a
// failure policy (core.WithFailClosed, core.WithFallback), a core hook. The
// rules set each limiter's name, and its shadow mode from the rule.
func WithLimiterOptions(opts ...core.Option) Option {
	return optionFunc(func(o *options) error { o.limiter = append(o.limiter, opts...); return nil })
}

// WithGateOptions adds options to the HTTP answer of every rule: the deny
// and error handlers, the header families, the deny status.
// Rules say how requests are keyed and skipped, so httplimit.WithKeyFunc,
// WithRouteKey and WithSkip have no effect, and WithLimit is refused.
func WithGateOptions(opts ...httplimit.Option) Option {
	return optionFunc(func(o *options) error { o.gate = append(o.gate, opts...); return nil })
}

// WithHook sets a function called with every decision a rule makes (and
// with every request the lists or a missing key answer), after it is made.
// It runs on the request's goroutine: keep it quick. SlogHook logs them.
func WithHook(fn func(context.Context, Event)) Option {
	return optionFunc(func(o *options) error {
		if fn == nil {
			return errors.New("rules: WithHook: nil func")
		}
		o.hook = fn
		return nil
	})
}

// WithReloadHook sets a function called after every reload of the rules
// file, whether it replaced the rules (Err nil) or was refused (the rules
// in force stay). Default: none; Reload's error says the same.
func WithReloadHook(fn func(ReloadEvent)) Option {
	return optionFunc(func(o *options) error {
		if fn == nil {
			return errors.New("rules: WithReloadHook: nil func")
		}
		o.onReload = fn
		return nil
	})
}

// WithWatch makes Load re-read its file every interval (at least 100ms) and
// reload it when its content changed, until Close. Default: no watching;
// call Reload (on SIGHUP, say).
func WithWatch(every time.Duration) Option {
	return optionFunc(func(o *options) error {
		if every < 100*time.Millisecond {
			return fmt.Errorf("rules: WithWatch(%v): at least 100ms", every)
		}
		o.watch = every
		return nil
	})
}

// WithMaxHeaderKey caps the header values used as keys: a longer value is a
// missing key (the rule's Missing says what follows), never truncated into
// another client's bucket. Default 256, at most 2048.
func WithMaxHeaderKey(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 || n > 2048 {
			return fmt.Errorf("rules: WithMaxHeaderKey(%d): want 1 to 2048", n)
		}
		o.maxHeader = n
		return nil
	})
}

// WithDenyListStatus sets the answer to a request on the deny list.
// Default 403.
func WithDenyListStatus(code int) Option {
	return optionFunc(func(o *options) error {
		if code < 400 || code > 599 {
			return fmt.Errorf("rules: WithDenyListStatus(%d): not a 4xx or 5xx status", code)
		}
		o.denyStatus = code
		return nil
	})
}

// WithClock sets the clock that stamps ReloadEvent.At. Default
// core.SystemClock. The watcher (WithWatch) checks the file on a real
// ticker whatever the clock, and the limits read their store's clock.
func WithClock(c core.Clock) Option {
	return optionFunc(func(o *options) error {
		if c == nil {
			return errors.New("rules: WithClock: nil clock")
		}
		o.clock = c
		return nil
	})
}
