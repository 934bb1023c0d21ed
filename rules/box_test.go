package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/rules"
)

// proxied serves e's rules behind a real HTTP server whose only peer, the
// test's client on 127.0.0.1, is a trusted proxy: each request names its
// client in X-Forwarded-For.
func proxied(t *testing.T, store core.Store, cfg rules.Config) func(client, path string, header ...string) reply {
	t.Helper()
	res, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(store, cfg, rules.WithIPResolver(res))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	return func(client, path string, header ...string) reply {
		t.Helper()
		return get(t, srv, "GET", path, append([]string{"X-Forwarded-For", client}, header...)...)
	}
}

// TestPenaltyCountsOnlyTheClientsOwnLimits: a penalty box keyed by a client
// counts the denials of the limits keyed by that client, never those of a
// limit it shares with others. An attacker spends a shared limit (a global
// per-route limit in another rule, or the tenant's limit in the same
// rule); a victim denied twice by it is not boxed, though two denials box
// a client for an hour: its next request once the shared limit refills is
// admitted. (Before, every denial of the step counted: the victim was
// boxed for an hour.)
func TestPenaltyCountsOnlyTheClientsOwnLimits(t *testing.T) {
	all := rules.Match{PathPrefixes: []string{"/"}}
	pen := &core.Penalty{Denials: 2, Within: 10 * time.Minute, For: time.Hour}
	for _, c := range []struct {
		name   string
		cfg    rules.Config
		header []string      // sent by both clients
		refill time.Duration // until the shared limit admits one more
	}{
		{
			name: "mode all: a global per-route rule and a per-IP rule with a penalty",
			cfg: rules.Config{Mode: rules.AllMatches, Rules: []rules.Rule{
				{Name: "global", Match: all, Limits: []rules.NamedLimit{{Name: "global", Limit: core.PerMinute(10), Key: "route"}}},
				{Name: "per-ip", Match: all, Limits: []rules.NamedLimit{{Name: "per-ip", Limit: core.PerMinute(20), Key: "ip"}}, Penalty: pen},
			}},
			refill: 6 * time.Second,
		},
		{
			name: "one rule keyed by IP and by tenant, with a penalty",
			cfg: rules.Config{Rules: []rules.Rule{
				{Name: "api", Match: all, Penalty: pen, Limits: []rules.NamedLimit{
					{Name: "api-per-ip", Limit: core.PerMinute(20), Key: "ip"},
					{Name: "api-per-tenant", Limit: core.PerMinute(10), Key: "header:X-Tenant"},
				}},
			}},
			header: []string{"X-Tenant", "acme"},
			refill: 6 * time.Second,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, clock := store(t)
			serve := proxied(t, s, c.cfg)
			const attacker, victim = "203.0.113.66", "198.51.100.7"
			for i := 0; i < 10; i++ {
				if r := serve(attacker, "/api/x", c.header...); r.status != 200 {
					t.Fatalf("attacker's request %d: %d, want 200", i+1, r.status)
				}
			}
			for i := 0; i < 2; i++ {
				r := serve(victim, "/api/x", c.header...)
				if r.status != 429 || r.h.Get("Retry-After") != "6" {
					t.Fatalf("victim's denial %d: %d, Retry-After %q; want 429 and 6 (the shared limit's wait, no box)", i+1, r.status, r.h.Get("Retry-After"))
				}
			}
			clock.Advance(c.refill)
			if r := serve(victim, "/api/x", c.header...); r.status != 200 {
				t.Fatalf("victim once the shared limit refilled: %d, Retry-After %q; want 200 (not boxed)", r.status, r.h.Get("Retry-After"))
			}
		})
	}
}

