package prommetrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// Every metric, with every kind of store named, passes promlint, the
// Prometheus project's own check of names, units, suffixes and help.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	ctx := context.Background()
	m := must(prommetrics.New())
	mem := must(memstore.New())
	t.Cleanup(func() { mem.Close() })
	ms := must(m.Store("mem", mem))
	l := must(core.NewLimiter(mem, core.PerMinute(1), ms.Options("api")...))
	l.Take(ctx, "a")
	l.Take(ctx, "a")
	l.Settle(ctx, "a", 1, 1)
	client := redistest.Shared(t).Client(t, &redis.Options{})
	batched := must(redisstore.New(client, redisstore.WithPrefix("lint-batch:"), redisstore.WithBatching(8, 0)))
	t.Cleanup(func() { batched.Close() })
	must(m.Store("batched", batched))
	base := must(redisstore.New(client, redisstore.WithPrefix("lint-lease:")))
	t.Cleanup(func() { base.Close() })
	leased := must(redisstore.NewLeased(base, redisstore.LeaseConfig{HotThreshold: 1}))
	t.Cleanup(func() { leased.Close() })
	ls := must(m.Store("leased", leased))
	hot := must(core.NewLimiter(leased, core.Limit{Rate: 100, Period: time.Hour}, ls.Options("hot")...))
	hot.Take(ctx, "b")
	m.Answer("admin", "deny-listed")

	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(m); n < 20 {
		t.Fatalf("linted %d series: the setup made too few to check them all", n)
	}
}
