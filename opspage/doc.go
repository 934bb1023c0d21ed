// Package opspage is an operator's page for tollgate: an http.Handler an
// application mounts where it wants (/debug/tollgate, say) that shows, as
// HTML for people and JSON for tools, the policies and rules in force with
// their limits, the last read of a rules file, each store's figures
// (keys, evictions, breaker, batches, leases) and whether limiters over it
// are deciding on their fallback, the clients denied most, and the clients
// in a penalty box. It is read-only unless the application authorises a
// request (WithAuthorize): then an operator can reset a client's quota
// under one policy and let a client out of a rule's penalty box.
//
//	page, err := opspage.New(opspage.WithAuthorize(isOperator))
//	view, err := page.Store("redis", store)
//	api, err := core.NewLimiter(store, core.PerMinute(600), view.Options("api")...)
//	page.Limiters(api)
//	engine, err := rules.Load(store, "rules.yaml", rules.WithLimiterOptions(view.Hooks()...))
//	page.Rules(engine)
//	mux.Handle("/debug/tollgate", page)
//
// # What the page counts
//
// A limiter made with a StoreView's options (Options, or Hooks for a rules
// engine's limiters) reports its denials to the page, which counts them
// per policy and client by Space-Saving in 4×WithTopClients counters:
// memory stays bounded whatever the traffic, the clients denied most are
// found, and each count is shown with how much it may be too high. Answers
// from a penalty box are remembered, as many, until the box opens. The
// limiters' switches to and from their failure policy say whether a store
// is deciding on its fallback now. Figures are read from the store when
// the page is viewed.
//
// # Keys
//
// A client's key may be a credential or personal data, so the page shows
// a keyed hash of it by default ("h:" and 16 hex digits, Page.Hash; give
// WithHashSecret the same secret on every instance for the same hashes),
// and the key itself only with WithRawKeys. Either way every value is
// escaped for where it stands (html/template), and the page has no script
// and a Content-Security-Policy that allows none. Allow and deny lists are
// counted, not listed, and a header condition's expected value is not
// shown.
//
// # JSON
//
// GET with ?format=json (or an Accept header naming application/json and
// not text/html) answers an object:
//
//	at            when the page was made
//	writable      whether this request may reset and release
//	raw_keys      whether keys are shown as given (else hashed)
//	policies      [{name, rule, limit, algorithm, rate, period_seconds,
//	              burst, concurrent, key, tiers, tier_key, default_tier,
//	              shadow, on_failure, resettable}]
//	rules         {mode, rules: [{name, match, limits, penalty, missing,
//	              skip, shadow}], allow, deny: {cidrs, values},
//	              reload: {path, at, ok, error, rules}}, when given rules
//	stores        [{name, reports, figures: {kind, mode, keys, evicted,
//	              refused, breaker, breaker_open, breaker_opened, batches,
//	              batched_calls, batch_sizes, lease_grants, lease_granted,
//	              lease_given_back, lease_hot}, fallback: {active, failing,
//	              switches, since, last_error}}]
//	denied        {total, counters, top: [{policy, key, count, overcount,
//	              last}]}
//	penalty_box   [{rule, policy, key, until, left_seconds, releasable}]
//
// # Changes
//
// A POST (a form, or a tool's application/x-www-form-urlencoded body)
// makes one change:
//
//	action=reset&policy=NAME&key=KEY     the client's quota under the policy
//	                                     (Limiter.Reset, in its store and fallback)
//	action=release&rule=NAME&key=KEY     the client out of the rule's penalty box
//	                                     (rules.Engine.ReleaseBox)
//
// The key is as the limiter takes it (a client's address for an ip key), or
// hash=h:… names a client the page lists. A browser is sent back to the page
// (303); a tool asking for JSON gets {"done": action} or {"error": why}.
// A request WithAuthorize does not approve, or from another site, is
// refused with 403 and changes nothing; an unknown policy or rule, a
// missing, malformed or too long key answers 400; a hash no listed client
// has, 404; a store that cannot reset keys, 501; a store that failed, 503.
package opspage
