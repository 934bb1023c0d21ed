package echo5mw_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func echoRouter(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
	return echoNative(ep, l, adaptertest.Hooks{}, opts...)
}

// echoNative sets the table's hooks through echo5mw's options on
// *echo.Context.
func echoNative(ep http.Handler, l *core.Limiter, h adaptertest.Hooks, opts ...httplimit.Option) (http.Handler, error) {
	var mw echo.MiddlewareFunc
	if l != nil {
		if h.Skip != nil {
			opts = append(opts, echo5mw.WithSkipper(func(c *echo.Context) bool { return h.Skip(c.Path()) }))
		}
		if h.Deny != nil {
			opts = append(opts, echo5mw.WithEchoDenyHandler(echoDeny(h)))
		}
		if h.Error != nil {
			opts = append(opts, echo5mw.WithEchoErrorHandler(echoError(h)))
		}
		var err error
		if mw, err = echo5mw.New(l, opts...); err != nil {
			return nil, err
		}
	}
	return echoRoutes(ep, mw), nil
}

func echoDeny(h adaptertest.Hooks) func(*echo.Context, core.Decision) error {
	return func(c *echo.Context, d core.Decision) error {
		status, body := h.Deny(c.Path(), d)
		return c.Blob(status, "text/plain; charset=utf-8", []byte(body))
	}
}

func echoError(h adaptertest.Hooks) func(*echo.Context, error) error {
	return func(c *echo.Context, err error) error {
		status, body := h.Error(c.Path(), err)
		return c.Blob(status, "text/plain; charset=utf-8", []byte(body))
	}
}

// echoConfig, echoConfigNative and echoMust build the middleware in echo's
// style: a Config, through ToMiddleware or the panicking WithConfig.
func echoConfig(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
	return echoConfigNative(ep, l, adaptertest.Hooks{}, opts...)
}

func echoConfigNative(ep http.Handler, l *core.Limiter, h adaptertest.Hooks, opts ...httplimit.Option) (http.Handler, error) {
	if l == nil {
		return echoRoutes(ep, nil), nil
	}
	cfg := echo5mw.Config{Limiter: l, Options: opts}
	if h.Skip != nil {
		cfg.Skipper = func(c *echo.Context) bool { return h.Skip(c.Path()) }
	}
	if h.Deny != nil {
		cfg.DenyHandler = echoDeny(h)
	}
	if h.Error != nil {
		cfg.ErrorHandler = echoError(h)
	}
	mw, err := cfg.ToMiddleware()
	if err != nil {
		return nil, err
	}
	return echoRoutes(ep, mw), nil
}

func echoMust(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) http.Handler {
	return echoRoutes(ep, echo5mw.WithConfig(echo5mw.Config{Limiter: l, Options: opts}))
}

// echoRoutes returns the table's routes behind mw (none if nil).
func echoRoutes(ep http.Handler, mw echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	if mw != nil {
		e.Use(mw)
	}
	h := echo.WrapHandler(ep)
	e.GET("/hello", h)
	e.GET("/healthz", h)
	e.GET("/users/:id", h)
	return e
}

