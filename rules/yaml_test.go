package rules_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

const goodFile = `# the rules of the tests
mode: first
deny:
  cidr: [203.0.113.0/24]
rules:
  - name: health
    match: {path_prefix: /healthz}
    skip: true
  - name: login
    match:
      method: POST
      path_prefix: /login
    limits:
      - {name: login-per-ip, limit: 2/m, key: ip}
    penalty: {denials: 3, within: 1m, for: 10m}
  - name: api
    match:
      path_prefix: /api/
      header: {name: X-Api-Key}
    limits:
      - {name: api-per-key, limit: 100/s, key: "header:X-Api-Key"}
      - {name: api-per-tenant, limit: 10000/h, key: "header:X-Tenant"}
    missing: {action: fallback, key: ip}
  - name: rest
    match: {path_prefix: /}
    shadow: true
    limits:
      - {name: rest, limit: 10/s burst 20, key: ip}
`

func TestParseGoodFile(t *testing.T) {
	cfg, err := rules.Parse("rules.yaml", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 4 || cfg.Mode != rules.FirstMatch || len(cfg.Deny.CIDRs) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	login := cfg.Rules[1]
	if login.Match.Methods[0] != "POST" || login.Limits[0].Limit != core.PerMinute(2) || *login.Penalty != (core.Penalty{Denials: 3, Within: time.Minute, For: 10 * time.Minute}) {
		t.Fatalf("login rule %+v", login)
	}
	api := cfg.Rules[2]
	if api.Missing != (rules.Missing{Action: rules.MissingFallback, Fallback: "ip"}) || api.Match.Headers[0] != (rules.HeaderMatch{Name: "X-Api-Key"}) || len(api.Limits) != 2 {
		t.Fatalf("api rule %+v", api)
	}
	if rest := cfg.Rules[3]; !rest.Shadow || rest.Limits[0].Limit != core.PerSecond(10).WithBurst(20) {
		t.Fatalf("rest rule %+v", rest)
	}
	s, _ := store(t)
	if _, err := rules.New(s, cfg); err != nil {
		t.Fatalf("the parsed file does not build: %v", err)
	}
}

// TestLoadErrors: each bad file is refused with the file, the line and the
// field at fault.
func TestLoadErrors(t *testing.T) {
	rule := func(body string) string {
		return "rules:\n  - name: a\n    match: {path_prefix: /}\n" + body
	}
	many := new(strings.Builder)
	many.WriteString("rules:\n")
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(many, "  - {name: r%d, skip: true}\n", i)
	}
	cases := []struct {
		name string
		body string
		want string
	}{
		{"not YAML", "rules: [\n  - {name: a\n", "rules.yaml: not valid YAML: yaml: line"},
		{"not a mapping", "- a\n- b\n", "rules.yaml:1: : want a mapping"},
		{"an unknown top-level field", "rulez: []\n", "rules.yaml:1: rulez: unknown field (known: allow, deny, mode, rules, shadow)"},
		{"an unknown rule field", rule("    limts: []\n"), "rules.yaml:4: rules[0].limts: unknown field"},
		{"a limit in words", rule("    limits:\n      - {name: x, limit: ten per minute, key: ip}\n"), `rules.yaml:5: rules[0].limits[0].limit: core: invalid limit: limit "ten per minute"`},
		{"a CIDR /33", "rules:\n  - name: a\n    match:\n      cidr: 10.0.0.0/33\n    skip: true\n", `rules.yaml:4: rules[0].match.cidr[0]: "10.0.0.0/33": not an address or CIDR range`},
		{"a regex that does not compile", "rules:\n  - name: a\n    match:\n      path_regex: \"([a-z\"\n    skip: true\n", "rules.yaml:4: rules[0].match.path_regex: error parsing regexp"},
		{"two rules of one name", "rules:\n  - {name: a, match: {path_prefix: /}, skip: true}\n  - {name: a, match: {path_prefix: /}, skip: true}\n", `rules.yaml:3: rules[1].name: "a": also the name of rules[0]`},
		{"two policies of one name", rule("    limits:\n      - {name: x, limit: 1/s, key: ip}\n      - {name: x, limit: 2/s, key: ip}\n"), `rules.yaml:6: rules[0].limits[1].name: "x": also the name of rules[0].limits[0]`},
		{"an empty match", "rules:\n  - name: a\n    match: {}\n    skip: true\n", "rules.yaml:3: rules[0].match: empty"},
		{"a repeated key", "rules:\n  - name: a\n    name: b\n    match: {path_prefix: /}\n    skip: true\n", "rules.yaml:3: rules[0].name: repeated: also on line 2"},
		{"a bad duration", rule("    limits: [{name: x, limit: 1/s, key: ip}]\n    penalty: {denials: 3, within: soon, for: 1h}\n"), `rules.yaml:5: rules[0].penalty.within: "soon": want a positive duration`},
		{"a bad missing action", rule("    limits: [{name: x, limit: 1/s, key: ip}]\n    missing: {action: ignore}\n"), `rules.yaml:5: rules[0].missing.action: "ignore": want deny, skip or fallback`},
		{"a string for a bool", rule("    skip: yes please\n"), `rules.yaml:4: rules[0].skip: want true or false`},
		{"100,000 rules", many.String(), "rules.yaml:2: rules: 100000 rules, more than 10000"},
		{"an empty file", "", "rules.yaml:1: rules: the file is empty"},
		{"two documents", "rules: []\n---\nrules: []\n", "rules.yaml:2: rules: a second YAML document"},
		{"an unknown default tier", rule("    limits:\n      - {name: x, key: ip, tiers: {free: 1/s, pro: 9/s}, tier_key: \"header:X-Plan\", default_tier: gold}\n"), `rules.yaml:5: rules[0].limits[0].default_tier: "gold": not one of the tiers (free, pro)`},
		{"tiers without a default", rule("    limits:\n      - {name: x, key: ip, tiers: {free: 1/s}, tier_key: \"header:X-Plan\"}\n"), `rules[0].limits[0].default_tier: empty`},
		{"tiers without a tier key", rule("    limits:\n      - {name: x, key: ip, tiers: {free: 1/s}, default_tier: free}\n"), `rules[0].limits[0].tier_key: empty`},
		{"a tier key by route", rule("    limits:\n      - {name: x, key: ip, tiers: {free: 1/s}, tier_key: route, default_tier: free}\n"), `rules[0].limits[0].tier_key: route`},
		{"a tier in words", rule("    limits:\n      - {name: x, key: ip, tiers: {free: 1/s, pro: lots}, tier_key: \"header:X-Plan\", default_tier: free}\n"), `rules.yaml:5: rules[0].limits[0].tiers.pro: core: invalid limit: limit "lots"`},
		{"a limit beside tiers", rule("    limits:\n      - {name: x, key: ip, limit: 5/s, tiers: {free: 1/s}, tier_key: \"header:X-Plan\", default_tier: free}\n"), `rules[0].limits[0].limit: set with tiers`},
		{"a concurrency limit of 0", rule("    limits:\n      - {name: x, key: ip, concurrent: 0}\n"), `rules.yaml:5: rules[0].limits[0].concurrent: 0: at least 1 request in flight`},
		{"a negative concurrency limit", rule("    limits:\n      - {name: x, key: ip, concurrent: -3}\n"), `rules.yaml:5: rules[0].limits[0].concurrent: -3: at least 1 request in flight`},
		{"a concurrency limit in words", rule("    limits:\n      - {name: x, key: ip, concurrent: four}\n"), `rules.yaml:5: rules[0].limits[0].concurrent: want a whole number`},
		{"a concurrency limit with a quota", rule("    limits:\n      - {name: x, key: ip, concurrent: 4, limit: 5/s}\n"), `rules.yaml:5: rules[0].limits[0].limit: set with concurrent`},
		{"a concurrency limit with tiers", rule("    limits:\n      - {name: x, key: ip, concurrent: 4, tiers: {free: 1/s}, tier_key: \"header:X-Plan\", default_tier: free}\n"), `rules.yaml:5: rules[0].limits[0].tiers: set with concurrent`},
		{"a concurrency limit in a shadow rule", rule("    shadow: true\n    limits:\n      - {name: x, key: ip, concurrent: 4}\n"), `rules.yaml:6: rules[0].limits[0].concurrent: in a shadow rule`},
		{"a penalty over concurrency limits only", rule("    limits: [{name: x, key: ip, concurrent: 4}]\n    penalty: {denials: 3, within: 1m, for: 1h}\n"), `rules.yaml:5: rules[0].penalty: a rule with concurrency limits only has no penalty`},
		{"a default tier with no tiers", rule("    limits:\n      - {name: x, key: ip, limit: 5/s, default_tier: free}\n"), `rules[0].limits[0].tiers: none`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := store(t)
			path := writeFile(t, t.TempDir(), c.body)
			_, err := rules.Load(s, path)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			got := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			if !strings.Contains(got, c.want) {
				t.Fatalf("error:\n%s\nwant it to contain:\n%s", got, c.want)
			}
		})
	}
}

