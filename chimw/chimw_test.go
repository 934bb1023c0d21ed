package chimw_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

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

// middleware returns chimw.New(l, opts...), or none for a nil l.
func middleware(l *core.Limiter, opts []httplimit.Option) ([]func(http.Handler) http.Handler, error) {
	if l == nil {
		return nil, nil
	}
	mw, err := chimw.New(l, opts...)
	return []func(http.Handler) http.Handler{mw}, err
}

// chiRouter and TestAdapterTableChi are the example of adaptertest's
// package doc, word for word.
func chiRouter(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
	r := chi.NewRouter()
	if l != nil {
		mw, err := chimw.New(l, opts...)
		if err != nil {
			return nil, err
		}
		r.Use(mw)
	}
	r.Method(http.MethodGet, "/hello", ep)
	r.Method(http.MethodGet, "/healthz", ep)
	r.Method(http.MethodGet, "/users/{id}", ep)
	return r, nil
}

func TestAdapterTableChi(t *testing.T) {
	adaptertest.Run(t, adaptertest.Adapter{
		Name:   "chi",
		Router: chiRouter,
		Store: func(c core.Clock) core.Store {
			s, err := memstore.New(memstore.WithClock(c))
			if err != nil {
				t.Fatal(err)
			}
			return s // Run closes it
		},
	})
}

func BenchmarkChi(b *testing.B) {
	adaptertest.Benchmark(b, adaptertest.Adapter{Name: "chi", Store: newStore(b), Router: chiRouter})
}

