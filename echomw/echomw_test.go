package echomw_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func echoRouter(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
	e := echo.New()
	if l != nil {
		mw, err := echomw.New(l, opts...)
		if err != nil {
			return nil, err
		}
		e.Use(mw)
	}
	h := echo.WrapHandler(ep)
	e.GET("/hello", h)
	e.GET("/healthz", h)
	e.GET("/users/:id", h)
	return e, nil
}

func echoAdapter(t testing.TB) adaptertest.Adapter {
	return adaptertest.Adapter{Name: "echo", Router: echoRouter, Store: func(c core.Clock) core.Store {
		s, err := memstore.New(memstore.WithClock(c))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}
}

func TestAdapterTableEcho(t *testing.T) { adaptertest.Run(t, echoAdapter(t)) }

func BenchmarkEcho(b *testing.B) { adaptertest.Benchmark(b, echoAdapter(b)) }

func TestSkipperFollowsEchoConvention(t *testing.T) {
	s, _ := memstore.New()
	defer s.Close()
	l, _ := core.NewLimiter(s, core.PerMinute(1))
	mw, err := echomw.NewWithConfig(echomw.Config{
		Limiter: l,
		Skipper: func(c echo.Context) bool { return c.Path() == "/healthz" },
	})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	ok := func(c echo.Context) error { return c.NoContent(204) }
	e.GET("/healthz", ok)
	e.GET("/work", ok)
	for _, tc := range []struct {
		path string
		want int
	}{{"/healthz", 204}, {"/healthz", 204}, {"/work", 204}, {"/work", 429}, {"/healthz", 204}} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.want)
		}
	}
}

func TestNewWithConfigNeedsALimiter(t *testing.T) {
	if _, err := echomw.NewWithConfig(echomw.Config{}); err == nil {
		t.Error("no limiter: no error")
	}
}

func TestPerIPPanicsOnAnInvalidLimit(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PerIP(PerSecond(0)) did not panic")
		}
	}()
	echomw.PerIP(core.PerSecond(0))
}
