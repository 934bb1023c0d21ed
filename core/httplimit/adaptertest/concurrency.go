package adaptertest

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// The concurrency cases join the table here, beside the code they test.
func init() {
	cases = append(cases,
		tcase{"a concurrency limit holds N in flight and answers the next 429 with Retry-After 1", concurrencyHolds, needsNothing},
		tcase{"a handler that panics, aborts or loses its client gives its slot back", concurrencyReleases, needsNothing},
	)
}

// concEnv is a server whose /hello handler waits for a release: it tells
// entered when it starts and returns when release gets a value.
type concEnv struct {
	*env
	entered chan struct{}
	release chan struct{}
}

// serveConc starts the adapter's router, with l and opts, in front of a
// handler that /hello requests wait in, by the mode in their X-Mode header:
// "" waits for a release, "panic" panics, "abort" panics with
// http.ErrAbortHandler, "gone" waits for its client to go away.
func (h *harness) serveConc(e *env, l *core.Limiter, opts ...httplimit.Option) *concEnv {
	e.t.Helper()
	ce := &concEnv{env: e, entered: make(chan struct{}, 16), release: make(chan struct{}, 16)}
	ep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.ran.Add(1)
		switch r.Header.Get("X-Mode") {
		case "panic":
			panic("adaptertest: the handler panics")
		case "abort":
			panic(http.ErrAbortHandler)
		case "gone":
			ce.entered <- struct{}{}
			<-r.Context().Done()
			return
		case "now":
		default:
			ce.entered <- struct{}{}
			<-ce.release
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ran "+r.URL.Path+"\n")
	})
	router, err := h.a.Router(ep, l, opts...)
	if err != nil {
		e.t.Fatalf("%s: Router: %v", h.a.Name, err)
	}
	e.srv = httptest.NewUnstartedServer(router)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panics are on purpose
	e.srv.Start()
	e.t.Cleanup(e.srv.Close)
	e.t.Cleanup(func() { close(ce.release) }) // before the server closes: no handler waits
	return ce
}

// hold starts a /hello request that waits in the handler, and returns once
// it is there; the response comes on the channel.
func (ce *concEnv) hold() <-chan response {
	ce.t.Helper()
	out := make(chan response, 1)
	go func() {
		res, err := ce.srv.Client().Get(ce.srv.URL + "/hello")
		if err != nil {
			out <- response{status: -1, body: err.Error()}
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out <- response{status: res.StatusCode, body: string(body)}
	}()
	select {
	case <-ce.entered:
	case r := <-out:
		ce.t.Fatalf("a request meant to wait in the handler was answered: %d %q", r.status, r.body)
	case <-time.After(10 * time.Second):
		ce.t.Fatal("a request never reached the handler")
	}
	return out
}

// uploads is a concurrency limit of n named "uploads" in e's store.
func (e *env) uploads(n int64) *core.ConcurrencyLimiter {
	e.t.Helper()
	l, err := core.NewConcurrencyLimiter(e.store, n, core.WithName("uploads"))
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func concurrencyHolds(t *testing.T, h *harness) {
	e := h.env(t)
	perIP := e.limiter(core.PerMinute(100), core.WithName("per-ip"))
	ce := h.serveConc(e, perIP, httplimit.WithConcurrency(e.uploads(2), nil))
	policy := `"per-ip";q=100;w=60, "uploads";q=2;qu="concurrent-requests"`
	first, second := ce.hold(), ce.hold()
	// Denied by the concurrency limit, the request takes nothing from the
	// rate limit, which is not asked: no X- fields, no per-ip entry.
	e.expect("third, two in flight", e.get("/hello", "X-Mode", "now"), 429,
		"Too Many Requests: quota exceeded; retry after 1 seconds.\n", fields("Content-Type", textCT,
			"Ratelimit-Policy", policy, "Ratelimit", `"uploads";r=0`, "Retry-After", "1"))
	ce.release <- struct{}{}
	if r := <-first; r.status != 200 || r.body != "ran /hello\n" {
		t.Fatalf("first: %d %q, want 200 and the handler's body", r.status, r.body)
	}
	// The first gave its slot back when its handler returned: one is free.
	// per-ip counts the three requests admitted (GCRA, 0.6s each), not the
	// denied one.
	e.expect("after the first returned", e.get("/hello", "X-Mode", "now"), 200, "ran /hello\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "100", "X-Ratelimit-Remaining", "97", "X-Ratelimit-Reset", "2",
		"Ratelimit-Policy", policy, "Ratelimit", `"per-ip";r=97;t=2, "uploads";r=0`))
	ce.release <- struct{}{}
	if r := <-second; r.status != 200 {
		t.Fatalf("second: %d %q, want 200", r.status, r.body)
	}
	if n := e.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3", n)
	}
	// A deny status set by option answers concurrency denials too.
	e2 := h.env(t)
	ce2 := h.serveConc(e2, e2.limiter(core.PerMinute(100), core.WithName("per-ip")), httplimit.WithConcurrency(e2.uploads(1), nil), httplimit.WithDenyStatus(http.StatusServiceUnavailable))
	held := ce2.hold()
	if got := e2.get("/hello", "X-Mode", "now"); got.status != 503 || got.fields["Retry-After"] != "1" {
		t.Errorf("WithDenyStatus(503): %d with Retry-After %q, want 503 and 1", got.status, got.fields["Retry-After"])
	}
	ce2.release <- struct{}{}
	<-held
}

func concurrencyReleases(t *testing.T, h *harness) {
	e := h.env(t)
	ce := h.serveConc(e, e.limiter(core.PerMinute(1000), core.WithName("per-ip")), httplimit.WithConcurrency(e.uploads(1), nil))
	// admittedSoon waits, up to a deadline, for a request to be admitted:
	// the slot is given back right after the handler ends, which the client
	// may see a moment before.
	admittedSoon := func(after string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := e.get("/hello", "X-Mode", "now")
			if got.status == 200 {
				return
			}
			if got.status != 429 || time.Now().After(deadline) {
				t.Fatalf("after %s: %d %q, want the slot free (200)", after, got.status, got.body)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, mode := range []string{"panic", "abort"} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/hello", nil)
		req.Header.Set("X-Mode", mode)
		res, err := e.srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != 500 {
				t.Fatalf("%s: the client got %d, want the connection cut (or a 500 from a recovering framework)", mode, res.StatusCode)
			}
		}
		admittedSoon("a handler that ends in " + mode)
	}
	// A client that goes away: its handler sees the request's context end
	// and returns, and the slot is free.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/hello", nil)
	req.Header.Set("X-Mode", "gone")
	done := make(chan error, 1)
	go func() {
		res, err := e.srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-ce.entered
	if got := e.get("/hello", "X-Mode", "now"); got.status != 429 {
		t.Fatalf("while the client waits: %d, want 429 (its slot held)", got.status)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client's request ended with %v, want it canceled", err)
	}
	admittedSoon("a client that went away")
}
