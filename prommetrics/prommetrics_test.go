package prommetrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// scraper serves a registry through a real promhttp handler and parses
// what it serves with Prometheus' own text parser.
type scraper struct {
	t   *testing.T
	srv *httptest.Server
}

func newScraper(t *testing.T, cs ...prometheus.Collector) *scraper {
	reg := prometheus.NewPedanticRegistry() // also checks every metric against its description
	for _, c := range cs {
		reg.MustRegister(c)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)
	return &scraper{t, srv}
}

type families map[string]*dto.MetricFamily

func (s *scraper) scrape() families {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		s.t.Fatalf("scrape: %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		s.t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// get returns the value of the series of name with exactly labels (for a
// histogram, its sample count), and whether there is one.
func (f families) get(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for _, lp := range m.Label {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (f families) want(t *testing.T, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := f.get(name, labels...)
	if !ok || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

// must returns v, and fails the test (by a panic, which the test reports
// with its stack) on an error in setting it up.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A scripted sequence on a memory store and on Redis, scraped over HTTP:
// every decision counted under its policy and outcome, the store latency
// observed per store and mode, a fallback switch and back, a breaker
// opening and closing, evictions, lease grants and batch sizes, each as
// the store's own figures say.
func TestScriptedSequence(t *testing.T) {
	ctx := context.Background()
	clock := core.NewManualClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	m := must(prommetrics.New())
	sc := newScraper(t, m)

	// Memory: 16 keys at most, so that more clients evict some.
	mem := must(memstore.New(memstore.WithClock(clock), memstore.WithShards(1), memstore.WithMaxKeys(16)))
	t.Cleanup(func() { mem.Close() })
	ms := must(m.Store("mem", mem))
	api := must(core.NewLimiter(mem, core.PerMinute(3), ms.Options("api")...))
	for i := 0; i < 5; i++ { // 3 allowed, 2 denied
		api.Take(ctx, "alice")
	}
	shadow := must(core.NewLimiter(mem, core.PerMinute(1), append(ms.Options("shadow"), core.WithShadow())...))
	shadow.Take(ctx, "bob")
	shadow.Take(ctx, "bob") // shadow-denied
	boxed := must(core.NewLimiter(mem, core.PerMinute(1), ms.Options("boxed")...))
	box := []core.Box{{Key: "box:carol", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}}
	for i := 0; i < 3; i++ { // allowed, denied (the box closes), penalty
		var d [1]core.Decision
		core.TakeAllBoxed(ctx, box, []*core.Limiter{boxed}, []string{"carol"}, d[:])
	}
	many := must(core.NewLimiter(mem, core.PerMinute(100), ms.Options("many")...))
	for i := 0; i < 40; i++ { // 40 clients into 16 keys: evictions
		many.Take(ctx, fmt.Sprintf("client-%d", i))
	}
	bytes := must(core.NewLimiter(mem, core.PerMinute(1000), ms.Options("bytes")...))
	bytes.Take(ctx, "dave")
	bytes.Settle(ctx, "dave", 1, 300)
	bytes.Settle(ctx, "dave", 1, -1) // a bad report: an error
	uploads := must(core.NewConcurrencyLimiter(mem, 1, ms.Options("uploads")...))
	slot, _, _ := uploads.Acquire(ctx, "hal")
	uploads.Acquire(ctx, "hal") // denied: one in flight
	slot.Release()
	m.Answer("admin", "deny-listed")
	m.Answer("admin", "no-key")

	// Redis, through a proxy, with a breaker that opens after 2 failures.
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, PoolSize: 2})
	t.Cleanup(func() { client.Close() })
	rs := must(redisstore.New(client, redisstore.WithClock(clock), redisstore.WithBreaker(2, time.Second), redisstore.WithTimeout(10*time.Second)))
	t.Cleanup(func() { rs.Close() })
	rsm := must(m.Store("redis", rs))
	// remote falls back to the store's local store when Redis fails.
	remote := must(core.NewLimiter(rs, core.PerMinute(100), rsm.Options("remote")...))
	remote.Take(ctx, "erin") // Redis decides
	srv.Kill()
	remote.Take(ctx, "erin") // a failure: the fallback decides
	remote.Take(ctx, "erin") // the second: the breaker opens
	remote.Take(ctx, "erin") // the breaker is open
	f := sc.scrape()
	f.want(t, 1, "tollgate_breaker_open", "store", "redis")
	f.want(t, 1, "tollgate_breaker_openings_total", "store", "redis")
	waitFor(t, sc, 1, "tollgate_fallback_active", "policy", "remote")
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if d, err := remote.Take(ctx, "erin"); err != nil || !d.Allowed { // the probe: Redis decides again
		t.Fatalf("after the restart: %+v, %v", d, err)
	}
	waitFor(t, sc, 0, "tollgate_fallback_active", "policy", "remote")

	// Lease mode and batching, on a shared server of their own.
	shared := redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true})
	base := must(redisstore.New(shared, redisstore.WithPrefix("prommetrics-lease:"), redisstore.WithClock(clock)))
	t.Cleanup(func() { base.Close() })
	leased := must(redisstore.NewLeased(base, redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 40}))
	lsm := must(m.Store("leased", leased))
	hot := must(core.NewLimiter(leased, core.Limit{Rate: 100, Period: time.Hour}, lsm.Options("hot")...))
	for i := 0; i < 3; i++ {
		hot.Take(ctx, "frank")
	}
	batched := must(redisstore.New(shared, redisstore.WithPrefix("prommetrics-batch:"), redisstore.WithClock(clock), redisstore.WithBatching(64, 0)))
	t.Cleanup(func() { batched.Close() })
	bsm := must(m.Store("batched", batched))
	bl := must(core.NewLimiter(batched, core.PerMinute(100), bsm.Options("batch")...))
	for i := 0; i < 5; i++ {
		bl.Take(ctx, "gina")
	}

	f = sc.scrape()
	for _, c := range []struct {
		policy, outcome string
		n               float64
	}{
		{"api", "allowed", 3}, {"api", "denied", 2},
		{"shadow", "allowed", 1}, {"shadow", "shadow-denied", 1},
		{"boxed", "allowed", 1}, {"boxed", "denied", 1}, {"boxed", "penalty", 1},
		{"many", "allowed", 40}, {"bytes", "allowed", 1},
		{"admin", "deny-listed", 1}, {"admin", "no-key", 1},
		{"uploads", "allowed", 1}, {"uploads", "denied", 1},
		{"remote", "allowed", 5}, {"hot", "allowed", 3}, {"batch", "allowed", 5},
	} {
		f.want(t, c.n, "tollgate_decisions_total", "policy", c.policy, "outcome", c.outcome)
	}
	f.want(t, 0, "tollgate_decisions_total", "policy", "api", "outcome", "error")
	f.want(t, 1, "tollgate_settlements_total", "policy", "bytes", "outcome", "settled")
	f.want(t, 1, "tollgate_settlements_total", "policy", "bytes", "outcome", "error")
	// Every memory decision's latency, and Redis' own two (not the
	// fallback's).
	f.want(t, 5+2+3+40+1+2, "tollgate_store_latency_seconds", "store", "mem", "mode", "direct")
	f.want(t, 0, "tollgate_fallback_active", "policy", "uploads")
	f.want(t, 2, "tollgate_store_latency_seconds", "store", "redis", "mode", "direct")
	f.want(t, 5, "tollgate_store_latency_seconds", "store", "batched", "mode", "batched")
	f.want(t, 1, "tollgate_fallback_switches_total", "policy", "remote")
	f.want(t, 0, "tollgate_fallback_switches_total", "policy", "api")
	f.want(t, 0, "tollgate_breaker_open", "store", "redis")
	f.want(t, 1, "tollgate_breaker_openings_total", "store", "redis")

	// The stores' own figures, as the stores tell them.
	mf := mem.Figures()
	if mf.Evicted == 0 {
		t.Fatal("40 clients in 16 keys evicted none: the scenario tests nothing")
	}
	f.want(t, float64(mf.Keys), "tollgate_store_keys", "store", "mem")
	f.want(t, float64(mf.Evicted), "tollgate_store_evictions_total", "store", "mem")
	f.want(t, float64(mf.Refused), "tollgate_store_refusals_total", "store", "mem")
	lf := leased.Figures()
	if lf.LeaseGrants == 0 {
		t.Fatal("no lease was granted")
	}
	f.want(t, float64(lf.LeaseGrants), "tollgate_lease_grants_total", "store", "leased")
	f.want(t, float64(lf.LeaseGranted), "tollgate_lease_tokens_granted_total", "store", "leased")
	f.want(t, 0, "tollgate_lease_tokens_returned_total", "store", "leased")
	f.want(t, 1, "tollgate_lease_hot_keys", "store", "leased")
	bf := batched.Figures()
	f.want(t, float64(bf.Batches), "tollgate_batch_size", "store", "batched")
	if h := histogram(f, "tollgate_batch_size", "batched"); h.GetSampleSum() != float64(bf.BatchedCalls) || h.GetSampleCount() < 5 {
		t.Errorf("batch sizes %v, want the store's %d calls in %d batches", h, bf.BatchedCalls, bf.Batches)
	}
	// A store's figures appear only where they apply.
	if _, ok := f.get("tollgate_store_keys", "store", "redis"); ok {
		t.Error("a Redis store reported memory-store keys")
	}
	if _, ok := f.get("tollgate_breaker_open", "store", "mem"); ok {
		t.Error("a memory store reported a breaker")
	}
	if err := leased.Close(); err != nil {
		t.Fatal(err)
	}
	lf = leased.Figures()
	sc.scrape().want(t, float64(lf.LeaseGivenBack), "tollgate_lease_tokens_returned_total", "store", "leased")
	if lf.LeaseGivenBack == 0 {
		t.Error("Close gave no token back: the scenario tests nothing")
	}
}