// TestPenaltyOfEachMatchingRule: under mode all, every matching rule with a
// penalty has its box. A per-IP rule and a per-user rule match every login;
// a user guessing from a new address each time never fills a per-IP box,
// but the per-user rule's box closes on its second denial and holds the
// user, from any address, after the limits have refilled. (Before, only
// the first matching rule's penalty applied: the per-user box never
// closed.) Each box counts its own rule's denials: the addresses the user
// was denied from are not boxed.
func TestPenaltyOfEachMatchingRule(t *testing.T) {
	login := rules.Match{PathPrefixes: []string{"/login"}}
	cfg := rules.Config{Mode: rules.AllMatches, Rules: []rules.Rule{
		{Name: "login-ip", Match: login, Limits: []rules.NamedLimit{{Name: "login-per-ip", Limit: core.PerMinute(2), Key: "ip"}},
			Penalty: &core.Penalty{Denials: 1, Within: time.Minute, For: 10 * time.Minute}},
		{Name: "login-user", Match: login, Limits: []rules.NamedLimit{{Name: "login-per-user", Limit: core.PerMinute(3), Key: "header:X-User"}},
			Penalty: &core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}},
	}}
	s, clock := store(t)
	serve := proxied(t, s, cfg)
	addr := func(i int) string { return "192.0.2." + string(rune('0'+i)) }
	for i := 1; i <= 3; i++ {
		if r := serve(addr(i), "/login", "X-User", "alice"); r.status != 200 {
			t.Fatalf("alice's attempt %d: %d", i, r.status)
		}
	}
	if r := serve(addr(4), "/login", "X-User", "alice"); r.status != 429 || r.h.Get("Retry-After") != "20" {
		t.Fatalf("alice's first denial: %d, Retry-After %q; want 429 and 20 (the limit's own wait)", r.status, r.h.Get("Retry-After"))
	}
	if r := serve(addr(5), "/login", "X-User", "alice"); r.status != 429 || r.h.Get("Retry-After") != "3600" {
		t.Fatalf("alice's second denial: %d, Retry-After %q; want 429 and 3600 (the per-user box closes)", r.status, r.h.Get("Retry-After"))
	}
	clock.Advance(2 * time.Minute) // every limit is whole again
	if r := serve(addr(6), "/login", "X-User", "alice"); r.status != 429 || r.h.Get("Retry-After") != "3480" {
		t.Fatalf("alice from a new address, 2 minutes on: %d, Retry-After %q; want 429 and 3480 (in the per-user box)", r.status, r.h.Get("Retry-After"))
	}
	// The per-IP box, which closes on one denial, counted none of alice's.
	if r := serve(addr(5), "/login", "X-User", "bob"); r.status != 200 {
		t.Fatalf("bob from an address alice was denied from: %d, want 200", r.status)
	}
}

// A request matching every rule of a mode-all file is under every box:
// more than core.MaxBoxes rules with a penalty are refused at construction.
func TestPenaltiesBeyondMaxBoxesAreRefused(t *testing.T) {
	s, _ := store(t)
	var cfg rules.Config
	cfg.Mode = rules.AllMatches
	for i := 0; i <= core.MaxBoxes; i++ {
		n := "r" + string(rune('0'+i))
		cfg.Rules = append(cfg.Rules, rules.Rule{Name: n, Match: rules.Match{PathPrefixes: []string{"/"}},
			Limits: []rules.NamedLimit{{Name: n, Limit: core.PerMinute(5), Key: "ip"}}, Penalty: &core.Penalty{Denials: 1, Within: time.Minute, For: time.Minute}})
	}
	_, err := rules.New(s, cfg)
	var fe *rules.FieldError
	if !errors.As(err, &fe) || fe.Path != "mode" || !strings.Contains(err.Error(), "5 enforced rules have a penalty") {
		t.Fatalf("5 rules with a penalty under mode all: %v, want a mode error naming them", err)
	}
	// In shadow, or under first match, they box at most one at a time.
	cfg.Rules[0].Shadow = true
	if _, err := rules.New(s, cfg); err != nil {
		t.Fatalf("one of the 5 in shadow: %v", err)
	}
	cfg.Rules[0].Shadow, cfg.Mode = false, rules.FirstMatch
	if _, err := rules.New(s, cfg); err != nil {
		t.Fatalf("mode first: %v", err)
	}
}

// A shadow rule matching beside a rule with a penalty leaves that penalty
// in force: the shadow limit is taken apart and never counts, the other
// rule's box still closes. (Before, a shadow limit in the step left the box
// out: no one was boxed while a shadow rule matched too.)
func TestPenaltyBesideAShadowRule(t *testing.T) {
	all := rules.Match{PathPrefixes: []string{"/"}}
	cfg := rules.Config{Mode: rules.AllMatches, Rules: []rules.Rule{
		{Name: "watch", Shadow: true, Match: all, Limits: []rules.NamedLimit{{Name: "watch", Limit: core.PerMinute(1), Key: "ip"}},
			Penalty: &core.Penalty{Denials: 1, Within: time.Minute, For: 24 * time.Hour}},
		{Name: "login", Match: all, Limits: []rules.NamedLimit{{Name: "login", Limit: core.PerMinute(2), Key: "ip"}},
			Penalty: &core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}},
	}}
	s, _ := store(t)
	serve := proxied(t, s, cfg)
	for i := 1; i <= 2; i++ {
		if r := serve("192.0.2.1", "/login"); r.status != 200 {
			t.Fatalf("attempt %d: %d, want 200 (the shadow limit never denies)", i, r.status)
		}
	}
	if r := serve("192.0.2.1", "/login"); r.status != 429 || r.h.Get("Retry-After") != "3600" {
		t.Fatalf("the denial: %d, Retry-After %q; want 429 and 3600 (login's box; the shadow rule's never)", r.status, r.h.Get("Retry-After"))
	}
}
