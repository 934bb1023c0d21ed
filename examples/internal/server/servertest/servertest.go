// Package servertest checks an example server the same way for every
// router.
package servertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/examples/internal/server"
)

// CheckRoutes serves app, limited to 2/m per client IP and route, behind a
// real server and checks what a client gets: GET /users/1 and /users/2
// share the route's bucket, /users/3 is denied, / has a bucket of its own.
func CheckRoutes(t *testing.T, app server.App) {
	t.Helper()
	h, closeStore, err := server.NewHandler(core.PerMinute(2), app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := closeStore(); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 5 * time.Second

	// One after another: each step sees the buckets the steps before it
	// left.
	steps := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   string // checked when admitted
		wantRetry  string // Retry-After
	}{
		{"the first user is admitted", "/users/1", http.StatusOK, "user 1\n", ""},
		{"a second user is admitted from the same route bucket", "/users/2", http.StatusOK, "user 2\n", ""},
		{"a third user finds the route bucket empty", "/users/3", http.StatusTooManyRequests, "", "30"},
		{"another route has a bucket of its own", "/", http.StatusOK, "hello\n", ""},
	}
	for _, s := range steps {
		resp, err := client.Get(srv.URL + s.path)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if resp.StatusCode != s.wantStatus {
			t.Errorf("%s: GET %s = %d, want %d", s.name, s.path, resp.StatusCode, s.wantStatus)
		}
		if s.wantStatus == http.StatusOK && string(body) != s.wantBody {
			t.Errorf("%s: GET %s body %q, want %q", s.name, s.path, body, s.wantBody)
		}
		if got := resp.Header.Get("Retry-After"); got != s.wantRetry {
			t.Errorf("%s: GET %s Retry-After %q, want %q", s.name, s.path, got, s.wantRetry)
		}
		if got, want := resp.Header.Get("RateLimit-Policy"), `"per-ip";q=2;w=60`; got != want {
			t.Errorf("%s: GET %s RateLimit-Policy %q, want %q", s.name, s.path, got, want)
		}
	}
}
