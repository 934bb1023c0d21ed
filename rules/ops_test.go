package rules_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

// opsConfig is a login rule boxing a client after two denials, an API rule
// with a rate limit and a concurrency limit, and a deny list.
func opsConfig() rules.Config {
	return rules.Config{
		Deny: rules.List{CIDRs: []string{"192.0.2.0/24"}, Keys: []rules.KeyValues{{Key: "header:X-Api-Key", Values: []string{"revoked"}}}},
		Rules: []rules.Rule{
			{Name: "login", Match: rules.Match{PathPrefixes: []string{"/login"}}, Penalty: &core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour},
				Limits: []rules.NamedLimit{{Name: "login-ip", Limit: core.PerMinute(1), Key: "ip"}}},
			{Name: "api", Match: rules.Match{PathPrefixes: []string{"/api/"}}, Limits: []rules.NamedLimit{
				{Name: "api-ip", Limit: core.PerMinute(2), Key: "ip"},
				{Name: "api-uploads", Concurrent: 2, Key: "ip"},
				{Name: "api-plan", Key: "ip", TierKey: "header:X-Plan", DefaultTier: "free", Tiers: map[string]core.Limit{"free": core.PerMinute(5), "pro": core.PerMinute(50)}},
			}},
		},
	}
}

func TestConfigIsTheRulesInForceAndACopy(t *testing.T) {
	s, _ := store(t)
	cfg := opsConfig()
	e, err := rules.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Config(); !reflect.DeepEqual(got, opsConfig()) {
		t.Fatalf("Config:\n%+v\nwant the Config given to New:\n%+v", got, opsConfig())
	}
	// Neither the caller's Config nor one Config returned reaches the
	// Engine's.
	cfg.Rules[0].Name = "changed"
	cfg.Rules[1].Limits[2].Tiers["free"] = core.PerMinute(1)
	got := e.Config()
	got.Rules[0].Penalty.Denials = 99
	got.Deny.Keys[0].Values[0] = "changed"
	got.Rules[1].Match.PathPrefixes[0] = "/changed"
	if again := e.Config(); !reflect.DeepEqual(again, opsConfig()) {
		t.Fatalf("Config after changing copies:\n%+v\nwant it unchanged:\n%+v", again, opsConfig())
	}
	replaced := opsConfig()
	replaced.Rules = replaced.Rules[1:]
	if err := e.Replace(replaced); err != nil {
		t.Fatal(err)
	}
	if got := e.Config(); len(got.Rules) != 1 || got.Rules[0].Name != "api" {
		t.Fatalf("Config after Replace: %+v, want the api rule alone", got.Rules)
	}
}

