// Package chimw puts tollgate in front of a chi router, or any net/http
// handler chain: its middleware has chi's (and net/http's) shape,
// func(http.Handler) http.Handler.
//
// The one-line form limits each client IP in process memory:
//
//	r := chi.NewRouter()
//	r.Use(chimw.PerIP(core.PerMinute(100)))
//
// The one-line form's store needs no closing: it lives as long as the
// middleware, and once nothing references the middleware the garbage
// collector reclaims it and its background goroutine ends.
//
// The full form takes a core.Limiter (any store, failure policy, name) and
// options, httplimit's: net/http is chi's own framework, so its hooks
// (httplimit.WithSkip, WithDenyHandler, WithErrorHandler) are the
// framework's:
//
//	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
//	mw, err := chimw.New(l, httplimit.WithRouteKey(), httplimit.WithSkip(isHealthCheck))
//	r.Use(mw)
//
// Wrap puts a Server built beforehand (a Gate, or package rules' Engine) in
// front of the handlers: r.Use(chimw.Wrap(engine)).
//
// With httplimit.WithRouteKey every route pattern is a bucket of its own
// per client: /users/1 and /users/2 share "/users/{id}" (see RoutePattern).
// Under plain net/http the pattern is Request.Pattern, which http.ServeMux
// sets only for the handler it calls: wrap that handler,
// mux.Handle("GET /users/{id}", mw(h)), not the mux.
//
// What clients see (fields, 429, 503, 400, bodies) is the same in every
// adapter and is described in package httplimit.
package chimw
