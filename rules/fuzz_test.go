package rules_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// fuzzFile is a rules file using every kind of condition and key, the seed
// of FuzzParse and the rules of FuzzRequest.
const fuzzFile = `mode: all
deny:
  cidr: [203.0.113.0/24]
  keys: [{key: "header:X-Api-Key", values: [revoked-key]}]
allow:
  cidr: [10.9.0.0/16]
rules:
  - name: health
    match: {path_prefix: /healthz}
    skip: true
  - name: login
    match: {method: [POST, PUT], route: /login}
    limits:
      - {name: login-per-ip, limit: 2/m, key: ip}
    penalty: {denials: 2, within: 1m, for: 10m}
  - name: api
    match:
      path_prefix: [/api/, /v2/api/]
      header: {name: X-Env, equals: prod}
    limits:
      - {name: api-per-key, limit: 3/s, key: "header:X-Api-Key"}
      - {name: api-per-tenant, limit: 10/h fixed-window, key: "header:X-Tenant+method"}
    missing: {action: fallback, key: ip+path}
  - name: search
    match: {path_regex: "^/search/v[0-9]+(/|$)", cidr: ["192.0.2.0/24", "2001:db8::/32"]}
    shadow: true
    limits:
      - {name: search-per-ip, limit: 1/s burst 2, key: ip}
  - name: rest
    match: {path_prefix: /}
    limits:
      - {name: rest, limit: 5/m sliding-window-counter, key: route+ip}
`

// checkAnswer asserts that what Serve wrote agrees with its outcome: nothing
// for a request that proceeds, a 4xx or 5xx answer otherwise.
func checkAnswer(t *testing.T, o httplimit.Outcome, w *httptest.ResponseRecorder) {
	t.Helper()
	switch o {
	case httplimit.Proceed:
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("proceed, but %d %q written", w.Code, w.Body.String())
		}
	case httplimit.Denied, httplimit.Failed:
		if w.Code < 400 || w.Code > 599 || w.Body.Len() == 0 {
			t.Fatalf("%v, but status %d and body %q", o, w.Code, w.Body.String())
		}
	default:
		t.Fatalf("outcome %v", o)
	}
}

// FuzzParse loads rules files from bytes. Parse never panics; its errors
// name the file; a Config it returns is either refused by New with an error
// or makes an Engine that answers requests consistently.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		fuzzFile, "", "rules: []", "mode: first\nrules:\n  - name: a\n    match: {path_prefix: /}\n    limits: [{name: a, limit: 1/s, key: ip}]\n",
		"rules:\n  - &a {name: x}\n  - *a\n", "a: [*b]", "rules:\n  - name: a\n    match: {cidr: 10.0.0.0/33}\n",
		"mode: all\nrules:\n - name: r\n   match: {method: GET}\n", "---\n---\n", "rules: {}\n", "\t",
		"rules:\n  - name: a\n    match: {header: {name: \"X Y\"}}\n    limits: [{name: a, limit: 1/s, key: \"header:\"}]\n",
	} {
		f.Add([]byte(s))
	}
	store, err := memstore.New()
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	reqs := []*http.Request{
		httptest.NewRequest("GET", "/", nil),
		httptest.NewRequest("POST", "/login", nil),
		httptest.NewRequest("GET", "/api/items?x=1", nil),
		httptest.NewRequest("GET", "/search/v2/", nil),
	}
	reqs[2].Header.Set("X-Api-Key", "k1")
	reqs[2].Header.Set("X-Env", "prod")
	reqs[3].RemoteAddr = "[2001:db8::1]:1"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") || len(cfg.Rules) != 0 {
				t.Fatalf("Parse: %v, with %d rules; want an error naming the file, and no rules", err, len(cfg.Rules))
			}
			return
		}
		e, err := rules.New(store, cfg)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("New: an empty error")
			}
			return
		}
		defer e.Close()
		for _, r := range reqs {
			w := httptest.NewRecorder()
			checkAnswer(t, e.Serve(w, r, r.URL.Path), w)
		}
	})
}

// FuzzRequest sends requests with any header values, path, method and
// address through fixed rules (behind a trusted proxy that sends
// X-Forwarded-For). The rules never panic, answer consistently, and their
// hook never sees a client's key, only its hash.
func FuzzRequest(f *testing.F) {
	for _, s := range [][7]string{
		{"10.0.0.1:1", "GET", "/api/x", "k1", "t1", "prod", "198.51.100.7"},
		{"10.0.0.1:1", "POST", "/login", "", "", "", "203.0.113.9"},
		{"192.0.2.1:1", "GET", "/search/v2", "revoked-key", "", "", ""},
		{"[2001:db8::1]:1", "BREW", "/search/v9/x", "k", "t", "prod", "10.9.1.1"},
		{"", "", "", "", "", "", ""},
		{"10.0.0.1:1", "GET", "/api/%zz", strings.Repeat("k", 300), "t\x00", "prod", "garbage"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6])
	}
	store, err := memstore.New()
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	cfg, err := rules.Parse("fuzz.yaml", []byte(fuzzFile))
	if err != nil {
		f.Fatal(err)
	}
	res, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("10.0.0.0/8"))
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	var keys []string // the hook's keys, guarded by mu
	e, err := rules.New(store, cfg, rules.WithIPResolver(res), rules.WithHook(func(_ context.Context, ev rules.Event) {
		mu.Lock()
		keys = append(keys, ev.Key)
		mu.Unlock()
	}))
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	f.Fuzz(func(t *testing.T, remote, method, path, apiKey, tenant, env, xff string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, RemoteAddr: remote, Header: http.Header{
			"X-Api-Key": {apiKey}, "X-Tenant": {tenant}, "X-Env": {env}, "X-Forwarded-For": {xff},
		}}
		r = r.WithContext(context.Background())
		mu.Lock()
		keys = keys[:0]
		mu.Unlock()
		w := httptest.NewRecorder()
		checkAnswer(t, e.Serve(w, r, path), w)
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			for _, secret := range []string{apiKey, tenant} {
				if len(secret) > 16 && strings.Contains(k, secret) {
					t.Fatalf("the hook saw the key %q, holding the header value %q", k, secret)
				}
			}
		}
	})
}
