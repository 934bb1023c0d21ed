package echo5mw_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v5"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The one-line form: each client IP may make 2 requests a minute.
func ExamplePerIP() {
	e := echo.New()
	e.Use(echo5mw.PerIP(core.PerMinute(2)))
	e.GET("/", func(c *echo.Context) error { return c.String(200, "hello\n") })

	for i := 0; i < 3; i++ {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "per-ip";r=1;t=30
	// 200 "per-ip";r=0;t=60
	// 429 "per-ip";r=0;t=30
}

// The full form: a limiter of your own and httplimit options.
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
	mw, err := echo5mw.New(l, httplimit.WithRouteKey())
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/users/:id", func(c *echo.Context) error { return c.NoContent(200) })

	for _, path := range []string{"/users/1", "/users/2"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s %d Retry-After=%q\n", path, w.Code, w.Header().Get("Retry-After"))
	}
	// Output:
	// /users/1 200 Retry-After=""
	// /users/2 429 Retry-After="60"
}

// Echo's convention: a Config, here with a Skipper and a deny handler that
// answers in the application's own JSON (whole seconds, rounded up as
// Retry-After is). ToMiddleware returns an error for
// a bad Config; WithConfig panics instead.
func ExampleConfig_ToMiddleware() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("api"))
	if err != nil {
		panic(err)
	}
	mw, err := echo5mw.Config{
		Limiter: l,
		Skipper: func(c *echo.Context) bool { return c.Path() == "/healthz" },
		DenyHandler: func(c *echo.Context, d core.Decision) error {
			return c.JSON(http.StatusTooManyRequests, map[string]any{"error": "slow down", "retry_in_s": math.Ceil(d.RetryAfter.Seconds())})
		},
	}.ToMiddleware()
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/healthz", func(c *echo.Context) error { return c.NoContent(200) })
	e.GET("/work", func(c *echo.Context) error { return c.NoContent(200) })

	var w *httptest.ResponseRecorder
	for _, path := range []string{"/healthz", "/healthz", "/work", "/work"} {
		w = httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	fmt.Print(w.Body.String())
	// Output:
	// /healthz 200
	// /healthz 200
	// /work 200
	// /work 429
	// {"error":"slow down","retry_in_s":60}
}

// WithConfig panics on a bad Config, as echo's own middleware do; the
// message names the field at fault.
func ExampleWithConfig() {
	defer func() { fmt.Println("panic:", recover()) }()
	echo.New().Use(echo5mw.WithConfig(echo5mw.Config{})) // no Limiter
	// Output:
	// panic: echo5mw: Config.Limiter is nil: a limiter is required
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
	e := echo.New()
	e.Use(echo5mw.Wrap(g))
	e.GET("/", func(c *echo.Context) error { return c.NoContent(200) })

	for _, key := range []string{"a", "a", "b", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Api-Key", key)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		fmt.Printf("%q %d\n", key, w.Code)
	}
	// Output:
	// "a" 200
	// "a" 429
	// "b" 200
	// "" 400
}
