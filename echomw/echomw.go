package echomw

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// Option configures the middleware: any httplimit option (key func, more
// limits, route keys, header families, and the net/http hooks WithSkip,
// WithDenyHandler, WithErrorHandler), or one of this package's hooks on
// echo.Context (WithSkipper, WithEchoDenyHandler, WithEchoErrorHandler).
type Option = httplimit.Option

// adapter is all echomw adds to httplimit: echo's route pattern, and the
// defaults of New and PerIP.
var adapter = &httplimit.Adapter[echo.Context]{
	Name:  "echomw",
	Route: echo.Context.Path,
	Request: func(c echo.Context, r *http.Request) echo.Context {
		c.SetRequest(r)
		return c
	},
	Written: func(c echo.Context) int64 { return c.Response().Size },
}

// New returns an echo middleware applying l to every request it handles. A
// denied or undecidable request is answered directly (the handler returns
// nil without calling next), so every adapter answers alike rather than
// through echo's error handler; a deny or error hook of this package may
// return an error for echo's error handler instead. Requests are keyed by
// the client IP from the connection (keyfuncs.IP(), not echo's RealIP,
// which trusts proxy headers) unless httplimit.WithKeyFunc says otherwise.
// Under httplimit.WithRouteKey the route is c.Path(), so /users/:id is one
// bucket. New returns an error naming any invalid option.
func New(l *core.Limiter, opts ...Option) (echo.MiddlewareFunc, error) {
	m, err := adapter.New(l, opts...)
	if err != nil {
		return nil, err
	}
	return middlewareFunc(m), nil
}

// PerIP returns an echo middleware limiting each client IP (from the
// connection) to limit, counted in a memory store of its own: the one-line
// form,
//
//	e.Use(echomw.PerIP(core.PerMinute(100)))
//
// The policy is named "per-ip" in the RateLimit fields. PerIP panics if
// limit or an option is invalid: it is meant for limits written in code. Use
// New or Config.ToMiddleware for limits read from configuration.
//
// The store lives as long as the middleware and needs no closing: once
// nothing references the middleware (the echo instance that holds it is
// dropped), the garbage collector reclaims the store and its background
// goroutine ends (see memstore's Lifetime). To end it at a moment of your
// choosing, build the middleware with New over a store you Close.
func PerIP(limit core.Limit, opts ...Option) echo.MiddlewareFunc {
	return middlewareFunc(adapter.PerIP(limit, opts...))
}

// Wrap returns the echo middleware that puts s in front of the handlers: a
// Gate built with httplimit.New, or the rules of package rules, whose own
// options say how requests are keyed, skipped and answered. The route s
// may read is echo's path pattern (Context.Path).
func Wrap(s httplimit.Server) echo.MiddlewareFunc {
	return middlewareFunc(adapter.Wrap(s))
}

// WithSkipper lets requests for which skip returns true through without a
// decision or rate-limit fields: echo's Skipper, as every echo middleware
// takes it, and httplimit.WithSkip on echo.Context. With httplimit.WithSkip
// as well, a request either skips is skipped.
func WithSkipper(skip middleware.Skipper) Option {
	return httplimit.WithContextSkip[echo.Context]("WithSkipper", skip)
}

// WithEchoDenyHandler replaces the answer to a denied request:
// httplimit.WithDenyHandler on echo.Context. fn writes the answer through
// c (c.JSON, c.String), or returns an error for echo's HTTPErrorHandler to
// answer; the rate-limit fields and Retry-After are already set, and d is
// the denying decision. The next handler is not called. It cannot be
// combined with httplimit.WithDenyHandler.
func WithEchoDenyHandler(fn func(c echo.Context, d core.Decision) error) Option {
	return httplimit.WithContextDenyHandler("WithEchoDenyHandler", fn)
}

// WithEchoErrorHandler replaces the answer to a request that could not be
// decided: httplimit.WithErrorHandler on echo.Context. err wraps
// keyfuncs.ErrNoKey when the request has no key, core.ErrStore when the
// store failed under fail-closed (Retry-After is then set). fn writes the
// answer through c or returns an error for echo's HTTPErrorHandler. It
// cannot be combined with httplimit.WithErrorHandler.
func WithEchoErrorHandler(fn func(c echo.Context, err error) error) Option {
	return httplimit.WithContextErrorHandler("WithEchoErrorHandler", fn)
}

// Config configures the middleware in echo's style: build it with
// ToMiddleware, which returns an error, or WithConfig, which panics. Each
// field's zero value is its default, except Limiter's: the zero Config has
// no limiter, so ToMiddleware returns an error for it and WithConfig
// panics.
type Config struct {
	// Skipper lets requests for which it returns true through without a
	// decision or rate-limit fields (see WithSkipper). Default nil: none
	// skipped, as middleware.DefaultSkipper.
	Skipper middleware.Skipper
	// Limiter is the limit applied. Required: no default.
	Limiter *core.Limiter
	// Options are more options, as New takes them. Default none: keyed by
	// the client IP from the connection (keyfuncs.IP(), not echo's RealIP,
	// which trusts proxy headers), one limit, no route key, every header
	// family.
	Options []Option
	// DenyHandler answers a denied request (see WithEchoDenyHandler).
	// Default nil: 429 with a short text or application/problem+json body,
	// as described in package httplimit.
	DenyHandler func(c echo.Context, d core.Decision) error
	// ErrorHandler answers a request that could not be decided (see
	// WithEchoErrorHandler). Default nil: 400 for a request without a key,
	// 503 when a fail-closed limiter's store failed, with a body that shows
	// no internals.
	ErrorHandler func(c echo.Context, err error) error
}

// ToMiddleware returns the echo middleware for cfg: New with cfg.Limiter,
// cfg.Options and the hooks cfg sets. It returns an error naming the field
// or option at fault: a nil Limiter, an invalid option, or a hook set both
// here and in Options.
func (cfg Config) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("echomw: Config.Limiter is nil: a limiter is required")
	}
	opts := make([]Option, 0, len(cfg.Options)+3)
	opts = append(opts, cfg.Options...)
	if cfg.Skipper != nil {
		opts = append(opts, httplimit.WithContextSkip[echo.Context]("Config.Skipper", cfg.Skipper))
	}
	if cfg.DenyHandler != nil {
		opts = append(opts, httplimit.WithContextDenyHandler("Config.DenyHandler", cfg.DenyHandler))
	}
	if cfg.ErrorHandler != nil {
		opts = append(opts, httplimit.WithContextErrorHandler("Config.ErrorHandler", cfg.ErrorHandler))
	}
	return New(cfg.Limiter, opts...)
}

// WithConfig returns the echo middleware for cfg, as ToMiddleware does, and
// panics where ToMiddleware returns an error (a nil Limiter, an invalid
// option), with that error, whose message names the field at fault: the
// form echo's own middleware takes (middleware.RateLimiterWithConfig), for
// configurations written in code.
func WithConfig(cfg Config) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

func middlewareFunc(m *httplimit.Middleware[echo.Context]) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Handle holds the request's concurrency slots while next runs.
			_, err := m.Handle(c, c.Response(), c.Request(), next)
			return err
		}
	}
}
