// Package echomw puts tollgate in front of an echo v4 server as an
// echo.MiddlewareFunc, configured in echo's style (Config with a Skipper).
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
// httplimit options, or a Config:
//
//	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
//	mw, err := echomw.NewWithConfig(echomw.Config{
//		Limiter: l,
//		Skipper: func(c echo.Context) bool { return c.Path() == "/healthz" },
//		Options: []httplimit.Option{httplimit.WithRouteKey()},
//	})
//	e.Use(mw)
//
// Under httplimit.WithRouteKey the route is c.Path(): /users/1 and /users/2
// share "/users/:id".
//
// What clients see (fields, 429, 503, 400, bodies) is the same in every
// adapter and is described in package httplimit.
package echomw
