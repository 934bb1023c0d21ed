// Package adaptertest is the test table every tollgate router adapter runs
// against itself, in the spirit of core/storetest: the same requests,
// through a real httptest.Server and http.Client, must get the same
// statuses, fields and bodies from chi, gin, echo or any other adapter.
//
// An adapter's test calls Run (chimw's own test does exactly this):
//
//	func chiRouter(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error) {
//		r := chi.NewRouter()
//		if l != nil {
//			mw, err := chimw.New(l, opts...)
//			if err != nil {
//				return nil, err
//			}
//			r.Use(mw)
//		}
//		r.Method(http.MethodGet, "/hello", ep)
//		r.Method(http.MethodGet, "/healthz", ep)
//		r.Method(http.MethodGet, "/users/{id}", ep)
//		return r, nil
//	}
//
//	func TestAdapterTable(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Adapter{
//			Name:   "chi",
//			Router: chiRouter,
//			Store: func(c core.Clock) core.Store {
//				s, err := memstore.New(memstore.WithClock(c))
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s // Run closes it
//			},
//		})
//	}
//
// An adapter with framework-native hooks (a skip, deny or error hook on
// its own context type) sets Native as well; one with a form that panics
// on a bad configuration sets Must.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Adapter describes the adapter under test. The zero Adapter is not
// usable: Run fails the test unless Router and Store are set.
type Adapter struct {
	// Name names the adapter in failures.
	Name string
	// Router returns a router with the adapter's middleware, made by its full
	// constructor from l and opts, applied to every route (the router's own
	// form of "use this middleware"), in front of these routes, each served
	// by ep:
	//
	//	GET /hello
	//	GET /users/{id}   (in the router's own pattern syntax)
	//	GET /healthz
	//
	// Router(ep, nil) returns the same router without the middleware (for
	// Benchmark).
	//
	// The middleware must use the adapter's default key func (the client
	// IP) unless opts set one, and read the route pattern from the router.
	Router func(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) (http.Handler, error)
	// Store returns a fresh store reading clock. Run closes it.
	Store func(clock core.Clock) core.Store

	// Native, if set, returns the router Router returns with the
	// framework-native forms of h set as well, through the adapter's own
	// options or config fields (ginmw.WithGinSkip, echomw.WithSkipper,
	// echomw.Config.Skipper, ...). Each hook of h reads the route pattern
	// the framework's context gives it (c.FullPath(), c.Path()), and the
	// deny and error hooks' answers are written through the framework
	// (c.String). Nil for an adapter whose framework is net/http, whose
	// hooks are httplimit's own; the cases of native hooks are then
	// skipped.
	Native func(ep http.Handler, l *core.Limiter, h Hooks, opts ...httplimit.Option) (http.Handler, error)
	// Must, if set, is Router through the adapter's form that panics on a
	// bad configuration instead of returning an error (echomw.WithConfig).
	// The table checks that it serves as Router does, and that a nil
	// limiter panics with a message naming MustField.
	Must func(ep http.Handler, l *core.Limiter, opts ...httplimit.Option) http.Handler
	// MustField is the field a nil limiter's panic must name
	// ("Config.Limiter"); required with Must.
	MustField string
}

// Hooks are the framework-native hooks a case asks Native for, in terms
// every framework shares. A nil hook is not set. The zero Hooks sets none.
type Hooks struct {
	// Skip says whether to let a request through untouched, from its route
	// pattern.
	Skip func(route string) bool
	// Deny answers a denied request: the adapter writes status and body
	// through its framework, with Content-Type text/plain; charset=utf-8.
	Deny func(route string, d core.Decision) (status int, body string)
	// Error answers a request that could not be decided, as Deny does.
	Error func(route string, err error) (status int, body string)
}

// start is the instant every case begins at.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the table against a.
func Run(t *testing.T, a Adapter) {
	t.Helper()
	if a.Router == nil || a.Store == nil {
		t.Fatal("adaptertest: Adapter needs Router and Store")
	}
	if a.Must != nil && a.MustField == "" {
		t.Fatal("adaptertest: Adapter.Must needs MustField")
	}
	for _, c := range cases {
		// A case for a capability the adapter does not have (framework-
		// native hooks, a panicking form) does not apply to it: it is not
		// run, rather than run and skipped.
		if c.needs == needsNative && a.Native == nil || c.needs == needsMust && a.Must == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, &harness{a: a})
		})
	}
}

type harness struct{ a Adapter }

// env is one running server and what it is made of.
type env struct {
	t     *testing.T
	clock *core.ManualClock
	store core.Store
	srv   *httptest.Server
	ran   atomic.Int64 // calls of the endpoint handler
}