func histogram(f families, name, store string) *dto.Histogram {
	for _, m := range f[name].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "store" && l.GetValue() == store {
				return m.Histogram
			}
		}
	}
	return nil
}

// waitFor scrapes until a series has value v: the failover hook runs on a
// goroutine of its own.
func waitFor(t *testing.T, sc *scraper, v float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := sc.scrape().get(name, labels...)
		if got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v after 30s, want %v", name, labels, got, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// 100,000 clients leave the number of series where the configuration puts
// it, and no label value is a client's key.
func TestCardinalityIsBoundedByConfiguration(t *testing.T) {
	ctx := context.Background()
	m := must(prommetrics.New())
	sc := newScraper(t, m)
	mem := must(memstore.New())
	t.Cleanup(func() { mem.Close() })
	ms := must(m.Store("mem", mem))
	a := must(core.NewLimiter(mem, core.PerHour(1), ms.Options("a")...))
	b := must(core.NewLimiter(mem, core.PerHour(1), ms.Options("b")...))
	for i := 0; i < 100_000; i++ {
		key := fmt.Sprintf("203.0.%d.%d", i>>8&255, i&255) + fmt.Sprint(i)
		a.Take(ctx, key)
		a.Take(ctx, key) // denied
		b.Take(ctx, key)
	}
	f := sc.scrape()
	series := 0
	for name, fam := range f {
		if !strings.HasPrefix(name, "tollgate_") {
			continue
		}
		series += len(fam.Metric)
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if strings.HasPrefix(l.GetValue(), "203.0.") {
					t.Fatalf("%s has a label holding a key: %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	// 2 policies × 5 outcomes of decisions and 2 of settlements, a
	// fallback gauge and switch counter each; one latency histogram; the
	// memory store's three figures.
	if want := 2*5 + 2*2 + 2*2 + 1 + 3; series != want {
		t.Errorf("%d series after 100,000 clients, want %d", series, want)
	}
	f.want(t, 100_000, "tollgate_decisions_total", "policy", "a", "outcome", "denied")
}

func TestBadConfiguration(t *testing.T) {
	if _, err := prommetrics.New(prommetrics.WithNamespace("")); err == nil || !strings.Contains(err.Error(), "WithNamespace") {
		t.Errorf("an empty namespace: %v", err)
	}
	if _, err := prommetrics.New(prommetrics.WithLatencyBuckets([]float64{0.1, 0.05})); err == nil || !strings.Contains(err.Error(), "WithLatencyBuckets") {
		t.Errorf("buckets out of order: %v", err)
	}
	m := must(prommetrics.New())
	mem := must(memstore.New())
	t.Cleanup(func() { mem.Close() })
	must(m.Store("mem", mem))
	if _, err := m.Store("mem", mem); err == nil || !strings.Contains(err.Error(), `"mem"`) {
		t.Errorf("a name given twice: %v", err)
	}
	if _, err := m.Store("", mem); err == nil {
		t.Error("an empty name was accepted")
	}
	if _, err := m.Store("nil", nil); err == nil {
		t.Error("a nil store was accepted")
	}
}
