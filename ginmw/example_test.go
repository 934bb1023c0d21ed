package ginmw_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The one-line form: each client IP may make 2 requests a minute.
func ExamplePerIP() {
	r := gin.New()
	r.Use(ginmw.PerIP(core.PerMinute(2)))
	r.GET("/", func(c *gin.Context) { c.String(200, "hello\n") })

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

// The full form: a limiter of your own on one route group, with one bucket
// per route pattern (c.FullPath()).
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
	mw, err := ginmw.New(l, httplimit.WithRouteKey())
	if err != nil {
		panic(err)
	}
	r := gin.New()
	api := r.Group("/api", mw)
	api.GET("/users/:id", func(c *gin.Context) { c.Status(200) })
	r.GET("/healthz", func(c *gin.Context) { c.Status(200) })

	for _, path := range []string{"/api/users/1", "/api/users/2", "/healthz", "/healthz"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// /api/users/1 200
	// /api/users/2 429
	// /healthz 200
	// /healthz 200
}

// Hooks on *gin.Context: a skip that reads the route pattern, and a deny
// answer in the application's own JSON.
func ExampleWithGinSkip() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("api"))
	if err != nil {
		panic(err)
	}
	mw, err := ginmw.New(l,
		ginmw.WithGinSkip(func(c *gin.Context) bool { return c.FullPath() == "/healthz" }),
		ginmw.WithGinDenyHandler(func(c *gin.Context, d core.Decision) {
			c.JSON(http.StatusTooManyRequests, gin.H{"error": "slow down", "retry_in_s": math.Ceil(d.RetryAfter.Seconds())})
		}))
	if err != nil {
		panic(err)
	}
	r := gin.New()
	r.Use(mw)
	r.GET("/healthz", func(c *gin.Context) { c.Status(200) })
	r.GET("/work", func(c *gin.Context) { c.Status(200) })

	var w *httptest.ResponseRecorder
	for _, path := range []string{"/healthz", "/healthz", "/work", "/work"} {
		w = httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	fmt.Println(w.Body.String())
	// Output:
	// /healthz 200
	// /healthz 200
	// /work 200
	// /work 429
	// {"error":"slow down","retry_in_s":60}
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
	r := gin.New()
	r.Use(ginmw.Wrap(g))
	r.GET("/", func(c *gin.Context) { c.Status(200) })

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
