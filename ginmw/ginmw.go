package ginmw

import (
	"github.com/gin-gonic/gin"
	"net/http"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// Option configures the middleware: any httplimit option (key func, more
// limits, route keys, header families, and the net/http hooks WithSkip,
// WithDenyHandler, WithErrorHandler), or one of this package's hooks on
// *gin.Context (WithGinSkip, WithGinDenyHandler, WithGinErrorHandler).
type Option = httplimit.Option

// adapter is all ginmw adds to httplimit: gin's route pattern, and the
// defaults of New and PerIP.
var adapter = &httplimit.Adapter[*gin.Context]{
	Name:  "ginmw",
	Route: (*gin.Context).FullPath,
	Request: func(c *gin.Context, r *http.Request) *gin.Context {
		c.Request = r
		return c
	},
	Written: func(c *gin.Context) int64 { return int64(max(c.Writer.Size(), 0)) },
}

// New returns a gin middleware applying l to every request it handles. A
// denied or undecidable request is answered and the chain aborted
// (c.Abort), so later handlers do not run. Requests are keyed by the client
// IP from the connection (keyfuncs.IP(), not gin's ClientIP, which trusts
// proxy headers by default) unless httplimit.WithKeyFunc says otherwise.
// Under httplimit.WithRouteKey the route is c.FullPath(), so /users/:id is
// one bucket. New returns an error naming any invalid option.
func New(l *core.Limiter, opts ...Option) (gin.HandlerFunc, error) {
	m, err := adapter.New(l, opts...)
	if err != nil {
		return nil, err
	}
	return handler(m), nil
}

// PerIP returns a gin middleware limiting each client IP (from the
// connection) to limit, counted in a memory store of its own: the one-line
// form,
//
//	r.Use(ginmw.PerIP(core.PerMinute(100)))
//
// The policy is named "per-ip" in the RateLimit fields. PerIP panics if
// limit or an option is invalid, as gin panics on a bad route: it is meant
// for limits written in code. Use New for limits read from configuration.
//
// The store lives as long as the middleware and needs no closing: once
// nothing references the middleware (the engine that holds it is dropped),
// the garbage collector reclaims the store and its background goroutine
// ends (see memstore's Lifetime). To end it at a moment of your choosing,
// build the middleware with New over a store you Close.
func PerIP(limit core.Limit, opts ...Option) gin.HandlerFunc {
	return handler(adapter.PerIP(limit, opts...))
}

// Wrap returns the gin middleware that puts s in front of the handlers: a
// Gate built with httplimit.New, or the rules of package rules, whose own
// options say how requests are keyed, skipped and answered. The route s
// may read is gin's full path (Context.FullPath).
func Wrap(s httplimit.Server) gin.HandlerFunc {
	return handler(adapter.Wrap(s))
}

// WithGinSkip lets requests for which fn returns true through without a
// decision or rate-limit fields: httplimit.WithSkip on *gin.Context, where
// the route (c.FullPath()), its parameters and what earlier middleware
// stored (c.Get) can be read. With httplimit.WithSkip as well, a request
// either skips is skipped.
func WithGinSkip(fn func(c *gin.Context) bool) Option {
	return httplimit.WithContextSkip("WithGinSkip", fn)
}

// WithGinDenyHandler replaces the answer to a denied request:
// httplimit.WithDenyHandler on *gin.Context. fn writes the answer through
// c (c.JSON, c.String); the rate-limit fields and Retry-After are already
// set, d is the denying decision, and the chain is aborted after fn
// returns. It cannot be combined with httplimit.WithDenyHandler.
func WithGinDenyHandler(fn func(c *gin.Context, d core.Decision)) Option {
	var h func(*gin.Context, core.Decision) error // nil for a nil fn: the option reports it
	if fn != nil {
		h = func(c *gin.Context, d core.Decision) error { fn(c, d); return nil }
	}
	return httplimit.WithContextDenyHandler("WithGinDenyHandler", h)
}

// WithGinErrorHandler replaces the answer to a request that could not be
// decided: httplimit.WithErrorHandler on *gin.Context. err wraps
// keyfuncs.ErrNoKey when the request has no key, core.ErrStore when the
// store failed under fail-closed (Retry-After is then set). The chain is
// aborted after fn returns. It cannot be combined with
// httplimit.WithErrorHandler.
func WithGinErrorHandler(fn func(c *gin.Context, err error)) Option {
	var h func(*gin.Context, error) error
	if fn != nil {
		h = func(c *gin.Context, err error) error { fn(c, err); return nil }
	}
	return httplimit.WithContextErrorHandler("WithGinErrorHandler", h)
}

func handler(m *httplimit.Middleware[*gin.Context]) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Handle holds the request's concurrency slots while the rest of
		// the chain runs.
		if out, _ := m.Handle(c, c.Writer, c.Request, ginNext); out != httplimit.Proceed {
			c.Abort()
		}
	}
}

func ginNext(c *gin.Context) error {
	c.Next()
	return nil
}
