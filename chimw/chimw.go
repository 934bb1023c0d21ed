package chimw

import (
	"net/http"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// Option configures the middleware: any httplimit option (key func, more
// limits, route keys, WithSkip, deny and error handlers, header families).
// net/http is chi's own framework, so its hooks are httplimit's.
type Option = httplimit.Option

// adapter is all chimw adds to httplimit: chi's route pattern, and the
// defaults of New and PerIP.
var adapter = &httplimit.Adapter[*http.Request]{
	Name:    "chimw",
	Route:   RoutePattern,
	Request: func(_ *http.Request, r *http.Request) *http.Request { return r },
}

// New returns middleware applying l to every request it wraps. Requests are
// keyed by the client IP from the connection (keyfuncs.IP()) unless
// httplimit.WithKeyFunc says otherwise. New returns an error naming any
// invalid option.
func New(l *core.Limiter, opts ...Option) (func(http.Handler) http.Handler, error) {
	m, err := adapter.New(l, opts...)
	if err != nil {
		return nil, err
	}
	return middleware(m), nil
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
func PerIP(limit core.Limit, opts ...Option) func(http.Handler) http.Handler {
	return middleware(adapter.PerIP(limit, opts...))
}

// Wrap returns the middleware that puts s in front of a handler: a Gate
// built with httplimit.New, or the rules of package rules, whose own
// options say how requests are keyed, skipped and answered. The route s
// may read is chi's pattern (RoutePattern).
func Wrap(s httplimit.Server) func(http.Handler) http.Handler {
	return middleware(adapter.Wrap(s))
}

func middleware(m *httplimit.Middleware[*http.Request]) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Handle holds the request's concurrency slots while next runs.
			// Under cost-after limits it passes on a request of its own,
			// which carries what the handler reports, and Writer counts the
			// body; otherwise the handler gets r and w as they came.
			_, _ = m.Handle(r, w, r, func(r2 *http.Request) error {
				if r2 == r {
					next.ServeHTTP(w, r)
				} else {
					next.ServeHTTP(httplimit.Writer(r2, w), r2)
				}
				return nil
			})
		})
	}
}
