package chimw_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	chimiddleware "github.com/go-chi/chi/v5/middleware"
	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// clientIPServer serves "ok" behind chi's client-IP middleware (none when
// ipmw is nil) and a limit of 1 a minute keyed by chimw.ClientIP.
func clientIPServer(t *testing.T, ipmw func(http.Handler) http.Handler) *httptest.Server {
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
	clientIP, err := chimw.ClientIP()
	if err != nil {
		t.Fatal(err)
	}
	mw, err := chimw.New(l, httplimit.WithKeyFunc(clientIP))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	if ipmw != nil {
		r.Use(ipmw)
	}
	r.Use(mw)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func getXFF(t *testing.T, srv *httptest.Server, xff string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestClientIPKeysWhatChiTrusted(t *testing.T) {
	type step struct {
		xff  string
		want int
	}
	tests := []struct {
		name  string
		ipmw  func(http.Handler) http.Handler
		steps []step
	}{
		{"behind a trusted proxy, each forwarded client has its own bucket",
			chimiddleware.ClientIPFromXFF("127.0.0.0/8"),
			[]step{{"203.0.113.7", 200}, {"203.0.113.7", 429}, {"203.0.113.8", 200}, {"198.51.100.1, 203.0.113.8", 429}}},
		{"IPv6 clients share their /64, as keyfuncs.IP keys them",
			chimiddleware.ClientIPFromXFF("127.0.0.0/8"),
			[]step{{"2001:db8::1", 200}, {"2001:db8::2", 429}, {"2001:db8:0:1::1", 200}}},
		{"a peer chi does not trust cannot choose its bucket with a forged header",
			chimiddleware.ClientIPFromXFF("10.0.0.0/8"),
			[]step{{"203.0.113.7", 200}, {"203.0.113.8", 429}, {"", 429}}},
		{"the remote address, when that is what chi was told to use",
			chimiddleware.ClientIPFromRemoteAddr,
			[]step{{"203.0.113.7", 200}, {"203.0.113.9", 429}}},
		{"without chi's middleware every request is refused, never keyed by its remote address",
			nil,
			[]step{{"", 400}, {"", 400}, {"203.0.113.7", 400}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clientIPServer(t, tt.ipmw)
			for i, s := range tt.steps {
				if got := getXFF(t, srv, s.xff); got != s.want {
					t.Fatalf("request %d (X-Forwarded-For %q): status %d, want %d", i+1, s.xff, got, s.want)
				}
			}
		})
	}
}

func TestClientIPWithoutChiMiddlewareSaysSo(t *testing.T) {
	clientIP, err := chimw.ClientIP()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	key, err := clientIP(req)
	if err == nil || key != "" {
		t.Fatalf("key %q, err %v; want no key and an error", key, err)
	}
	if !strings.Contains(err.Error(), "ClientIPFrom") || !errorsIsNoKey(err) {
		t.Fatalf("error %q: want one naming chi's middleware and wrapping keyfuncs.ErrNoKey", err)
	}
}

func TestClientIPRefusesTrustOptions(t *testing.T) {
	for _, opt := range []keyfuncs.IPOption{
		keyfuncs.TrustProxies("10.0.0.0/8"),
		keyfuncs.TrustHops(1),
	} {
		if _, err := chimw.ClientIP(opt); err == nil || !strings.Contains(err.Error(), "chimw: ClientIP") {
			t.Errorf("a trust option: error %v, want one starting chimw: ClientIP", err)
		}
	}
	if _, err := chimw.ClientIP(keyfuncs.IPv6Prefix(48)); err != nil {
		t.Errorf("IPv6Prefix(48): %v, want accepted", err)
	}
	if _, err := chimw.ClientIP(keyfuncs.IPv6Prefix(0)); err == nil || !strings.Contains(err.Error(), "IPv6Prefix(0)") {
		t.Errorf("IPv6Prefix(0): error %v, want one naming it", err)
	}
}

func errorsIsNoKey(err error) bool { return errors.Is(err, keyfuncs.ErrNoKey) }
