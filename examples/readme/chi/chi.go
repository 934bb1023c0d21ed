// Package chi is the README's chi quick start.
package chi

import "net/http"

// README: chi
import (
	"github.com/go-chi/chi/v5"
	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
)

// README: end

// Router is the quick start's router.
func Router() http.Handler {
	// README: chi
	r := chi.NewRouter()
	r.Use(chimw.PerIP(core.PerMinute(100))) // 100 requests a minute per client IP
	r.Get("/users/{id}", getUser)
	// README: end
	return r
}

func getUser(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("id"))) }