func newStore(t testing.TB) func(core.Clock) core.Store {
	return func(c core.Clock) core.Store {
		s, err := memstore.New(memstore.WithClock(c))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func echoAdapter(t testing.TB) adaptertest.Adapter {
	return adaptertest.Adapter{Name: "echo v5", Router: echoRouter, Native: echoNative, Store: newStore(t)}
}

func TestAdapterTableEcho5(t *testing.T) { adaptertest.Run(t, echoAdapter(t)) }

// The same table through echo's convention: Config, its Skipper and
// handlers, and WithConfig's panics.
func TestAdapterTableEcho5Config(t *testing.T) {
	adaptertest.Run(t, adaptertest.Adapter{
		Name: "echo v5 Config", Router: echoConfig, Native: echoConfigNative,
		Must: echoMust, MustField: "Config.Limiter", Store: newStore(t),
	})
}

func BenchmarkEcho5(b *testing.B) { adaptertest.Benchmark(b, echoAdapter(b)) }

// A hook that returns an error hands the answer to echo's HTTPErrorHandler,
// as echo's own middleware do.
func TestHookErrorsGoToEchosErrorHandler(t *testing.T) {
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := core.NewLimiter(s, core.PerMinute(1), core.WithName("per-ip"))
	if err != nil {
		t.Fatal(err)
	}
	mw, err := echo5mw.Config{
		Limiter: l,
		DenyHandler: func(c *echo.Context, d core.Decision) error {
			return echo.NewHTTPError(http.StatusForbidden, "no more")
		},
	}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/", func(c *echo.Context) error { return c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	for i, want := range []struct {
		status      int
		body, retry string
	}{{200, "ok", ""}, {403, `{"message":"no more"}` + "\n", "60"}} {
		res, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want.status || string(body) != want.body || res.Header.Get("Retry-After") != want.retry {
			t.Errorf("request %d: %d %q Retry-After %q, want %d %q %q", i+1, res.StatusCode, body, res.Header.Get("Retry-After"), want.status, want.body, want.retry)
		}
	}
}

func TestToMiddlewareNamesTheFieldAtFault(t *testing.T) {
	s, _ := memstore.New()
	defer s.Close()
	l, _ := core.NewLimiter(s, core.PerMinute(1))
	deny := func(http.ResponseWriter, *http.Request, core.Decision) {}
	for _, tc := range []struct {
		name string
		cfg  echo5mw.Config
		want string
	}{
		{"the zero Config", echo5mw.Config{}, "Config.Limiter"},
		{"a deny handler twice", echo5mw.Config{Limiter: l, Options: []echo5mw.Option{httplimit.WithDenyHandler(deny)},
			DenyHandler: func(*echo.Context, core.Decision) error { return nil }}, "Config.DenyHandler"},
		{"a bad option", echo5mw.Config{Limiter: l, Options: []echo5mw.Option{httplimit.WithDenyStatus(200)}}, "WithDenyStatus"},
	} {
		if _, err := tc.cfg.ToMiddleware(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "echo5mw: ") {
			t.Errorf("%s: error %v, want one starting echo5mw: and naming %s", tc.name, err, tc.want)
		}
	}
}

func TestPerIPPanicsOnAnInvalidLimit(t *testing.T) {
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.HasPrefix(msg, "echo5mw.PerIP: ") {
			t.Errorf("PerIP(PerSecond(0)) panicked with %q, want a message starting echo5mw.PerIP: ", msg)
		}
	}()
	echo5mw.PerIP(core.PerSecond(0))
}

// The middleware may sit on a group or on one route, as echo v5 allows:
// the route key is then the route's whole pattern, prefix included, so
// /api/users/1 and /api/users/2 share a bucket and /api/teams/1 has its own.
func TestGroupAndRouteMiddlewareKeyByTheWholePattern(t *testing.T) {
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := core.NewLimiter(s, core.PerMinute(1), core.WithName("per-route"))
	if err != nil {
		t.Fatal(err)
	}
	mw, err := echo5mw.New(l, httplimit.WithRouteKey())
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ok := func(c *echo.Context) error { return c.String(http.StatusOK, c.Path()) }
	api := e.Group("/api", mw)
	api.GET("/users/:id", ok)
	e.GET("/teams/:id", ok, mw)
	e.GET("/open", ok)
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		status int
		policy string
	}{
		{"/api/users/1", 200, `"per-route";r=0;t=60`},
		{"/api/users/2", 429, `"per-route";r=0;t=60`},
		{"/teams/1", 200, `"per-route";r=0;t=60`},
		{"/teams/2", 429, `"per-route";r=0;t=60`},
		{"/open", 200, ""},
		{"/open", 200, ""},
	} {
		res, err := srv.Client().Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || res.Header.Get("RateLimit") != tc.policy {
			t.Errorf("GET %s: %d RateLimit %q, want %d %q", tc.path, res.StatusCode, res.Header.Get("RateLimit"), tc.status, tc.policy)
		}
	}
}
