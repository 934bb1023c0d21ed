// Package ginmw puts tollgate in front of a gin engine as a
// gin.HandlerFunc.
//
// The one-line form limits each client IP in process memory:
//
//	r := gin.New()
//	r.Use(ginmw.PerIP(core.PerMinute(100)))
//
// The one-line form's store needs no closing: it lives as long as the
// middleware, and once nothing references the middleware the garbage
// collector reclaims it and its background goroutine ends.
//
// The full form takes a core.Limiter (any store, failure policy, name) and
// options: httplimit's, and this package's hooks on *gin.Context, each the
// pair of an httplimit hook on *http.Request (WithGinSkip of
// httplimit.WithSkip, WithGinDenyHandler of httplimit.WithDenyHandler,
// WithGinErrorHandler of httplimit.WithErrorHandler):
//
//	l, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
//	mw, err := ginmw.New(l,
//		httplimit.WithRouteKey(),
//		ginmw.WithGinSkip(func(c *gin.Context) bool { return c.FullPath() == "/healthz" }))
//	r.Use(mw)
//
// Wrap puts a Server built beforehand (a Gate, or package rules' Engine) in
// front of the handlers: r.Use(ginmw.Wrap(engine)).
//
// A middleware can also guard one group or route: api.Use(mw), or
// r.GET("/login", mw, login). Under httplimit.WithRouteKey the route is
// c.FullPath(): /users/1 and /users/2 share "/users/:id".
//
// What clients see (fields, 429, 503, 400, bodies) is the same in every
// adapter and is described in package httplimit.
package ginmw
