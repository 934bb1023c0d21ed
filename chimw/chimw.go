package chimw

import (
	"fmt"
	"net/http"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// New returns middleware applying l to every request it wraps. Requests are
// keyed by the client IP from the connection (keyfuncs.IP()) unless
// httplimit.WithKeyFunc says otherwise; the other options (more limits,
// route keys, skip, handlers, header families) are httplimit's. New returns
// an error naming any invalid option.
func New(l *core.Limiter, opts ...httplimit.Option) (func(http.Handler) http.Handler, error) {
	ip, err := keyfuncs.IP()
	if err != nil {
		return nil, fmt.Errorf("chimw: %w", err)
	}
	g, err := httplimit.New(l, append([]httplimit.Option{httplimit.WithKeyFunc(ip)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("chimw: %w", err)
	}
	return Wrap(g), nil
}

// Wrap returns the middleware that puts s in front of a handler: a Gate
// built with httplimit.New, or the rules of package rules. The route s may
// read is chi's pattern (RoutePattern).
func Wrap(s httplimit.Server) func(http.Handler) http.Handler {
	uses := s.UsesRoute()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var route string
			if uses {
				route = RoutePattern(r)
			}
			if s.Serve(w, r, route) == httplimit.Proceed {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// PerIP returns middleware limiting each client IP (from the connection) to
// limit, counted in a memory store of its own: the one-line form,
//
//	r.Use(chimw.PerIP(core.PerMinute(100)))
//
// The policy is named "per-ip" in the RateLimit fields. PerIP panics if
// limit or an option is invalid, as http.ServeMux.Handle panics on a bad
// pattern: it is meant for limits written in code. Use New for limits read
// from configuration.
//
// The store lives as long as the middleware and needs no closing: once
// nothing references the middleware (the router that holds it is dropped),
// the garbage collector reclaims the store and its background goroutine
// ends (see memstore's Lifetime). To end it at a moment of your choosing,
// build the middleware with New over a store you Close.
func PerIP(limit core.Limit, opts ...httplimit.Option) func(http.Handler) http.Handler {
	store, err := memstore.New()
	if err != nil {
		panic("chimw.PerIP: " + err.Error())
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		_ = store.Close()
		panic("chimw.PerIP: " + err.Error())
	}
	mw, err := New(l, opts...)
	if err != nil {
		panic("chimw.PerIP: " + err.Error())
	}
	return mw
}
