package rules

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// TestKeySpecsAreKeyfuncsKeys: a key spec gives the key that the keyfuncs
// funcs it names give in Go (one source as it stands, several through
// Compose, a fallback through FirstOf), and refuses what they refuse, with
// errors wrapping keyfuncs.ErrNoKey.
func TestKeySpecsAreKeyfuncsKeys(t *testing.T) {
	res, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("10.0.0.0/8"))
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := keyfuncs.Header("X-Api-Key", 16)
	if err != nil {
		t.Fatal(err)
	}
	must := func(fn keyfuncs.KeyFunc, err error) keyfuncs.KeyFunc {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return fn
	}
	req := func(apiKey, path string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://x"+path, nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if apiKey != "" {
			r.Header.Set("X-Api-Key", apiKey)
		}
		r.Pattern = "POST /orders/{id}"
		return r
	}
	long := "/" + strings.Repeat("p", maxKey)
	for _, tt := range []struct {
		name     string
		spec     string
		fallback string
		r        *http.Request
		want     keyfuncs.KeyFunc // nil: the key must be refused
	}{
		{"ip is the resolver's key", "ip", "", req("", "/"), res.Key},
		{"a header is keyfuncs.Header", "header:x-api-key", "", req("k1", "/"), hdr},
		{"a header at the cap", "header:X-Api-Key", "", req(strings.Repeat("k", 16), "/"), hdr},
		{"a header past the cap is no key", "header:X-Api-Key", "", req(strings.Repeat("k", 17), "/"), nil},
		{"a missing header is no key", "header:X-Api-Key", "", req("", "/"), nil},
		{"route is keyfuncs.Pattern", "route", "", req("", "/"), keyfuncs.Pattern()},
		{"path and method", "path + METHOD", "", req("", "/a|b"), must(keyfuncs.Compose(keyfuncs.Path(), keyfuncs.Method()))},
		{"four sources are Compose", "ip+header:X-Api-Key+route+path", "", req("k1", "/a"),
			must(keyfuncs.Compose(res.Key, hdr, keyfuncs.Pattern(), keyfuncs.Path()))},
		{"a path past the cap is no key", "path", "", req("", long), nil},
		{"a join past the cap is no key", "method+path", "", req("", long[:maxKey-2]), nil},
		{"a fallback is FirstOf", "header:X-Api-Key", "ip", req("", "/"), must(keyfuncs.FirstOf(hdr, res.Key))},
		{"a fallback's first key", "header:X-Api-Key", "ip", req("203.0.113.9", "/"), must(keyfuncs.FirstOf(hdr, res.Key))},
		{"a fallback past a header too long", "header:X-Api-Key", "ip", req(strings.Repeat("k", 17), "/"), must(keyfuncs.FirstOf(hdr, res.Key))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := parseKey(tt.spec, 16, res)
			if err != nil {
				t.Fatal(err)
			}
			var fb *keySpec
			if tt.fallback != "" {
				if fb, err = parseKey(tt.fallback, 16, res); err != nil {
					t.Fatal(err)
				}
			}
			fn, _ := orElse(spec, fb)
			got, err := fn(tt.r)
			if tt.want == nil {
				if got != "" || !errors.Is(err, keyfuncs.ErrNoKey) {
					t.Fatalf("key = %q, %v; want an error wrapping keyfuncs.ErrNoKey", got, err)
				}
				return
			}
			want, wantErr := tt.want(tt.r)
			if wantErr != nil || err != nil || got != want {
				t.Fatalf("key = %q, %v; keyfuncs give %q, %v", got, err, want, wantErr)
			}
		})
	}
}

// TestRouteKeyFromAnotherRouter: under a router other than ServeMux the
// adapter passes the route; a route key reads it (r.Pattern is empty), and
// the request the handler gets is left as it was.
func TestRouteKeyFromAnotherRouter(t *testing.T) {
	spec, err := parseKey("route+ip", 256, new(keyfuncs.IPResolver))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/users/7", nil)
	q := request{r: r, route: "/users/{id}"}
	got, err := spec.key(&q)
	if want := keyfuncs.Join("/users/{id}", "192.0.2.1"); err != nil || got != want {
		t.Fatalf("key = %q, %v; want %q", got, err, want)
	}
	if r.Pattern != "" {
		t.Fatalf("the request's Pattern became %q", r.Pattern)
	}
	q = request{r: r}
	if got, err := spec.key(&q); got != "" || !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Fatalf("no route: key = %q, %v; want ErrNoKey", got, err)
	}
	if n := testing.AllocsPerRun(20, func() {
		q := request{r: r, route: "/users/{id}"}
		_, _ = spec.key(&q)
	}); n > 3 {
		t.Errorf("%v allocations per key, want at most 3 (the request's copy, the join, the key's text)", n)
	}
}

func TestParseKeyRejectsBadSpecs(t *testing.T) {
	for _, tt := range []struct{ spec, errText string }{
		{"", "empty"},
		{"header", "want header:NAME"},
		{"header:", "want header:NAME"},
		{"header:a b", "want header:NAME"},
		{"ip:x", "ip takes no argument"},
		{"cookie:x", "unknown key source"},
		{"ip+ip+ip+ip+ip", "at most 4"},
	} {
		if _, err := parseKey(tt.spec, 256, new(keyfuncs.IPResolver)); err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("parseKey(%q) = %v, want an error containing %q", tt.spec, err, tt.errText)
		}
	}
}
