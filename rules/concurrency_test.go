package rules_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/rules"
)

// held serves e's rules (through Handler, as ServeHold) in front of a
// handler that, for a request with X-Hold, says it has begun on entered
// and waits for release; one with X-Panic panics with its value ("abort":
// http.ErrAbortHandler).
func held(t *testing.T, e *rules.Engine) (srv *httptest.Server, entered chan struct{}, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.Header.Get("X-Panic"); {
		case p == "abort":
			panic(http.ErrAbortHandler)
		case p != "":
			panic(p)
		}
		if r.Header.Get("X-Hold") != "" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv = httptest.NewUnstartedServer(e.Handler(h))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panics are the test's
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for the handlers
	return srv, entered, release
}

func loadYAML(t *testing.T, yaml string) *rules.Engine {
	t.Helper()
	s, _ := store(t)
	cfg, err := rules.Parse("rules.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hold sends a request that waits in the handler until release, returning
// once it is there; its reply comes on the returned channel.
func hold(t *testing.T, srv *httptest.Server, entered chan struct{}, header ...string) chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/upload", nil)
		req.Header.Set("X-Hold", "1")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-entered:
	case status := <-done:
		t.Fatalf("a request to hold was answered %d before the handler ran", status)
	}
	return done
}

// TestConcurrent: a rule's concurrency limit admits N requests of a key in
// flight; the next is denied 429 with Retry-After 1 and the concurrent
// unit in RateLimit-Policy, taking nothing from the rule's rate limit; a
// slot is free again once its request ends.
func TestConcurrent(t *testing.T) {
	e := loadYAML(t, `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 2, key: ip}
      - {name: uploads-per-ip, limit: 10/m fixed-window, key: ip}
`)
	srv, entered, release := held(t, e)
	a := hold(t, srv, entered)
	b := hold(t, srv, entered)
	r := get(t, srv, "GET", "/upload")
	if r.status != 429 || r.h.Get("Retry-After") != "1" {
		t.Fatalf("a third upload in flight: %d, Retry-After %q; want 429, 1", r.status, r.h.Get("Retry-After"))
	}
	const policy = `"uploads-per-ip";q=10;w=60, "uploads-in-flight";q=2;qu="concurrent-requests"`
	if got := r.h.Get("RateLimit-Policy"); got != policy {
		t.Fatalf("RateLimit-Policy %q, want %q", got, policy)
	}
	if got := r.h.Get("RateLimit"); got != `"uploads-in-flight";r=0` {
		t.Fatalf("RateLimit %q, want the slots left", got)
	}
	release <- struct{}{} // one of the two ends
	var s int
	select {
	case s = <-a:
		a = b
	case s = <-b:
	}
	if s != 200 {
		t.Fatalf("the first upload to end: %d", s)
	}
	r = get(t, srv, "GET", "/upload")
	if r.status != 200 {
		t.Fatalf("an upload once a slot is free: %d, want 200", r.status)
	}
	// Two requests counted by the rate limit before this one (the denied
	// one took nothing), and one slot held by the other.
	if got, want := r.h.Get("RateLimit"), `"uploads-per-ip";r=7;t=60, "uploads-in-flight";r=0`; got != want {
		t.Fatalf("RateLimit %q, want %q", got, want)
	}
	release <- struct{}{}
	if s := <-a; s != 200 {
		t.Fatalf("the other upload: %d", s)
	}
}

// TestConcurrentRateDenial: a request the rate limit denies gives its slot
// back at once.
func TestConcurrentRateDenial(t *testing.T) {
	e := loadYAML(t, `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 1, key: ip}
      - {name: uploads-per-key, limit: 1/m, key: "header:X-Key"}
`)
	srv, entered, release := held(t, e)
	if r := get(t, srv, "GET", "/upload", "X-Key", "a"); r.status != 200 {
		t.Fatalf("first: %d", r.status)
	}
	if r := get(t, srv, "GET", "/upload", "X-Key", "a"); r.status != 429 || r.h.Get("Retry-After") == "1" {
		t.Fatalf("key a again: %d, Retry-After %q; want the rate limit's 429", r.status, r.h.Get("Retry-After"))
	}
	b := hold(t, srv, entered, "X-Key", "b") // the only slot: free again
	release <- struct{}{}
	if s := <-b; s != 200 {
		t.Fatalf("key b: %d", s)
	}
}

// TestConcurrentPanic: a handler that panics, or aborts, gives its slot
// back.
func TestConcurrentPanic(t *testing.T) {
	e := loadYAML(t, `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 1, key: ip}
`)
	srv, entered, release := held(t, e)
	for _, p := range []string{"boom", "abort", "boom"} {
		req, _ := http.NewRequest("GET", srv.URL+"/upload", nil)
		req.Header.Set("X-Panic", p)
		if resp, err := srv.Client().Do(req); err == nil { // the server drops the connection
			resp.Body.Close()
			t.Fatalf("panic %q: answered %d", p, resp.StatusCode)
		}
	}
	a := hold(t, srv, entered)
	if r := get(t, srv, "GET", "/upload"); r.status != 429 {
		t.Fatalf("a second in flight: %d, want 429", r.status)
	}
	release <- struct{}{}
	if s := <-a; s != 200 {
		t.Fatalf("after the panics: %d, want 200 (the slot was given back)", s)
	}
}

// TestConcurrentAllMatches: under mode all, the concurrency limits of every
// rule that matches are taken together with their rate limits.
func TestConcurrentAllMatches(t *testing.T) {
	e := loadYAML(t, `mode: all
rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 1, key: ip}
  - name: everything
    match: {path_prefix: /}
    limits:
      - {name: per-ip, limit: 100/m fixed-window, key: ip}
      - {name: all-in-flight, concurrent: 5, key: ip}
`)
	srv, entered, release := held(t, e)
	a := hold(t, srv, entered)
	r := get(t, srv, "GET", "/upload")
	if r.status != 429 || !strings.Contains(r.h.Get("RateLimit-Policy"), `"uploads-in-flight";q=1;qu="concurrent-requests"`) {
		t.Fatalf("a second upload: %d %q", r.status, r.h.Get("RateLimit-Policy"))
	}
	r = get(t, srv, "GET", "/other")
	if r.status != 200 || r.h.Get("RateLimit") != `"per-ip";r=98;t=60, "all-in-flight";r=3` {
		t.Fatalf("another route: %d %q; want 200 with 3 of all-in-flight's 5 slots left while the upload holds one", r.status, r.h.Get("RateLimit"))
	}
	release <- struct{}{}
	if s := <-a; s != 200 {
		t.Fatalf("the upload: %d", s)
	}
}

// TestConcurrentServe: Serve cannot hold a slot past its return, so a
// request a concurrency limit applies to is answered 503 by it; a request
// no such rule applies to is served as ever.
func TestConcurrentServe(t *testing.T) {
	e := loadYAML(t, `rules:
  - name: uploads
    match: {path_prefix: /upload}
    limits:
      - {name: uploads-in-flight, concurrent: 1, key: ip}
  - name: rest
    match: {path_prefix: /}
    limits:
      - {name: per-ip, limit: 100/m, key: ip}
`)
	for path, want := range map[string]int{"/upload": 503, "/": 200} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		e.Serve(w, r, "")
		if w.Code != want {
			t.Errorf("Serve %s: %d, want %d", path, w.Code, want)
		}
	}
}
