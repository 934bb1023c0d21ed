package ginmw_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func init() { gin.SetMode(gin.ReleaseMode) }

func ginRouter(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
	return ginNative(ep, l, adaptertest.Hooks{}, opts...)
}

// ginNative sets the table's hooks through ginmw's options on *gin.Context.
func ginNative(ep http.Handler, l *core.Limiter, h adaptertest.Hooks, opts ...httplimit.Option) (http.Handler, error) {
	r := gin.New()
	if l != nil {
		if h.Skip != nil {
			opts = append(opts, ginmw.WithGinSkip(func(c *gin.Context) bool { return h.Skip(c.FullPath()) }))
		}
		if h.Deny != nil {
			opts = append(opts, ginmw.WithGinDenyHandler(func(c *gin.Context, d core.Decision) {
				status, body := h.Deny(c.FullPath(), d)
				c.Data(status, "text/plain; charset=utf-8", []byte(body))
			}))
		}
		if h.Error != nil {
			opts = append(opts, ginmw.WithGinErrorHandler(func(c *gin.Context, err error) {
				status, body := h.Error(c.FullPath(), err)
				c.Data(status, "text/plain; charset=utf-8", []byte(body))
			}))
		}
		mw, err := ginmw.New(l, opts...)
		if err != nil {
			return nil, err
		}
		r.Use(mw)
	}
	handle := gin.WrapH(ep)
	r.GET("/hello", handle)
	r.GET("/healthz", handle)
	r.GET("/users/:id", handle)
	return r, nil
}

func ginAdapter(t testing.TB) adaptertest.Adapter {
	return adaptertest.Adapter{Name: "gin", Router: ginRouter, Native: ginNative, Store: func(c core.Clock) core.Store {
		s, err := memstore.New(memstore.WithClock(c))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}
}

func TestAdapterTableGin(t *testing.T) { adaptertest.Run(t, ginAdapter(t)) }

func BenchmarkGin(b *testing.B) { adaptertest.Benchmark(b, ginAdapter(b)) }

func TestDenialAbortsTheChain(t *testing.T) {
	r := gin.New()
	r.Use(ginmw.PerIP(core.PerMinute(1)))
	var later int
	r.Use(func(c *gin.Context) { later++; c.Next() })
	r.GET("/", func(c *gin.Context) { c.String(200, "ok") })
	for i, want := range []int{200, 429} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		r.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("request %d: %d, want %d", i+1, w.Code, want)
		}
	}
	if later != 1 {
		t.Errorf("the middleware after the limiter ran %d times, want 1 (the denial must abort)", later)
	}
}

func TestRouteKeyIsFullPathInAGroup(t *testing.T) {
	s, _ := memstore.New()
	defer s.Close()
	l, _ := core.NewLimiter(s, core.PerMinute(1))
	mw, err := ginmw.New(l, httplimit.WithRouteKey())
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	api := r.Group("/api", mw)
	api.GET("/items/:id", func(c *gin.Context) { c.Status(204) })
	api.GET("/other", func(c *gin.Context) { c.Status(204) })
	for _, tc := range []struct {
		path string
		want int
	}{{"/api/items/1", 204}, {"/api/items/2", 429}, {"/api/other", 204}} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := ginmw.New(nil); err == nil {
		t.Error("nil limiter: no error")
	}
}

func TestPerIPPanicsOnAnInvalidLimit(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PerIP(PerSecond(0)) did not panic")
		}
	}()
	ginmw.PerIP(core.PerSecond(0))
}
