package otelmetrics

// Option configures New. A nil Option is not allowed.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	spanEvents bool
	latency    []float64
}

// defaultLatencyBounds are the store latency histogram's bucket bounds, in
// seconds: from a microsecond (a memory store decides in about a tenth of
// one) to a second (past any sensible store deadline), about three to a
// decade. OpenTelemetry's default bounds start at 5 ms, where every memory
// store decision and most Redis round trips would share one bucket.
var defaultLatencyBounds = []float64{
	0.000001, 0.0000025, 0.000005,
	0.00001, 0.000025, 0.00005,
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1,
}

// WithoutSpanEvents stops the span events: by default a decision that is
// not "allowed" (a denial, a shadow denial, a penalty, an error, a rules'
// answer) adds an event "tollgate.decision" to the span in the context its
// hook is called with, when that span is recording.
func WithoutSpanEvents() Option {
	return optionFunc(func(c *config) { c.spanEvents = false })
}

// WithLatencyBounds sets the bucket bounds of the store latency histogram
// (tollgate.store.duration), in seconds, ascending; New refuses bounds that
// are not. They are advice to the SDK, as OpenTelemetry has it: a view
// configured in the MeterProvider overrides them. Default: 1µs to 1s, about
// three to a decade.
func WithLatencyBounds(seconds ...float64) Option {
	return optionFunc(func(c *config) { c.latency = append([]float64(nil), seconds...) })
}
