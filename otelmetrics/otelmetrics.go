package otelmetrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// ScopeName is the instrumentation scope of every instrument: the name New
// asks the MeterProvider for a Meter by.
const ScopeName = "github.com/tollgate-go/tollgate/otelmetrics"

// The attribute keys. No attribute ever holds a key, an address or a header
// value: only names the application configured (policies, rules, stores)
// and the fixed words of outcomes and modes.
const (
	policyKey    = attribute.Key("tollgate.policy")
	outcomeKey   = attribute.Key("tollgate.outcome")
	storeKey     = attribute.Key("tollgate.store")
	storeModeKey = attribute.Key("tollgate.store.mode")
)

// The outcomes a decision is counted under: core.Event.Outcome's words, the
// rules' answers, and "other" for an answer Answer does not know.
const (
	outAllowed = iota
	outDenied
	outShadowDenied
	outPenalty
	outError
	outDenyListed
	outNoKey
	outOther
)

var outcomeNames = [...]string{"allowed", "denied", "shadow-denied", "penalty", "error", "deny-listed", "no-key", "other"}

// outcomeOf is the index of core.Event.Outcome's word for a decision (not a
// settlement).
func outcomeOf(ev *core.Event) int {
	switch ev.Outcome() {
	case "allowed":
		return outAllowed
	case "denied":
		return outDenied
	case "shadow-denied":
		return outShadowDenied
	case "penalty":
		return outPenalty
	}
	return outError
}

// maxPolicies bounds the policies counted apart. Policy names are
// configuration (limiters', rules'), so an application never reaches it;
// past it, decisions of new names are counted under overflowPolicy.
const maxPolicies = 1024

// overflowPolicy is the tollgate.policy of decisions past maxPolicies.
const overflowPolicy = "(overflow)"

// Metrics records what limiters decide and what stores report as
// OpenTelemetry instruments of one Meter. It is safe for concurrent use,
// and lives as long as its MeterProvider, which calls it back at each
// collection. The zero Metrics is not usable: build one with New.
type Metrics struct {
	cfg config

	decisions, settlements  metric.Int64ObservableCounter
	latency                 metric.Float64Histogram
	fallbackActive          metric.Int64UpDownCounter
	fallbackSwitches        metric.Int64Counter
	breakerOpen             metric.Int64ObservableGauge
	breakerOpenings         metric.Int64ObservableCounter
	keys                    metric.Int64ObservableUpDownCounter
	evictions, refusals     metric.Int64ObservableCounter
	leaseGrants             metric.Int64ObservableCounter
	leaseGranted, leaseBack metric.Int64ObservableCounter
	leaseHot                metric.Int64ObservableUpDownCounter
	batches, batchedCalls   metric.Int64ObservableCounter

	policies    sync.Map   // policy name → *counts, read without a lock
	policiesMu  sync.Mutex // guards policyCount and policies' growth
	policyCount int

	storesMu sync.Mutex                      // serialises Store's writes of stores
	stores   atomic.Pointer[[]*StoreMetrics] // read by the callback without a lock
}

// counts are one policy's decisions and settlements: counted by the hooks
// with an atomic add each, reported at each collection. An OpenTelemetry
// SDK's synchronous counter costs about 150 ns a measurement (most of it
// resolving the attribute set), twice what a memory store takes to decide.
type counts struct {
	decided      [len(outcomeNames)]atomic.Int64
	settled      [2]atomic.Int64 // settled, settle-error
	decidedAttrs [len(outcomeNames)]metric.ObserveOption
	settledAttrs [2]metric.ObserveOption
}

// counts returns the counts of policy, made on first use.
func (m *Metrics) counts(policy string) *counts {
	if v, ok := m.policies.Load(policy); ok {
		return v.(*counts)
	}
	m.policiesMu.Lock()
	defer m.policiesMu.Unlock()
	if m.policyCount >= maxPolicies {
		policy = overflowPolicy
	}
	if v, ok := m.policies.Load(policy); ok {
		return v.(*counts)
	}
	c := &counts{}
	p := policyKey.String(policy)
	for i, o := range outcomeNames {
		c.decidedAttrs[i] = metric.WithAttributeSet(attribute.NewSet(p, outcomeKey.String(o)))
	}
	c.settledAttrs[0] = metric.WithAttributeSet(attribute.NewSet(p, outcomeKey.String("settled")))
	c.settledAttrs[1] = metric.WithAttributeSet(attribute.NewSet(p, outcomeKey.String("settle-error")))
	m.policies.Store(policy, c)
	m.policyCount++
	return c
}