func TestLimiterResetGivesAClientItsQuotaBack(t *testing.T) {
	s, _ := store(t)
	serve := proxied(t, s, opsConfig())
	e := mustEngine(t, s, opsConfig())
	for name, want := range map[string]bool{"login-ip": true, "api-ip": true, "api-plan": true, "api-uploads": false, "nope": false, "login": false} {
		if got := e.Limiter(name) != nil; got != want {
			t.Errorf("Limiter(%q) found %v, want %v", name, got, want)
		}
	}
	if l := e.Limiter("api-plan"); l.Limit() != core.PerMinute(5) {
		t.Errorf("a tiered limit's limiter enforces %v, want its default tier 5/m", l.Limit())
	}
	// The limiters of an Engine over the same store reset what another
	// Engine's requests counted: the state is the store's.
	const client = "198.51.100.7"
	for i, want := range []int{200, 200, 429} {
		if r := serve(client, "/api/x"); r.status != want {
			t.Fatalf("request %d: %d, want %d", i+1, r.status, want)
		}
	}
	if err := e.Limiter("api-ip").Reset(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	if r := serve(client, "/api/x"); r.status != 200 {
		t.Fatalf("after the reset: %d, want 200", r.status)
	}
}

func mustEngine(t *testing.T, s core.Store, cfg rules.Config, opts ...rules.Option) *rules.Engine {
	t.Helper()
	e, err := rules.New(s, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReleaseBoxLetsAClientOut(t *testing.T) {
	s, _ := store(t)
	serve := proxied(t, s, opsConfig())
	e := mustEngine(t, s, opsConfig())
	const client, other = "198.51.100.7", "198.51.100.8"
	for _, c := range []string{client, other} {
		for i, want := range []int{200, 429, 429, 429} {
			if r := serve(c, "/login"); r.status != want {
				t.Fatalf("%s: login %d: %d, want %d", c, i+1, r.status, want)
			}
		}
	}
	ctx := context.Background()
	if err := e.ReleaseBox(ctx, "login", client); err != nil {
		t.Fatalf("ReleaseBox: %v", err)
	}
	// Out of the box: the next denial is the limit's own (Retry-After
	// within its minute, not the box's hour).
	retry := func(r reply) int {
		n, err := strconv.Atoi(r.h.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q: %v", r.h.Get("Retry-After"), err)
		}
		return n
	}
	if r := serve(client, "/login"); r.status != 429 || retry(r) > 60 {
		t.Fatalf("after the release: %d, Retry-After %d; want the limit's own 429, within a minute", r.status, retry(r))
	}
	if r := serve(other, "/login"); r.status != 429 || retry(r) < 3000 {
		t.Fatalf("another client: %d, Retry-After %d; want still boxed for about an hour", r.status, retry(r))
	}
	for _, c := range []struct {
		name, rule, key string
		target          error
	}{
		{"an unknown rule", "nope", client, rules.ErrNoBox},
		{"a rule without a penalty", "api", client, rules.ErrNoBox},
		{"an empty key", "login", "", core.ErrInvalidKey},
		{"a key too long for a box", "login", strings.Repeat("k", core.MaxKeyLen), core.ErrInvalidKey},
	} {
		if err := e.ReleaseBox(ctx, c.rule, c.key); !errors.Is(err, c.target) {
			t.Errorf("%s: %v, want %v", c.name, err, c.target)
		}
	}
}

func TestLastReloadSaysWhenAndWhetherTheFileWasRead(t *testing.T) {
	s, clock := store(t)
	if _, ok := mustEngine(t, s, opsConfig()).LastReload(); ok {
		t.Fatal("LastReload of an Engine made by New: reported one")
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "rules:\n  - name: all\n    match: {path_prefix: /}\n    limits: [{name: all, limit: 10/s, key: ip}]\n")
	var hooked []rules.ReloadEvent
	e, err := rules.Load(s, path, rules.WithClock(clock), rules.WithReloadHook(func(ev rules.ReloadEvent) { hooked = append(hooked, ev) }))
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := e.LastReload()
	if !ok || ev.Path != path || ev.Err != nil || ev.Rules != 1 || !ev.At.Equal(start) {
		t.Fatalf("after Load: %+v, %v; want the file read at %v, 1 rule, no error", ev, ok, start)
	}
	clock.Advance(time.Minute)
	writeFile(t, dir, "rules:\n  - name: all\n    limits: [{name: all, limit: 10/s, key: ip}]\n")
	if err := e.Reload(); err == nil {
		t.Fatal("Reload of a rule without a match: no error")
	}
	ev, _ = e.LastReload()
	if ev.Err == nil || ev.Rules != 1 || !ev.At.Equal(start.Add(time.Minute)) || len(hooked) != 1 || hooked[0].Err == nil {
		t.Fatalf("after a refused reload: %+v (hook saw %+v); want its error, the 1 rule in force, at %v", ev, hooked, start.Add(time.Minute))
	}
	clock.Advance(time.Minute)
	writeFile(t, dir, "rules:\n  - name: a\n    match: {path_prefix: /a}\n    limits: [{name: a, limit: 10/s, key: ip}]\n  - name: b\n    match: {path_prefix: /b}\n    limits: [{name: b, limit: 10/s, key: ip}]\n")
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if ev, _ = e.LastReload(); ev.Err != nil || ev.Rules != 2 || !ev.At.Equal(start.Add(2*time.Minute)) {
		t.Fatalf("after a good reload: %+v, want no error and 2 rules", ev)
	}
}

// A metrics module's or an operator page's options reach every limiter the
// rules make, concurrency limits included: a failover hook among them is no
// error.
func TestLimiterOptionsWithAFailoverHookTakeConcurrencyLimits(t *testing.T) {
	s, _ := store(t)
	if _, err := rules.New(s, opsConfig(), rules.WithLimiterOptions(core.WithFailoverHook(func(bool, error) {}))); err != nil {
		t.Fatalf("a failover hook with a concurrency limit in the rules: %v", err)
	}
}
