// Command echo serves a small echo app behind tollgate's echo middleware, for
// trying rate limits with curl:
//
//	go run ./examples/echo -limit 2/m
//	curl -i http://127.0.0.1:8080/users/1
//
// Each client IP gets -limit per route: /users/1 and /users/2 count against
// one /users/:id bucket, and / has a bucket of its own. It stops on SIGINT
// or SIGTERM, finishing the requests in flight.
package main

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/examples/internal/server"
)

func main() { server.Main("echo", newApp) }

// newApp is the whole integration: tollgate's echo middleware, keyed per
// client IP and route, in front of GET / and GET /users/:id.
func newApp(l *core.Limiter) (http.Handler, error) {
	mw, err := echomw.New(l, httplimit.WithRouteKey())
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(mw)
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "hello\n") })
	e.GET("/users/:id", func(c echo.Context) error { return c.String(http.StatusOK, "user "+c.Param("id")+"\n") })
	return e, nil
}
