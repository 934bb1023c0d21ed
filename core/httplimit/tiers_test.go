package httplimit_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// tierServer serves a gate built by build through a real server and counts
// the handler's runs.
func tierServer(t *testing.T, g *httplimit.Gate) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var ran atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Serve(w, r, "") != httplimit.Proceed {
			return
		}
		ran.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &ran
}

type got struct {
	status                     int
	limit, remaining, policy   string
	rateLimit, retry, bodyHead string
}

func get(t *testing.T, srv *httptest.Server, header ...string) got {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := resp.Header
	return got{resp.StatusCode, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"), strings.SplitN(string(b), "\n", 2)[0]}
}

func clientKey(r *http.Request) (string, error) {
	if k := r.Header.Get("X-Client"); k != "" {
		return k, nil
	}
	return "", keyfuncs.ErrNoKey
}

func newStore(t *testing.T) core.Store {
	t.Helper()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTiersChooseTheLimitPerRequestAndKeepOneCount(t *testing.T) {
	store := newStore(t)
	api, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("api"))
	if err != nil {
		t.Fatal(err)
	}
	perClient, err := core.NewLimiter(store, core.PerHour(1000), core.WithName("hourly"))
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := keyfuncs.Header("X-Plan", 32)
	g, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey),
		httplimit.WithTiers(api, plan, map[string]core.Limit{"free": core.PerMinute(2), "pro": core.PerMinute(5)}, "free"),
		httplimit.WithLimit(perClient, nil))
	if err != nil {
		t.Fatal(err)
	}
	srv, ran := tierServer(t, g)

	steps := []struct {
		name   string
		header []string
		want   got
	}{
		{"pro is taken under 5/m", []string{"X-Client", "alice", "X-Plan", "pro"},
			got{200, "5", "4", `"api";q=5;w=60, "hourly";q=1000;w=3600`, `"api";r=4;t=12, "hourly";r=999;t=4`, "", "ok"}},
		{"pro again", []string{"X-Client", "alice", "X-Plan", "pro"},
			got{200, "5", "3", `"api";q=5;w=60, "hourly";q=1000;w=3600`, `"api";r=3;t=24, "hourly";r=998;t=8`, "", "ok"}},
		// alice moves to free. Under GCRA (the default) her debt is time:
		// 2 of pro's 5 a minute is 24s of the minute, and free's 2 a
		// minute leave room for one more in the other 36s.
		{"free after two under pro has one left", []string{"X-Client", "alice", "X-Plan", "free"},
			got{200, "2", "0", `"api";q=2;w=60, "hourly";q=1000;w=3600`, `"api";r=0;t=54, "hourly";r=997;t=11`, "", "ok"}},
		{"and then is denied", []string{"X-Client", "alice", "X-Plan", "free"},
			got{429, "2", "0", `"api";q=2;w=60, "hourly";q=1000;w=3600`, `"api";r=0;t=24, "hourly";r=997;t=11`, "24", "Too Many Requests: quota exceeded; retry after 24 seconds."}},
		{"no plan is the default tier", []string{"X-Client", "bob"},
			got{200, "2", "1", `"api";q=2;w=60, "hourly";q=1000;w=3600`, `"api";r=1;t=30, "hourly";r=999;t=4`, "", "ok"}},
		{"an unknown plan is the default tier", []string{"X-Client", "bob", "X-Plan", "platinum"},
			got{200, "2", "0", `"api";q=2;w=60, "hourly";q=1000;w=3600`, `"api";r=0;t=60, "hourly";r=998;t=8`, "", "ok"}},
		{"a third is denied under it", []string{"X-Client", "bob", "X-Plan", "platinum"},
			got{429, "2", "0", `"api";q=2;w=60, "hourly";q=1000;w=3600`, `"api";r=0;t=30, "hourly";r=998;t=8`, "30", "Too Many Requests: quota exceeded; retry after 30 seconds."}},
	}
	for _, st := range steps {
		if g := get(t, srv, st.header...); g != st.want {
			t.Errorf("%s:\n got %+v\nwant %+v", st.name, g, st.want)
		}
	}
	if n := ran.Load(); n != 5 {
		t.Errorf("handler ran %d times, want 5", n)
	}
}