// New creates the instruments in mp's Meter named ScopeName (nil: the
// global MeterProvider, otel.GetMeterProvider) and registers the callback
// that reports the counts and reads the stores' figures at each
// collection. It returns an error
// when the Meter refuses an instrument or an option is invalid.
func New(mp metric.MeterProvider, opts ...Option) (*Metrics, error) {
	c := config{spanEvents: true, latency: defaultLatencyBounds}
	for _, o := range opts {
		o.apply(&c)
	}
	if len(c.latency) == 0 || !slices.IsSorted(c.latency) || slices.ContainsFunc(c.latency, func(b float64) bool { return b <= 0 || math.IsInf(b, 0) || math.IsNaN(b) }) {
		return nil, fmt.Errorf("otelmetrics: latency bounds %v: want positive finite seconds, ascending", c.latency)
	}
	for i := 1; i < len(c.latency); i++ {
		if c.latency[i] == c.latency[i-1] {
			return nil, fmt.Errorf("otelmetrics: latency bounds %v: %v twice", c.latency, c.latency[i])
		}
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := &Metrics{cfg: c}
	m.stores.Store(new([]*StoreMetrics))
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	me := mp.Meter(ScopeName)
	m.decisions, err = me.Int64ObservableCounter("tollgate.decisions", metric.WithUnit("{decision}"),
		metric.WithDescription("Decisions of limiters, and requests the rules answered themselves, by policy and outcome."))
	check(err)
	m.settlements, err = me.Int64ObservableCounter("tollgate.settlements", metric.WithUnit("{settlement}"),
		metric.WithDescription("Costs settled after the response (core.Limiter.Settle), by policy and outcome (settled, settle-error)."))
	check(err)
	m.latency, err = me.Float64Histogram("tollgate.store.duration", metric.WithUnit("s"),
		metric.WithDescription("How long a limiter's store took to decide, fallback included, by store and mode."),
		metric.WithExplicitBucketBoundaries(c.latency...))
	check(err)
	m.fallbackActive, err = me.Int64UpDownCounter("tollgate.fallback.active", metric.WithUnit("{limiter}"),
		metric.WithDescription("Limiters of the policy deciding by their failure policy (the fallback store, by default over Redis) because their store fails."))
	check(err)
	m.fallbackSwitches, err = me.Int64Counter("tollgate.fallback.switches", metric.WithUnit("{switch}"),
		metric.WithDescription("Times a limiter of the policy switched to its failure policy because its store failed."))
	check(err)
	m.breakerOpen, err = me.Int64ObservableGauge("tollgate.breaker.open", metric.WithUnit("1"),
		metric.WithDescription("1 while the store's circuit breaker is open (calls fail at once), else 0."))
	check(err)
	m.breakerOpenings, err = me.Int64ObservableCounter("tollgate.breaker.openings", metric.WithUnit("{opening}"),
		metric.WithDescription("Times the store's circuit breaker opened."))
	check(err)
	m.keys, err = me.Int64ObservableUpDownCounter("tollgate.store.keys", metric.WithUnit("{key}"),
		metric.WithDescription("Keys holding state in a memory store."))
	check(err)
	m.evictions, err = me.Int64ObservableCounter("tollgate.store.evictions", metric.WithUnit("{key}"),
		metric.WithDescription("Keys a memory store dropped to make room before their state expired."))
	check(err)
	m.refusals, err = me.Int64ObservableCounter("tollgate.store.refusals", metric.WithUnit("{request}"),
		metric.WithDescription("Takes of new keys a memory store denied because it had no room."))
	check(err)
	m.leaseGrants, err = me.Int64ObservableCounter("tollgate.lease.grants", metric.WithUnit("{grant}"),
		metric.WithDescription("Round trips that leased tokens (lease mode)."))
	check(err)
	m.leaseGranted, err = me.Int64ObservableCounter("tollgate.lease.tokens.granted", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens leased from the global quota (lease mode)."))
	check(err)
	m.leaseBack, err = me.Int64ObservableCounter("tollgate.lease.tokens.returned", metric.WithUnit("{token}"),
		metric.WithDescription("Unused leased tokens given back (lease mode)."))
	check(err)
	m.leaseHot, err = me.Int64ObservableUpDownCounter("tollgate.lease.hot_keys", metric.WithUnit("{key}"),
		metric.WithDescription("Keys decided in process memory from leased tokens now (lease mode)."))
	check(err)
	m.batches, err = me.Int64ObservableCounter("tollgate.store.batches", metric.WithUnit("{batch}"),
		metric.WithDescription("Batches of calls a batching store sent; tollgate.store.batched_calls over it is the mean batch size."))
	check(err)
	m.batchedCalls, err = me.Int64ObservableCounter("tollgate.store.batched_calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls the batches of a batching store carried."))
	check(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("otelmetrics: %w", errors.Join(errs...))
	}
	_, err = me.RegisterCallback(m.observe, m.decisions, m.settlements, m.breakerOpen, m.breakerOpenings, m.keys, m.evictions, m.refusals,
		m.leaseGrants, m.leaseGranted, m.leaseBack, m.leaseHot, m.batches, m.batchedCalls)
	if err != nil {
		return nil, fmt.Errorf("otelmetrics: %w", err)
	}
	return m, nil
}

// StoreMetrics is a store named for metrics (the attribute tollgate.store):
// the options that make a limiter over it report, and, if it is a
// storekit.Reporter, its figures read at each collection. Build one with
// Metrics.Store; the zero StoreMetrics is not usable.
type StoreMetrics struct {
	m        *Metrics
	name     string
	reporter storekit.Reporter // nil: the store reports nothing
	observe  metric.ObserveOption
	record   []metric.RecordOption // store and mode, for the latency

	policies    sync.Map   // policy name → *policyHook, read without a lock
	policiesMu  sync.Mutex // guards policyCount and policies' growth
	policyCount int
}

// Store names store for metrics: decisions of limiters built with the
// returned StoreMetrics' Options record its latency under the attribute
// tollgate.store=name (and tollgate.store.mode, the mode its
// storekit.Figures report, when it is a storekit.Reporter); its figures
// (breaker, keys, evictions, leases, batches) are read at each collection.
// The name is configuration, such as "redis" or "memory": never put a
// client's data in it. It returns an error for a nil store, an empty name
// or a name already given.
func (m *Metrics) Store(name string, store core.Store) (*StoreMetrics, error) {
	if store == nil {
		return nil, errors.New("otelmetrics: store: nil")
	}
	if name == "" {
		return nil, errors.New("otelmetrics: store name: empty")
	}
	sm := &StoreMetrics{m: m, name: name}
	kvs := []attribute.KeyValue{storeKey.String(name)}
	if r, ok := store.(storekit.Reporter); ok {
		sm.reporter = r
		if mode := r.Figures().Mode; mode != "" {
			kvs = append(kvs, storeModeKey.String(mode))
		}
	}
	sm.observe = metric.WithAttributeSet(attribute.NewSet(kvs[0]))
	sm.record = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}

	m.storesMu.Lock()
	defer m.storesMu.Unlock()
	old := *m.stores.Load()
	for _, o := range old {
		if o.name == name {
			return nil, fmt.Errorf("otelmetrics: store name %q: already given", name)
		}
	}
	next := append(slices.Clip(old), sm)
	m.stores.Store(&next)
	return sm, nil
}

