package otelmetrics_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/otelmetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

var t0 = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// newMetrics returns Metrics over a MeterProvider read by a ManualReader.
func newMetrics(t testing.TB, opts ...otelmetrics.Option) (*sdkmetric.ManualReader, *otelmetrics.Metrics) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(mp, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return reader, m
}

func newMemstore(t testing.TB, opts ...memstore.Option) *memstore.Store {
	t.Helper()
	s, err := memstore.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newLimiter(t testing.TB, store core.Store, l core.Limit, opts ...core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.NewLimiter(store, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

func storeMetrics(t testing.TB, m *otelmetrics.Metrics, name string, store core.Store) *otelmetrics.StoreMetrics {
	t.Helper()
	sm, err := m.Store(name, store)
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// snapshot is one collection, flattened: points maps a series,
// "name{key=value,…}" with the attributes sorted, to its value (a sum's or
// a gauge's) or, for a histogram, its count; histograms keeps the
// histograms' points and metrics each instrument's description.
type snapshot struct {
	points     map[string]float64
	histograms map[string]metricdata.HistogramDataPoint[float64]
	metrics    map[string]metricdata.Metrics
	attrs      []attribute.KeyValue // every attribute of every point
}

func series(name string, set attribute.Set) string {
	return name + "{" + set.Encoded(attribute.DefaultEncoder()) + "}"
}

func collect(t testing.TB, r *sdkmetric.ManualReader) snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	s := snapshot{points: map[string]float64{}, histograms: map[string]metricdata.HistogramDataPoint[float64]{}, metrics: map[string]metricdata.Metrics{}}
	add := func(k string, v float64) {
		if _, dup := s.points[k]; dup {
			t.Fatalf("series %s reported twice in one collection", k)
		}
		s.points[k] = v
	}
	for _, sc := range rm.ScopeMetrics {
		if sc.Scope.Name != otelmetrics.ScopeName {
			t.Fatalf("scope %q, want %q", sc.Scope.Name, otelmetrics.ScopeName)
		}
		for _, mt := range sc.Metrics {
			s.metrics[mt.Name] = mt
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(series(mt.Name, p.Attributes), float64(p.Value))
					s.attrs = append(s.attrs, p.Attributes.ToSlice()...)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(series(mt.Name, p.Attributes), float64(p.Value))
					s.attrs = append(s.attrs, p.Attributes.ToSlice()...)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					k := series(mt.Name, p.Attributes)
					add(k, float64(p.Count))
					s.histograms[k] = p
					s.attrs = append(s.attrs, p.Attributes.ToSlice()...)
				}
			default:
				t.Fatalf("%s: unexpected aggregation %T", mt.Name, mt.Data)
			}
		}
	}
	return s
}

// only returns the points whose series start with one of the prefixes.
func (s snapshot) only(prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s.points {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

// diff describes how got differs from want, "" when equal.
func diff(got, want map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "\n  missing %s = %v", k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "\n  %s = %v, want %v", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "\n  unexpected %s = %v", k, got[k])
		}
	}
	return b.String()
}

// waitFor polls cond until it holds, failing t after a generous deadline:
// the failover hook runs on a goroutine of the limiter's.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 20s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
