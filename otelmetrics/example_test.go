package otelmetrics_test

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/otelmetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func ExampleNew() {
	// An application's MeterProvider has a periodic reader and an exporter
	// (OTLP, Prometheus); a manual reader shows what they would collect.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	m, err := otelmetrics.New(mp)
	if err != nil {
		panic(err)
	}
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	sm, err := m.Store("memory", store)
	if err != nil {
		panic(err)
	}
	lim, err := core.NewLimiter(store, core.PerMinute(2), sm.Options("login")...)
	if err != nil {
		panic(err)
	}
	for range 3 {
		lim.Take(context.Background(), "203.0.113.9")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	var lines []string
	for _, mt := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := mt.Data.(metricdata.Sum[int64]); ok && mt.Name == "tollgate.decisions" {
			for _, p := range sum.DataPoints {
				lines = append(lines, fmt.Sprintf("%s{%s} %d", mt.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// tollgate.decisions{tollgate.outcome=allowed,tollgate.policy=login} 2
	// tollgate.decisions{tollgate.outcome=denied,tollgate.policy=login} 1
}