// observe is the callback that reports the policies' counts and every
// store's figures. A count is reported once it is not zero, as a
// synchronous counter's series appears with its first measurement.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	m.policies.Range(func(_, v any) bool {
		c := v.(*counts)
		for i := range c.decided {
			if n := c.decided[i].Load(); n != 0 {
				o.ObserveInt64(m.decisions, n, c.decidedAttrs[i])
			}
		}
		for i := range c.settled {
			if n := c.settled[i].Load(); n != 0 {
				o.ObserveInt64(m.settlements, n, c.settledAttrs[i])
			}
		}
		return true
	})
	for _, sm := range *m.stores.Load() {
		if sm.reporter == nil {
			continue
		}
		f := sm.reporter.Figures()
		attrs := sm.observe
		if f.Breaker {
			open := int64(0)
			if f.BreakerOpen {
				open = 1
			}
			o.ObserveInt64(m.breakerOpen, open, attrs)
			o.ObserveInt64(m.breakerOpenings, clamp(f.BreakerOpened), attrs)
		}
		if f.Kind == "memory" || f.Keys != 0 || f.Evicted != 0 || f.Refused != 0 {
			o.ObserveInt64(m.keys, f.Keys, attrs)
			o.ObserveInt64(m.evictions, clamp(f.Evicted), attrs)
			o.ObserveInt64(m.refusals, clamp(f.Refused), attrs)
		}
		if f.Mode == "batched" || f.Batches != 0 {
			o.ObserveInt64(m.batches, clamp(f.Batches), attrs)
			o.ObserveInt64(m.batchedCalls, clamp(f.BatchedCalls), attrs)
		}
		if f.Mode == "leased" || f.LeaseGrants != 0 {
			o.ObserveInt64(m.leaseGrants, clamp(f.LeaseGrants), attrs)
			o.ObserveInt64(m.leaseGranted, clamp(f.LeaseGranted), attrs)
			o.ObserveInt64(m.leaseBack, clamp(f.LeaseGivenBack), attrs)
			o.ObserveInt64(m.leaseHot, f.LeaseHot, attrs)
		}
	}
	return nil
}