func TestLimitFuncAnswersItsFailuresAndCountsNothing(t *testing.T) {
	store := newStore(t)
	api, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("api"))
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("plan table unreachable")
	plans := func(r *http.Request) (core.Limit, error) {
		switch r.Header.Get("X-Api-Key") {
		case "k-free":
			return core.PerMinute(3), nil
		case "k-pro":
			return core.PerMinute(10), nil
		case "k-broken":
			return core.Limit{Rate: 5}, nil // no period
		case "k-down":
			return core.Limit{}, down
		}
		return core.Limit{}, fmt.Errorf("unknown API key: %w", keyfuncs.ErrNoKey)
	}
	g, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey), httplimit.WithLimitFunc(api, plans))
	if err != nil {
		t.Fatal(err)
	}
	srv, ran := tierServer(t, g)
	steps := []struct {
		name   string
		header []string
		want   got
	}{
		{"an unknown key is 400", []string{"X-Client", "c", "X-Api-Key", "nope"},
			got{400, "", "", "", "", "", "Bad Request: The request does not identify a client for rate limiting."}},
		{"a failing plan table is 503 with Retry-After 1", []string{"X-Client", "c", "X-Api-Key", "k-down"},
			got{503, "", "", "", "", "1", "Service Unavailable: The rate limiter is unavailable; retry later."}},
		{"an invalid limit is 500", []string{"X-Client", "c", "X-Api-Key", "k-broken"},
			got{500, "", "", "", "", "", "Internal Server Error: The rate limit for this request is misconfigured."}},
		// None of the three took anything: c's first counted request has
		// the whole quota less one.
		{"free", []string{"X-Client", "c", "X-Api-Key", "k-free"},
			got{200, "3", "2", `"api";q=3;w=60`, `"api";r=2;t=20`, "", "ok"}},
		// One of free's 3 a minute is 20s of debt under GCRA; pro's 10 a
		// minute take 6s each.
		{"pro, on the same count", []string{"X-Client", "c", "X-Api-Key", "k-pro"},
			got{200, "10", "5", `"api";q=10;w=60`, `"api";r=5;t=26`, "", "ok"}},
	}
	for _, st := range steps {
		if g := get(t, srv, st.header...); g != st.want {
			t.Errorf("%s:\n got %+v\nwant %+v", st.name, g, st.want)
		}
	}
	if n := ran.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2", n)
	}

	t.Run("the error handler sees which failure it was", func(t *testing.T) {
		var errs []error
		g, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey), httplimit.WithLimitFunc(api, plans),
			httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				errs = append(errs, err)
				w.WriteHeader(418)
			}))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"nope", "k-down", "k-broken"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Client", "d")
			r.Header.Set("X-Api-Key", k)
			if out := g.Serve(httptest.NewRecorder(), r, ""); out != httplimit.Failed {
				t.Fatalf("key %s: outcome %v, want failed", k, out)
			}
		}
		if len(errs) != 3 || !errors.Is(errs[0], keyfuncs.ErrNoKey) ||
			!errors.Is(errs[1], httplimit.ErrLimitFunc) || !errors.Is(errs[1], down) ||
			!errors.Is(errs[2], core.ErrInvalidLimit) || !strings.Contains(errs[2].Error(), "period") {
			t.Fatalf("errors %v: want ErrNoKey; ErrLimitFunc wrapping the func's; ErrInvalidLimit naming the period", errs)
		}
	})
}

func TestTiersAreCheckedWhenTheGateIsBuilt(t *testing.T) {
	store := newStore(t)
	api, err := core.NewLimiter(store, core.PerMinute(10), core.WithName("api"), core.WithCost(3))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := core.NewLimiter(store, core.PerMinute(1), core.WithName("other"))
	plan, _ := keyfuncs.Header("X-Plan", 32)
	tiers := map[string]core.Limit{"free": core.PerMinute(5), "pro": core.PerMinute(50)}
	fn := func(*http.Request) (core.Limit, error) { return core.PerMinute(5), nil }
	for _, tc := range []struct {
		name string
		opt  httplimit.Option
		want string
	}{
		{"a default tier that is not a tier", httplimit.WithTiers(api, plan, tiers, "gold"), `default tier "gold"`},
		{"an invalid tier, naming it and the field", httplimit.WithTiers(api, plan, map[string]core.Limit{"free": core.PerMinute(5), "bad": {Rate: 5, Period: -1}}, "free"), `tier "bad": core: invalid limit: period`},
		{"a tier whose burst is below the cost", httplimit.WithTiers(api, plan, map[string]core.Limit{"free": core.PerMinute(5), "tiny": core.PerMinute(2)}, "free"), `tier "tiny"`},
		{"no tiers", httplimit.WithTiers(api, plan, nil, ""), "no tiers"},
		{"a nil selector", httplimit.WithTiers(api, nil, tiers, "free"), "nil selector"},
		{"a limiter the gate does not apply", httplimit.WithTiers(other, plan, tiers, "free"), `limiter "other" is not one of the gate's limits`},
		{"a nil func", httplimit.WithLimitFunc(api, nil), "nil func"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "httplimit: ") {
				t.Fatalf("New: %v; want an error starting httplimit: and naming %q", err, tc.want)
			}
		})
	}
	t.Run("two choosers for one limiter", func(t *testing.T) {
		_, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey), httplimit.WithTiers(api, plan, tiers, "free"), httplimit.WithLimitFunc(api, fn))
		if err == nil || !strings.Contains(err.Error(), "already has its limit chosen") {
			t.Fatalf("New: %v; want an error", err)
		}
	})
}

// BenchmarkLimitFunc measures a gate whose limit func returns one of two
// plans (cached: no allocation beyond the gate's own) and one returning a
// limit never seen before on every request (past the cache: a limiter and
// its fields made per request).
func BenchmarkLimitFunc(b *testing.B) {
	for _, tc := range []struct {
		name string
		fn   func(n int64) core.Limit
	}{
		{"two-plans", func(n int64) core.Limit { return core.PerSecond(1_000_000_000 - n%2) }},
		{"distinct-each-request", func(n int64) core.Limit { return core.PerSecond(1_000_000_000 - n) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := memstore.New()
			defer s.Close()
			l, _ := core.NewLimiter(s, core.PerSecond(1_000_000_000), core.WithName("per-ip"))
			var n int64
			g, err := httplimit.New(l, httplimit.WithKeyFunc(anyKey), httplimit.WithLimitFunc(l, func(*http.Request) (core.Limit, error) {
				n++
				return tc.fn(n), nil
			}))
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			h := http.Header{}
			w := &headerOnly{h}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				clear(h)
				if g.Serve(w, r, "") != httplimit.Proceed {
					b.Fatal("not admitted")
				}
			}
		})
	}
}

type headerOnly struct{ h http.Header }

func (w *headerOnly) Header() http.Header         { return w.h }
func (w *headerOnly) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerOnly) WriteHeader(int)             {}
