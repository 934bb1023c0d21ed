package chimw

import (
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
)

// RoutePattern returns the pattern of the route r matches, as
// httplimit.WithRouteKey keys it: chi's pattern ("/api/users/{id}") under a
// chi router, the http.ServeMux pattern (Request.Pattern) under plain
// net/http, "" when no route matches.
//
// Middleware given to a chi router's Use runs before chi has routed the
// request; there RoutePattern asks the router which route will match, at the
// cost of a second lookup. Inside r.With or r.Group, chi has routed already
// and the pattern is read as it is.
func RoutePattern(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return r.Pattern
	}
	if n := len(rctx.RoutePatterns); n > 0 && !strings.HasSuffix(rctx.RoutePatterns[n-1], "/*") {
		return r.Pattern // chi has found the endpoint and set Request.Pattern
	}
	if rctx.Routes == nil {
		return ""
	}
	method := rctx.RouteMethod
	if method == "" {
		method = r.Method
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if path == "" {
		path = "/"
	}
	tctx := lookups.Get().(*chi.Context)
	tctx.Reset()
	p := rctx.Routes.Find(tctx, method, path)
	lookups.Put(tctx)
	return p
}

// lookups holds the scratch routing contexts of RoutePattern's lookups.
var lookups = sync.Pool{New: func() any { return chi.NewRouteContext() }}
