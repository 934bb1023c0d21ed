package rules_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

func limit(name, key string) []rules.NamedLimit {
	return []rules.NamedLimit{{Name: name, Limit: core.PerMinute(100), Key: key}}
}

// matchConfig has one rule per kind of condition, in an order where each
// specific rule comes before the general ones.
var matchConfig = rules.Config{Rules: []rules.Rule{
	{Name: "health", Match: rules.Match{PathPrefixes: []string{"/healthz"}}, Skip: true},
	{Name: "login", Match: rules.Match{Methods: []string{"post"}, Routes: []string{"/login"}}, Limits: limit("login", "ip")},
	{Name: "office", Match: rules.Match{CIDRs: []string{"10.1.0.0/16", "2001:db8::/32"}}, Limits: limit("office", "ip")},
	{Name: "beta", Match: rules.Match{Headers: []rules.HeaderMatch{{Name: "x-beta", Equals: "1"}}}, Limits: limit("beta", "ip")},
	{Name: "keyed", Match: rules.Match{Headers: []rules.HeaderMatch{{Name: "X-Api-Key"}}, PathPrefixes: []string{"/api/"}}, Limits: limit("keyed", "header:X-Api-Key")},
	{Name: "report", Match: rules.Match{PathRegex: `^/reports/[0-9]+\.pdf$`}, Limits: limit("report", "ip")},
	{Name: "users", Match: rules.Match{Routes: []string{"/users/{id}"}, Methods: []string{"GET", "HEAD"}}, Limits: limit("users", "ip+route")},
	{Name: "rest", Match: rules.Match{PathPrefixes: []string{"/"}}, Limits: limit("rest", "ip")},
}}

func TestMatchTable(t *testing.T) {
	s, _ := store(t)
	e, err := rules.New(s, matchConfig)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		method string
		path   string
		route  string
		remote string
		header []string
		want   string // the policy in RateLimit-Policy; "" for none
	}{
		{"a health check is skipped", "GET", "/healthz", "", "", nil, ""},
		{"a health check's sub-path is skipped", "GET", "/healthz/ready", "", "", nil, ""},
		{"POST on the login route is the login rule", "POST", "/login", "/login", "", nil, "login"},
		{"GET on the login route is not: methods match", "GET", "/login", "/login", "", nil, "rest"},
		{"POST elsewhere is not: the route must match too", "POST", "/other", "/other", "", nil, "rest"},
		{"a client in an office range", "GET", "/x", "", "10.1.200.3:5000", nil, "office"},
		{"an IPv6 client in an office range", "GET", "/x", "", "[2001:db8::7]:5000", nil, "office"},
		{"a client outside the ranges", "GET", "/x", "", "10.2.0.1:5000", nil, "rest"},
		{"an office client logging in gets the login rule: first match wins", "POST", "/login", "/login", "10.1.0.1:1", nil, "login"},
		{"a header equal to the value", "GET", "/x", "", "", []string{"X-Beta", "1"}, "beta"},
		{"a header with another value", "GET", "/x", "", "", []string{"X-Beta", "2"}, "rest"},
		{"a header sent twice is not equal to either", "GET", "/x", "", "", []string{"X-Beta", "1", "X-Beta", "1"}, "rest"},
		{"a header present, under a prefix", "GET", "/api/v1", "", "", []string{"X-Api-Key", "k1"}, "keyed"},
		{"a header present, outside the prefix", "GET", "/v1", "", "", []string{"X-Api-Key", "k1"}, "rest"},
		{"the prefix without the header", "GET", "/api/v1", "", "", nil, "rest"},
		{"a path the regex matches", "GET", "/reports/42.pdf", "", "", nil, "report"},
		{"a path the regex does not match", "GET", "/reports/42.pdf.exe", "", "", nil, "rest"},
		{"a route pattern, whatever the id", "HEAD", "/users/7", "/users/{id}", "", nil, "users"},
		{"the same path without the router's pattern", "GET", "/users/7", "", "", nil, "rest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, nil)
			if c.remote != "" {
				r.RemoteAddr = c.remote
			}
			for i := 0; i+1 < len(c.header); i += 2 {
				r.Header.Add(c.header[i], c.header[i+1])
			}
			w := httptest.NewRecorder()
			if out := e.Serve(w, r, c.route); out.String() != "proceed" {
				t.Fatalf("outcome %v, want proceed", out)
			}
			got := w.Header().Get("RateLimit-Policy")
			if c.want == "" {
				if got != "" || w.Header().Get("X-RateLimit-Limit") != "" {
					t.Fatalf("rate-limit fields %q on a skipped request", got)
				}
				return
			}
			if !strings.HasPrefix(got, `"`+c.want+`";`) {
				t.Fatalf("RateLimit-Policy %q, want the policy %q", got, c.want)
			}
		})
	}
}

