package otelmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/otelmetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// TestMemoryScript drives limiters over two real memory stores on a manual
// clock through every outcome a limiter's hook reports (allowed, denied,
// shadow-denied, penalty, error), the rules' answers, settlements, a flood
// that evicts keys and a full store that refuses one, and asserts every
// series the reader collects, the stores' series equal to the stores' own
// Figures.
func TestMemoryScript(t *testing.T) {
	reader, m := newMetrics(t)
	clock := core.NewManualClock(t0)
	mem := newMemstore(t, memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(16))
	tight := newMemstore(t, memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(4))
	smMem := storeMetrics(t, m, "memory", mem)
	smTight := storeMetrics(t, m, "tight", tight)
	api := newLimiter(t, mem, core.PerMinute(3), smMem.Options("api")...)
	beta := newLimiter(t, mem, core.PerMinute(1), append(smMem.Options("beta"), core.WithShadow())...)
	boxed := newLimiter(t, mem, core.PerMinute(1), smMem.Options("boxed")...)
	login := newLimiter(t, tight, core.PerMinute(1), smTight.Options("login")...)
	ctx := context.Background()

	take := func(l *core.Limiter, key string, want core.Reason) {
		t.Helper()
		d, err := l.Take(ctx, key)
		if d.Reason != want {
			t.Fatalf("%s: take %q: %v (%v), want %v", l.Name(), key, d.Reason, err, want)
		}
	}
	for range 3 {
		take(api, "203.0.113.1", core.ReasonOK)
	}
	take(api, "203.0.113.1", core.ReasonLimited)
	take(api, "203.0.113.1", core.ReasonLimited)
	take(api, "", core.ReasonInvalid)
	take(beta, "203.0.113.2", core.ReasonOK)
	take(beta, "203.0.113.2", core.ReasonShadow)
	take(beta, "203.0.113.2", core.ReasonShadow)
	// A penalty box closed by one denial: allowed, denied (boxed), penalty.
	boxes := []core.Box{{Key: "box:203.0.113.3", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Minute}}}
	for _, want := range []core.Reason{core.ReasonOK, core.ReasonLimited, core.ReasonPenalty} {
		ds := make([]core.Decision, 1)
		core.TakeAllBoxed(ctx, boxes, []*core.Limiter{boxed}, []string{"203.0.113.3"}, ds)
		if ds[0].Reason != want {
			t.Fatalf("boxed step: %v, want %v", ds[0].Reason, want)
		}
	}
	if _, err := api.Settle(ctx, "203.0.113.1", 1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Settle(ctx, "", 1, 3); !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("settling an empty key: %v, want ErrInvalidKey", err)
	}
	// The tight store holds 4 keys; once each is limited, a fifth is refused.
	for i := range 4 {
		take(login, fmt.Sprintf("198.51.100.%d", i), core.ReasonOK)
	}
	take(login, "198.51.100.99", core.ReasonLimited)
	// A flood of one-shot clients: the store keeps 16 keys and evicts the
	// unlimited ones to make room.
	for i := range 40 {
		take(api, fmt.Sprintf("192.0.2.%d", i), core.ReasonOK)
	}
	m.Answer(ctx, "blocklist", "deny-listed")
	m.Answer(ctx, "blocklist", "deny-listed")
	m.Answer(ctx, "by-tenant", "no-key")
	m.Answer(ctx, "blocklist", "<script>alert(1)</script>")

	s := collect(t, reader)
	fm, ft := mem.Figures(), tight.Figures()
	if fm.Evicted == 0 || fm.Keys != 16 || ft.Refused != 1 || ft.Keys != 4 {
		t.Fatalf("the script did not do what it says: memory %+v, tight %+v", fm, ft)
	}
	want := map[string]float64{
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=api}":           43,
		"tollgate.decisions{tollgate.outcome=denied,tollgate.policy=api}":            2,
		"tollgate.decisions{tollgate.outcome=error,tollgate.policy=api}":             1,
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=beta}":          1,
		"tollgate.decisions{tollgate.outcome=shadow-denied,tollgate.policy=beta}":    2,
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=boxed}":         1,
		"tollgate.decisions{tollgate.outcome=denied,tollgate.policy=boxed}":          1,
		"tollgate.decisions{tollgate.outcome=penalty,tollgate.policy=boxed}":         1,
		"tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=login}":         4,
		"tollgate.decisions{tollgate.outcome=denied,tollgate.policy=login}":          1,
		"tollgate.decisions{tollgate.outcome=deny-listed,tollgate.policy=blocklist}": 2,
		"tollgate.decisions{tollgate.outcome=other,tollgate.policy=blocklist}":       1,
		"tollgate.decisions{tollgate.outcome=no-key,tollgate.policy=by-tenant}":      1,
		"tollgate.settlements{tollgate.outcome=settled,tollgate.policy=api}":         1,
		"tollgate.settlements{tollgate.outcome=settle-error,tollgate.policy=api}":    1,
		// Every decision that reached a store, invalid input excepted.
		"tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}": 45 + 3 + 3,
		"tollgate.store.duration{tollgate.store=tight,tollgate.store.mode=direct}":  5,
		"tollgate.store.keys{tollgate.store=memory}":                                float64(fm.Keys),
		"tollgate.store.evictions{tollgate.store=memory}":                           float64(fm.Evicted),
		"tollgate.store.refusals{tollgate.store=memory}":                            float64(fm.Refused),
		"tollgate.store.keys{tollgate.store=tight}":                                 float64(ft.Keys),
		"tollgate.store.evictions{tollgate.store=tight}":                            float64(ft.Evicted),
		"tollgate.store.refusals{tollgate.store=tight}":                             float64(ft.Refused),
	}
	for _, p := range []string{"api", "beta", "boxed", "login"} {
		want["tollgate.fallback.active{tollgate.policy="+p+"}"] = 0
		want["tollgate.fallback.switches{tollgate.policy="+p+"}"] = 0
	}
	if d := diff(s.points, want); d != "" {
		t.Errorf("collected series:%s", d)
	}
	// The histogram's buckets are the default bounds, 1µs to 1s.
	h := s.histograms["tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}"]
	if len(h.Bounds) != 19 || h.Bounds[0] != 1e-6 || h.Bounds[18] != 1 {
		t.Errorf("latency bounds %v, want 1µs to 1s", h.Bounds)
	}
	if h.Sum <= 0 || h.Sum > float64(h.Count)*10 {
		t.Errorf("latency sum %vs over %d decisions", h.Sum, h.Count)
	}
}

func TestNewAndStoreRefuseBadInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		bounds []float64
	}{
		{"no bounds", []float64{}},
		{"descending", []float64{0.1, 0.01}},
		{"twice the same", []float64{0.01, 0.01}},
		{"zero", []float64{0, 1}},
		{"negative", []float64{-1, 1}},
	} {
		if _, err := otelmetrics.New(nil, otelmetrics.WithLatencyBounds(c.bounds...)); err == nil || !strings.HasPrefix(err.Error(), "otelmetrics: latency bounds") {
			t.Errorf("%s: %v, want an error naming the latency bounds", c.name, err)
		}
	}
	reader, m := newMetrics(t, otelmetrics.WithLatencyBounds(0.001, 0.01))
	store := newMemstore(t)
	if _, err := m.Store("", store); err == nil {
		t.Error("an empty store name was accepted")
	}
	if _, err := m.Store("memory", nil); err == nil {
		t.Error("a nil store was accepted")
	}
	sm := storeMetrics(t, m, "memory", store)
	if _, err := m.Store("memory", newMemstore(t)); err == nil || !strings.Contains(err.Error(), `"memory": already given`) {
		t.Errorf("a second store named memory: %v, want an error", err)
	}
	if _, err := core.NewLimiter(store, core.PerMinute(1), sm.Options("bad\"name")...); err == nil {
		t.Error("a policy name core.WithName refuses was accepted")
	}
	lim := newLimiter(t, store, core.PerMinute(1), sm.Options("api")...)
	lim.Take(context.Background(), "k")
	s := collect(t, reader)
	if h := s.histograms["tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}"]; len(h.Bounds) != 2 || h.Bounds[1] != 0.01 {
		t.Errorf("latency bounds %v, want [0.001 0.01] (WithLatencyBounds)", h.Bounds)
	}
}

// TestTheHookAllocatesNothing: a decision reported to the metrics costs no
// allocation beyond the limiter's own (none on a memory store).
func TestTheHookAllocatesNothing(t *testing.T) {
	_, m := newMetrics(t)
	store := newMemstore(t)
	lim := newLimiter(t, store, core.PerSecond(1_000_000_000), storeMetrics(t, m, "memory", store).Options("api")...)
	ctx := context.Background()
	lim.Take(ctx, "k") // the key's state, and the series, made once
	if n := testing.AllocsPerRun(1000, func() { lim.Take(ctx, "k") }); n != 0 {
		t.Errorf("%v allocations per decision with metrics on, want 0", n)
	}
}