// TestReload: a good file replaces the rules, keeping the counters of the
// policies it keeps; a bad one is refused, reported to the hook, and the
// rules in force stay, counters and all.
func TestReload(t *testing.T) {
	s, _ := store(t)
	dir := t.TempDir()
	one := "rules:\n  - name: api\n    match: {path_prefix: /}\n    limits: [{name: api, limit: 3/m, key: ip}]\n"
	path := writeFile(t, dir, one)
	reloads := make(chan rules.ReloadEvent, 4)
	e, err := rules.Load(s, path, rules.WithReloadHook(func(ev rules.ReloadEvent) { reloads <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := server(t, e)
	if r := get(t, srv, "GET", "/x"); r.status != 200 || r.h.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("first request: %d, remaining %q", r.status, r.h.Get("X-RateLimit-Remaining"))
	}

	writeFile(t, dir, strings.Replace(one, "3/m", "three a minute", 1))
	err = e.Reload()
	if err == nil || !strings.Contains(err.Error(), "rules.yaml:4: rules[0].limits[0].limit") {
		t.Fatalf("reload of a bad file: %v, want the file, line and field", err)
	}
	if ev := <-reloads; ev.Err == nil || ev.Rules != 1 {
		t.Fatalf("reload event %+v, want the error and the 1 rule in force", ev)
	}
	if r := get(t, srv, "GET", "/x"); r.status != 200 || r.h.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("after a refused reload: %d, remaining %q; want the old rule, its counter at 1", r.status, r.h.Get("X-RateLimit-Remaining"))
	}

	// The same policy with a new rule in front: the counter carries over.
	two := "rules:\n  - {name: health, match: {path_prefix: /healthz}, skip: true}\n" + strings.TrimPrefix(one, "rules:\n")
	writeFile(t, dir, two)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if ev := <-reloads; ev.Err != nil || ev.Rules != 2 {
		t.Fatalf("reload event %+v, want success with 2 rules", ev)
	}
	if r := get(t, srv, "GET", "/healthz"); r.status != 200 || r.h.Get("RateLimit") != "" {
		t.Fatalf("the new skip rule: %d, fields %q", r.status, r.h.Get("RateLimit"))
	}
	if r := get(t, srv, "GET", "/x"); r.status != 200 || r.h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("the kept policy: %d, remaining %q; want its counter carried over, at 0", r.status, r.h.Get("X-RateLimit-Remaining"))
	}
	if r := get(t, srv, "GET", "/x"); r.status != 429 {
		t.Fatalf("the kept policy spent: %d, want 429", r.status)
	}

	// A file that vanished is refused too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	<-reloads
	if e.Rules() != 2 {
		t.Fatalf("%d rules in force after a failed reload, want 2", e.Rules())
	}
}

