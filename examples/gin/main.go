// Command gin serves a small gin app behind tollgate's gin middleware, for
// trying rate limits with curl:
//
//	go run ./examples/gin -limit 2/m
//	curl -i http://127.0.0.1:8080/users/1
//
// Each client IP gets -limit per route: /users/1 and /users/2 count against
// one /users/:id bucket, and / has a bucket of its own. It stops on SIGINT
// or SIGTERM, finishing the requests in flight.
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/examples/internal/server"
	"github.com/tollgate-go/tollgate/ginmw"
)

func main() { server.Main("gin", newApp) }

// newApp is the whole integration: tollgate's gin middleware, keyed per
// client IP and route, in front of GET / and GET /users/:id.
func newApp(l *core.Limiter) (http.Handler, error) {
	mw, err := ginmw.New(l, httplimit.WithRouteKey())
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode) // no route listing on stdout
	r := gin.New()
	r.Use(mw)
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })
	r.GET("/users/:id", func(c *gin.Context) { c.String(http.StatusOK, "user %s\n", c.Param("id")) })
	return r, nil
}
