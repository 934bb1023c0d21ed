// Package prom is the README's Prometheus metrics, compiled.
package prom

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Setup returns the README's rate-limited handler and its /metrics.
func Setup(app http.Handler) (limited, metrics http.Handler, err error) {
	// README: prometheus
	m, err := prommetrics.New()
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	store, err := memstore.New()
	if err != nil {
		return nil, nil, err
	}
	sm, err := m.Store("memory", store) // the store label; its keys and evictions at every scrape
	if err != nil {
		return nil, nil, err
	}
	api, err := core.NewLimiter(store, core.PerMinute(100), sm.Options("api")...) // names the policy "api"
	if err != nil {
		return nil, nil, err
	}
	mw, err := chimw.New(api)
	if err != nil {
		return nil, nil, err
	}
	limited, metrics = mw(app), promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	// README: end
	return limited, metrics, nil
}
