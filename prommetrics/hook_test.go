package prommetrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Hook counts under each limiter's own name (as the rules module names its
// limiters), FailoverHook under the policy it is given; past MaxPolicies
// names, decisions count under "(overflow)", so a program that names
// limiters after something unbounded still has bounded series.
func TestHookCountsUnderTheLimitersNames(t *testing.T) {
	ctx := context.Background()
	m := must(prommetrics.New())
	sc := newScraper(t, m)
	mem := must(memstore.New())
	t.Cleanup(func() { mem.Close() })
	sm := must(m.Store("mem", mem))
	hook := sm.Hook()
	for _, name := range []string{"login", "search"} {
		l := must(core.NewLimiter(mem, core.PerMinute(1), core.WithName(name), core.WithHook(hook),
			core.WithFailoverHook(m.FailoverHook("rules"))))
		l.Take(ctx, "k")
		l.Take(ctx, "k")
	}
	f := sc.scrape()
	for _, name := range []string{"login", "search"} {
		f.want(t, 1, "tollgate_decisions_total", "policy", name, "outcome", "allowed")
		f.want(t, 1, "tollgate_decisions_total", "policy", name, "outcome", "denied")
	}
	f.want(t, 0, "tollgate_fallback_active", "policy", "rules")

	for i := 0; i < prommetrics.MaxPolicies+10; i++ {
		l := must(core.NewLimiter(mem, core.PerMinute(1), core.WithName(fmt.Sprint("p", i)), core.WithHook(hook)))
		l.Take(ctx, "k")
	}
	f = sc.scrape()
	// login and search took two of the names: the last 12 overflow.
	f.want(t, 12, "tollgate_decisions_total", "policy", "(overflow)", "outcome", "allowed")
	if n := len(f["tollgate_decisions_total"].GetMetric()); n != (prommetrics.MaxPolicies+1)*5 {
		t.Errorf("%d decision series, want %d: MaxPolicies names and the overflow, 5 outcomes each", n, (prommetrics.MaxPolicies+1)*5)
	}
}
