package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestModuleProxyServesOursOnlyFromTheRelease(t *testing.T) {
	ours := writeTree(t, map[string]string{
		"github.com/tollgate-go/tollgate/chimw/@v/v0.1.0.mod": "module github.com/tollgate-go/tollgate/chimw\n",
	})
	cache := writeTree(t, map[string]string{
		"github.com/go-chi/chi/v5/@v/v5.5.0.mod": "module github.com/go-chi/chi/v5 // from the cache\n",
	})
	var asked atomic.Value
	asked.Store("")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(asked.Load().(string) + r.URL.Path + " ")
		io.WriteString(w, "from upstream "+r.URL.Path)
	}))
	defer upstream.Close()
	p := &moduleProxy{ours: ours, cache: cache, upstream: upstream.URL, client: upstream.Client()}
	srv := httptest.NewServer(p)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		path, want string
		status     int
	}{
		{"/github.com/tollgate-go/tollgate/chimw/@v/v0.1.0.mod", "module github.com/tollgate-go/tollgate/chimw", 200},
		{"/github.com/tollgate-go/tollgate/chimw/@v/v0.0.9.mod", "is not in the release", 410},
		{"/github.com/tollgate-go/tollgate/internal/e2e/@v/v0.1.0.mod", "is not in the release", 410},
		{"/github.com/go-chi/chi/v5/@v/v5.5.0.mod", "from the cache", 200},
		{"/github.com/go-chi/chi/v5/@v/v5.6.0.mod", "from upstream /github.com/go-chi/chi/v5/@v/v5.6.0.mod", 200},
	}
	for _, c := range cases {
		status, body := get(c.path)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %q, want %d and %q", c.path, status, body, c.status, c.want)
		}
	}
	if a := asked.Load().(string); strings.Contains(a, "tollgate-go") || a != "/github.com/go-chi/chi/v5/@v/v5.6.0.mod " {
		t.Errorf("upstream was asked for %q; want only the third-party file missing from the cache, never ours", a)
	}
}