func (h *harness) env(t *testing.T) *env {
	e := &env{t: t, clock: core.NewManualClock(start)}
	e.store = h.a.Store(e.clock)
	t.Cleanup(func() { _ = e.store.Close() })
	return e
}

func (e *env) limiter(l core.Limit, opts ...core.Option) *core.Limiter {
	e.t.Helper()
	lim, err := core.NewLimiter(e.store, l, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return lim
}

// serve starts the adapter's router with l and opts behind a real server.
func (h *harness) serve(e *env, l *core.Limiter, opts ...httplimit.Option) *env {
	e.t.Helper()
	router, err := h.a.Router(e.endpoint(), l, opts...)
	if err != nil {
		e.t.Fatalf("%s: Router: %v", h.a.Name, err)
	}
	return e.start(router)
}

// serveNative is serve through Native, with hooks (Run runs the cases
// that call it only for an adapter with Native).
func (h *harness) serveNative(e *env, l *core.Limiter, hooks Hooks, opts ...httplimit.Option) *env {
	e.t.Helper()
	router, err := h.a.Native(e.endpoint(), l, hooks, opts...)
	if err != nil {
		e.t.Fatalf("%s: Native: %v", h.a.Name, err)
	}
	return e.start(router)
}

// endpoint is the handler of every route: it counts its calls.
func (e *env) endpoint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.ran.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ran "+r.URL.Path+"\n")
	})
}

// start serves router behind a real server.
func (e *env) start(router http.Handler) *env {
	e.srv = httptest.NewServer(router)
	e.t.Cleanup(e.srv.Close)
	return e
}

// response is what the table compares: the status, the body and the fields
// tollgate owns.
type response struct {
	status int
	body   string
	fields map[string]string
}

// owned are the response fields the table checks, present or absent.
var owned = []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Ratelimit-Policy", "Ratelimit", "Retry-After"}

func (e *env) get(path string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	// Every answer is framed by its length, which net/http sets for a short
	// body written at once; the default handlers' answers are nosniff.
	if res.ContentLength != int64(len(body)) {
		e.t.Fatalf("GET %s: %d with Content-Length %d and a body of %d bytes", path, res.StatusCode, res.ContentLength, len(body))
	}
	defaults := res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusBadRequest
	if v := res.Header.Get("X-Content-Type-Options"); defaults && v != "nosniff" {
		e.t.Fatalf("GET %s: %d with X-Content-Type-Options %q, want nosniff", path, res.StatusCode, v)
	}
	out := response{status: res.StatusCode, body: string(body), fields: map[string]string{}}
	for _, k := range owned {
		if vs := res.Header[k]; len(vs) > 0 {
			out.fields[k] = strings.Join(vs, "|")
		}
	}
	if ct := res.Header.Get("Content-Type"); ct != "" {
		out.fields["Content-Type"] = ct
	}
	return out
}

// expect checks a response against the wanted status, body and fields. A
// field absent from want must be absent from the response (of owned and
// Content-Type); body "" is not checked.
func (e *env) expect(what string, got response, status int, body string, want map[string]string) {
	e.t.Helper()
	if got.status != status {
		e.t.Errorf("%s: status %d, want %d (body %q)", what, got.status, status, got.body)
	}
	if body != "" && got.body != body {
		e.t.Errorf("%s: body\n  %q\nwant\n  %q", what, got.body, body)
	}
	for _, k := range append(owned, "Content-Type") {
		g, gok := got.fields[k]
		w, wok := want[k]
		switch {
		case wok && (!gok || g != w):
			e.t.Errorf("%s: %s: %q (present %v), want %q", what, k, g, gok, w)
		case !wok && gok && k != "Content-Type":
			e.t.Errorf("%s: %s: %q, want it absent", what, k, g)
		}
	}
}

const (
	textCT    = "text/plain; charset=utf-8"
	problemCT = "application/problem+json"
)

