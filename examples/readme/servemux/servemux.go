// Package servemux is the README's net/http quick start.
package servemux

import (
	"net/http"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
)

// Mux is the quick start's mux.
func Mux() *http.ServeMux {
	// README: servemux
	limit := chimw.PerIP(core.PerMinute(100))
	mux := http.NewServeMux()
	mux.Handle("GET /users/{id}", limit(http.HandlerFunc(getUser)))
	// README: end
	return mux
}

func getUser(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("id"))) }
