package otelmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// patience is the deadline of the Redis stores of tests that are not about
// deadlines: a call that misses it on a saturated machine would fall back,
// and that is not what these tests count.
const patience = 10 * time.Second

var prefixes atomic.Int64

func uniquePrefix(t testing.TB) string { return fmt.Sprintf("t%d:%s:", prefixes.Add(1), t.Name()) }

func newRedisStore(t testing.TB, client redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, append([]redisstore.Option{redisstore.WithTimeout(patience)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBreakerAndFallback kills a real Redis under a limiter: the store's
// breaker opens, the limiter falls back to the store's local memory store
// (and its failover hook says so), then Redis comes back, a probe closes the
// breaker and the limiter switches back. Every series matches the store's
// own Figures at each step.
func TestBreakerAndFallback(t *testing.T) {
	reader, m := newMetrics(t)
	srv := redistest.Start(t)
	// Through a proxy, as the store's own breaker test: the client always
	// reaches it, so it never holds back dials after failed ones (go-redis
	// retries those on a timer of its own), and a dead Redis is a closed
	// connection.
	proxy := redistest.StartProxy(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, PoolSize: 2})
	t.Cleanup(func() { client.Close() })
	clock := core.NewManualClock(t0)
	store := newRedisStore(t, client, redisstore.WithClock(clock), redisstore.WithBreaker(3, time.Second))
	local := store.LocalStore()
	sm := storeMetrics(t, m, "redis", store)
	storeMetrics(t, m, "redis-local", local)
	lim := newLimiter(t, store, core.PerMinute(100), sm.Options("api")...)
	ctx := context.Background()
	takes := 0
	take := func() error {
		t.Helper()
		takes++
		d, err := lim.Take(ctx, "203.0.113.1")
		if !d.Allowed {
			t.Fatalf("take %d: %+v, %v: want allowed, by Redis or by the fallback", takes, d, err)
		}
		return err
	}
	// figures are the series the stores report, from their own Figures.
	figures := func() map[string]float64 {
		f, lf := store.Figures(), local.(storekit.Reporter).Figures()
		return map[string]float64{
			"tollgate.breaker.open{tollgate.store=redis}":          b2f(f.BreakerOpen),
			"tollgate.breaker.openings{tollgate.store=redis}":      float64(f.BreakerOpened),
			"tollgate.store.keys{tollgate.store=redis-local}":      float64(lf.Keys),
			"tollgate.store.evictions{tollgate.store=redis-local}": float64(lf.Evicted),
			"tollgate.store.refusals{tollgate.store=redis-local}":  float64(lf.Refused),
		}
	}
	check := func(step string, active, switches float64) {
		t.Helper()
		want := figures()
		want["tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=api}"] = float64(takes)
		want["tollgate.store.duration{tollgate.store=redis,tollgate.store.mode=direct}"] = float64(takes)
		want["tollgate.fallback.active{tollgate.policy=api}"] = active
		want["tollgate.fallback.switches{tollgate.policy=api}"] = switches
		if d := diff(collect(t, reader).points, want); d != "" {
			t.Fatalf("%s:%s", step, d)
		}
	}

	for range 2 {
		if err := take(); err != nil {
			t.Fatal(err)
		}
	}
	check("Redis up", 0, 0)
	if f := store.Figures(); !f.Breaker || f.BreakerOpen || f.BreakerOpened != 0 {
		t.Fatalf("figures with Redis up: %+v", f)
	}

	srv.Kill()
	for i := range 5 {
		// Three failures open the breaker; then it answers at once.
		err := take()
		if err == nil || (i >= 3) != errors.Is(err, redisstore.ErrBreakerOpen) {
			t.Fatalf("take %d with Redis down: %v", i, err)
		}
	}
	waitFor(t, "the failover hook reporting the switch", func() bool {
		return collect(t, reader).points["tollgate.fallback.active{tollgate.policy=api}"] == 1
	})
	check("Redis down", 1, 1)
	if f := store.Figures(); !f.BreakerOpen || f.BreakerOpened != 1 {
		t.Fatalf("figures with Redis down: %+v, want the breaker open, opened once", f)
	}
	if n := figures()["tollgate.store.keys{tollgate.store=redis-local}"]; n != 1 {
		t.Fatalf("the local store holds %v keys, want the one the fallback decided", n)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// After the cool-down one probe goes through and closes the breaker.
	clock.Advance(time.Second)
	if err := take(); err != nil {
		t.Fatalf("the probe with Redis back: %v", err)
	}
	waitFor(t, "the failover hook reporting the way back", func() bool {
		return collect(t, reader).points["tollgate.fallback.active{tollgate.policy=api}"] == 0
	})
	check("Redis back", 0, 1)
	if f := store.Figures(); f.BreakerOpen || f.BreakerOpened != 1 {
		t.Fatalf("figures with Redis back: %+v, want the breaker closed, opened once", f)
	}
}

// TestLeasesAndBatches drives a batching store and a store in lease mode on
// a shared Redis, and a memory store: the lease and batch series equal the
// stores' Figures, and every instrument has the name, unit and kind the
// package documents.
func TestLeasesAndBatches(t *testing.T) {
	reader, m := newMetrics(t)
	client := redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true, PoolSize: 8})
	clock := core.NewManualClock(t0)
	prefix := uniquePrefix(t)
	ctx := context.Background()

	batched := newRedisStore(t, client, redisstore.WithPrefix(prefix+"b:"), redisstore.WithClock(clock), redisstore.WithBatching(8, 0))
	batch := newLimiter(t, batched, core.PerMinute(1000), storeMetrics(t, m, "batched", batched).Options("batch")...)
	// One at a time, each call is a batch of its own.
	for i := range 10 {
		if d, err := batch.Take(ctx, "k"); err != nil || !d.Allowed {
			t.Fatalf("batched take %d: %+v, %v", i, d, err)
		}
	}
	if f := batched.Figures(); f.Batches != 10 || f.BatchedCalls != 10 {
		t.Fatalf("after 10 serial calls: %+v, want 10 batches of 1", f)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 4 {
				if d, err := batch.Take(ctx, fmt.Sprintf("k%d", g)); err != nil || !d.Allowed {
					t.Errorf("concurrent take %d/%d: %+v, %v", g, i, d, err)
				}
			}
		})
	}
	wg.Wait()

	base := newRedisStore(t, client, redisstore.WithPrefix(prefix+"l:"), redisstore.WithClock(clock))
	leased, err := redisstore.NewLeased(base, redisstore.LeaseConfig{MinPrefetch: 20, HotThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	tenant := newLimiter(t, leased, core.Limit{Rate: 1000, Period: time.Hour}, storeMetrics(t, m, "leased", leased).Options("tenant")...)
	for i := range 50 {
		if d, err := tenant.Take(ctx, "acme"); err != nil || !d.Allowed {
			t.Fatalf("leased take %d: %+v, %v", i, d, err)
		}
	}

	mem := newMemstore(t, memstore.WithClock(clock))
	memLim := newLimiter(t, mem, core.PerMinute(10), storeMetrics(t, m, "memory", mem).Options("api")...)
	memLim.Take(ctx, "k")
	memLim.Settle(ctx, "k", 1, 2)

	// figures are the stores' series, from their own Figures.
	figures := func() map[string]float64 {
		fb, fl, fm := batched.Figures(), leased.Figures(), mem.Figures()
		return map[string]float64{
			"tollgate.breaker.open{tollgate.store=batched}":         b2f(fb.BreakerOpen),
			"tollgate.breaker.openings{tollgate.store=batched}":     float64(fb.BreakerOpened),
			"tollgate.store.batches{tollgate.store=batched}":        float64(fb.Batches),
			"tollgate.store.batched_calls{tollgate.store=batched}":  float64(fb.BatchedCalls),
			"tollgate.breaker.open{tollgate.store=leased}":          b2f(fl.BreakerOpen),
			"tollgate.breaker.openings{tollgate.store=leased}":      float64(fl.BreakerOpened),
			"tollgate.lease.grants{tollgate.store=leased}":          float64(fl.LeaseGrants),
			"tollgate.lease.tokens.granted{tollgate.store=leased}":  float64(fl.LeaseGranted),
			"tollgate.lease.tokens.returned{tollgate.store=leased}": float64(fl.LeaseGivenBack),
			"tollgate.lease.hot_keys{tollgate.store=leased}":        float64(fl.LeaseHot),
			"tollgate.store.keys{tollgate.store=memory}":            float64(fm.Keys),
			"tollgate.store.evictions{tollgate.store=memory}":       float64(fm.Evicted),
			"tollgate.store.refusals{tollgate.store=memory}":        float64(fm.Refused),
		}
	}
	prefixes := []string{"tollgate.breaker.", "tollgate.store.batch", "tollgate.lease.", "tollgate.store.keys", "tollgate.store.evictions", "tollgate.store.refusals"}
	// A refill may still be in flight: wait until a collection and the
	// figures read after it agree.
	var s snapshot
	waitFor(t, "the lease figures settling", func() bool {
		s = collect(t, reader)
		return diff(s.only(prefixes...), figures()) == ""
	})
	f := leased.Figures()
	if f.LeaseGrants < 2 || f.LeaseGranted < 40 || f.LeaseHot != 1 {
		t.Fatalf("lease figures after 50 takes on one key: %+v, want a hot key and grants", f)
	}
	if fb := batched.Figures(); fb.BatchedCalls != 42 || fb.Batches > 42 || fb.Batches < 42/8 {
		t.Fatalf("batch figures after 42 calls: %+v", fb)
	}
	// Closing the leased store gives its unused tokens back.
	if err := leased.Close(); err != nil {
		t.Fatal(err)
	}
	s = collect(t, reader)
	if d := diff(s.only(prefixes...), figures()); d != "" {
		t.Fatalf("after the leased store closed:%s", d)
	}
	if f := leased.Figures(); f.LeaseGivenBack == 0 && f.LeaseGranted != 50 {
		t.Errorf("closed with %d tokens granted, 50 used, and none given back", f.LeaseGranted)
	}
	for policy, n := range map[string]float64{"batch": 42, "tenant": 50, "api": 1} {
		if got := s.points["tollgate.decisions{tollgate.outcome=allowed,tollgate.policy="+policy+"}"]; got != n {
			t.Errorf("%s: %v allowed, want %v", policy, got, n)
		}
	}
	for series, n := range map[string]float64{
		"tollgate.store.duration{tollgate.store=batched,tollgate.store.mode=batched}": 42,
		"tollgate.store.duration{tollgate.store=leased,tollgate.store.mode=leased}":   50,
		"tollgate.store.duration{tollgate.store=memory,tollgate.store.mode=direct}":   1,
	} {
		if got := s.points[series]; got != n {
			t.Errorf("%s = %v, want %v", series, got, n)
		}
	}
	checkShapes(t, s)
}

// checkShapes checks each instrument's name, unit and kind, as the package
// documents them (a counter is a monotonic cumulative sum, an up-down
// counter a non-monotonic one), and that s has every one.
func checkShapes(t *testing.T, s snapshot) {
	t.Helper()
	type shape struct{ unit, kind string }
	want := map[string]shape{
		"tollgate.decisions":             {"{decision}", "counter"},
		"tollgate.settlements":           {"{settlement}", "counter"},
		"tollgate.store.duration":        {"s", "histogram"},
		"tollgate.fallback.active":       {"{limiter}", "updown"},
		"tollgate.fallback.switches":     {"{switch}", "counter"},
		"tollgate.breaker.open":          {"1", "gauge"},
		"tollgate.breaker.openings":      {"{opening}", "counter"},
		"tollgate.store.keys":            {"{key}", "updown"},
		"tollgate.store.evictions":       {"{key}", "counter"},
		"tollgate.store.refusals":        {"{request}", "counter"},
		"tollgate.lease.grants":          {"{grant}", "counter"},
		"tollgate.lease.tokens.granted":  {"{token}", "counter"},
		"tollgate.lease.tokens.returned": {"{token}", "counter"},
		"tollgate.lease.hot_keys":        {"{key}", "updown"},
		"tollgate.store.batches":         {"{batch}", "counter"},
		"tollgate.store.batched_calls":   {"{call}", "counter"},
	}
	for name, w := range want {
		mt, ok := s.metrics[name]
		if !ok {
			t.Errorf("%s: not collected", name)
			continue
		}
		kind := ""
		switch d := mt.Data.(type) {
		case metricdata.Sum[int64]:
			kind = "updown"
			if d.IsMonotonic {
				kind = "counter"
			}
			if d.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: temporality %v", name, d.Temporality)
			}
		case metricdata.Gauge[int64]:
			kind = "gauge"
		case metricdata.Histogram[float64]:
			kind = "histogram"
		}
		if mt.Unit != w.unit || kind != w.kind || mt.Description == "" {
			t.Errorf("%s: unit %q, %s, description %q; want unit %q, %s, a description", name, mt.Unit, kind, mt.Description, w.unit, w.kind)
		}
	}
	for name := range s.metrics {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: an instrument this test does not know", name)
		}
	}
}