func clamp(n uint64) int64 { return int64(min(n, math.MaxInt64)) }

// Options returns the options that make a limiter over the store report to
// the metrics under the attribute tollgate.policy=policy:
// core.WithName(policy), core.WithHook(Hook's hook) and
// core.WithFailoverHook(Metrics.FailoverHook(policy)). Give them to
// core.NewLimiter (or core.NewConcurrencyLimiter) with the limiter's other
// options; an application's own hooks may come before or after, and all
// are called. core.NewLimiter refuses a policy name core.WithName would.
//
// Every limiter given a policy's options counts under that policy, so
// limiters (or tiers, core.Limiter.Tier) sharing a name share its series.
// Where something else names the limiters (the rules module names each
// limit after its rule's policy, and a second core.WithName would rename
// them all), give Hook and FailoverHook instead.
func (sm *StoreMetrics) Options(policy string) []core.Option {
	p := sm.policy(policy)
	return []core.Option{core.WithName(policy), core.WithHook(p.hook), core.WithFailoverHook(sm.m.FailoverHook(policy))}
}

// Hook returns a hook for core.WithHook that counts every decision and
// settlement of limiters over the store under tollgate.policy set to the
// limiter's name (core.Event.Name), records the store's latency, and adds
// span events (WithoutSpanEvents). With the rules module, whose limiters
// are named after their rules' limits:
//
//	hook := sm.Hook()
//	rules.WithHook(func(ctx context.Context, ev rules.Event) {
//		if ev.Answer != "" {
//			m.Answer(ctx, ev.Rule, ev.Answer)
//			return
//		}
//		hook(ctx, ev.Event)
//	})
//
// Limiter names are configuration, so the series stay bounded by it. A
// decision allocates nothing once its policy has been seen (see
// BenchmarkTake).
func (sm *StoreMetrics) Hook() func(context.Context, core.Event) {
	return func(ctx context.Context, ev core.Event) { sm.policy(ev.Name).hook(ctx, ev) }
}

// policy returns the hook of one policy over the store, made once. The
// hooks of more than maxPolicies names are made per call (and count under
// overflowPolicy).
func (sm *StoreMetrics) policy(name string) *policyHook {
	if v, ok := sm.policies.Load(name); ok {
		return v.(*policyHook)
	}
	p := &policyHook{m: sm.m, sm: sm, policy: name, counts: sm.m.counts(name)}
	sm.policiesMu.Lock()
	defer sm.policiesMu.Unlock()
	if sm.policyCount < maxPolicies {
		if v, loaded := sm.policies.LoadOrStore(name, p); loaded {
			return v.(*policyHook)
		}
		sm.policyCount++
	}
	return p
}

