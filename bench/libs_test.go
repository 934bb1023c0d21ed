package bench

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/httprate"
	"github.com/labstack/echo/v4/middleware"
	sethlimiter "github.com/sethvargo/go-limiter"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// quota is one workload's limit: n events per window, all of them
// available at once (burst n), expressed in each library's own terms.
type quota struct {
	n      int
	window time.Duration
}

var (
	// admitting is so high that every call is admitted: the benchmarks
	// then measure the path that writes state.
	admitting = quota{n: 1_000_000_000, window: time.Second}
	// denying admits one call an hour: every later call on the key is
	// denied.
	denying = quota{n: 1, window: time.Hour}
)

// decider is one library's decision, as the benchmarks drive it: admit or
// deny one event for key. The interface call costs every library the same.
type decider interface {
	allow(ctx context.Context, key string) bool
}

// lib builds a library's in-memory limiter for a quota. close releases
// what it started (sweeper goroutines).
type lib struct {
	name string
	make func(tb testing.TB, q quota) decider
}

// memoryLibs are tollgate and the peers, each with its in-memory store and
// default options. tollgate comes first: ratios are taken against it.
var memoryLibs = []lib{
	{"tollgate", newTollgate},
	// tollgate with the precise system clock instead of the default
	// coarse one, shown for what the clock costs; not a peer.
	{"tollgate-system-clock", newTollgateSystemClock},
	{"sethvargo-go-limiter", newSethvargo},
	{"ulule-limiter", newUlule},
	{"go-chi-httprate", newHttprate},
	{"throttled", newThrottled},
	{"x-time-rate-map", newXRateMap},
	{"echo-memory-store", newEcho},
}

// tollgate: a core.Limiter (GCRA, the default) over a memstore, as
// chimw.PerIP builds it.
type tollgateDecider struct{ l *core.Limiter }

func (d tollgateDecider) allow(ctx context.Context, key string) bool {
	dec, _ := d.l.Take(ctx, key)
	return dec.Allowed
}

func newTollgate(tb testing.TB, q quota) decider { return tollgateWith(tb, q) }

func newTollgateSystemClock(tb testing.TB, q quota) decider {
	return tollgateWith(tb, q, memstore.WithClock(core.SystemClock))
}

func tollgateWith(tb testing.TB, q quota, opts ...memstore.Option) decider {
	s, err := memstore.New(opts...)
	return tollgateOver(tb, s, err, q)
}

// tollgateOver is a Limiter of q (GCRA, named "bench") over a new store, or
// the test's end if the store could not be made.
func tollgateOver(tb testing.TB, s core.Store, err error, q quota) decider {
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	l, err := core.NewLimiter(s, core.Limit{Rate: int64(q.n), Period: q.window}, core.WithName("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	return tollgateDecider{l}
}

// sethvargo/go-limiter: memorystore, a token bucket per key.
type sethvargoDecider struct{ s sethlimiter.Store }

func (d sethvargoDecider) allow(ctx context.Context, key string) bool {
	_, _, _, ok, _ := d.s.Take(ctx, key)
	return ok
}

func newSethvargo(tb testing.TB, q quota) decider {
	s, err := memorystore.New(&memorystore.Config{Tokens: uint64(q.n), Interval: q.window})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return sethvargoDecider{s}
}

// ulule/limiter v3: the memory store, a fixed window per key.
type ululeDecider struct{ l *ulule.Limiter }

func (d ululeDecider) allow(ctx context.Context, key string) bool {
	c, err := d.l.Get(ctx, key)
	return err == nil && !c.Reached
}

func newUlule(tb testing.TB, q quota) decider {
	return ululeDecider{ulule.New(ululemem.NewStore(), ulule.Rate{Period: q.window, Limit: int64(q.n)})}
}

// go-chi/httprate: its in-memory sliding window counter. Its only decision
// call is OnLimit, which also writes the X-RateLimit headers, so it is
// handed a writer whose header map is reused.
type httprateDecider struct {
	l *httprate.RateLimiter
	r *http.Request
	w *discardWriter
}

func (d httprateDecider) allow(_ context.Context, key string) bool {
	return !d.l.OnLimit(d.w, d.r, key)
}

func newHttprate(tb testing.TB, q quota) decider {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	return httprateDecider{httprate.NewRateLimiter(q.n, q.window), r, &discardWriter{h: http.Header{}}}
}

// parallelDecider gives each goroutine its own decider where the library
// needs per-caller scratch (httprate's writer); others are shared.
func perGoroutine(d decider) decider {
	if h, ok := d.(httprateDecider); ok {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		return httprateDecider{h.l, r, &discardWriter{h: http.Header{}}}
	}
	return d
}

// throttled/throttled v2: GCRA over its memstore (no key bound).
type throttledDecider struct{ l *throttled.GCRARateLimiterCtx }

func (d throttledDecider) allow(ctx context.Context, key string) bool {
	limited, _, err := d.l.RateLimitCtx(ctx, key, 1)
	return err == nil && !limited
}

func newThrottled(tb testing.TB, q quota) decider {
	st, err := throttledmem.NewCtx(0)
	if err != nil {
		tb.Fatal(err)
	}
	// MaxBurst counts the events beyond the first.
	l, err := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{
		MaxRate:  throttled.PerDuration(q.n, q.window),
		MaxBurst: q.n - 1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return throttledDecider{l}
}

// golang.org/x/time/rate: a map of limiters behind one mutex, the way most
// hand-rolled code does it.
type xrateDecider struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
	r  rate.Limit
	b  int
}

func (d *xrateDecider) get(key string) *rate.Limiter {
	d.mu.Lock()
	l, ok := d.m[key]
	if !ok {
		l = rate.NewLimiter(d.r, d.b)
		d.m[key] = l
	}
	d.mu.Unlock()
	return l
}

func (d *xrateDecider) allow(_ context.Context, key string) bool { return d.get(key).Allow() }

func newXRateMap(tb testing.TB, q quota) decider {
	return &xrateDecider{m: map[string]*rate.Limiter{}, r: rate.Limit(float64(q.n) / q.window.Seconds()), b: q.n}
}

// labstack/echo v4: middleware.RateLimiterMemoryStore (x/time/rate per key
// behind one mutex, with expiry).
type echoDecider struct {
	s *middleware.RateLimiterMemoryStore
}

func (d echoDecider) allow(_ context.Context, key string) bool {
	ok, err := d.s.Allow(key)
	return err == nil && ok
}

func newEcho(tb testing.TB, q quota) decider {
	return echoDecider{middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate:  rate.Limit(float64(q.n) / q.window.Seconds()),
		Burst: q.n,
	})}
}

// discardWriter is a ResponseWriter that keeps nothing but its header map,
// cleared before each request, so a benchmark counts the middleware's
// allocations and not the recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) reset()                      { clear(w.h); w.status = 0 }

// clientKeys returns n distinct IPv4 addresses as keys.
func clientKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = clientKey(i)
	}
	return keys
}

// clientKey returns the i-th of 16,777,216 distinct IPv4 addresses.
func clientKey(i int) string {
	return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
}
