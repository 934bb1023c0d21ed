// Package otelmetrics reports tollgate's limiters and stores as
// OpenTelemetry metrics: decisions by policy and outcome, store latency,
// fallback state, and what the stores report of themselves (breaker, keys
// and evictions, leases, batches). It uses the OpenTelemetry API only; the
// application brings the SDK and an exporter.
//
//	m, err := otelmetrics.New(meterProvider) // nil: otel.GetMeterProvider()
//	if err != nil {
//		return err
//	}
//	sm, err := m.Store("redis", store) // its Figures, read at each collection
//	if err != nil {
//		return err
//	}
//	lim, err := core.NewLimiter(store, core.PerMinute(100), sm.Options("per-ip")...)
//
// Options names the limiter (core.WithName) and adds a decision hook and a
// failover hook beside any of the application's own. Where something else
// names the limiters, as the rules module does, give StoreMetrics.Hook and
// Metrics.FailoverHook instead, and count the rules' own answers with
// Metrics.Answer (see Hook).
//
// # Instruments
//
// Every instrument is in the Meter named ScopeName; names and units follow
// OpenTelemetry's semantic conventions (dotted lowercase names, UCUM units,
// counts in curly-brace annotations).
//
//	name                            kind                        unit          attributes
//	tollgate.decisions              counter                     {decision}    tollgate.policy, tollgate.outcome
//	tollgate.settlements            counter                     {settlement}  tollgate.policy, tollgate.outcome
//	tollgate.store.duration         histogram                   s             tollgate.store, tollgate.store.mode
//	tollgate.fallback.active        up-down counter             {limiter}     tollgate.policy
//	tollgate.fallback.switches      counter                     {switch}      tollgate.policy
//	tollgate.breaker.open           gauge (0 or 1)              1             tollgate.store
//	tollgate.breaker.openings       counter                     {opening}     tollgate.store
//	tollgate.store.keys             up-down counter             {key}         tollgate.store
//	tollgate.store.evictions        counter                     {key}         tollgate.store
//	tollgate.store.refusals         counter                     {request}     tollgate.store
//	tollgate.lease.grants           counter                     {grant}       tollgate.store
//	tollgate.lease.tokens.granted   counter                     {token}       tollgate.store
//	tollgate.lease.tokens.returned  counter                     {token}       tollgate.store
//	tollgate.lease.hot_keys         up-down counter             {key}         tollgate.store
//	tollgate.store.batches          counter                     {batch}       tollgate.store
//	tollgate.store.batched_calls    counter                     {call}        tollgate.store
//
// tollgate.outcome is one of allowed, denied, shadow-denied, penalty and
// error (core.Event.Outcome), deny-listed and no-key (Answer), other (an
// answer Answer does not know); for settlements, settled or settle-error.
// tollgate.store.mode is the mode the store's storekit.Figures report
// (direct, batched, leased); a store that reports nothing has no mode.
//
// tollgate.fallback.active counts the limiters of a policy deciding by
// their failure policy now (the fallback store, by default over Redis),
// from core.WithFailoverHook's switches: 0 or 1 for one limiter and its
// tiers. tollgate.fallback.switches counts the switches to the failure
// policy, not the ways back.
//
// The store series (breaker, keys, leases, batches) are observed at each
// collection from the store's storekit.Figures, when the store is a
// storekit.Reporter, and only those its Kind and Mode say apply: breaker
// series for a store with a breaker, key series for a memory store (the
// Redis store's local fallback store is one: name it too, with
// redisstore.Store.LocalStore), batch series in batched mode, lease series
// in lease mode. OpenTelemetry has no asynchronous histogram, so the batch
// sizes a store counts in buckets are reported as two counters, batches
// and the calls they carried: their rates' ratio is the mean batch size.
//
// # Cardinality
//
// No attribute ever holds a key, an address or a header value: only names
// the application configured (policies, rules, stores) and the fixed words
// above. The series are bounded by the configuration, policies × outcomes
// plus a few per policy and per store, whatever the traffic; past 1024
// policy names, decisions of new ones count under the policy
// "(overflow)".
//
// # Cost
//
// A decision's counts are atomic adds in the hook, reported at collection
// (as observable counters): an SDK's synchronous counter would cost about
// twice what a memory store takes to decide. The latency is a synchronous
// histogram, one measurement per decision; the limiter reads the clock
// twice for it, which it does only when a hook is set. Nothing is
// allocated per decision. BenchmarkTake measures a memory store's decision
// with and without the metrics:
//
//	go test -run '^$' -bench BenchmarkTake -benchmem -count 6 . | benchstat -col /metrics -
//
// # Span events
//
// A decision that is not allowed (and a rules' answer) adds an event
// "tollgate.decision" to the span in the context the hook is called with,
// when that span is recording, with the attributes tollgate.policy,
// tollgate.outcome and, for a denial, tollgate.retry_after in seconds.
// Allowed decisions never look for a span. WithoutSpanEvents turns them
// off.
package otelmetrics
