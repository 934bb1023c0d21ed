package chimw_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The one-line form: each client IP may make 2 requests a minute.
func ExamplePerIP() {
	r := chi.NewRouter()
	r.Use(chimw.PerIP(core.PerMinute(2)))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello\n") })

	for i := 0; i < 3; i++ {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "per-ip";r=1;t=30
	// 200 "per-ip";r=0;t=60
	// 429 "per-ip";r=0;t=30
}

// The full form: a limiter of your own (any store, name, failure policy)
// and options, here one bucket per route pattern and a skipped health check.
func ExampleNew() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("api"))
	if err != nil {
		panic(err)
	}
	mw, err := chimw.New(l,
		httplimit.WithRouteKey(),
		httplimit.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))
	if err != nil {
		panic(err)
	}
	r := chi.NewRouter()
	r.Use(mw)
	ok := func(w http.ResponseWriter, r *http.Request) {}
	r.Get("/users/{id}", ok)
	r.Get("/healthz", ok)

	for _, path := range []string{"/users/1", "/users/2", "/healthz", "/healthz"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// /users/1 200
	// /users/2 429
	// /healthz 200
	// /healthz 200
}

// Wrap puts a Server built beforehand in front of the handlers: here a Gate
// keyed by API key.
func ExampleWrap() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("per-key"))
	if err != nil {
		panic(err)
	}
	apiKey := func(r *http.Request) (string, error) { return r.Header.Get("X-Api-Key"), nil }
	g, err := httplimit.New(l, httplimit.WithKeyFunc(apiKey))
	if err != nil {
		panic(err)
	}
	r := chi.NewRouter()
	r.Use(chimw.Wrap(g))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {})

	for _, key := range []string{"a", "a", "b", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", key)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Printf("%q %d\n", key, w.Code)
	}
	// Output:
	// "a" 200
	// "a" 429
	// "b" 200
	// "" 400
}

// A byte quota: each client may download 1,000 bytes a minute, each
// response charged its real size once it is written (reserved at 1 before
// the handler, settled after it). The fields describe the key after the
// reservation; the next request sees the settlement.
func ExampleNew_costAfter() {
	// A clock of the example's own, at the start of a minute.
	clock := core.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	bytes, err := core.NewLimiter(store, core.PerMinute(1000).WithAlgorithm(core.FixedWindow), core.WithName("bytes"))
	if err != nil {
		panic(err)
	}
	mw, err := chimw.New(bytes, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	if err != nil {
		panic(err)
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/file", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 600))
	})
	for i := 0; i < 3; i++ {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/file", nil))
		fmt.Printf("%d %s remaining=%s retry=%q\n", w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("X-RateLimit-Remaining"), w.Header().Get("Retry-After"))
	}
	// (1,200 bytes sent of 1,000: the 200 owed are carried into the next
	// minute, which opens with them counted, leaving 800 there.)

	// Output:
	// 200 "bytes";q=1000;w=60;qu="content-bytes" remaining=999 retry=""
	// 200 "bytes";q=1000;w=60;qu="content-bytes" remaining=399 retry=""
	// 429 "bytes";q=1000;w=60;qu="content-bytes" remaining=0 retry="60"
}
