package otelmetrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/otelmetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// events returns the events of the spans rec saw end, one line each:
// "span: name k=v,…".
func events(rec *tracetest.SpanRecorder) []string {
	var out []string
	for _, s := range rec.Ended() {
		for _, e := range s.Events() {
			set := attribute.NewSet(e.Attributes...)
			out = append(out, fmt.Sprintf("%s: %s %s", s.Name(), e.Name, set.Encoded(attribute.DefaultEncoder())))
		}
	}
	return out
}

// TestSpanEvents: a decision that is not "allowed", and a rules' answer,
// add an event to the recording span in the hook's context; an allowed
// decision, a span that is not recording and WithoutSpanEvents add none.
func TestSpanEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("test")
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("test")

	store := newMemstore(t, memstore.WithClock(core.NewManualClock(t0)))
	_, m := newMetrics(t)
	lim := newLimiter(t, store, core.PerMinute(1), storeMetrics(t, m, "memory", store).Options("api")...)
	_, quiet := newMetrics(t, otelmetrics.WithoutSpanEvents())
	quietLim := newLimiter(t, store, core.PerMinute(1), storeMetrics(t, quiet, "memory", store).Options("quiet")...)

	ctx, span := tracer.Start(context.Background(), "request")
	lim.Take(ctx, "203.0.113.1") // allowed: no event
	lim.Take(ctx, "203.0.113.1") // denied, retry after the minute
	lim.Take(ctx, "")            // invalid input: an error
	m.Answer(ctx, "blocklist", "deny-listed")
	quietLim.Take(ctx, "203.0.113.1") // allowed
	quietLim.Take(ctx, "203.0.113.1") // denied, but no span events asked
	span.End()
	uctx, uspan := unsampled.Start(context.Background(), "not recorded")
	lim.Take(uctx, "203.0.113.1") // denied, on a span that records nothing
	uspan.End()
	lim.Take(context.Background(), "203.0.113.1") // denied, with no span at all

	want := []string{
		"request: tollgate.decision tollgate.outcome=denied,tollgate.policy=api,tollgate.retry_after=60",
		"request: tollgate.decision tollgate.outcome=error,tollgate.policy=api",
		"request: tollgate.decision tollgate.outcome=deny-listed,tollgate.policy=blocklist",
	}
	if got := events(rec); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("span events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
