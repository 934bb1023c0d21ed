package echo5mw_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// FuzzOddRequests sends requests no real client would through an echo
// router with route keys and echo's own hooks, keyed by the client IP
// behind a trusted proxy: every value the middleware reads (remote address,
// path, method, Accept, X-Forwarded-For) is fuzzed. Each request is
// answered deliberately, never with a panic.
func FuzzOddRequests(f *testing.F) {
	for _, s := range [][5]string{
		{"10.0.0.1:1234", "/users/1", "application/json", "GET", "203.0.113.9"},
		{"", "", "", "", ""},
		{"[fe80::1%eth0]:80", "/users/%zz", "text/plain;q=0", "GET", "10.0.0.2, garbage"},
		{"[::ffff:10.0.0.1]:0", "//..//users/../x", "application/json;q=nan", "BREW", "[64:ff9b::1.2.3.4]:80"},
		{"not-an-ip", "/\x00", ",,;;", "GET", ",,,"},
		{"10.0.0.1:99999", "/users/1/", "*/*", "POST", "unknown"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	store, err := memstore.New()
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	l, err := core.NewLimiter(store, core.PerSecond(1000), core.WithName("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	key, err := keyfuncs.IP(keyfuncs.TrustProxies("10.0.0.0/8"))
	if err != nil {
		f.Fatal(err)
	}
	// The hooks on *echo.Context run too: the skipper reads the route, the
	// error handler answers through c in place of the default.
	mw, err := echo5mw.New(l, httplimit.WithRouteKey(), httplimit.WithKeyFunc(key),
		echo5mw.WithSkipper(func(c *echo.Context) bool { return c.Path() == "/healthz" }),
		echo5mw.WithEchoErrorHandler(func(c *echo.Context, err error) error { return c.String(http.StatusBadRequest, "no key\n") }))
	if err != nil {
		f.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/users/:id", func(c *echo.Context) error { return c.NoContent(http.StatusOK) })
	f.Fuzz(func(t *testing.T, remote, path, accept, method, xff string) {
		req := &http.Request{Method: method, URL: &url.URL{Path: path}, RemoteAddr: remote,
			Header: http.Header{"Accept": {accept}, "X-Forwarded-For": {xff}}}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 405, 429:
		default:
			t.Errorf("status %d for remote %q path %q method %q", w.Code, remote, path, method)
		}
	})
}