// BenchmarkServeMux measures the middleware in front of a plain
// http.ServeMux, wrapping the matched handler.
func BenchmarkServeMux(b *testing.B) {
	adaptertest.Benchmark(b, adaptertest.Adapter{Name: "net/http", Store: newStore(b), Router: func(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
		mws, err := middleware(l, opts)
		if err != nil {
			return nil, err
		}
		h := ep
		for _, mw := range mws {
			h = mw(h)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /users/{id}", h)
		return mux, nil
	}})
}

func TestAdapterTableChiSubrouter(t *testing.T) {
	adaptertest.Run(t, adaptertest.Adapter{
		Name:  "chi with a mounted subrouter",
		Store: newStore(t),
		Router: func(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
			mws, err := middleware(l, opts)
			if err != nil {
				return nil, err
			}
			r := chi.NewRouter()
			r.Use(mws...)
			r.Method(http.MethodGet, "/hello", ep)
			r.Method(http.MethodGet, "/healthz", ep)
			r.Route("/users", func(r chi.Router) { r.Method(http.MethodGet, "/{id}", ep) })
			return r, nil
		},
	})
}

// Under plain net/http the middleware wraps each handler the ServeMux calls,
// so Request.Pattern is set; the "/" pattern answers every unmatched path.
func TestAdapterTableServeMux(t *testing.T) {
	adaptertest.Run(t, adaptertest.Adapter{
		Name:  "net/http",
		Store: newStore(t),
		Router: func(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
			mw, err := chimw.New(l, opts...)
			if err != nil {
				return nil, err
			}
			mux := http.NewServeMux()
			mux.Handle("GET /hello", mw(ep))
			mux.Handle("GET /healthz", mw(ep))
			mux.Handle("GET /users/{id}", mw(ep))
			mux.Handle("/", mw(http.NotFoundHandler()))
			return mux, nil
		},
	})
}

// patternEcho writes the pattern RoutePattern sees.
var patternEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

func TestRoutePatternWherevertheMiddlewareSits(t *testing.T) {
	var got string
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = chimw.RoutePattern(r)
			next.ServeHTTP(w, r)
		})
	}
	top := chi.NewRouter()
	top.Use(record)
	top.Get("/users/{id}", patternEcho)
	top.Get("/files/*", patternEcho)
	top.Route("/api", func(r chi.Router) {
		r.Route("/v1", func(r chi.Router) { r.Get("/items/{item}", patternEcho) })
	})

	inline := chi.NewRouter()
	inline.With(record).Get("/users/{id}", patternEcho)

	inSub := chi.NewRouter()
	inSub.Route("/api", func(r chi.Router) {
		r.Use(record)
		r.Get("/items/{item}", patternEcho)
	})

	mux := http.NewServeMux()
	mux.Handle("GET /users/{id}", record(patternEcho))

	tests := []struct {
		name   string
		h      http.Handler
		method string
		path   string
		want   string
	}{
		{"top-level Use, plain route", top, "GET", "/users/42", "/users/{id}"},
		{"top-level Use, catch-all route", top, "GET", "/files/a/b", "/files/*"},
		{"top-level Use, nested subrouters", top, "GET", "/api/v1/items/7", "/api/v1/items/{item}"},
		{"top-level Use, no route", top, "GET", "/nothing/here", ""},
		{"top-level Use, wrong method", top, "POST", "/users/42", ""},
		{"top-level Use, unknown method", top, "BREW", "/users/42", ""},
		{"inline With", inline, "GET", "/users/42", "/users/{id}"},
		{"Use inside a subrouter", inSub, "GET", "/api/items/7", "/api/items/{item}"},
		{"net/http ServeMux", mux, "GET", "/users/42", "GET /users/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = "(not called)"
			tt.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
			if got != tt.want {
				t.Errorf("RoutePattern = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	s, _ := memstore.New()
	defer s.Close()
	l, _ := core.NewLimiter(s, core.PerSecond(1))
	if _, err := chimw.New(l, httplimit.WithDenyStatus(200)); err == nil {
		t.Error("WithDenyStatus(200): no error")
	}
	if _, err := chimw.New(nil); err == nil {
		t.Error("nil limiter: no error")
	}
}

func TestPerIPPanicsOnAnInvalidLimit(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("PerIP(PerSecond(0)) did not panic")
		}
	}()
	chimw.PerIP(core.PerSecond(0))
}

func TestPerIP(t *testing.T) {
	r := chi.NewRouter()
	r.Use(chimw.PerIP(core.PerMinute(2)))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(r)
	defer srv.Close()
	var codes []int
	for i := 0; i < 3; i++ {
		res, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		codes = append(codes, res.StatusCode)
		if i == 0 && res.Header.Get("RateLimit-Policy") != `"per-ip";q=2;w=60` {
			t.Errorf("RateLimit-Policy %q", res.Header.Get("RateLimit-Policy"))
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Errorf("statuses %v, want [200 200 429]", codes)
	}
}

// upperWriter is a middleware's writer that upper-cases the body.
type upperWriter struct{ http.ResponseWriter }

func (w upperWriter) Write(p []byte) (int, error) {
	return w.ResponseWriter.Write([]byte(strings.ToUpper(string(p))))
}

// A gate behind another middleware's writer hands the handler that writer,
// even when an outer gate counts the body (WithCostAfter): the handler must
// write through every middleware between them, and the outer gate still
// counts what it wrote.
func TestInnerGateKeepsTheWriterItWasGiven(t *testing.T) {
	s := newStore(t)(core.NewManualClock(time.Unix(1_700_000_000, 0)))
	outerL, _ := core.NewLimiter(s, core.PerMinute(1000), core.WithName("bytes"))
	innerL, _ := core.NewLimiter(s, core.PerMinute(1000), core.WithName("per-ip"))
	outer, err := chimw.New(outerL, httplimit.WithCostAfter(httplimit.CostBodyBytes))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := chimw.New(innerL)
	if err != nil {
		t.Fatal(err)
	}
	upper := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(upperWriter{w}, r) })
	}
	r := chi.NewRouter()
	r.Use(outer, upper, inner)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Body.String() != "HELLO" {
		t.Fatalf("body %q, want the upper-cased HELLO", w.Body.String())
	}
	host, _, _ := strings.Cut(req.RemoteAddr, ":")
	d, err := outerL.Peek(context.Background(), host)
	if err != nil || d.Remaining != 995 {
		t.Errorf("the outer gate's limit after a body of 5 bytes: %d remaining (%v), want 995", d.Remaining, err)
	}
}
