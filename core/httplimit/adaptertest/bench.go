package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Benchmark measures what the adapter's middleware adds to a request: the
// same router serves GET /users/{id} without the middleware ("bare") and
// with it ("limited": per client IP, memory store, every header family),
// serially and in parallel; and with the limit chosen per request, from
// named tiers and from a limit func; and with the cost settled after the
// response (WithCostAfter). The difference of the pairs is the cost of
// rate limiting, allocations included. a.Router(ep, nil) must return the
// router without the middleware.
//
// The response writer is reused and its header map cleared between
// requests, as a server's would be fresh: only the router and the
// middleware allocate.
func Benchmark(b *testing.B, a Adapter) {
	// The stores read a coarse clock of the memory store's default
	// resolution, as a memory store does by default: what a user of PerIP
	// gets.
	clock, err := core.NewCoarseClock(memstore.DefaultResolution)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(clock.Stop)
	ep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	build := func(b *testing.B, limited bool, opts ...httplimit.Option) http.Handler {
		if !limited {
			h, err := a.Router(ep, nil)
			if err != nil {
				b.Fatal(err)
			}
			return h
		}
		store := a.Store(clock)
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
	// tiered is limited with the limit chosen per request: named tiers
	// (the request names "pro") or a limit func (a plan table of two).
	tiered := func(b *testing.B, named bool) http.Handler {
		store := a.Store(clock)
		b.Cleanup(func() { _ = store.Close() })
		l, err := core.NewLimiter(store, core.PerSecond(1_000_000_000), core.WithName("per-ip"))
		if err != nil {
			b.Fatal(err)
		}
		free, pro := core.PerSecond(500_000_000), core.PerSecond(900_000_000)
		opt := httplimit.WithLimitFunc(l, func(r *http.Request) (core.Limit, error) {
			if r.Header.Get("X-Plan") == "pro" {
				return pro, nil
			}
			return free, nil
		})
		if named {
			opt = httplimit.WithTiers(l, func(r *http.Request) (string, error) { return r.Header.Get("X-Plan"), nil },
				map[string]core.Limit{"free": free, "pro": pro}, "free")
		}
		h, err := a.Router(ep, l, opt)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	serial := func(h http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/users/42", nil)
			r.RemoteAddr = "203.0.113.7:41000"
			r.Header.Set("X-Plan", "pro")
			w := NewNopWriter()
			h.ServeHTTP(w, r)
			if w.code != http.StatusNoContent {
				b.Fatalf("status %d, want 204", w.code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Reset()
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
				w := NewNopWriter()
				for pb.Next() {
					w.Reset()
					h.ServeHTTP(w, r)
				}
			})
		}
	}
	b.Run("bare", serial(build(b, false)))
	b.Run("limited", serial(build(b, true)))
	b.Run("limited-route-key", serial(build(b, true, httplimit.WithRouteKey())))
	b.Run("limited-no-fields", serial(build(b, true, httplimit.WithHeaders(httplimit.HeadersNone))))
	b.Run("limited-tiers", serial(tiered(b, true)))
	b.Run("limited-limit-func", serial(tiered(b, false)))
	// The cost settled after the response: a reservation, then (the body
	// is empty) its refund, a second store operation.
	b.Run("limited-cost-after", serial(build(b, true, httplimit.WithCostAfter(httplimit.CostBodyBytes))))
	b.Run("parallel-bare", parallel(build(b, false)))
	b.Run("parallel-limited", parallel(build(b, true)))
}

// NopWriter is a ResponseWriter for benchmarks: it keeps the status and a
// header map that Reset clears for the next request, and discards the body,
// so that only the code under test allocates.
type NopWriter struct {
	h    http.Header
	code int
}

// NewNopWriter returns an empty NopWriter.
func NewNopWriter() *NopWriter { return &NopWriter{h: http.Header{}} }

// Header returns the header map.
func (w *NopWriter) Header() http.Header { return w.h }

// Write discards p.
func (w *NopWriter) Write(p []byte) (int, error) { return len(p), nil }

// WriteHeader keeps code.
func (w *NopWriter) WriteHeader(code int) { w.code = code }

// Status is the status written, 0 for none.
func (w *NopWriter) Status() int { return w.code }

// Reset clears the header map and status, keeping the map's storage.
func (w *NopWriter) Reset() { clear(w.h); w.code = 0 }