func fields(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// allowedFields are the fields of an admitted text response under the one
// policy name with quota q per minute.
func allowedFields(name, q, rem, reset string) map[string]string {
	return fields("Content-Type", textCT,
		"X-Ratelimit-Limit", q, "X-Ratelimit-Remaining", rem, "X-Ratelimit-Reset", reset,
		"Ratelimit-Policy", `"`+name+`";q=`+q+`;w=60`, "Ratelimit", `"`+name+`";r=`+rem+`;t=`+reset)
}

// allowed3 are the fields after the n-th request (1..3) of a fresh key under
// per-ip 3/m (GCRA: one request every 20s, burst 3).
func allowed3(n int) map[string]string {
	return allowedFields("per-ip", "3", fmt.Sprint(3-n), fmt.Sprint(20*n))
}

// denied3 are the fields of the fourth request.
func denied3(ct string) map[string]string {
	return fields("Content-Type", ct,
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=20`, "Retry-After", "20")
}

const (
	deniedText = "Too Many Requests: quota exceeded; retry after 20 seconds.\n"
	deniedJSON = `{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Quota Exceeded","status":429,"detail":"Quota exceeded; retry after 20 seconds.","violated-policies":["per-ip"]}` + "\n"
	noKeyText  = "Bad Request: The request does not identify a client for rate limiting.\n"
	noKeyJSON  = `{"type":"about:blank","title":"Bad Request","status":400,"detail":"The request does not identify a client for rate limiting."}` + "\n"
	downText   = "Service Unavailable: The rate limiter is unavailable; retry later.\n"
)

// clientKey keys by the X-Client header, so one test server can stand for
// many clients; a request without it cannot be keyed.
func clientKey(r *http.Request) (string, error) {
	if v := r.Header.Get("X-Client"); v != "" {
		return v, nil
	}
	return "", errors.New("no X-Client header")
}

type tcase struct {
	name  string
	run   func(t *testing.T, h *harness)
	needs capability // what the adapter must offer for the case to apply
}

type capability uint8

const (
	needsNothing capability = iota
	needsNative             // Adapter.Native: framework-native hooks
	needsMust               // Adapter.Must: a form that panics
)

var cases = []tcase{
	{"the quota is admitted, then 429 with exact fields and a text body", quotaThenDeny, needsNothing},
	{"a client preferring JSON gets the quota-exceeded problem", jsonDeny, needsNothing},
	{"the route pattern is one bucket per client", routeBuckets, needsNothing},
	{"skipped requests pass without a decision or fields", skip, needsNothing},
	{"a custom deny handler and deny status replace the answer", customDeny, needsNothing},
	{"a key func error is answered 400, never a shared bucket", keyError, needsNothing},
	{"a custom error handler answers key errors", customError, needsNothing},
	{"a failed store under fail-open lets requests through without fields", failOpen, needsNothing},
	{"a failed store under fail-closed answers 503 with Retry-After", failClosed, needsNothing},
	{"32 concurrent clients on one key get exactly the quota", concurrent, needsNothing},
	{"several limits: all must allow, fields describe the closest", severalLimits, needsNothing},
	{"a shadow limit decides and reports but never denies", shadowLimit, needsNothing},
	{"header families can be switched and Reset sent as Unix time", headerFamilies, needsNothing},
	{"Retry-After is whole seconds rounded up, never 0", retryRoundsUp, needsNothing},
	{"odd requests get a deliberate answer, never a panic", oddRequests, needsNothing},
	{"the framework's own skip sees the route pattern and lets it through", nativeSkip, needsNative},
	{"the framework's own deny handler answers, the fields already set", nativeDeny, needsNative},
	{"the framework's own error handler answers a request without a key", nativeError, needsNative},
	{"a net/http and a framework handler for the same answer are refused", nativeConflict, needsNative},
	{"the panicking form serves alike and panics naming the field at fault", mustForm, needsMust},
}

func quotaThenDeny(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(3), core.WithName("per-ip")))
	for n := 1; n <= 3; n++ {
		e.expect(fmt.Sprintf("request %d", n), e.get("/hello"), 200, "ran /hello\n", allowed3(n))
	}
	e.expect("request 4", e.get("/hello"), 429, deniedText, denied3(textCT))
	e.expect("request 5, Accept */*", e.get("/hello", "Accept", "*/*"), 429, deniedText, denied3(textCT))
	if n := e.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3: it must not run on a denial", n)
	}
	// Twenty seconds on, one request's worth has come back.
	e.clock.Advance(20 * time.Second)
	e.expect("after Retry-After", e.get("/hello"), 200, "ran /hello\n", allowed3(3))
}

func jsonDeny(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(3), core.WithName("per-ip")))
	for n := 1; n <= 3; n++ {
		e.get("/hello")
	}
	for _, accept := range []string{"application/json", "application/problem+json", "text/html;q=0.5, application/json"} {
		e.expect("Accept: "+accept, e.get("/hello", "Accept", accept), 429, deniedJSON, denied3(problemCT))
	}
	e.expect("Accept: application/json;q=0, text/plain", e.get("/hello", "Accept", "application/json;q=0, text/plain"), 429, deniedText, denied3(textCT))
}