// TestWatch: with WithWatch the engine notices a changed file by itself,
// reports a bad one once, and applies the next good one.
func TestWatch(t *testing.T) {
	s, _ := store(t)
	dir := t.TempDir()
	body := func(limit string) string {
		return "rules:\n  - name: api\n    match: {path_prefix: /}\n    limits: [{name: api, limit: " + limit + ", key: ip}]\n"
	}
	path := writeFile(t, dir, body("5/m"))
	reloads := make(chan rules.ReloadEvent, 16)
	e, err := rules.Load(s, path, rules.WithWatch(100*time.Millisecond), rules.WithReloadHook(func(ev rules.ReloadEvent) { reloads <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := server(t, e)

	writeFile(t, dir, body("five"))
	if ev := <-reloads; ev.Err == nil {
		t.Fatalf("the watcher applied a bad file: %+v", ev)
	}
	if r := get(t, srv, "GET", "/x"); r.h.Get("X-RateLimit-Limit") != "5" {
		t.Fatalf("after a bad file: limit %q, want the old 5", r.h.Get("X-RateLimit-Limit"))
	}
	writeFile(t, dir, body("7/m"))
	ev := <-reloads
	if ev.Err != nil {
		t.Fatalf("the watcher refused a good file: %v", ev.Err)
	}
	if r := get(t, srv, "GET", "/x"); r.h.Get("X-RateLimit-Limit") != "7" {
		t.Fatalf("after a good file: limit %q, want 7", r.h.Get("X-RateLimit-Limit"))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-reloads:
		t.Fatalf("a reload after Close: %+v", ev)
	default:
	}
}

func TestReloadWithoutFile(t *testing.T) {
	s, _ := store(t)
	e, err := rules.New(s, rules.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload of an engine built in Go: %v, want an error saying it has no file", err)
	}
}
