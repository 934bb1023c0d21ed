package otelmetrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

const rulesYAML = `
deny:
  keys: [{key: "header:X-Api-Key", values: [revoked-key]}]
rules:
  - name: api
    match: {path_prefix: /api/}
    limits:
      - {name: api-per-key, limit: 2/m, key: "header:X-Api-Key"}
    missing: {action: deny}
`

// TestRulesThroughARealServer wires the metrics to a rules engine as the
// package documents it (Hook for the limits the rules name, Answer for
// their own answers, FailoverHook for every limit) and sends real HTTP
// requests through it: the limits' decisions count under their names, the
// deny list's and a missing key's answers under the rules'.
func TestRulesThroughARealServer(t *testing.T) {
	reader, m := newMetrics(t)
	store := newMemstore(t, memstore.WithClock(core.NewManualClock(t0)))
	sm := storeMetrics(t, m, "memory", store)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := sm.Hook()
	e, err := rules.Load(store, path,
		rules.WithHook(func(ctx context.Context, ev rules.Event) {
			if ev.Answer != "" {
				m.Answer(ctx, ev.Rule, ev.Answer)
				return
			}
			hook(ctx, ev.Event)
		}),
		rules.WithLimiterOptions(core.WithFailoverHook(m.FailoverHook("rules"))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	srv := httptest.NewServer(e.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	t.Cleanup(srv.Close)

	for _, c := range []struct {
		key    string
		status int
	}{
		{"key-1", 200}, {"key-1", 200}, {"key-1", 429}, {"key-2", 200},
		{"revoked-key", 403},
		{"", 401},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/items", nil)
		if c.key != "" {
			req.Header.Set("X-Api-Key", c.key)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("key %q: status %d, want %d", c.key, resp.StatusCode, c.status)
		}
	}

	want := map[string]float64{
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=api-per-key}":   3,
		"tollgate.decisions{tollgate.outcome=denied,tollgate.policy=api-per-key}":    1,
		"tollgate.decisions{tollgate.outcome=deny-listed,tollgate.policy=deny-list}": 1,
		"tollgate.decisions{tollgate.outcome=no-key,tollgate.policy=api}":            1,
		"tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}":  4,
		"tollgate.fallback.active{tollgate.policy=rules}":                            0,
		"tollgate.fallback.switches{tollgate.policy=rules}":                          0,
		"tollgate.store.keys{tollgate.store=memory}":                                 float64(store.Figures().Keys),
		"tollgate.store.evictions{tollgate.store=memory}":                            0,
		"tollgate.store.refusals{tollgate.store=memory}":                             0,
	}
	if d := diff(collect(t, reader).points, want); d != "" {
		t.Errorf("collected series:%s", d)
	}
	if n := store.Figures().Keys; n != 2 {
		t.Errorf("the store holds %d keys, want the two clients'", n)
	}
}
