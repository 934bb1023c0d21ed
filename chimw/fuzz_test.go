package chimw_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// FuzzOddRequests sends requests no real client would through a chi router
// with route keys, keyed by the client IP behind a trusted proxy: every value
// the middleware reads (remote address, path, method, Accept,
// X-Forwarded-For) is fuzzed. Our code must answer each deliberately and
// never panic.
func FuzzOddRequests(f *testing.F) {
	for _, seed := range [][5]string{
		{"192.0.2.1:1234", "/users/1", "application/json", "GET", ""},
		{"", "", "", "", ""},
		{"[fe80::1%eth0]:80", "/users/%zz", "text/plain;q=0", "GET", "203.0.113.9"},
		{"[::ffff:1.2.3.4]:0", "//..//users/../x", "application/json;q=nan", "BREW", ""},
		{"not-an-ip", "/\x00", ",,;;", "GET", ""},
		{"1.2.3.4:99999", "/users/" + string(make([]byte, 5000)), "*/*", "POST", ""},
		{"10.0.0.1:1", "/users/1", "*/*", "GET", "203.0.113.9, 10.0.0.2"},
		{"10.0.0.1:1", "/users/1", "*/*", "GET", "garbage, [64:ff9b::1.2.3.4]:80"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4])
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
	mw, err := chimw.New(l, httplimit.WithRouteKey(), httplimit.WithKeyFunc(key))
	if err != nil {
		f.Fatal(err)
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	f.Fuzz(func(t *testing.T, remote, path, accept, method, xff string) {
		req := &http.Request{Method: method, URL: &url.URL{Path: path}, RemoteAddr: remote,
			Header: http.Header{"Accept": {accept}, "X-Forwarded-For": {xff}}}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 405, 429:
		default:
			t.Errorf("status %d for remote %q path %q method %q", w.Code, remote, path, method)
		}
	})
}
