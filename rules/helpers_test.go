package rules_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// store returns a memory store reading a manual clock.
func store(t *testing.T) (*memstore.Store, *core.ManualClock) {
	t.Helper()
	clock := core.NewManualClock(start)
	s, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

// events records the hook's events.
type events struct {
	mu  sync.Mutex
	evs []rules.Event // guarded by mu
}

func (e *events) hook(_ context.Context, ev rules.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) take() []rules.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.evs
	e.evs = nil
	return out
}

// server serves e's rules in front of a handler that answers 200 "ok",
// through a real HTTP server; the route is the ServeMux pattern.
func server(t *testing.T, e *rules.Engine) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	for _, p := range []string{"/", "/login", "/api/", "/users/{id}", "/healthz"} {
		mux.Handle(p, e.Handler(ok))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status int
	h      http.Header
}

func get(t *testing.T, srv *httptest.Server, method, path string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return reply{resp.StatusCode, resp.Header}
}

// writeFile writes a rules file in a test's directory and returns its path.
func writeFile(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "rules.yaml")
	// Write then rename, as an editor or a config push does: a reader
	// never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}
