// Package echo5mw puts tollgate in front of an echo v5 server
// (github.com/labstack/echo/v5) as an echo.MiddlewareFunc, configured with
// options or in echo's style (a Config). Package echomw is the same
// middleware for echo v4, which gets fixes only until 2026-12-31: new code
// should use echo v5 and this package.
//
// The one-line form limits each client IP in process memory:
//
//	e := echo.New()
//	e.Use(echo5mw.PerIP(core.PerMinute(100)))
//
// The one-line form's store needs no closing: it lives as long as the
// middleware, and once nothing references the middleware the garbage
// collector reclaims it and its background goroutine ends.
//
// The full form takes a core.Limiter (any store, failure policy, name) and
// options: httplimit's, and this package's hooks on *echo.Context, each the
// pair of an httplimit hook on *http.Request (WithSkipper of
// httplimit.WithSkip, WithEchoDenyHandler of httplimit.WithDenyHandler,
// WithEchoErrorHandler of httplimit.WithErrorHandler):
//
//	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
//	mw, err := echo5mw.New(l,
//		httplimit.WithRouteKey(),
//		echo5mw.WithSkipper(func(c *echo.Context) bool { return c.Path() == "/healthz" }))
//	e.Use(mw)
//
// or a Config, as echo's own middleware take it: ToMiddleware returns an
// error, WithConfig panics on a bad Config (for configurations written in
// code):
//
//	mw, err := echo5mw.Config{
//		Limiter: l,
//		Skipper: func(c *echo.Context) bool { return c.Path() == "/healthz" },
//		Options: []echo5mw.Option{httplimit.WithRouteKey()},
//	}.ToMiddleware()
//
// Wrap puts a Server built beforehand (a Gate, or package rules' Engine) in
// front of the handlers: e.Use(echo5mw.Wrap(engine)).
//
// Under httplimit.WithRouteKey the route is c.Path(): /users/1 and /users/2
// share "/users/:id".
//
// What clients see (fields, 429, 503, 400, bodies) is the same in every
// adapter and is described in package httplimit.
package echo5mw
