package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
)

// Benchmark measures what the adapter's middleware adds to a request: the
// same router serves GET /users/{id} without the middleware ("bare") and
// with it ("limited": per client IP, memory store, every header family),
// serially and in parallel. The difference of the pairs is the cost of
// rate limiting, allocations included. a.Router(ep, nil) must return the
// router without the middleware.
//
// The response writer is reused and its header map cleared between
// requests, as a server's would be fresh: only the router and the
// middleware allocate.
func Benchmark(b *testing.B, a Adapter) {
	ep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	build := func(b *testing.B, limited bool, opts ...httplimit.Option) http.Handler {
		if !limited {
			h, err := a.Router(ep, nil)
			if err != nil {
				b.Fatal(err)
			}
			return h
		}
		store := a.Store(core.SystemClock)
		b.Cleanup(func() { _ = store.Close() })
		// A quota no benchmark reaches, so every request is admitted.
		l, err := core.NewLimiter(store, core.PerSecond(1_000_000_000), core.WithName("per-ip"))
		if err != nil {
			b.Fatal(err)
		}
		h, err := a.Router(ep, l, opts...)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	serial := func(h http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/users/42", nil)
			r.RemoteAddr = "203.0.113.7:41000"
			w := &nopWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			if w.code != http.StatusNoContent {
				b.Fatalf("status %d, want 204", w.code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		}
	}
	var clients atomic.Int64
	parallel := func(h http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine is a client of its own, as on a busy server.
				n := clients.Add(1)
				r := httptest.NewRequest(http.MethodGet, "/users/42", nil)
				r.RemoteAddr = "198.51.100." + strconv.FormatInt(n%250+1, 10) + ":41000"
				w := &nopWriter{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
		}
	}
	b.Run("bare", serial(build(b, false)))
	b.Run("limited", serial(build(b, true)))
	b.Run("limited-route-key", serial(build(b, true, httplimit.WithRouteKey())))
	b.Run("limited-no-fields", serial(build(b, true, httplimit.WithHeaders(httplimit.HeadersNone))))
	b.Run("parallel-bare", parallel(build(b, false)))
	b.Run("parallel-limited", parallel(build(b, true)))
}

// nopWriter is a ResponseWriter that keeps the status and header map and
// discards the body.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
