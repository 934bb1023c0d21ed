// Package otel is the README's OpenTelemetry metrics.
package otel

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/metric"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/otelmetrics"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// Middleware is the README's limit through Redis, reported to
// OpenTelemetry.
func Middleware(mp metric.MeterProvider, store *redisstore.Store) (func(http.Handler) http.Handler, error) {
	// README: otel
	m, err := otelmetrics.New(mp) // the application's MeterProvider; nil: otel.GetMeterProvider()
	if err != nil {
		return nil, err
	}
	sm, err := m.Store("redis", store) // breaker, batches, leases: read at each collection
	if err != nil {
		return nil, err
	}
	if _, err := m.Store("redis-local", store.LocalStore()); err != nil { // the fallback's keys
		return nil, err
	}
	lim, err := core.NewLimiter(store, core.PerMinute(100), sm.Options("per-ip")...)
	if err != nil {
		return nil, err
	}
	return chimw.New(lim)
	// README: end
}

// Rules is the README's rules reported to OpenTelemetry.
func Rules(m *otelmetrics.Metrics, sm *otelmetrics.StoreMetrics, store core.Store) (*rules.Engine, error) {
	// README: otel-rules
	hook := sm.Hook() // the rules name their limits: the policy is the limit's name
	return rules.Load(store, "rules.yaml",
		rules.WithHook(func(ctx context.Context, ev rules.Event) {
			if ev.Answer != "" { // deny-listed, no-key: no limit decided
				m.Answer(ctx, ev.Rule, ev.Answer)
				return
			}
			hook(ctx, ev.Event)
		}),
		rules.WithLimiterOptions(core.WithFailoverHook(m.FailoverHook("rules"))))
	// README: end
}
