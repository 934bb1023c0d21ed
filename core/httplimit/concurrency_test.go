package httplimit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// heldServer serves g in front of a handler that waits for release while
// it holds its slots (a request with ?wait), as an adapter would.
func heldServer(t *testing.T, g *httplimit.Gate) (srv *httptest.Server, entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 8), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, h := g.ServeHold(w, r, "")
		if out != httplimit.Proceed {
			return
		}
		defer h.Release()
		if r.URL.Query().Has("wait") {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ran\n")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, entered, release
}

func getURL(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func memStore(t *testing.T) *memstore.Store {
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConcurrencyOnlyGate(t *testing.T) {
	s := memStore(t)
	cl, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("reports"))
	g, err := httplimit.NewConcurrency(cl, httplimit.WithKeyFunc(anyKey))
	if err != nil {
		t.Fatal(err)
	}
	srv, entered, release := heldServer(t, g)
	done := make(chan int)
	go func() {
		res, _ := getURL(t, srv.URL+"/?wait")
		done <- res.StatusCode
	}()
	<-entered
	if got := s.Held("7:reports:k"); got != 1 {
		t.Fatalf("while a request runs: %d slots held, want 1", got)
	}
	res, body := getURL(t, srv.URL+"/")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" ||
		res.Header.Get("RateLimit-Policy") != `"reports";q=1;qu="concurrent-requests"` ||
		res.Header.Get("RateLimit") != `"reports";r=0` || res.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("second: %d %v %q", res.StatusCode, res.Header, body)
	}
	release <- struct{}{}
	if code := <-done; code != 200 {
		t.Fatalf("first: %d", code)
	}
	res, _ = getURL(t, srv.URL+"/")
	if res.StatusCode != 200 || res.Header.Get("RateLimit") != `"reports";r=0` {
		t.Fatalf("after the first: %d %q", res.StatusCode, res.Header.Get("RateLimit"))
	}
	if got := s.Held("7:reports:k"); got != 0 {
		t.Fatalf("after every request: %d slots held, want 0", got)
	}
	// Serve cannot hold a slot past its return: it refuses, 503.
	w := httptest.NewRecorder()
	if out := g.Serve(w, httptest.NewRequest("GET", "/", nil), ""); out != httplimit.Failed || w.Code != 503 {
		t.Fatalf("Serve on a gate with a concurrency limit: %v %d, want failed, 503", out, w.Code)
	}
	if got := s.Held("7:reports:k"); got != 0 {
		t.Fatalf("after Serve: %d slots held, want 0", got)
	}
}

func TestConcurrencyAndRateTakenTogether(t *testing.T) {
	s := memStore(t)
	rate, _ := core.NewLimiter(s, core.PerMinute(2), core.WithName("per-key"))
	cl, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("uploads"))
	g, err := httplimit.New(rate, httplimit.WithKeyFunc(anyKey), httplimit.WithConcurrency(cl, nil))
	if err != nil {
		t.Fatal(err)
	}
	srv, entered, release := heldServer(t, g)
	done := make(chan int)
	go func() {
		res, _ := getURL(t, srv.URL+"/?wait")
		done <- res.StatusCode
	}()
	<-entered
	// Denied by the concurrency limit: the rate limit is not asked.
	for i := 0; i < 3; i++ {
		if res, _ := getURL(t, srv.URL+"/"); res.StatusCode != 429 || res.Header.Get("RateLimit") != `"uploads";r=0` {
			t.Fatalf("while one runs: %d %q", res.StatusCode, res.Header.Get("RateLimit"))
		}
	}
	release <- struct{}{}
	<-done
	res, _ := getURL(t, srv.URL+"/")
	if res.StatusCode != 200 || res.Header.Get("RateLimit") != `"per-key";r=0;t=60, "uploads";r=0` {
		t.Fatalf("second admitted: %d %q; want the rate limit's second unit taken (the three denials took none)", res.StatusCode, res.Header.Get("RateLimit"))
	}
	// Denied by the rate limit: the slot it took is given back before the
	// answer.
	res, _ = getURL(t, srv.URL+"/")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "30" {
		t.Fatalf("third: %d, Retry-After %q; want denied by the rate limit", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if got := s.Held("7:uploads:k"); got != 0 {
		t.Fatalf("after a rate denial: %d slots held, want 0", got)
	}
}

// failingSlots is a memory store whose slots fail.
type failingSlots struct{ *memstore.Store }

func (failingSlots) Acquire(context.Context, string, int64) (uint64, core.Decision, error) {
	return 0, core.Decision{}, errors.New("slots down")
}

func TestConcurrencyStoreFailure(t *testing.T) {
	s := failingSlots{memStore(t)}
	closed, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("c"), core.WithFailClosed())
	g, _ := httplimit.NewConcurrency(closed, httplimit.WithKeyFunc(anyKey))
	srv, _, _ := heldServer(t, g)
	res, body := getURL(t, srv.URL+"/")
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" || strings.Contains(body, "slots down") {
		t.Fatalf("fail closed: %d, Retry-After %q, body %q", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	open, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("c"), core.WithFailOpen())
	g, _ = httplimit.NewConcurrency(open, httplimit.WithKeyFunc(anyKey))
	srv, _, _ = heldServer(t, g)
	if res, _ := getURL(t, srv.URL+"/"); res.StatusCode != 200 || res.Header.Get("RateLimit") != "" {
		t.Fatalf("fail open: %d, RateLimit %q; want admitted, nothing to describe", res.StatusCode, res.Header.Get("RateLimit"))
	}
}

