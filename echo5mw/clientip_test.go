package echo5mw_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// clientIPServer serves "ok" from e behind a limit of 1 a minute keyed by
// echo5mw.ClientIP(e).
func clientIPServer(t *testing.T, e *echo.Echo) *httptest.Server {
	t.Helper()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	l, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("per-ip"))
	if err != nil {
		t.Fatal(err)
	}
	clientIP, err := echo5mw.ClientIP(e)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := echo5mw.New(l, httplimit.WithKeyFunc(clientIP))
	if err != nil {
		t.Fatal(err)
	}
	e.Use(mw)
	e.GET("/", func(c *echo.Context) error { return c.String(200, "ok") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientIPKeysWhatEchoTrusts(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	type step struct {
		xff  string
		want int
	}
	tests := []struct {
		name      string
		extractor echo.IPExtractor
		steps     []step
	}{
		{"no IPExtractor: the connection's address, forged headers buy nothing",
			nil,
			[]step{{"203.0.113.7", 200}, {"203.0.113.8", 429}}},
		{"behind a trusted proxy, each forwarded client has its own bucket",
			echo.ExtractIPFromXFFHeader(echo.TrustIPRange(loopback)),
			[]step{{"203.0.113.7", 200}, {"203.0.113.7", 429}, {"203.0.113.8", 200}}},
		{"IPv6 clients share their /64",
			echo.ExtractIPFromXFFHeader(echo.TrustIPRange(loopback)),
			[]step{{"2001:db8::1", 200}, {"2001:db8::2", 429}, {"2001:db8:0:1::1", 200}}},
		{"an extractor answer that is not an address is refused, never keyed as text",
			func(*http.Request) string { return "not an address" },
			[]step{{"", 400}, {"", 400}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			e.IPExtractor = tt.extractor
			srv := clientIPServer(t, e)
			for i, s := range tt.steps {
				req, _ := http.NewRequest("GET", srv.URL, nil)
				if s.xff != "" {
					req.Header.Set("X-Forwarded-For", s.xff)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != s.want {
					t.Fatalf("request %d (X-Forwarded-For %q): status %d, want %d", i+1, s.xff, resp.StatusCode, s.want)
				}
			}
		})
	}
}

func TestClientIPBadInput(t *testing.T) {
	if _, err := echo5mw.ClientIP(nil); err == nil || !strings.Contains(err.Error(), "nil *echo.Echo") {
		t.Errorf("nil echo: error %v, want one naming it", err)
	}
	if _, err := echo5mw.ClientIP(echo.New(), keyfuncs.TrustHops(1)); err == nil || !strings.Contains(err.Error(), "echo5mw: ClientIP") {
		t.Errorf("a trust option: error %v, want one starting echo5mw: ClientIP", err)
	}
	e := echo.New()
	e.IPExtractor = func(*http.Request) string { return strings.Repeat("x", 500) }
	clientIP, err := echo5mw.ClientIP(e)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clientIP(httptest.NewRequest("GET", "/", nil))
	if !errors.Is(err, keyfuncs.ErrNoKey) || len(err.Error()) > 200 {
		t.Errorf("a long non-address: error %v, want a short one wrapping keyfuncs.ErrNoKey", err)
	}
}
