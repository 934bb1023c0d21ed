// Package echo5 is the README's echo v5 quick start.
package echo5

import "github.com/tollgate-go/tollgate/core/httplimit"

// README: echo5
import (
	"github.com/labstack/echo/v5"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/echo5mw"
)

// README: end

// Echo is the quick start's server.
func Echo() *echo.Echo {
	// README: echo5
	e := echo.New()
	e.Use(echo5mw.PerIP(core.PerMinute(100)))
	e.GET("/users/:id", getUser)
	// README: end
	return e
}

func getUser(c *echo.Context) error { return c.String(200, c.Param("id")) }

// WithConfig is the README's echo Config.
func WithConfig(l *core.Limiter) (echo.MiddlewareFunc, error) {
	// README: echo-config
	mw, err := echo5mw.Config{
		Limiter: l,
		Skipper: func(c *echo.Context) bool { return c.Path() == "/healthz" },
		Options: []echo5mw.Option{httplimit.WithRouteKey()},
	}.ToMiddleware()
	// README: end
	return mw, err
}
