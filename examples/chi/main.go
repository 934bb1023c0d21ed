// Command chi serves a small chi app behind tollgate's chi middleware, for
// trying rate limits with curl:
//
//	go run ./examples/chi -limit 2/m
//	curl -i http://127.0.0.1:8080/users/1
//
// Each client IP gets -limit per route: /users/1 and /users/2 count against
// one /users/{id} bucket, and / has a bucket of its own. It stops on SIGINT
// or SIGTERM, finishing the requests in flight.
package main

import (
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/examples/internal/server"
)

func main() { server.Main("chi", newApp) }

// newApp is the whole integration: tollgate's chi middleware, keyed per
// client IP and route, in front of GET / and GET /users/{id}.
func newApp(l *core.Limiter) (http.Handler, error) {
	mw, err := chimw.New(l, httplimit.WithRouteKey())
	if err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "hello\n")
	})
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "user "+chi.URLParam(r, "id")+"\n")
	})
	return r, nil
}
