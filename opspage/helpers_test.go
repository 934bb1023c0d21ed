package opspage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// operatorToken is what an operator's requests carry, in X-Operator.
const operatorToken = "let-me-in"

func isOperator(r *http.Request) bool { return r.Header.Get("X-Operator") == operatorToken }

// opsRules are the rules of the fixture: a login rule that boxes a client
// after two denials, a tenants rule with a rate and a concurrency limit,
// and a deny list (whose values must never be shown).
func opsRules() rules.Config {
	return rules.Config{
		Deny: rules.List{CIDRs: []string{"192.0.2.0/24"}, Keys: []rules.KeyValues{{Key: "header:X-Api-Key", Values: []string{"revoked-key-1", "revoked-key-2"}}}},
		Rules: []rules.Rule{
			{Name: "login", Match: rules.Match{PathPrefixes: []string{"/login"}}, Penalty: &core.Penalty{Denials: 2, Within: time.Hour, For: time.Hour},
				Limits: []rules.NamedLimit{{Name: "login-ip", Limit: core.PerHour(1), Key: "ip"}}},
			{Name: "tenants", Match: rules.Match{PathPrefixes: []string{"/tenant/"}, Headers: []rules.HeaderMatch{{Name: "X-Internal", Equals: "shared-secret"}}},
				Limits: []rules.NamedLimit{
					{Name: "tenant", Limit: core.PerHour(2), Key: "header:X-Tenant"},
					{Name: "uploads", Concurrent: 2, Key: "ip"},
				}},
		},
	}
}

// fixture is an application with the page mounted at /debug/tollgate: a
// limiter "api" of 3 an hour keyed by X-Client at /go, and the rules at
// /login and /tenant/, its clients named by X-Forwarded-For (the test's
// client is a trusted proxy). Every part is real: the store, the HTTP
// server and client.
type fixture struct {
	t      *testing.T
	page   *opspage.Page
	view   *opspage.StoreView
	api    *core.Limiter
	engine *rules.Engine
	srv    *httptest.Server
}