func routeBuckets(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(2), core.WithName("per-route")), httplimit.WithRouteKey())
	e.expect("/users/1", e.get("/users/1"), 200, "ran /users/1\n", allowedFields("per-route", "2", "1", "30"))
	e.expect("/users/2 shares the bucket", e.get("/users/2"), 200, "ran /users/2\n", allowedFields("per-route", "2", "0", "60"))
	got := e.get("/users/3")
	if got.status != 429 || got.fields["Ratelimit"] != `"per-route";r=0;t=30` {
		t.Errorf("/users/3, third on the route: status %d RateLimit %q, want 429 and r=0;t=30", got.status, got.fields["Ratelimit"])
	}
	if got := e.get("/hello"); got.status != 200 || got.fields["X-Ratelimit-Remaining"] != "1" {
		t.Errorf("/hello, another route: status %d Remaining %q, want 200 and 1", got.status, got.fields["X-Ratelimit-Remaining"])
	}
	// Unmatched paths share one bucket per client, so random paths mint no keys.
	for i, want := range []string{"1", "0"} {
		got := e.get(fmt.Sprintf("/no/such/path/%d", i))
		if got.status != 404 || got.fields["X-Ratelimit-Remaining"] != want {
			t.Errorf("unmatched path %d: status %d Remaining %q, want 404 and %s", i, got.status, got.fields["X-Ratelimit-Remaining"], want)
		}
	}
	if got := e.get("/no/such/path/2"); got.status != 429 {
		t.Errorf("third unmatched path: status %d, want 429", got.status)
	}
}

func skip(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		httplimit.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))
	for i := 0; i < 5; i++ {
		e.expect("/healthz", e.get("/healthz"), 200, "ran /healthz\n", fields("Content-Type", textCT))
	}
	if got := e.get("/hello"); got.status != 200 || got.fields["X-Ratelimit-Remaining"] != "0" {
		t.Errorf("/hello after five skipped requests: status %d Remaining %q, want 200 and 0 (skips must not count)", got.status, got.fields["X-Ratelimit-Remaining"])
	}
}

func customDeny(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		httplimit.WithDenyHandler(func(w http.ResponseWriter, r *http.Request, d core.Decision) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprintf(w, "slow down: %s, %s\n", d.Name, w.Header().Get("Retry-After"))
		}))
	e.get("/hello")
	got := e.get("/hello")
	e.expect("custom deny", got, http.StatusTeapot, "slow down: per-ip, 60\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "1", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=1;w=60`, "Ratelimit", `"per-ip";r=0;t=60`, "Retry-After", "60"))

	e2 := h.env(t)
	h.serve(e2, e2.limiter(core.PerMinute(1), core.WithName("per-ip")), httplimit.WithDenyStatus(http.StatusServiceUnavailable))
	e2.get("/hello")
	got = e2.get("/hello")
	if got.status != 503 || got.body != "Service Unavailable: quota exceeded; retry after 60 seconds.\n" {
		t.Errorf("WithDenyStatus(503): %d %q", got.status, got.body)
	}
}

func keyError(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(1), core.WithName("per-client")), httplimit.WithKeyFunc(clientKey))
	for i := 0; i < 3; i++ {
		e.expect("no X-Client", e.get("/hello"), 400, noKeyText, fields("Content-Type", textCT))
	}
	e.expect("no X-Client, JSON", e.get("/hello", "Accept", "application/json"), 400, noKeyJSON, fields("Content-Type", problemCT))
	if n := e.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times for unkeyed requests, want 0", n)
	}
	// The unkeyed requests counted nowhere: each client still has its quota.
	for _, c := range []string{"a", "b"} {
		if got := e.get("/hello", "X-Client", c); got.status != 200 {
			t.Errorf("client %s after unkeyed requests: status %d, want 200", c, got.status)
		}
	}
}

func customError(t *testing.T, h *harness) {
	e := h.env(t)
	var seen atomic.Value
	h.serve(e, e.limiter(core.PerMinute(1)), httplimit.WithKeyFunc(clientKey),
		httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			seen.Store(err)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "who are you?\n")
		}))
	got := e.get("/hello")
	if got.status != 401 || got.body != "who are you?\n" {
		t.Errorf("custom error handler: %d %q, want 401 \"who are you?\\n\"", got.status, got.body)
	}
	if err, _ := seen.Load().(error); !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("error passed to the handler: %v, want one wrapping keyfuncs.ErrNoKey", err)
	}
}

func failOpen(t *testing.T, h *harness) {
	e := h.env(t)
	l := e.limiter(core.PerMinute(1), core.WithName("per-ip"), core.WithFailOpen())
	h.serve(e, l)
	_ = e.store.Close() // a closed store fails every Take: a real failure, not a fake
	for i := 0; i < 3; i++ {
		e.expect("store down, fail open", e.get("/hello"), 200, "ran /hello\n", fields("Content-Type", textCT))
	}
}

