package keyfuncs_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// failing returns a KeyFunc that always fails with err.
func failing(err error) keyfuncs.KeyFunc {
	return func(*http.Request) (string, error) { return "", err }
}

func TestFirstOf(t *testing.T) {
	noKey := failing(keyfuncs.ErrNoKey)
	down := errors.New("identity service down")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, tt := range []struct {
		name    string
		fns     []keyfuncs.KeyFunc
		want    string
		errIs   error  // when want is "": the error must wrap it
		errText string // …and contain this
	}{
		{"the first key found, namespaced by its place", []keyfuncs.KeyFunc{constant("k1"), constant("k2")}, "1:0|2:k1", nil, ""},
		{"a func without a key passes to the next", []keyfuncs.KeyFunc{noKey, constant("k2")}, "1:1|2:k2", nil, ""},
		{"an empty key passes to the next", []keyfuncs.KeyFunc{constant(""), constant("k2")}, "1:1|2:k2", nil, ""},
		{"a too long header passes to the next", []keyfuncs.KeyFunc{failing(keyfuncs.ErrKeyTooLong), constant("k2")}, "1:1|2:k2", nil, ""},
		{"the same key from another place is another key", []keyfuncs.KeyFunc{noKey, noKey, constant("k1")}, "1:2|2:k1", nil, ""},
		{"another error stops the walk", []keyfuncs.KeyFunc{failing(down), constant("k2")}, "", down, "FirstOf func 0: identity service down"},
		{"no key anywhere wraps ErrNoKey", []keyfuncs.KeyFunc{noKey, constant("")}, "", keyfuncs.ErrNoKey, "none of 2 key funcs found a key"},
		{"one func without a key: its own error", []keyfuncs.KeyFunc{failing(keyfuncs.ErrKeyTooLong)}, "", keyfuncs.ErrKeyTooLong, "too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := keyfuncs.FirstOf(tt.fns...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f(r)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("key = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" || !errors.Is(err, tt.errIs) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("key = %q, %v; want an error wrapping %v containing %q", got, err, tt.errIs, tt.errText)
			}
			if tt.errIs == down && errors.Is(err, keyfuncs.ErrNoKey) {
				t.Fatalf("error %v wraps ErrNoKey: a failed lookup is not an absent key", err)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		fns     []keyfuncs.KeyFunc
		errText string
	}{
		{"no funcs", nil, "FirstOf: no key funcs"},
		{"a nil func", []keyfuncs.KeyFunc{keyfuncs.Path(), nil}, "FirstOf: key func 1 is nil"},
	} {
		if f, err := keyfuncs.FirstOf(tt.fns...); f != nil || err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("%s: FirstOf = %v, %v; want an error containing %q", tt.name, f, err, tt.errText)
		}
	}
}

func TestJoin(t *testing.T) {
	for _, tt := range []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{""}, "0:"},
		{[]string{"192.0.2.1"}, "9:192.0.2.1"},
		{[]string{"a|b", "c"}, "3:a|b|1:c"},
		{[]string{"a", "b|c"}, "1:a|3:b|c"},
		{[]string{"", "x"}, "0:|1:x"},
		{[]string{"x", ""}, "1:x|0:"},
	} {
		if got := keyfuncs.Join(tt.parts...); got != tt.want {
			t.Errorf("Join(%q) = %q, want %q", tt.parts, got, tt.want)
		}
		if got := string(keyfuncs.AppendJoin([]byte("pre"), tt.parts...)); got != "pre"+tt.want {
			t.Errorf("AppendJoin(pre, %q) = %q, want %q", tt.parts, got, "pre"+tt.want)
		}
	}
}

var joinSink string // keeps Join's key on the heap, as a caller's key is

// TestJoinAllocatesOnlyTheKey: a join of parts that fit the stack buffer
// allocates the key's text and nothing else.
func TestJoinAllocatesOnlyTheKey(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { joinSink = keyfuncs.Join("/users/{id}", "192.0.2.1") }); n != 1 {
		t.Errorf("%v allocations per Join, want 1", n)
	}
}

// TestFirstOfNeverSharesABucket: per API key, falling back to the client
// address, through a real limiter, memory store and HTTP server. A client
// that spends its address's bucket still passes with an API key, even one
// whose text is its address, and a client that spends that API key's
// bucket still passes without it.
func TestFirstOfNeverSharesABucket(t *testing.T) {
	byKey, err := keyfuncs.Header("X-API-Key", 64)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyfuncs.FirstOf(byKey, new(keyfuncs.IPResolver).Key)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(t *testing.T) *httptest.Server {
		s, err := memstore.New(memstore.WithClock(core.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		l, err := core.NewLimiter(s, core.PerMinute(2), core.WithName("per-client"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := httplimit.New(l, httplimit.WithKeyFunc(key))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g.Serve(w, r, "") == httplimit.Proceed {
				_, _ = w.Write([]byte("ok"))
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(t *testing.T, srv *httptest.Server, apiKey string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if apiKey != "" {
			req.Header.Set("X-API-Key", apiKey)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The client connects from the loopback address the server listens
	// on; ipText is the key of that address ("127.0.0.1"), sent as an API
	// key too.
	ipText := func(t *testing.T, srv *httptest.Server) string {
		t.Helper()
		ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		k, err := new(keyfuncs.IPResolver).KeyFromPeer(ap.Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	spend := func(t *testing.T, srv *httptest.Server, apiKey string) {
		t.Helper()
		for i, want := range []int{200, 200, 429} {
			if got := get(t, srv, apiKey); got != want {
				t.Fatalf("request %d with API key %q: %d, want %d", i+1, apiKey, got, want)
			}
		}
	}
	t.Run("the address spent, API keys pass", func(t *testing.T) {
		srv := serve(t)
		spend(t, srv, "")
		for _, k := range []string{ipText(t, srv), "k-8f2a"} {
			if got := get(t, srv, k); got != 200 {
				t.Fatalf("API key %q after the address spent its bucket: %d, want 200", k, got)
			}
		}
	})
	t.Run("an API key spent, the address passes", func(t *testing.T) {
		srv := serve(t)
		ip := ipText(t, srv)
		spend(t, srv, ip)
		if got := get(t, srv, ""); got != 200 {
			t.Fatalf("no API key after the API key %q spent its bucket: %d, want 200", ip, got)
		}
		if got := get(t, srv, ip); got != 429 {
			t.Fatalf("the spent API key again: %d, want 429", got)
		}
	})
	t.Run("a key longer than the cap falls back to the address", func(t *testing.T) {
		srv := serve(t)
		spend(t, srv, strings.Repeat("k", 65))
		if got := get(t, srv, ""); got != 429 {
			t.Fatalf("no API key after a too long one spent the address's bucket: %d, want 429", got)
		}
	})
}