func newFixture(t *testing.T, store core.Store, opts ...opspage.Option) *fixture {
	t.Helper()
	page, err := opspage.New(append([]opspage.Option{opspage.WithAuthorize(isOperator)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	view, err := page.Store("main", store)
	if err != nil {
		t.Fatal(err)
	}
	api, err := core.NewLimiter(store, core.PerHour(3), view.Options("api")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := page.Limiters(api); err != nil {
		t.Fatal(err)
	}
	res, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := rules.New(store, opsRules(), rules.WithIPResolver(res), rules.WithLimiterOptions(view.Hooks()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := page.Rules(engine); err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/debug/tollgate", page)
	mux.Handle("/login", engine.Handler(ok))
	mux.Handle("/tenant/", engine.Handler(ok))
	mux.HandleFunc("/go", func(w http.ResponseWriter, r *http.Request) {
		d, _ := api.Take(r.Context(), r.Header.Get("X-Client"))
		switch {
		case d.Allowed:
			_, _ = io.WriteString(w, "ok")
		case d.Reason == core.ReasonFailClosed:
			http.Error(w, "store failed", http.StatusServiceUnavailable)
		default:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{t: t, page: page, view: view, api: api, engine: engine, srv: srv}
}

func memStore(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// request sends a request to the application and returns its status.
func (f *fixture) request(method, path string, header ...string) int {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// times sends n requests and returns how many got each status.
func (f *fixture) times(n int, path string, header ...string) map[int]int {
	f.t.Helper()
	out := map[int]int{}
	for i := 0; i < n; i++ {
		out[f.request("GET", path, header...)]++
	}
	return out
}

// traffic is the scripted traffic most tests start from. alice is denied 6
// times under api and bob twice; 198.51.100.7 is denied twice at /login,
// which boxes it, then answered from the box 3 times; tenant acme is denied
// once.
func (f *fixture) traffic() {
	f.t.Helper()
	for _, c := range []struct {
		n          int
		path       string
		header     []string
		ok, denied int
	}{
		{9, "/go", []string{"X-Client", "alice"}, 3, 6},
		{5, "/go", []string{"X-Client", "bob"}, 3, 2},
		{6, "/login", []string{"X-Forwarded-For", boxedIP}, 1, 5},
		{3, "/tenant/files", []string{"X-Tenant", "acme", "X-Internal", "shared-secret", "X-Forwarded-For", "198.51.100.20"}, 2, 1},
	} {
		got := f.times(c.n, c.path, c.header...)
		if got[200] != c.ok || got[429] != c.denied {
			f.t.Fatalf("%s %v: statuses %v, want %d × 200 and %d × 429", c.path, c.header, got, c.ok, c.denied)
		}
	}
}

const boxedIP = "198.51.100.7"

// page fetches the page, as an operator or not, asking for JSON by accept
// ("json": ?format=json; else the Accept header's value).
func (f *fixture) fetch(operator bool, query, accept string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+"/debug/tollgate"+query, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if operator {
		req.Header.Set("X-Operator", operatorToken)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

// snapshot is the page's JSON, as a tool reads it.
type snapshot struct {
	At       time.Time `json:"at"`
	Writable bool      `json:"writable"`
	RawKeys  bool      `json:"raw_keys"`
	Policies []struct {
		Name          string            `json:"name"`
		Rule          string            `json:"rule"`
		Limit         string            `json:"limit"`
		Algorithm     string            `json:"algorithm"`
		Rate          int64             `json:"rate"`
		PeriodSeconds float64           `json:"period_seconds"`
		Burst         int64             `json:"burst"`
		Concurrent    int64             `json:"concurrent"`
		Key           string            `json:"key"`
		Tiers         map[string]string `json:"tiers"`
		Shadow        bool              `json:"shadow"`
		OnFailure     string            `json:"on_failure"`
		Resettable    bool              `json:"resettable"`
	} `json:"policies"`
	Rules *struct {
		Mode  string `json:"mode"`
		Rules []struct {
			Name    string   `json:"name"`
			Match   string   `json:"match"`
			Limits  []string `json:"limits"`
			Penalty string   `json:"penalty"`
			Missing string   `json:"missing"`
			Skip    bool     `json:"skip"`
			Shadow  bool     `json:"shadow"`
		} `json:"rules"`
		Allow  struct{ CIDRs, Values int } `json:"allow"`
		Deny   struct{ CIDRs, Values int } `json:"deny"`
		Reload *struct {
			Path  string    `json:"path"`
			At    time.Time `json:"at"`
			OK    bool      `json:"ok"`
			Error string    `json:"error"`
			Rules int       `json:"rules"`
		} `json:"reload"`
	} `json:"rules"`
	Stores []struct {
		Name    string `json:"name"`
		Reports bool   `json:"reports"`
		Figures *struct {
			Kind           string   `json:"kind"`
			Mode           string   `json:"mode"`
			Keys           int64    `json:"keys"`
			Evicted        uint64   `json:"evicted"`
			Refused        uint64   `json:"refused"`
			Breaker        bool     `json:"breaker"`
			BreakerOpen    bool     `json:"breaker_open"`
			BreakerOpened  uint64   `json:"breaker_opened"`
			Batches        uint64   `json:"batches"`
			BatchedCalls   uint64   `json:"batched_calls"`
			BatchSizes     []uint64 `json:"batch_sizes"`
			LeaseGrants    uint64   `json:"lease_grants"`
			LeaseGranted   uint64   `json:"lease_granted"`
			LeaseGivenBack uint64   `json:"lease_given_back"`
			LeaseHot       int64    `json:"lease_hot"`
		} `json:"figures"`
		Fallback struct {
			Active    bool       `json:"active"`
			Failing   int        `json:"failing"`
			Switches  uint64     `json:"switches"`
			Since     *time.Time `json:"since"`
			LastError string     `json:"last_error"`
		} `json:"fallback"`
	} `json:"stores"`
	Denied struct {
		Total    uint64 `json:"total"`
		Counters int    `json:"counters"`
		Top      []struct {
			Policy    string    `json:"policy"`
			Key       string    `json:"key"`
			Count     uint64    `json:"count"`
			Overcount uint64    `json:"overcount"`
			Last      time.Time `json:"last"`
		} `json:"top"`
	} `json:"denied"`
	Boxed []struct {
		Rule        string    `json:"rule"`
		Policy      string    `json:"policy"`
		Key         string    `json:"key"`
		Until       time.Time `json:"until"`
		LeftSeconds float64   `json:"left_seconds"`
		Releasable  bool      `json:"releasable"`
	} `json:"penalty_box"`
}

func (f *fixture) snapshot(operator bool) snapshot {
	f.t.Helper()
	resp, body := f.fetch(operator, "?format=json", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		f.t.Fatalf("GET ?format=json: %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var s snapshot
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields() // the fields a tool reads are all there is
	if err := dec.Decode(&s); err != nil {
		f.t.Fatalf("decoding the page's JSON: %v\n%s", err, body)
	}
	return s
}

// change posts a change to the page, as a tool (asking for JSON) or a
// browser would, and returns the status and body.
func (f *fixture) change(operator, asJSON bool, form url.Values, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+"/debug/tollgate", strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	if operator {
		req.Header.Set("X-Operator", operatorToken)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := *f.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

var prefixes atomic.Int64

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("opspage%d:", prefixes.Add(1))
}
