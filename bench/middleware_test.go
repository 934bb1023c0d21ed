package bench

import (
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/labstack/echo/v4/middleware"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ulstdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/echomw"
)

// middlewareLib puts one library's middleware, keyed by the client IP, in
// front of a chi route; nil middleware is the bare route.
type middlewareLib struct {
	name string
	make func(tb testing.TB, q quota) func(http.Handler) http.Handler
}

var middlewareLibs = []middlewareLib{
	{"bare", nil},
	{"tollgate", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		return chimw.PerIP(core.Limit{Rate: int64(q.n), Period: q.window})
	}},
	{"sethvargo-go-limiter", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		s, err := memorystore.New(&memorystore.Config{Tokens: uint64(q.n), Interval: q.window})
		if err != nil {
			tb.Fatal(err)
		}
		m, err := httplimit.NewMiddleware(s, httplimit.IPKeyFunc())
		if err != nil {
			tb.Fatal(err)
		}
		return m.Handle
	}},
	{"ulule-limiter", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: q.window, Limit: int64(q.n)})
		return ulstdlib.NewMiddleware(l).Handler
	}},
	{"go-chi-httprate", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		return httprate.Limit(q.n, q.window, httprate.WithKeyFuncs(httprate.KeyByIP))
	}},
	{"throttled", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		st, err := throttledmem.NewCtx(0)
		if err != nil {
			tb.Fatal(err)
		}
		l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerDuration(q.n, q.window), MaxBurst: q.n - 1})
		if err != nil {
			tb.Fatal(err)
		}
		return (&throttled.HTTPRateLimiterCtx{RateLimiter: l, VaryBy: &throttled.VaryBy{RemoteAddr: true}}).RateLimit
	}},
	{"x-time-rate-map", func(tb testing.TB, q quota) func(http.Handler) http.Handler {
		d := newXRateMap(tb, q).(*xrateDecider)
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ip, _, err := net.SplitHostPort(r.RemoteAddr)
				if err != nil {
					http.Error(w, "bad remote address", http.StatusBadRequest)
					return
				}
				if !d.get(ip).Allow() {
					http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}},
}

// endpoint is the handler behind every router: it answers 204 and writes
// no body, so the benchmarks measure routing and limiting only.
var endpoint = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
})

func chiRouter(mw func(http.Handler) http.Handler) http.Handler {
	r := chi.NewRouter()
	if mw != nil {
		r.Use(mw)
	}
	r.Get("/users/{id}", endpoint)
	return r
}

// requests returns n GET /users/42 requests from n distinct clients.
func requests(n int) []*http.Request {
	rs := make([]*http.Request, n)
	for i := range rs {
		r, _ := http.NewRequest(http.MethodGet, "http://example.com/users/42", nil)
		r.RemoteAddr = clientKey(i) + ":41000"
		rs[i] = r
	}
	return rs
}

// middlewareWorkloads are the requests both routers' benchmarks send.
var middlewareWorkloads = []struct {
	name string
	q    quota
	run  func(b *testing.B, h http.Handler, rs []*http.Request)
}{
	{"serial-one-client", admitting, serveSerial},
	{"parallel-100k-clients", admitting, serveParallel},
	{"serial-one-client-denied", denying, serveSerial},
}

// BenchmarkMiddleware sends requests through a chi router with each
// library's middleware in front of one route (and through the bare route),
// calling ServeHTTP directly, with a reused response writer.
func BenchmarkMiddleware(b *testing.B) {
	clients := requests(hundredThousand)
	for _, w := range middlewareWorkloads {
		for _, l := range middlewareLibs {
			b.Run("w="+w.name+"/lib="+l.name, func(b *testing.B) {
				var mw func(http.Handler) http.Handler
				if l.make != nil {
					mw = l.make(b, w.q)
				}
				w.run(b, chiRouter(mw), clients)
			})
		}
	}
}

// BenchmarkEchoMiddleware is the same request through echo: the bare route,
// tollgate's echomw and echo's own RateLimiter with its memory store.
func BenchmarkEchoMiddleware(b *testing.B) {
	clients := requests(hundredThousand)
	libs := []struct {
		name string
		make func(q quota) echo.MiddlewareFunc
	}{
		{"bare", nil},
		{"tollgate", func(q quota) echo.MiddlewareFunc {
			return echomw.PerIP(core.Limit{Rate: int64(q.n), Period: q.window})
		}},
		{"echo-memory-store", func(q quota) echo.MiddlewareFunc { // its RateLimiter middleware, as the memory workloads name it
			return echomiddleware.RateLimiterWithConfig(echomiddleware.RateLimiterConfig{
				Store: echomiddleware.NewRateLimiterMemoryStoreWithConfig(echomiddleware.RateLimiterMemoryStoreConfig{
					Rate: rate.Limit(float64(q.n) / q.window.Seconds()), Burst: q.n,
				}),
			})
		}},
	}
	for _, w := range middlewareWorkloads {
		for _, l := range libs {
			b.Run("w="+w.name+"/lib="+l.name, func(b *testing.B) {
				e := echo.New()
				if l.make != nil {
					e.Use(l.make(w.q))
				}
				e.GET("/users/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
				w.run(b, e, clients)
			})
		}
	}
}

func serveSerial(b *testing.B, h http.Handler, rs []*http.Request) {
	r := rs[0]
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // the client has state before timing starts
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, r)
	}
}

func serveParallel(b *testing.B, h http.Handler, rs []*http.Request) {
	for _, r := range rs {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
	runtime.GC() // the warm-up's garbage is not the workload's
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		i := rand.IntN(len(rs))
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, rs[i])
			if i++; i == len(rs) {
				i = 0
			}
		}
	})
}
