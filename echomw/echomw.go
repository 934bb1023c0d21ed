package echomw

import (
	"errors"
	"fmt"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Config configures the middleware, in echo's style.
type Config struct {
	// Skipper lets requests for which it returns true through without a
	// decision. Default middleware.DefaultSkipper (none skipped).
	Skipper middleware.Skipper
	// Limiter is the limit applied. Required.
	Limiter *core.Limiter
	// Options are the HTTP options: key func (default the client IP from
	// the connection, keyfuncs.IP(), not echo's RealIP, which trusts proxy
	// headers), more limits, route keys, handlers, header families.
	Options []httplimit.Option
}

// New returns an echo middleware applying l to every request it handles:
// NewWithConfig with only Limiter and Options set.
func New(l *core.Limiter, opts ...httplimit.Option) (echo.MiddlewareFunc, error) {
	return NewWithConfig(Config{Limiter: l, Options: opts})
}

// NewWithConfig returns an echo middleware for cfg. A denied or undecidable
// request is answered directly (the handler returns nil without calling
// next), so every adapter answers alike rather than through echo's error
// handler. Under httplimit.WithRouteKey the route is c.Path(), so /users/:id
// is one bucket. It returns an error naming any invalid setting.
func NewWithConfig(cfg Config) (echo.MiddlewareFunc, error) {
	if cfg.Limiter == nil {
		return nil, errors.New("echomw: Config.Limiter is nil")
	}
	ip, err := keyfuncs.IP()
	if err != nil {
		return nil, fmt.Errorf("echomw: %w", err)
	}
	g, err := httplimit.New(cfg.Limiter, append([]httplimit.Option{httplimit.WithKeyFunc(ip)}, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("echomw: %w", err)
	}
	return Wrap(g, cfg.Skipper), nil
}

// Wrap returns the echo middleware that puts s in front of the handlers: a
// Gate built with httplimit.New, or the rules of package rules. skip (nil:
// none) lets requests through untouched. The route s may read is echo's
// path pattern (Context.Path).
func Wrap(s httplimit.Server, skip middleware.Skipper) echo.MiddlewareFunc {
	if skip == nil {
		skip = middleware.DefaultSkipper
	}
	uses := s.UsesRoute()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skip(c) {
				return next(c)
			}
			var route string
			if uses {
				route = c.Path()
			}
			if s.Serve(c.Response(), c.Request(), route) != httplimit.Proceed {
				return nil
			}
			return next(c)
		}
	}
}

// PerIP returns an echo middleware limiting each client IP (from the
// connection) to limit, counted in a memory store of its own: the one-line
// form,
//
//	e.Use(echomw.PerIP(core.PerMinute(100)))
//
// The policy is named "per-ip" in the RateLimit fields. PerIP panics if
// limit or an option is invalid: it is meant for limits written in code. Use
// New for limits read from configuration.
//
// The store lives as long as the middleware and needs no closing: once
// nothing references the middleware (the echo instance that holds it is
// dropped), the garbage collector reclaims the store and its background
// goroutine ends (see memstore's Lifetime). To end it at a moment of your choosing,
// build the middleware with New over a store you Close.
func PerIP(limit core.Limit, opts ...httplimit.Option) echo.MiddlewareFunc {
	store, err := memstore.New()
	if err != nil {
		panic("echomw.PerIP: " + err.Error())
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		_ = store.Close()
		panic("echomw.PerIP: " + err.Error())
	}
	mw, err := New(l, opts...)
	if err != nil {
		panic("echomw.PerIP: " + err.Error())
	}
	return mw
}
