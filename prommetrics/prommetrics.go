// Package prommetrics exports tollgate's metrics to Prometheus: decisions
// by policy and outcome, store latency, fallback and breaker state, the
// memory store's keys and evictions, lease grants and batch sizes.
//
// A Metrics is a prometheus.Collector. Name each store once, and build each
// limiter with the store's Options, which name the limiter (the policy
// label) and report its decisions:
//
//	m, err := prommetrics.New()
//	prometheus.MustRegister(m)
//	sm, err := m.Store("redis", store)
//	api, err := core.NewLimiter(store, core.PerMinute(100), sm.Options("api")...)
//	http.Handle("/metrics", promhttp.Handler())
//
// Labels are bounded by configuration: a policy is a limiter's name, a
// store the name given to Store, an outcome one of a fixed few. No label
// ever holds a key, an address or a header value, however many clients
// there are.
//
// Decisions are counted by the limiters' hooks (core.WithHook), on the
// request's goroutine: a counter increment and a histogram observation. A
// store's own figures (storekit.Reporter) are read when Prometheus scrapes,
// and cost nothing per request.
package prommetrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// Metrics collects tollgate's metrics. Make one with New and register it
// with a prometheus.Registerer; it is safe for concurrent use.
type Metrics struct {
	decisions   *prometheus.CounterVec
	settlements *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	fallback    *prometheus.GaugeVec
	switches    *prometheus.CounterVec

	breakerOpen, breakerOpenings       *prometheus.Desc
	keys, evictions, refusals          *prometheus.Desc
	leaseGrants, leaseGranted          *prometheus.Desc
	leaseReturned, leaseHot, batchSize *prometheus.Desc

	mu          sync.Mutex
	stores      map[string]*Store
	policyNames map[string]bool // labelled so far (MaxPolicies)
}

var _ prometheus.Collector = (*Metrics)(nil)

type config struct {
	namespace string
	buckets   []float64
}

// Option configures New.
type Option func(*config) error

// WithNamespace sets the metrics' namespace, the first part of their names
// (default "tollgate": tollgate_decisions_total).
func WithNamespace(ns string) Option {
	return func(c *config) error {
		if ns == "" {
			return errors.New("prommetrics: WithNamespace: empty namespace")
		}
		c.namespace = ns
		return nil
	}
}

// WithLatencyBuckets sets the upper bounds, in seconds, of the store
// latency histogram's buckets (default: 50µs to 1s, suited to a memory
// store and a Redis on the network alike).
func WithLatencyBuckets(b []float64) Option {
	return func(c *config) error {
		for i := range b {
			if math.IsNaN(b[i]) || b[i] <= 0 || (i > 0 && b[i] <= b[i-1]) {
				return fmt.Errorf("prommetrics: WithLatencyBuckets: bucket %d (%v) is not positive and above the one before", i, b[i])
			}
		}
		if len(b) == 0 {
			return errors.New("prommetrics: WithLatencyBuckets: no buckets")
		}
		c.buckets = b
		return nil
	}
}

// DefaultLatencyBuckets are the store latency histogram's buckets, in
// seconds.
var DefaultLatencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// New returns the metrics. It returns an error naming a bad option.
func New(opts ...Option) (*Metrics, error) {
	c := config{namespace: "tollgate", buckets: DefaultLatencyBuckets}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("prommetrics: nil option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	ns := c.namespace
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, []string{"store"}, nil)
	}
	return &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "decisions_total",
			Help: "Requests decided, by policy (a limiter's name, or a rule's for the rules' own answers) and outcome: allowed, denied, shadow-denied, penalty, error, deny-listed, no-key."}, []string{"policy", "outcome"}),
		settlements: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "settlements_total",
			Help: "Costs settled after the response (core.Limiter.Settle), by policy and outcome: settled, error."}, []string{"policy", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "store_latency_seconds",
			Help: "How long the store took to decide, by store and mode.", Buckets: c.buckets}, []string{"store", "mode"}),
		fallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "fallback_active",
			Help: "Limiters of a policy whose store is failing, deciding by their failure policy (a fallback store, fail open or fail closed)."}, []string{"policy"}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "fallback_switches_total",
			Help: "Times a policy switched to its failure policy because its store failed."}, []string{"policy"}),
		breakerOpen:     desc("breaker_open", "1 while a store's circuit breaker is open (calls fail at once), else 0."),
		breakerOpenings: desc("breaker_openings_total", "Times a store's circuit breaker opened."),
		keys:            desc("store_keys", "Keys holding state in a memory store."),
		evictions:       desc("store_evictions_total", "Keys a memory store dropped to make room before their state expired."),
		refusals:        desc("store_refusals_total", "Takes of new keys a memory store denied because it had no room."),
		leaseGrants:     desc("lease_grants_total", "Round trips that leased tokens from Redis (lease mode)."),
		leaseGranted:    desc("lease_tokens_granted_total", "Tokens leased from Redis (lease mode)."),
		leaseReturned:   desc("lease_tokens_returned_total", "Unused leased tokens given back to Redis (lease mode)."),
		leaseHot:        desc("lease_hot_keys", "Keys decided locally from leased tokens (lease mode)."),
		batchSize:       desc("batch_size", "Calls per batch sent to Redis (batching)."),
		stores:          map[string]*Store{},
		policyNames:     map[string]bool{},
	}, nil
}