// TestAllMatches: in AllMatches mode every matching rule's limits are
// taken together, all or nothing, and the fields list every policy.
func TestAllMatches(t *testing.T) {
	s, _ := store(t)
	cfg := rules.Config{Mode: rules.AllMatches, Rules: []rules.Rule{
		{Name: "global", Match: rules.Match{PathPrefixes: []string{"/"}}, Limits: []rules.NamedLimit{{Name: "global", Limit: core.PerMinute(5), Key: "ip"}}},
		{Name: "api", Match: rules.Match{PathPrefixes: []string{"/api/"}}, Limits: []rules.NamedLimit{{Name: "api", Limit: core.PerMinute(2), Key: "ip"}}},
	}}
	e, err := rules.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	for i := 0; i < 2; i++ {
		if r := get(t, srv, "GET", "/api/x"); r.status != 200 {
			t.Fatalf("api request %d: %d, want 200", i+1, r.status)
		}
	}
	r := get(t, srv, "GET", "/api/x")
	if r.status != 429 {
		t.Fatalf("third api request: %d, want 429 (api is 2/m)", r.status)
	}
	if p := r.h.Get("RateLimit-Policy"); p != `"global";q=5;w=60, "api";q=2;w=60` {
		t.Fatalf("RateLimit-Policy %q, want both policies", p)
	}
	if got := r.h.Get("RateLimit"); !strings.Contains(got, `"global";r=3`) || !strings.Contains(got, `"api";r=0`) {
		t.Fatalf("RateLimit %q: want global at 3 (the denied request took nothing) and api at 0", got)
	}
	// The denied request took nothing from global: three more pass.
	for i := 0; i < 3; i++ {
		if r := get(t, srv, "GET", "/other"); r.status != 200 {
			t.Fatalf("other request %d: %d, want 200", i+1, r.status)
		}
	}
	if r := get(t, srv, "GET", "/other"); r.status != http.StatusTooManyRequests {
		t.Fatalf("sixth request under global: %d, want 429", r.status)
	}
}

// TestIndexKeepsOrder: rules are looked up by the first path segment they
// can match, and that never changes which rule is first: for every path the
// engine picks the rule a scan in file order picks.
func TestIndexKeepsOrder(t *testing.T) {
	prefixes := [][]string{
		{"/api/v2/"}, {"/ap"}, {"/api/"}, {"/svc/x", "/other/"}, {"/"}, {"/svc/"}, {"/api/v1/", "/svc/y"},
	}
	paths := []string{"/", "/api", "/api/", "/api/v1/a", "/api/v2/a", "/apx/", "/svc/", "/svc/x1", "/svc/y", "/other", "/other/z", "/z/", "/ap"}
	// Every rotation of the rules, so each prefix shape comes first once.
	for rot := range prefixes {
		var cfg rules.Config
		order := make([][]string, len(prefixes))
		for i := range prefixes {
			ps := prefixes[(i+rot)%len(prefixes)]
			order[i] = ps
			n := strconv.Itoa(i)
			cfg.Rules = append(cfg.Rules, rules.Rule{Name: "r" + n, Match: rules.Match{PathPrefixes: ps}, Limits: limit("p"+n, "ip")})
		}
		s, _ := store(t)
		e, err := rules.New(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			want := ""
			for i, ps := range order {
				for _, p := range ps {
					if strings.HasPrefix(path, p) && want == "" {
						want = "p" + strconv.Itoa(i)
					}
				}
			}
			w := httptest.NewRecorder()
			e.Serve(w, httptest.NewRequest("GET", path, nil), "")
			got := w.Header().Get("RateLimit-Policy")
			if want == "" && got != "" || want != "" && !strings.HasPrefix(got, `"`+want+`";`) {
				t.Errorf("rotation %d, path %s: policy %q, want %q", rot, path, got, want)
			}
		}
	}
}