func failClosed(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(100), core.WithName("per-ip"), core.WithFailClosed()))
	_ = e.store.Close()
	e.expect("store down, fail closed", e.get("/hello"), 503, downText, fields("Content-Type", textCT, "Retry-After", "1"))
	e.expect("store down, fail closed, JSON", e.get("/hello", "Accept", "application/json"), 503,
		`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"The rate limiter is unavailable; retry later."}`+"\n",
		fields("Content-Type", problemCT, "Retry-After", "1"))
	if n := e.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times with the store down under fail-closed, want 0", n)
	}
}

func fallback(t *testing.T, h *harness) {
	e := h.env(t)
	local := h.a.Store(e.clock)
	t.Cleanup(func() { _ = local.Close() })
	// The primary is shared by 2 instances: each falls back to half of 4/m.
	h.serve(e, e.limiter(core.PerMinute(4), core.WithName("per-ip"), core.WithFallback(local, 2)))
	_ = e.store.Close()
	e.expect("first, decided by the fallback", e.get("/hello"), 200, "ran /hello\n", allowedFields("per-ip", "2", "1", "30"))
	e.expect("second", e.get("/hello"), 200, "ran /hello\n", allowedFields("per-ip", "2", "0", "60"))
	got := e.get("/hello")
	if got.status != 429 || got.fields["Retry-After"] != "30" {
		t.Errorf("third, over the fallback's 2/m: status %d Retry-After %q, want 429 and 30", got.status, got.fields["Retry-After"])
	}
}

func concurrent(t *testing.T, h *harness) {
	e := h.env(t)
	const quota, clients, each = 100, 32, 8
	h.serve(e, e.limiter(core.PerHour(quota), core.WithName("per-ip")))
	e.srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, e.srv.URL+"/hello", nil)
				res, err := e.srv.Client().Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != quota || limited.Load() != clients*each-quota || other.Load() != 0 {
		t.Errorf("%d clients × %d requests: %d admitted, %d limited, %d other; want exactly %d, %d, 0",
			clients, each, ok.Load(), limited.Load(), other.Load(), quota, clients*each-quota)
	}
	if n := e.ran.Load(); n != quota {
		t.Errorf("the handler ran %d times, want %d", n, quota)
	}
}