// Store is a store named for the metrics: its label, and its figures.
type Store struct {
	m        *Metrics
	name     string
	reporter storekit.Reporter // nil: the store reports no figures
	latency  prometheus.Observer
	policies sync.Map // policy name → *policyHook
}

// Store names s for the metrics (the store label) and returns what builds
// its limiters' options. When s is a storekit.Reporter (the memory and
// Redis stores, and the Redis store's lease mode are), its figures are read
// at every scrape. The name must be new to m; the mode label of the
// latency histogram is the store's (Figures.Mode), or "direct".
func (m *Metrics) Store(name string, s core.Store) (*Store, error) {
	if name == "" {
		return nil, errors.New("prommetrics: Store: empty name")
	}
	if s == nil {
		return nil, fmt.Errorf("prommetrics: Store %q: nil store", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.stores[name]; ok {
		return nil, fmt.Errorf("prommetrics: Store %q: the name is taken: name each store once", name)
	}
	st := &Store{m: m, name: name}
	mode := "direct"
	if r, ok := s.(storekit.Reporter); ok {
		st.reporter = r
		if md := r.Figures().Mode; md != "" {
			mode = md
		}
	}
	st.latency = m.latency.WithLabelValues(name, mode)
	m.stores[name] = st
	return st, nil
}

// Options returns the options that make a limiter over the store report
// to the metrics under policy: core.WithName(policy), a decision hook and
// a failover hook (FailoverHook). Give them to core.NewLimiter or
// core.NewConcurrencyLimiter with the limiter's other options; hooks of
// your own (core.WithHook) are called too.
//
// Where something else names the limiters (the rules module names each
// limit after its rule's, and a second core.WithName would rename them all
// and mix their counts), give Hook and FailoverHook instead.
func (s *Store) Options(policy string) []core.Option {
	p := s.policy(policy)
	return []core.Option{core.WithName(policy), core.WithHook(p.hook), core.WithFailoverHook(s.m.FailoverHook(policy))}
}

// Hook returns a hook for core.WithHook that counts the decisions and
// settlements of limiters over the store under the policy label set to
// the limiter's name (core.Event.Name), and observes the store's latency.
// With the rules module, whose limiters are named after their rules'
// limits:
//
//	hook := sm.Hook()
//	rules.WithHook(func(ctx context.Context, ev rules.Event) {
//		if ev.Answer != "" {
//			m.Answer(ev.Rule, ev.Answer)
//			return
//		}
//		hook(ctx, ev.Event)
//	})
//
// Limiter names are configuration, so the series stay bounded by it; past
// MaxPolicies names, the others are counted under the policy "(overflow)".
func (s *Store) Hook() func(context.Context, core.Event) {
	return func(ctx context.Context, ev core.Event) { s.policy(ev.Name).hook(ctx, ev) }
}

// MaxPolicies bounds the policies a Metrics labels; more names count as
// "(overflow)".
const MaxPolicies = 1024

// policy returns the hook of one policy over the store, made once.
func (s *Store) policy(name string) *policyHook {
	if v, ok := s.policies.Load(name); ok {
		return v.(*policyHook)
	}
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := s.policies.Load(name); ok {
		return v.(*policyHook)
	}
	label := name
	if !m.policyNames[name] {
		if len(m.policyNames) >= MaxPolicies {
			label = "(overflow)"
		} else {
			m.policyNames[name] = true
		}
	}
	p := &policyHook{latency: s.latency}
	for i, o := range outcomes {
		p.counts[i] = m.decisions.WithLabelValues(label, o)
	}
	p.settled = m.settlements.WithLabelValues(label, "settled")
	p.settleErr = m.settlements.WithLabelValues(label, "error")
	s.policies.Store(name, p)
	return p
}

// policyHook counts one policy's decisions over one store, with its
// counters found beforehand, so that a decision allocates nothing.
type policyHook struct {
	counts             [len(outcomes)]prometheus.Counter
	settled, settleErr prometheus.Counter
	latency            prometheus.Observer
}

func (p *policyHook) hook(_ context.Context, ev core.Event) {
	if ev.Settled {
		if ev.Err != nil {
			p.settleErr.Inc()
		} else {
			p.settled.Inc()
		}
		return
	}
	p.counts[outcomeOf(&ev)].Inc()
	// A fallback's decision is not the store's, and invalid input is
	// refused before any store is asked.
	if !ev.Fallback && ev.Decision.Reason != core.ReasonInvalid {
		p.latency.Observe(ev.Latency.Seconds())
	}
}

// FailoverHook returns a callback for core.WithFailoverHook that tracks the
// limiters of policy deciding by their failure policy: it adds one to
// tollgate_fallback_active and to tollgate_fallback_switches_total when a
// limiter's store starts failing, and takes one from
// tollgate_fallback_active when it decides again. Options includes it;
// give it yourself where something else names the limiters (with rules:
// rules.WithLimiterOptions(core.WithFailoverHook(m.FailoverHook("rules")))).
// Both series exist, at zero, from the call on.
func (m *Metrics) FailoverHook(policy string) func(failing bool, err error) {
	active, switches := m.fallback.WithLabelValues(policy), m.switches.WithLabelValues(policy)
	return func(failing bool, _ error) {
		if failing {
			active.Inc()
			switches.Inc()
		} else {
			active.Dec()
		}
	}
}

// outcomes are a limiter's decisions' outcomes (core.Event.Outcome), in
// the order outcomeOf numbers them.
var outcomes = [...]string{"allowed", "denied", "shadow-denied", "penalty", "error"}

// outcomeOf is the index in outcomes of ev.Outcome(), without comparing
// strings on every decision.
func outcomeOf(ev *core.Event) int {
	switch {
	case ev.Err != nil && ev.Decision.Reason != core.ReasonOK && ev.Decision.Reason != core.ReasonLimited:
		return 4
	case ev.Decision.Reason == core.ReasonShadow:
		return 2
	case ev.Decision.Reason == core.ReasonPenalty:
		return 3
	case ev.Decision.Allowed:
		return 0
	}
	return 1
}

// Answer counts a request the rules answered themselves, with no limiter's
// decision: answer is rules.Event's Answer ("deny-listed", "no-key"),
// counted under the rule's name. Pass the rules' events to it:
//
//	rules.WithHook(func(ctx context.Context, ev rules.Event) {
//		if ev.Answer != "" {
//			m.Answer(ev.Rule, ev.Answer)
//		}
//	})
//
// (the rules' limiters' own decisions reach the hooks of their Options).
// A Gate answers a request it cannot key with its error handler, where the
// same call counts it:
//
//	httplimit.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
//		if errors.Is(err, keyfuncs.ErrNoKey) {
//			m.Answer("api", "no-key")
//		}
//		http.Error(w, "no client key", http.StatusBadRequest)
//	})
//
// Another answer is counted as "error".
func (m *Metrics) Answer(rule, answer string) {
	if answer != "deny-listed" && answer != "no-key" {
		answer = "error"
	}
	m.decisions.WithLabelValues(rule, answer).Inc()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.decisions.Describe(ch)
	m.settlements.Describe(ch)
	m.latency.Describe(ch)
	m.fallback.Describe(ch)
	m.switches.Describe(ch)
	for _, d := range []*prometheus.Desc{m.breakerOpen, m.breakerOpenings, m.keys, m.evictions, m.refusals,
		m.leaseGrants, m.leaseGranted, m.leaseReturned, m.leaseHot, m.batchSize} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the counters of decisions, and
// every named store's figures as they are now.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.decisions.Collect(ch)
	m.settlements.Collect(ch)
	m.latency.Collect(ch)
	m.fallback.Collect(ch)
	m.switches.Collect(ch)
	m.mu.Lock()
	stores := make([]*Store, 0, len(m.stores))
	for _, s := range m.stores {
		stores = append(stores, s)
	}
	m.mu.Unlock()
	for _, s := range stores {
		if s.reporter != nil {
			m.collectFigures(ch, s.name, s.reporter.Figures())
		}
	}
}

// collectFigures sends what a store's figures say, each metric only for a
// store it applies to (a breaker's for one that has one, a memory store's
// keys for a memory store, ...).
func (m *Metrics) collectFigures(ch chan<- prometheus.Metric, name string, f storekit.Figures) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
	}
	if f.Breaker {
		gauge(m.breakerOpen, b2f(f.BreakerOpen))
		counter(m.breakerOpenings, f.BreakerOpened)
	}
	if f.Kind == "memory" {
		gauge(m.keys, float64(f.Keys))
		counter(m.evictions, f.Evicted)
		counter(m.refusals, f.Refused)
	}
	if f.Mode == "leased" {
		counter(m.leaseGrants, f.LeaseGrants)
		counter(m.leaseGranted, f.LeaseGranted)
		counter(m.leaseReturned, f.LeaseGivenBack)
		gauge(m.leaseHot, float64(f.LeaseHot))
	}
	if f.Mode == "batched" {
		buckets := make(map[float64]uint64, len(f.BatchSizes)-1)
		var cum uint64
		for i, n := range f.BatchSizes {
			cum += n
			if i < len(f.BatchSizes)-1 { // the last bound is +Inf's
				buckets[float64(storekit.BatchSizeBounds[i])] = cum
			}
		}
		ch <- prometheus.MustNewConstHistogram(m.batchSize, f.Batches, float64(f.BatchedCalls), buckets, name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
