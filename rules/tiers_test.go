package rules_test

import (
	"testing"

	"github.com/tollgate-go/tollgate/rules"
)

// TestTiers: a limit with tiers takes each request under the tier its tier
// key names (the default for none or an unknown one), counts every tier
// under one key, and reports the tier's quota.
func TestTiers(t *testing.T) {
	s, _ := store(t)
	cfg, err := rules.Parse("rules.yaml", []byte(`rules:
  - name: api
    match: {path_prefix: /api/}
    limits:
      - name: api-per-key
        key: "header:X-Api-Key"
        tiers: {free: 2/m fixed-window, pro: 5/m fixed-window}
        tier_key: "header:X-Plan"
        default_tier: free
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	steps := []struct {
		name             string
		header           []string
		status           int
		limit, remaining string
		policy           string
	}{
		{"pro", []string{"X-Api-Key", "k1", "X-Plan", "pro"}, 200, "5", "4", `"api-per-key";q=5;w=60`},
		{"pro again", []string{"X-Api-Key", "k1", "X-Plan", "pro"}, 200, "5", "3", `"api-per-key";q=5;w=60`},
		{"free, with pro's two counted", []string{"X-Api-Key", "k1", "X-Plan", "free"}, 429, "2", "0", `"api-per-key";q=2;w=60`},
		{"no plan is free", []string{"X-Api-Key", "k2"}, 200, "2", "1", `"api-per-key";q=2;w=60`},
		{"an unknown plan is free", []string{"X-Api-Key", "k2", "X-Plan", "gold"}, 200, "2", "0", `"api-per-key";q=2;w=60`},
		{"and its quota is spent", []string{"X-Api-Key", "k2", "X-Plan", "gold"}, 429, "2", "0", `"api-per-key";q=2;w=60`},
	}
	for _, st := range steps {
		r := get(t, srv, "GET", "/api/x", st.header...)
		if r.status != st.status || r.h.Get("X-RateLimit-Limit") != st.limit || r.h.Get("X-RateLimit-Remaining") != st.remaining || r.h.Get("RateLimit-Policy") != st.policy {
			t.Errorf("%s: %d, limit %q, remaining %q, policy %q; want %d, %q, %q, %q", st.name, r.status,
				r.h.Get("X-RateLimit-Limit"), r.h.Get("X-RateLimit-Remaining"), r.h.Get("RateLimit-Policy"), st.status, st.limit, st.remaining, st.policy)
		}
	}
}
