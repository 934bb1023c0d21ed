// Package echomw puts tollgate in front of an echo v4 server as an
// echo.MiddlewareFunc, configured with options or in echo's style (a
// Config).
//
// The one-line form limits each client IP in process memory:
//
//	e := echo.New()
//	e.Use(echomw.PerIP(core.PerMinute(100)))
//
// The one-line form's store needs no closing: it lives as long as the
// middleware, and once nothing references the middleware the garbage
// collector reclaims it and its background goroutine ends.
//
// The full form takes a core.Limiter (any store, failure policy, name) and
// options: httplimit's, and this package's hooks on echo.Context, each the
// pair of an httplimit hook on *http.Request (WithSkipper of
// httplimit.WithSkip, WithEchoDenyHandler of httplimit.WithDenyHandler,
// WithEchoErrorHandler of httplimit.WithErrorHandler):
//
//	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
//	mw, err := echomw.New(l,
//		httplimit.WithRouteKey(),
//		echomw.WithSkipper(func(c echo.Context) bool { return c.Path() == "/healthz" }))
//	e.Use(mw)
//
// or a Config, as echo's own middleware take it: ToMiddleware returns an
// error, WithConfig panics on a bad Config (for configurations written in
// code):
//
//	mw, err := echomw.Config{
//		Limiter: l,
//		Skipper: func(c echo.Context) bool { return c.Path() == "/healthz" },
//		Options: []echomw.Option{httplimit.WithRouteKey()},
//	}.ToMiddleware()
//
// Wrap puts a Server built beforehand (a Gate, or package rules' Engine) in
// front of the handlers: e.Use(echomw.Wrap(engine)).
//
// Under httplimit.WithRouteKey the route is c.Path(): /users/1 and /users/2
// share "/users/:id".
//
// What clients see (fields, 429, 503, 400, bodies) is the same in every
// adapter and is described in package httplimit.
package echomw