func TestWithConcurrencyRejectsBadInput(t *testing.T) {
	s := memStore(t)
	rate, _ := core.NewLimiter(s, core.PerMinute(2), core.WithName("x"))
	same, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("x"))
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"nil limiter", func() error {
			_, err := httplimit.New(rate, httplimit.WithKeyFunc(anyKey), httplimit.WithConcurrency(nil, nil))
			return err
		}, "WithConcurrency: nil limiter"},
		{"nil limiter to NewConcurrency", func() error { _, err := httplimit.NewConcurrency(nil); return err }, "nil concurrency limiter"},
		{"no key func", func() error { _, err := httplimit.NewConcurrency(same); return err }, "no key func"},
		{"a name taken", func() error {
			_, err := httplimit.New(rate, httplimit.WithKeyFunc(anyKey), httplimit.WithConcurrency(same, nil))
			return err
		}, `two limits named "x"`},
	} {
		err := c.err()
		if err == nil || !strings.HasPrefix(err.Error(), "httplimit: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestServeKeysHold: a group of concurrency limits only is served with
// ServeKeysHold on the keys it is given (rate keys, then concurrency keys);
// ServeKeys cannot hold the slot (503), and a wrong number of keys is a
// request not keyed (400).
func TestServeKeysHold(t *testing.T) {
	if _, err := httplimit.NewGroup(nil); err == nil || !strings.Contains(err.Error(), "no limiters") {
		t.Fatalf("NewGroup with no limit: %v, want an error", err)
	}
	s := memStore(t)
	cl, _ := core.NewConcurrencyLimiter(s, 1, core.WithName("jobs"))
	g, err := httplimit.NewGroup(nil, httplimit.WithConcurrency(cl, nil))
	if err != nil {
		t.Fatal(err)
	}
	serve := func(keys ...string) (int, httplimit.Hold) {
		w := httptest.NewRecorder()
		out, h := g.ServeKeysHold(w, httptest.NewRequest("GET", "/", nil), keys, nil)
		if (out == httplimit.Proceed) != (w.Code == 200) {
			t.Fatalf("outcome %v with status %d", out, w.Code)
		}
		return w.Code, h
	}
	code, a := serve("k1")
	if code != 200 {
		t.Fatalf("first job: %d", code)
	}
	if code, _ := serve("k1"); code != 429 {
		t.Fatalf("a second job of k1 in flight: %d, want 429", code)
	}
	if code, b := serve("k2"); code != 200 {
		t.Fatalf("a job of k2: %d, want 200", code)
	} else {
		b.Release()
	}
	a.Release()
	code, c := serve("k1")
	if code != 200 {
		t.Fatalf("k1 once its slot is back: %d, want 200", code)
	}
	c.Release()
	if code, _ := serve(); code != 400 {
		t.Fatalf("no key: %d, want 400", code)
	}
	w := httptest.NewRecorder()
	if out := g.ServeKeys(w, httptest.NewRequest("GET", "/", nil), []string{"k1"}, nil); out != httplimit.Failed || w.Code != 503 {
		t.Fatalf("ServeKeys: %v %d, want failed 503", out, w.Code)
	}
}
