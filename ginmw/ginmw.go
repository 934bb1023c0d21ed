package ginmw

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// New returns a gin middleware applying l to every request it handles. A
// denied or undecidable request is answered and the chain aborted
// (c.Abort), so later handlers do not run. Requests are keyed by the client
// IP from the connection (keyfuncs.IP(), not gin's ClientIP, which trusts
// proxy headers by default) unless httplimit.WithKeyFunc says otherwise.
// Under httplimit.WithRouteKey the route is c.FullPath(), so /users/:id is
// one bucket. New returns an error naming any invalid option.
func New(l *core.Limiter, opts ...httplimit.Option) (gin.HandlerFunc, error) {
	ip, err := keyfuncs.IP()
	if err != nil {
		return nil, fmt.Errorf("ginmw: %w", err)
	}
	g, err := httplimit.New(l, append([]httplimit.Option{httplimit.WithKeyFunc(ip)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("ginmw: %w", err)
	}
	return Wrap(g), nil
}

// Wrap returns the gin middleware that puts s in front of the handlers: a
// Gate built with httplimit.New, or the rules of package rules. The route s
// may read is gin's full path (Context.FullPath).
func Wrap(s httplimit.Server) gin.HandlerFunc {
	uses := s.UsesRoute()
	return func(c *gin.Context) {
		var route string
		if uses {
			route = c.FullPath()
		}
		if s.Serve(c.Writer, c.Request, route) != httplimit.Proceed {
			c.Abort()
			return
		}
		c.Next()
	}
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
func PerIP(limit core.Limit, opts ...httplimit.Option) gin.HandlerFunc {
	store, err := memstore.New()
	if err != nil {
		panic("ginmw.PerIP: " + err.Error())
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		_ = store.Close()
		panic("ginmw.PerIP: " + err.Error())
	}
	mw, err := New(l, opts...)
	if err != nil {
		panic("ginmw.PerIP: " + err.Error())
	}
	return mw
}