func severalLimits(t *testing.T, h *harness) {
	e := h.env(t)
	perIP := e.limiter(core.PerMinute(10), core.WithName("per-ip"))
	perClient := e.limiter(core.PerMinute(3), core.WithName("per-client"))
	h.serve(e, perIP, httplimit.WithLimit(perClient, clientKey))
	policy := `"per-ip";q=10;w=60, "per-client";q=3;w=60`
	e.expect("first", e.get("/hello", "X-Client", "a"), 200, "ran /hello\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "2", "X-Ratelimit-Reset", "20",
		"Ratelimit-Policy", policy, "Ratelimit", `"per-ip";r=9;t=6, "per-client";r=2;t=20`))
	e.get("/hello", "X-Client", "a")
	e.get("/hello", "X-Client", "a")
	// Denied by per-client, the request takes nothing from per-ip either:
	// its entry in RateLimit shows per-ip as it stays (7 left).
	e.expect("fourth for client a", e.get("/hello", "X-Client", "a"), 429, "", fields(
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", policy, "Ratelimit", `"per-ip";r=7;t=18, "per-client";r=0;t=20`, "Retry-After", "20"))
	// Clients b, c and d from the same IP: per-client is fresh for each;
	// per-ip had 7 left, so d's request leaves it 1, fewer than d's 2, and
	// the X- fields describe per-ip.
	for i := 0; i < 3; i++ {
		e.get("/hello", "X-Client", "b")
	}
	for i := 0; i < 2; i++ {
		e.get("/hello", "X-Client", "c")
	}
	got := e.get("/hello", "X-Client", "d")
	if got.status != 200 || got.fields["X-Ratelimit-Limit"] != "10" || got.fields["X-Ratelimit-Remaining"] != "1" {
		t.Errorf("client d: status %d, X- fields describe limit %q remaining %q; want 200, the per-ip limit 10 with 1 left",
			got.status, got.fields["X-Ratelimit-Limit"], got.fields["X-Ratelimit-Remaining"])
	}
	// Now per-ip has 1 left and client e's two requests: the second is
	// denied by per-ip alone, and takes nothing from per-client.
	e.get("/hello", "X-Client", "e")
	e.expect("second for client e", e.get("/hello", "X-Client", "e"), 429, "", fields(
		"X-Ratelimit-Limit", "10", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", policy, "Ratelimit", `"per-ip";r=0;t=6, "per-client";r=2;t=20`, "Retry-After", "6"))
	// A request per-client cannot key is refused before any limit counts it.
	if got := e.get("/hello"); got.status != 400 {
		t.Errorf("no X-Client: status %d, want 400", got.status)
	}
}

func shadowLimit(t *testing.T, h *harness) {
	e := h.env(t)
	var mu sync.Mutex
	reasons := map[core.Reason]int{}
	perIP := e.limiter(core.PerMinute(3), core.WithName("per-ip"))
	strict := e.limiter(core.PerMinute(1), core.WithName("per-ip-strict"), core.WithShadow(),
		core.WithHook(func(_ context.Context, ev core.Event) {
			mu.Lock()
			reasons[ev.Decision.Reason]++
			mu.Unlock()
		}))
	// The shadow limit is keyed by a header, and sits out the requests
	// without it rather than failing them.
	h.serve(e, perIP, httplimit.WithLimit(strict, clientKey))
	e.expect("first", e.get("/hello", "X-Client", "a"), 200, "ran /hello\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "2", "X-Ratelimit-Reset", "20",
		"Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=2;t=20`))
	e.expect("second: the shadow limit would deny", e.get("/hello", "X-Client", "a"), 200, "ran /hello\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "1", "X-Ratelimit-Reset", "40",
		"Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=1;t=40`))
	e.expect("third, without the shadow limit's key", e.get("/hello"), 200, "ran /hello\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=60`))
	// The enforced limit still denies, and the shadow limit is not why.
	e.expect("fourth", e.get("/hello", "X-Client", "a"), 429, "", fields(
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=20`, "Retry-After", "20"))
	mu.Lock()
	defer mu.Unlock()
	if reasons[core.ReasonOK] != 1 || reasons[core.ReasonShadow] != 2 || len(reasons) != 2 {
		t.Errorf("the shadow limit's hook saw %v, want 1 ok and 2 shadow-denied (the keyless request sat out)", reasons)
	}
	if e.ran.Load() != 3 {
		t.Errorf("the handler ran %d times, want 3", e.ran.Load())
	}
}

func headerFamilies(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerMinute(3), core.WithName("per-ip")), httplimit.WithHeaders(httplimit.HeadersIETF))
	e.expect("IETF only", e.get("/hello"), 200, "", fields("Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=2;t=20`))

	e2 := h.env(t)
	e2.clock.Set(start.Add(500 * time.Millisecond))
	h.serve(e2, e2.limiter(core.PerMinute(3), core.WithName("per-ip")),
		httplimit.WithHeaders(httplimit.HeadersX), httplimit.WithResetUnix(), httplimit.WithClock(e2.clock))
	reset := fmt.Sprint(start.Unix() + 21) // 20.5s on, rounded up
	e2.expect("X only, Unix reset", e2.get("/hello"), 200, "", fields(
		"X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "2", "X-Ratelimit-Reset", reset))

	e3 := h.env(t)
	h.serve(e3, e3.limiter(core.PerMinute(1), core.WithName("per-ip")), httplimit.WithHeaders(httplimit.HeadersNone))
	e3.expect("none", e3.get("/hello"), 200, "", nil)
	e3.expect("none, denied: Retry-After still", e3.get("/hello"), 429, "", fields("Retry-After", "60"))
}

func retryRoundsUp(t *testing.T, h *harness) {
	e := h.env(t)
	h.serve(e, e.limiter(core.PerSecond(10), core.WithName("per-ip")))
	for i := 0; i < 10; i++ {
		e.get("/hello")
	}
	e.expect("100ms wait", e.get("/hello"), 429, "", fields("X-Ratelimit-Limit", "10", "X-Ratelimit-Remaining", "0",
		"X-Ratelimit-Reset", "1", "Ratelimit-Policy", `"per-ip";q=10;w=1`, "Ratelimit", `"per-ip";r=0;t=1`, "Retry-After", "1"))
	e.clock.Advance(99 * time.Millisecond)
	if got := e.get("/hello"); got.status != 429 || got.fields["Retry-After"] != "1" {
		t.Errorf("1ms before the retry: %d Retry-After %q, want 429 and 1", got.status, got.fields["Retry-After"])
	}
	e.clock.Advance(time.Millisecond)
	if got := e.get("/hello"); got.status != 200 {
		t.Errorf("at the retry: %d, want 200", got.status)
	}

	// Waits of a fraction of a second more than whole seconds.
	e2 := h.env(t)
	h.serve(e2, e2.limiter(core.PerMinute(3), core.WithName("per-ip")))
	for i := 0; i < 3; i++ {
		e2.get("/hello")
	}
	e2.clock.Advance(2500 * time.Millisecond) // 17.5s to wait, 57.5s to whole
	e2.expect("17.5s to wait", e2.get("/hello"), 429, "", fields("X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0",
		"X-Ratelimit-Reset", "58", "Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=18`, "Retry-After", "18"))
	e2.clock.Advance(17500 * time.Millisecond)
	e2.expect("at the retry", e2.get("/hello"), 200, "", fields("X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0",
		"X-Ratelimit-Reset", "60", "Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=60`))
	e2.clock.Advance(5500 * time.Millisecond)
	e2.expect("14.5s to the next", e2.get("/hello"), 429, "", fields("X-Ratelimit-Limit", "3", "X-Ratelimit-Remaining", "0",
		"X-Ratelimit-Reset", "55", "Ratelimit-Policy", `"per-ip";q=3;w=60`, "Ratelimit", `"per-ip";r=0;t=15`, "Retry-After", "15"))
}

// oddRequests drives the router directly, since a real client cannot send
// these requests.
func oddRequests(t *testing.T, h *harness) {
	e := h.env(t)
	ep := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.ran.Add(1) })
	router, err := h.a.Router(ep, e.limiter(core.PerMinute(100), core.WithName("per-ip")))
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 1<<16)
	reqs := []struct {
		name, remote, target string
		header               [2]string
		status               int
	}{
		{"no remote address", "", "/hello", [2]string{}, 400},
		{"garbage remote address", "not an address", "/hello", [2]string{}, 400},
		{"IPv6 with a zone", "[fe80::1%eth0]:1234", "/hello", [2]string{}, 200},
		{"IPv4-mapped IPv6", "[::ffff:10.0.0.1]:1234", "/hello", [2]string{}, 200},
		{"huge forwarded header", "10.0.0.2:1234", "/hello", [2]string{"X-Forwarded-For", huge}, 200},
		{"huge path", "10.0.0.3:1234", "/" + huge, [2]string{}, 404},
	}
	for _, rq := range reqs {
		r := httptest.NewRequest(http.MethodGet, rq.target, nil)
		r.RemoteAddr = rq.remote
		if rq.header[0] != "" {
			r.Header.Set(rq.header[0], rq.header[1])
		}
		w := httptest.NewRecorder()
		router.ServeHTTP(w, r)
		if w.Code != rq.status {
			t.Errorf("%s: status %d, want %d", rq.name, w.Code, rq.status)
		}
	}
	// An empty URL path, as a hand-built request may carry.
	r := httptest.NewRequest(http.MethodGet, "/hello", nil)
	r.URL.Path, r.RequestURI = "", ""
	w := httptest.NewRecorder()
	router.ServeHTTP(w, r) // any answer, but no panic
	if w.Code == 0 {
		t.Error("empty path: no status written")
	}
}

// usersRoute reports whether route is the pattern of GET /users/{id}, in
// either syntax: a hook that sees it was given the pattern, not the path.
func usersRoute(route string) bool { return route == "/users/{id}" || route == "/users/:id" }

func nativeSkip(t *testing.T, h *harness) {
	e := h.env(t)
	var mu sync.Mutex
	seen := map[string]int{}
	h.serveNative(e, e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		Hooks{Skip: func(route string) bool {
			mu.Lock()
			seen[route]++
			mu.Unlock()
			return usersRoute(route)
		}},
		httplimit.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))
	for i := 1; i <= 3; i++ {
		path := fmt.Sprintf("/users/%d", i)
		e.expect(path+", skipped by the framework's hook", e.get(path), 200, "ran "+path+"\n", fields("Content-Type", textCT))
	}
	e.expect("/healthz, skipped by httplimit.WithSkip beside it", e.get("/healthz"), 200, "ran /healthz\n", fields("Content-Type", textCT))
	e.expect("/hello, the first request counted", e.get("/hello"), 200, "ran /hello\n", allowedFields("per-ip", "1", "0", "60"))
	if got := e.get("/hello"); got.status != 429 {
		t.Errorf("/hello again: status %d, want 429 (the skipped requests must not count, the others must)", got.status)
	}
	mu.Lock()
	defer mu.Unlock()
	users := 0
	for route, n := range seen {
		if usersRoute(route) {
			users += n
		}
	}
	if users != 3 {
		t.Errorf("the skip hook saw the users route's pattern %d times, want 3; it saw %v", users, seen)
	}
}

func nativeDeny(t *testing.T, h *harness) {
	e := h.env(t)
	var route atomic.Value
	h.serveNative(e, e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		Hooks{Deny: func(rt string, d core.Decision) (int, string) {
			route.Store(rt)
			return http.StatusTeapot, fmt.Sprintf("slow down: allowed %v, retry in %v\n", d.Allowed, d.RetryAfter)
		}})
	e.expect("first", e.get("/users/1"), 200, "ran /users/1\n", allowedFields("per-ip", "1", "0", "60"))
	e.expect("second, denied", e.get("/users/2"), http.StatusTeapot, "slow down: allowed false, retry in 1m0s\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "1", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=1;w=60`, "Ratelimit", `"per-ip";r=0;t=60`, "Retry-After", "60"))
	if n := e.ran.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want 1: it must not run on a denial", n)
	}
	if rt, _ := route.Load().(string); !usersRoute(rt) {
		t.Errorf("the deny hook saw route %q, want the users route's pattern", rt)
	}
}

func nativeError(t *testing.T, h *harness) {
	who := Hooks{Error: func(route string, err error) (int, string) {
		if !usersRoute(route) {
			return http.StatusInternalServerError, "the error hook saw route " + route + "\n"
		}
		return http.StatusUnauthorized, "who are you?\n"
	}}
	e := h.env(t)
	h.serveNative(e, e.limiter(core.PerMinute(1), core.WithName("per-client")), who, httplimit.WithKeyFunc(clientKey))
	e.expect("no X-Client", e.get("/users/1"), 401, "who are you?\n", fields("Content-Type", textCT))
	e.expect("X-Client a", e.get("/users/1", "X-Client", "a"), 200, "ran /users/1\n", allowedFields("per-client", "1", "0", "60"))

	// A fail-closed store failure reaches the hook with Retry-After set.
	e2 := h.env(t)
	down := Hooks{Error: func(route string, err error) (int, string) {
		return http.StatusBadGateway, fmt.Sprintf("down: store error %v\n", errors.Is(err, core.ErrStore))
	}}
	h.serveNative(e2, e2.limiter(core.PerMinute(100), core.WithName("per-ip"), core.WithFailClosed()), down)
	_ = e2.store.Close()
	e2.expect("store down, fail closed", e2.get("/users/1"), 502, "down: store error true\n", fields("Content-Type", textCT, "Retry-After", "1"))
	if n := e.ran.Load() + e2.ran.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want 1: only for the keyed request", n)
	}
}

func nativeConflict(t *testing.T, h *harness) {
	e := h.env(t)
	l := e.limiter(core.PerMinute(1))
	_, err := h.a.Native(e.endpoint(), l,
		Hooks{Deny: func(string, core.Decision) (int, string) { return http.StatusTeapot, "" }},
		httplimit.WithDenyHandler(func(http.ResponseWriter, *http.Request, core.Decision) {}))
	if err == nil || !strings.Contains(err.Error(), "WithDenyHandler") {
		t.Errorf("a framework deny hook with httplimit.WithDenyHandler: error %v, want one naming WithDenyHandler", err)
	}
	_, err = h.a.Native(e.endpoint(), l,
		Hooks{Error: func(string, error) (int, string) { return http.StatusTeapot, "" }},
		httplimit.WithErrorHandler(func(http.ResponseWriter, *http.Request, error) {}))
	if err == nil || !strings.Contains(err.Error(), "WithErrorHandler") {
		t.Errorf("a framework error hook with httplimit.WithErrorHandler: error %v, want one naming WithErrorHandler", err)
	}
}

func mustForm(t *testing.T, h *harness) {
	e := h.env(t)
	e.start(h.a.Must(e.endpoint(), e.limiter(core.PerMinute(1), core.WithName("per-ip")), httplimit.WithRouteKey()))
	e.expect("/users/1", e.get("/users/1"), 200, "ran /users/1\n", allowedFields("per-ip", "1", "0", "60"))
	e.expect("/users/2, the same route", e.get("/users/2"), 429, "Too Many Requests: quota exceeded; retry after 60 seconds.\n", fields("Content-Type", textCT,
		"X-Ratelimit-Limit", "1", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "60",
		"Ratelimit-Policy", `"per-ip";q=1;w=60`, "Ratelimit", `"per-ip";r=0;t=60`, "Retry-After", "60"))

	panicOf := func(l *core.Limiter, opts ...httplimit.Option) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		h.a.Must(e.endpoint(), l, opts...)
		return ""
	}
	if msg := panicOf(nil); !strings.Contains(msg, h.a.MustField) {
		t.Errorf("a nil limiter: panic %q, want one naming %s", msg, h.a.MustField)
	}
	if msg := panicOf(e.limiter(core.PerMinute(1)), httplimit.WithDenyStatus(200)); !strings.Contains(msg, "WithDenyStatus") {
		t.Errorf("WithDenyStatus(200): panic %q, want one naming WithDenyStatus", msg)
	}
}