// policyHook is the hook of one policy over one store: an atomic add to
// the policy's counts, the latency recorded under the store's attribute
// set, made beforehand, so that a decision allocates nothing.
type policyHook struct {
	m      *Metrics
	sm     *StoreMetrics
	policy string
	counts *counts
}

func (p *policyHook) hook(ctx context.Context, ev core.Event) {
	m := p.m
	if ev.Settled {
		i := 0
		if ev.Err != nil {
			i = 1
		}
		p.counts.settled[i].Add(1)
		return
	}
	o := outcomeOf(&ev)
	p.counts.decided[o].Add(1)
	if ev.Decision.Reason != core.ReasonInvalid {
		// Invalid input is refused before any store is asked.
		m.latency.Record(ctx, ev.Latency.Seconds(), p.sm.record...)
	}
	if o != outAllowed && m.cfg.spanEvents {
		m.spanEvent(ctx, p.policy, o, ev.Decision.RetryAfter.Seconds())
	}
}

// FailoverHook returns a callback for core.WithFailoverHook that tracks
// the fallback of limiters under tollgate.policy=policy: it adds one to
// tollgate.fallback.active and to tollgate.fallback.switches when a
// limiter's store starts failing, and takes one from
// tollgate.fallback.active when it decides again. Options includes it;
// give it yourself where something else names the limiters (with the
// rules module: rules.WithLimiterOptions(core.WithFailoverHook(
// m.FailoverHook("rules"))), and tollgate.fallback.active counts the
// rules' limits deciding by their failure policy). Both series exist, at
// zero, from the call on.
func (m *Metrics) FailoverHook(policy string) func(failing bool, err error) {
	attrs := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(policyKey.String(policy)))}
	ctx := context.Background()
	m.fallbackActive.Add(ctx, 0, attrs...)
	m.fallbackSwitches.Add(ctx, 0, attrs...)
	// core calls it once per switch, in order: +1 on failing, -1 on
	// recovering.
	return func(failing bool, _ error) {
		if failing {
			m.fallbackActive.Add(ctx, 1, attrs...)
			m.fallbackSwitches.Add(ctx, 1, attrs...)
			return
		}
		m.fallbackActive.Add(ctx, -1, attrs...)
	}
}

// spanEvent adds the event "tollgate.decision" to the span in ctx, if it
// is recording. Only decisions that are not "allowed" come here, so the
// context lookup is not paid on the common path.
func (m *Metrics) spanEvent(ctx context.Context, policy string, outcome int, retryAfter float64) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{policyKey.String(policy), outcomeKey.String(outcomeNames[outcome])}
	if retryAfter > 0 && !math.IsInf(retryAfter, 0) {
		attrs = append(attrs, attribute.Float64("tollgate.retry_after", retryAfter))
	}
	span.AddEvent("tollgate.decision", trace.WithAttributes(attrs...))
}

// Answer counts a request the rules answered themselves, with no decision
// of a limit, as a decision of the rule: tollgate.decisions with
// tollgate.policy=rule and tollgate.outcome=answer ("deny-listed", or
// "no-key" for a request the rule could not key). An answer other than
// those is counted as "other", so that a value from a request can never
// become an attribute. With the rules module:
//
//	rules.WithHook(func(ctx context.Context, ev rules.Event) {
//		if ev.Answer != "" {
//			m.Answer(ctx, ev.Rule, ev.Answer)
//		}
//	})
//
// (the rules' limits report through their own options, Options). Like
// every denial, the answer adds a span event to a recording span in ctx.
func (m *Metrics) Answer(ctx context.Context, rule, answer string) {
	o := outOther
	switch answer {
	case "deny-listed":
		o = outDenyListed
	case "no-key":
		o = outNoKey
	}
	m.counts(rule).decided[o].Add(1)
	if m.cfg.spanEvents {
		m.spanEvent(ctx, rule, o, 0)
	}
}
