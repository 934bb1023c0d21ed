package e2e_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	echo4 "github.com/labstack/echo/v4"
	echo5 "github.com/labstack/echo/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/pacer"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The pacing client (package pacer) against every one of tollgate's HTTP
// front ends: httplimit's Gate in a plain handler, chi, gin, echo v4 and
// echo v5, each serving GET /items under two limits per client IP taken
// together, so that each sends the same RateLimit-Policy and RateLimit
// lists of two policies.

// frontEnd builds a server's handler: GET /items under limiters a and b,
// keyed by ip, answering "ok".
type frontEnd struct {
	name    string
	handler func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error)
}

func init() { gin.SetMode(gin.TestMode) } // no route table printed

var frontEnds = []frontEnd{
	{"httplimit Gate", func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error) {
		g, err := httplimit.New(a, httplimit.WithKeyFunc(ip), httplimit.WithLimit(b, ip))
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
			if g.Serve(w, r, r.Pattern) == httplimit.Proceed {
				io.WriteString(w, "ok\n")
			}
		})
		return mux, nil
	}},
	{"chi", func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error) {
		mw, err := chimw.New(a, httplimit.WithLimit(b, ip))
		if err != nil {
			return nil, err
		}
		r := chi.NewRouter()
		r.Use(mw)
		r.Get("/items", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		return r, nil
	}},
	{"gin", func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error) {
		mw, err := ginmw.New(a, httplimit.WithLimit(b, ip))
		if err != nil {
			return nil, err
		}
		r := gin.New()
		r.Use(mw)
		r.GET("/items", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
		return r, nil
	}},
	{"echo v4", func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error) {
		mw, err := echomw.New(a, httplimit.WithLimit(b, ip))
		if err != nil {
			return nil, err
		}
		e := echo4.New()
		e.Use(mw)
		e.GET("/items", func(c echo4.Context) error { return c.String(http.StatusOK, "ok\n") })
		return e, nil
	}},
	{"echo v5", func(a, b *core.Limiter, ip keyfuncs.KeyFunc) (http.Handler, error) {
		mw, err := echo5mw.New(a, httplimit.WithLimit(b, ip))
		if err != nil {
			return nil, err
		}
		e := echo5.New()
		e.Use(mw)
		e.GET("/items", func(c *echo5.Context) error { return c.String(http.StatusOK, "ok\n") })
		return e, nil
	}},
}

// limitedAPI is a front end serving under two limits, counting its answers.
type limitedAPI struct {
	*httptest.Server
	ok, refused atomic.Int64
}

func newLimitedAPI(t *testing.T, fe frontEnd, first, second core.Limit) *limitedAPI {
	t.Helper()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a, err := core.NewLimiter(store, first, core.WithName("first"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.NewLimiter(store, second, core.WithName("second"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := keyfuncs.IP()
	if err != nil {
		t.Fatal(err)
	}
	h, err := fe.handler(a, b, ip)
	if err != nil {
		t.Fatal(err)
	}
	api := &limitedAPI{}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusOK:
			api.ok.Add(1)
		case http.StatusTooManyRequests:
			api.refused.Add(1)
		}
	}))
	t.Cleanup(api.Close)
	return api
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// paceWorkload sends goroutines x each GETs to url through rt, the
// goroutines sharing it, and returns the statuses the callers got.
func paceWorkload(t *testing.T, rt http.RoundTripper, url string, goroutines, each int) map[int]int {
	t.Helper()
	client := &http.Client{Transport: rt}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			for range each {
				res, err := client.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return statuses
}

// 8 goroutines sharing one paced transport get no request refused by any
// front end under 10/s and 12 per 2s; a plain transport gets some.
func TestPacedClientIsNeverRefusedByAnyFrontEnd(t *testing.T) {
	const goroutines, each = 8, 3
	first, second := core.PerSecond(10), core.Limit{Rate: 12, Period: 2 * time.Second}
	for _, fe := range frontEnds {
		t.Run(fe.name, func(t *testing.T) {
			t.Parallel()
			plain := newLimitedAPI(t, fe, first, second)
			base := &http.Transport{MaxIdleConnsPerHost: goroutines}
			t.Cleanup(base.CloseIdleConnections)
			unpaced := paceWorkload(t, base, plain.URL+"/items", goroutines, each)

			api := newLimitedAPI(t, fe, first, second)
			p, err := pacer.New(&http.Transport{MaxIdleConnsPerHost: goroutines})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.CloseIdleConnections)
			paced := paceWorkload(t, p, api.URL+"/items", goroutines, each)

			t.Logf("%s: without pacing %d admitted, %d refused; with pacing %d admitted, %d refused",
				fe.name, plain.ok.Load(), plain.refused.Load(), api.ok.Load(), api.refused.Load())
			if unpaced[http.StatusTooManyRequests] == 0 || unpaced[http.StatusOK]+unpaced[http.StatusTooManyRequests] != goroutines*each {
				t.Errorf("without pacing the callers got %v, want 200s and some 429s", unpaced)
			}
			if paced[http.StatusOK] != goroutines*each || api.refused.Load() != 0 {
				t.Errorf("with pacing the callers got %v and the server refused %d, want %d 200s and none refused",
					paced, api.refused.Load(), goroutines*each)
			}
		})
	}
}

// A request refused because another client spent the quota is sent
// again after the front end's Retry-After, and the caller sees only the
// 200.
func TestPacedClientWaitsOutEveryFrontEndsRetryAfter(t *testing.T) {
	first, second := core.PerSecond(1), core.PerMinute(60)
	for _, fe := range frontEnds {
		t.Run(fe.name, func(t *testing.T) {
			t.Parallel()
			api := newLimitedAPI(t, fe, first, second)
			url := api.URL + "/items"
			other := &http.Transport{}
			t.Cleanup(other.CloseIdleConnections)
			if got := paceWorkload(t, other, url, 1, 1); got[http.StatusOK] != 1 {
				t.Fatalf("another client got %v, want its one 200", got)
			}
			p, err := pacer.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.CloseIdleConnections)
			if got := paceWorkload(t, p, url, 1, 1); got[http.StatusOK] != 1 {
				t.Fatalf("paced client got %v, want a 200", got)
			}
			if api.refused.Load() != 1 || api.ok.Load() != 2 {
				t.Errorf("server admitted %d and refused %d, want 2 and the one refusal that taught the client", api.ok.Load(), api.refused.Load())
			}
		})
	}
}

// Once a front end says its quota is spent, a request under WithFailFast
// fails at once with the policy the front end named, and is not sent.
func TestPacedClientFailsFastOnEveryFrontEnd(t *testing.T) {
	first, second := core.PerMinute(1), core.PerHour(100)
	for _, fe := range frontEnds {
		t.Run(fe.name, func(t *testing.T) {
			t.Parallel()
			api := newLimitedAPI(t, fe, first, second)
			p, err := pacer.New(nil, pacer.WithFailFast())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.CloseIdleConnections)
			client := &http.Client{Transport: p}
			res, err := client.Get(api.URL + "/items")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			_, err = client.Get(api.URL + "/items")
			var we *pacer.WaitError
			if !errors.As(err, &we) {
				t.Fatalf("second request: %v, want a *pacer.WaitError", err)
			}
			if we.Policy != "first" || we.Wait <= 50*time.Second || we.Wait > time.Minute {
				t.Errorf("WaitError %+v, want policy first for about a minute", *we)
			}
			if api.ok.Load() != 1 || api.refused.Load() != 0 {
				t.Errorf("server admitted %d and refused %d, want 1 and none", api.ok.Load(), api.refused.Load())
			}
		})
	}
}
