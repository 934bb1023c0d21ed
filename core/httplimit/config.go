package httplimit

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Headers selects the families of rate-limit response fields a Gate sends.
// The zero value is HeadersNone; a Gate sends HeadersAll unless
// WithHeaders says otherwise.
type Headers uint8

const (
	// HeadersX sends X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset.
	HeadersX Headers = 1 << iota
	// HeadersIETF sends RateLimit-Policy and RateLimit, the fields of
	// draft-ietf-httpapi-ratelimit-headers-11 (whose syntax is -10's).
	HeadersIETF

	// HeadersNone sends neither family. Retry-After is still sent on a
	// denial: it is part of the 429 and 503 answers.
	HeadersNone Headers = 0
	// HeadersAll sends both families. It is the default.
	HeadersAll = HeadersX | HeadersIETF
)

// MaxLimits is the most limits one Gate applies to a request.
const MaxLimits = 8

// DenyHandler writes the answer to a request a limit denied. When it is
// called, the rate-limit fields and Retry-After are already set on w; d is
// the denying decision (d.Name names the limit, d.RetryAfter says when to
// come back).
// A nil DenyHandler is refused (WithDenyHandler); without one a Gate answers
// 429 with a small body, application/problem+json when the client accepts
// JSON, else plain text.
type DenyHandler func(w http.ResponseWriter, r *http.Request, d core.Decision)

// ErrorHandler writes the answer to a request that could not be decided:
// err wraps keyfuncs.ErrNoKey when the request could not be keyed (the key
// func failed or returned an empty key, or the key is longer than a store
// accepts; default answer 400), or core.ErrStore when the store failed and
// the limiter fails closed (default 503, with Retry-After already set on w);
// ErrLimitFunc when a WithLimitFunc func failed (default 503, Retry-After 1
// set), or core.ErrInvalidLimit when it returned a limit that cannot be
// enforced (default 500). Nothing is taken from any limit then.
// A nil ErrorHandler is refused (WithErrorHandler); without one a Gate gives
// those answers.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// Option configures a Gate. A nil Option is not allowed.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type extraLimit struct {
	limiter *core.Limiter
	key     keyfuncs.KeyFunc
}

type config struct {
	key       keyfuncs.KeyFunc
	extra     []extraLimit
	route     bool
	skip      func(*http.Request) bool
	deny      DenyHandler
	onError   ErrorHandler
	status    int
	headers   Headers
	resetUnix bool
	clock     core.Clock
	hooks     ctxHooks // the framework-native hooks, for an Adapter
	tiers     []tierSpec
	conc      []concLimit // WithConcurrency (concurrency.go)
	costAfter CostSource  // WithCostAfter (cost.go); 0: none
}

// WithKeyFunc sets how requests are keyed (see package keyfuncs). Adapters
// default to the client's IP address from the connection (keyfuncs.IP());
// New itself requires one. A key func that returns an error gets the
// request answered by the error handler (400 by default, the error wrapping
// keyfuncs.ErrNoKey), never counted in a shared bucket.
func WithKeyFunc(fn keyfuncs.KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("httplimit: WithKeyFunc: nil func")
		}
		c.key = fn
		return nil
	})
}

// WithLimit applies another limiter to the same requests, keyed by key (nil:
// the key func of WithKeyFunc), such as a per-tenant limit beside a per-IP
// one. A request must be allowed by every limit, and the limits are taken
// together, as core.TakeAll takes them: in one atomic step when they share
// a store that is a storekit.MultiStore (the memory and Redis stores are), so a
// denied request consumes none of them; otherwise every limit is peeked
// first and taken only if none would deny.
func WithLimit(l *core.Limiter, key keyfuncs.KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("httplimit: WithLimit: nil limiter")
		}
		c.extra = append(c.extra, extraLimit{l, key})
		return nil
	})
}

// WithRouteKey keys every limit by the route pattern as well as the client
// key: "/users/{id}" is one bucket per client, whatever the id. The route is
// the one the adapter reads from its router; a request that matched no route
// is counted under the empty route, one bucket per client for all of them.
func WithRouteKey() Option {
	return optionFunc(func(c *config) error { c.route = true; return nil })
}

// WithSkip lets requests for which fn returns true through without a
// decision or rate-limit headers: health checks, allow-listed clients. Its
// pair on a framework's own context is ginmw.WithGinSkip or
// echomw.WithSkipper.
func WithSkip(fn func(r *http.Request) bool) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("httplimit: WithSkip: nil func")
		}
		c.skip = fn
		return nil
	})
}

// WithDenyHandler replaces the answer to a denied request. The default writes
// the deny status (429) and a short body: application/problem+json of type
// quota-exceeded when the client accepts JSON, plain text otherwise. Its
// pair on a framework's own context is ginmw.WithGinDenyHandler or
// echomw.WithEchoDenyHandler; one request's answer has one handler, so the
// two cannot be combined.
func WithDenyHandler(fn DenyHandler) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("httplimit: WithDenyHandler: nil func")
		}
		c.deny = fn
		return nil
	})
}

// WithErrorHandler replaces the answer to a request that could not be
// decided (see ErrorHandler). The default answers 400 to a request without a
// key and 503 when a fail-closed limiter's store failed, with a body that
// says no more than the status: internals are never sent to the client.
// Its pair on a framework's own context is ginmw.WithGinErrorHandler or
// echomw.WithEchoErrorHandler, which cannot be combined with it.
func WithErrorHandler(fn ErrorHandler) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("httplimit: WithErrorHandler: nil func")
		}
		c.onError = fn
		return nil
	})
}

// WithDenyStatus sets the status of the default deny answer. Default 429.
func WithDenyStatus(code int) Option {
	return optionFunc(func(c *config) error {
		if code < 400 || code > 599 {
			return fmt.Errorf("httplimit: WithDenyStatus(%d): not a 4xx or 5xx status", code)
		}
		c.status = code
		return nil
	})
}

// WithHeaders selects the rate-limit fields sent. Default HeadersAll.
func WithHeaders(h Headers) Option {
	return optionFunc(func(c *config) error {
		if h&^HeadersAll != 0 {
			return fmt.Errorf("httplimit: WithHeaders(%d): unknown header family", h)
		}
		c.headers = h
		return nil
	})
}

// WithResetUnix sends X-RateLimit-Reset as the Unix time, in whole seconds
// rounded up, at which the quota is whole again. By default it is the number
// of seconds until then (rounded up), which needs no clock agreement between
// server and client.
func WithResetUnix() Option {
	return optionFunc(func(c *config) error { c.resetUnix = true; return nil })
}

// WithClock sets the clock X-RateLimit-Reset reads under WithResetUnix.
// Default core.SystemClock.
func WithClock(clock core.Clock) Option {
	return optionFunc(func(c *config) error {
		if clock == nil {
			return errors.New("httplimit: WithClock: nil clock")
		}
		c.clock = clock
		return nil
	})
}
