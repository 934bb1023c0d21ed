package otelmetrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// TestCardinalityIsBoundedByConfiguration sends 100,000 distinct clients
// through two limiters (one enforcing, one in shadow mode) over one memory
// store. The series collected are bounded by the configuration (policies ×
// outcomes, plus a fixed number per policy and per store), whatever the
// clients, and no attribute holds a key.
func TestCardinalityIsBoundedByConfiguration(t *testing.T) {
	const clients = 100_000
	reader, m := newMetrics(t)
	store := newMemstore(t, memstore.WithClock(core.NewManualClock(t0)))
	sm := storeMetrics(t, m, "memory", store)
	api := newLimiter(t, store, core.PerMinute(1), sm.Options("api")...)
	beta := newLimiter(t, store, core.PerMinute(1), append(sm.Options("beta"), core.WithShadow())...)
	// Limiters named elsewhere (as the rules module names its limits),
	// reporting through Hook.
	hook := sm.Hook()
	ruled := newLimiter(t, store, core.PerMinute(1), core.WithName("ruled"), core.WithHook(hook))
	ctx := context.Background()
	keys := make(map[string]bool, clients)
	for i := range clients {
		key := fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)
		keys[key] = true
		api.Take(ctx, key) // allowed
		api.Take(ctx, key) // denied
		if i%100 == 0 {
			beta.Take(ctx, key) // allowed
			beta.Take(ctx, key) // shadow-denied
			ruled.Take(ctx, key)
		}
	}
	s := collect(t, reader)

	const (
		policies         = 3
		decisionOutcomes = 5 // allowed, denied, shadow-denied, penalty, error
		settleOutcomes   = 2
		fallbackSeries   = 2 // active and switches, per policy given Options
		stores           = 1
		perStore         = 4 // latency (one mode per store), keys, evictions, refusals
	)
	bound := policies*(decisionOutcomes+settleOutcomes+fallbackSeries) + stores*perStore
	if len(s.points) > bound {
		t.Errorf("%d series after %d clients, over the bound of %d the configuration allows", len(s.points), clients, bound)
	}
	want := map[string]float64{
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=api}":          clients,
		"tollgate.decisions{tollgate.outcome=denied,tollgate.policy=api}":           clients,
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=beta}":         clients / 100,
		"tollgate.decisions{tollgate.outcome=shadow-denied,tollgate.policy=beta}":   clients / 100,
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=ruled}":        clients / 100,
		"tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}": 2*clients + 3*clients/100,
		"tollgate.store.keys{tollgate.store=memory}":                                float64(store.Figures().Keys),
		"tollgate.store.evictions{tollgate.store=memory}":                           0,
		"tollgate.store.refusals{tollgate.store=memory}":                            0,
		"tollgate.fallback.active{tollgate.policy=api}":                             0,
		"tollgate.fallback.switches{tollgate.policy=api}":                           0,
		"tollgate.fallback.active{tollgate.policy=beta}":                            0,
		"tollgate.fallback.switches{tollgate.policy=beta}":                          0,
	}
	if d := diff(s.points, want); d != "" {
		t.Errorf("collected series:%s", d)
	}
	if n := store.Figures().Keys; n != clients+clients/100*2 {
		t.Errorf("the store holds %d keys, want one per client and limiter", n)
	}
	known := map[string]bool{"tollgate.policy": true, "tollgate.outcome": true, "tollgate.store": true, "tollgate.store.mode": true}
	for _, kv := range s.attrs {
		if !known[string(kv.Key)] {
			t.Errorf("attribute %s: not one the package documents", kv.Key)
		}
		if keys[kv.Value.Emit()] {
			t.Fatalf("attribute %s holds a client's key, %q", kv.Key, kv.Value.Emit())
		}
	}
}

// TestPolicyNamesPastTheBoundCountAsOverflow: names are configuration, but
// an application that passes something else (a rule name built from a
// request) still gets a bounded number of series: past 1024 policies,
// decisions count under "(overflow)".
func TestPolicyNamesPastTheBoundCountAsOverflow(t *testing.T) {
	reader, m := newMetrics(t)
	for i := range 1100 {
		m.Answer(context.Background(), fmt.Sprintf("rule-%d", i), "deny-listed")
	}
	s := collect(t, reader)
	if n := len(s.only("tollgate.decisions{")); n != 1025 {
		t.Errorf("%d decision series for 1100 rule names, want 1024 and the overflow", n)
	}
	for series, want := range map[string]float64{
		"tollgate.decisions{tollgate.outcome=deny-listed,tollgate.policy=rule-0}":     1,
		"tollgate.decisions{tollgate.outcome=deny-listed,tollgate.policy=rule-1023}":  1,
		"tollgate.decisions{tollgate.outcome=deny-listed,tollgate.policy=(overflow)}": 1100 - 1024,
	} {
		if got := s.points[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
