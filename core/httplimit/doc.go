// Package httplimit is the HTTP behaviour of tollgate, written once and
// shared by every router adapter (chimw, ginmw, echomw): it keys a request,
// asks one or more core.Limiters, sets the response fields, and answers
// requests that are denied or cannot be decided. Use this package directly
// only to write an adapter, or for the Option values the adapters take.
//
// # What a client sees
//
// An allowed request goes on to its handler with these fields already set:
//
//	X-RateLimit-Limit: 100          the quota q of the limit closest to denying
//	X-RateLimit-Remaining: 99       requests left now
//	X-RateLimit-Reset: 1            seconds until the quota is whole again
//	RateLimit-Policy: "100/m";q=100;w=60
//	RateLimit: "100/m";r=99;t=1
//
// X-RateLimit-Reset counts seconds from now, rounded up; WithResetUnix sends
// the Unix time instead. RateLimit-Policy and RateLimit follow
// draft-ietf-httpapi-ratelimit-headers-11 (published 2026-05-23), whose
// syntax is -10's: both are Structured Fields Lists of Items, each a quoted
// policy id, the limiter's name (core.WithName), with Integer parameters.
// In RateLimit-Policy, q and w state the limit as a quota per whole-second
// window. In RateLimit, r is the available quota and t the effective window
// in delay-seconds: until the quota is whole again when allowed (a client
// that spends no more than r within t is never denied by that limit), until
// the request would be admitted when denied. No quota unit (qu) is sent, so
// the unit is the draft's default, requests; no partition key (pk) is sent,
// so keys never appear in fields. WithHeaders chooses the families.
//
// Responses share the values of these fields where they are equal: a
// gate's RateLimit-Policy and X-RateLimit-Limit, and the other fields of
// admissions with the same numbers, are the same slice of one element in
// every response that sends them (so Header.Add copies it). A handler that
// changes a field does so with Header.Set, Add or Del, never by writing
// into a slice the header holds.
//
// A denied request is answered 429 (WithDenyStatus) without running the
// handler, with Retry-After in whole seconds rounded up (at least 1, and
// equal to the denying policy's t) and a short body:
// application/problem+json of the draft's quota-exceeded type (title
// "Quota Exceeded", violated-policies naming the denying limit) when the
// client's Accept prefers JSON, plain text otherwise. WithDenyHandler
// replaces the body.
//
// A request whose key cannot be read (no client address, a missing header)
// is answered 400 and never shares a bucket. When the store fails, the
// limiter's failure policy decides: fail open lets the request through
// without fields; fail closed answers 503 with Retry-After. WithErrorHandler
// replaces both answers; the defaults never show internals.
//
// # Several limits
//
// WithLimit adds limits, each with its own key func (per IP and per tenant,
// say). Every limit must allow, and they are taken together (core.TakeAll):
// when their limiters share a store that is a storekit.MultiStore (the memory
// and the Redis stores are), in one atomic step, so a request one limit
// denies takes nothing from the others. Each limit is counted under its own
// key; on Redis Cluster the step is decided, then taken slot by slot (see
// the redisstore package). The X- fields describe the limit closest to denying (the
// denial with the longest wait, else the fewest remaining);
// RateLimit-Policy and RateLimit list every limit.
//
// WithConcurrency adds a concurrency limit (core.ConcurrencyLimiter): at most
// N requests of a key in flight, each holding a slot until its handler
// returns (or panics). Concurrency limits are taken before the rate limits,
// so a request one denies takes no rate quota, and one a rate limit denies
// holds no slot. A concurrency denial is answered as a rate-limited request
// (429, or WithDenyStatus's), with Retry-After 1; RateLimit-Policy lists the
// limit as "id";q=N;qu="concurrent-requests" and RateLimit as "id";r=R.
//
// A limiter in shadow mode (core.WithShadow) is decided and reported to its
// hook, but never denies nor fails a request (one it cannot key sits it
// out), is left out of the fields, and is taken apart from the enforced
// limits, so its would-be denials never hold them back.
//
// # Limits per plan
//
// WithTiers chooses a limiter's limit per request among named tiers, by a
// key func naming the tier (an unknown or missing name is the default
// tier); WithLimitFunc asks a func for it (an API-key table). Every tier
// counts under the limiter's name and key (core.Limiter.Tier), and the
// fields report the request's tier. Named tiers' field values are made when
// the gate is built, a limit func's once per distinct limit (up to 64), so
// neither allocates per request. A limit func that fails or returns an
// invalid limit gets the error handler (503, or 400 for keyfuncs.ErrNoKey;
// 500 for an invalid limit), and nothing is taken.
//
// # Keys
//
// The key func says who the client is; the keyfuncs module has IP (the
// connection's address unless proxies are explicitly trusted), header,
// path, route and composite keys. WithRouteKey adds the route pattern the
// adapter reads from its router, so "/users/{id}" is one bucket per client.
//
// # Writing an adapter
//
// An adapter declares one Adapter, naming its framework's request context
// type and how to read the route pattern from it; its New, PerIP and Wrap
// return the Adapter's in the framework's middleware type, which calls
// Middleware.Handle once per request with the rest of the chain, which it
// runs on Proceed while the request holds its concurrency slots. The
// options, the defaults (keyed by client IP, PerIP's memory store) and the
// framework-native hooks live here, once: an adapter exports its hooks
// under its framework's names, built with WithContextSkip,
// WithContextDenyHandler and WithContextErrorHandler, beside the net/http
// forms WithSkip, WithDenyHandler and WithErrorHandler. The adaptertest
// package is the table every adapter runs against itself.
package httplimit
