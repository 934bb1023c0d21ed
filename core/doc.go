// Package core is tollgate's framework-agnostic rate-limiting core: limits,
// the algorithms that enforce them, the Store contract and the Limiter that
// puts them together. It imports only the standard library.
//
// # One minute
//
//	store, _ := memstore.New()            // github.com/tollgate-go/tollgate/stores/memstore
//	defer store.Close()
//	limit, _ := core.ParseLimit("100/m")  // or core.PerMinute(100)
//	lim, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
//	if err != nil {
//		return err // invalid limits and options are rejected here, naming the field
//	}
//	d, err := lim.Take(ctx, clientIP)
//	if !d.Allowed {
//		// 429, Retry-After: d.RetryAfter rounded up to whole seconds
//	}
//
// A Decision carries Remaining, ResetAfter and RetryAfter as durations from
// now; the HTTP adapters turn them into headers.
//
// # Limits
//
// A Limit is Rate events per Period, a Burst and an Algorithm. ParseLimit
// reads "100/m", "10/s burst 20", "5000/h", "300/5m fixed-window". Invalid
// limits (zero or negative rate or period, burst below 1, more than one event
// per nanosecond, a burst × period that overflows, an unknown algorithm) fail
// Validate, ParseLimit and NewLimiter with a *LimitError naming the field.
//
// # Algorithms
//
//   - GCRA (default): one timestamp per key; admits Burst at once, then one
//     every Period/Rate. It is the leaky bucket used as a meter, so there is
//     no separate leaky bucket.
//   - TokenBucket: Burst tokens refilled continuously at Rate per Period. It
//     is the same meter as GCRA in another representation, with an exact
//     refill; offered because many users think in tokens. It admits exactly
//     what GCRA admits when Period is a whole multiple of Rate nanoseconds;
//     otherwise GCRA rounds its emission interval (Period/Rate) up to a whole
//     nanosecond and so can admit a hair less over long runs.
//   - FixedWindow: Rate per window of Period, windows aligned to the Unix
//     epoch. Cheapest to explain; allows 2×Rate across a boundary.
//   - SlidingWindowCounter: the previous window's count weighted by its
//     overlap with the last Period, plus the current count. Two integers.
//   - SlidingWindowLog: exact; one timestamp per admitted event, so Rate is
//     capped at MaxLogRate.
//
// Each is a pure function (storekit.Apply: state, now, limit, cost → state,
// decision) that every store runs atomically, and that core/storetest pins
// down.
//
// # Rate versus burst: what the first period admits
//
// Users of other libraries are often surprised that a limit of 10 per second
// admits about 19 requests in its first second. GCRA and the token bucket
// start full: a fresh key may spend its whole Burst at once, and the bucket
// refills while it is being spent. With Rate = Burst = 10 per second, a
// client that sends as fast as it may gets 10 at t=0 and then one every
// 100ms: 19 in [0s, 1s), 29 in [0s, 2s) — Burst + Rate × elapsed, and
// never more than Burst in any instant. Over any long run the rate is 10/s.
// The window algorithms admit Rate per window instead (the sliding counter a
// little less in the second, while the first window's weight fades).
//
// For a greedy client of a fresh key under "10/s" (polling every 10ms and
// sending until denied), the requests admitted are:
//
//	algorithm               [0,1s)    [0,2s)
//	gcra                    19        29
//	token-bucket            19        29
//	fixed-window            10        20
//	sliding-window-counter  10        19
//	sliding-window-log      10        20
//
// The conformance suite asserts this table for every store. To get "at most
// N in any period" with GCRA, set Burst to 1 and the rate to N (smooth, no
// bursts), or use SlidingWindowLog.
//
// # Peek, cost and impossible requests
//
// Cost 0 peeks: nothing is taken and the decision says whether a request of
// cost 1 would be admitted. A cost above Burst can never be admitted: it is
// denied with ReasonCostExceedsBurst and RetryAfter Never, and takes nothing.
//
// # Time
//
// Stores read an injectable Clock (SystemClock by default, ManualClock in
// tests). A clock that steps backwards never admits extra requests: the
// algorithms decide at the latest instant they have recorded.
//
// # Failure
//
// A Limiter's failure policy decides when its store errs, and by default it
// never switches the limit off. Over a remote store (Redis) the default is to
// fall back to the store's local memory store, holding this instance's share
// of the limit (WithInstances: the rate and burst divided by the number of
// instances sharing the quota, 1 if not given); the hook marks those
// decisions (Event.Fallback) and the failover callback reports each switch
// and the way back. While the remote store cannot decide, each instance
// admits at most its share per window, so n instances admit about the quota
// (with WithInstances(n)) on top of what the remote store had counted in the
// window before it failed. Over any other store the default is FailClosed
// (deny; HTTP adapters answer 503). FailOpen (admit uncounted) is available,
// by name only. A caller whose context is done when the store fails (it
// closed its connection, reset its stream) is refused under every policy,
// and invalid input (an empty key, a negative cost) is never admitted by any
// policy.
//
// # Several limits, penalty box, shadow
//
// TakeAll takes several limiters on their keys at once: all are consumed,
// or, if any denies, none (one atomic step when they share a store that can,
// as the memory and Redis stores can).
// TakeAllBoxed adds penalty boxes (Penalty, Box): a client denied K times
// within a window is refused for a while without a decision, each box
// checked and counted in the same step, and counting only the
// denials of the limits it selects, so a limit shared by many clients
// never boxes one of them. WithShadow makes a limiter decide
// and count but admit what it would deny. Package rules builds on these.
//
// # Limits per plan
//
// Limiter.Tier returns a limiter enforcing another limit on the same keys
// (same name, prefix, store, policy and hooks): take each request from its
// plan's tier, and a client moving between plans keeps one count. From the
// move on it is admitted no more than a client new to its plan; package
// core/storekit says what each algorithm carries over. httplimit's
// WithTiers and WithLimitFunc choose the tier per request.
//
// # Concurrency limits
//
// A ConcurrencyLimiter admits at most N requests in flight per key (uploads,
// reports, websockets, long polls): Acquire takes a slot, Slot.Release gives
// it back when the work ends. The store holds the slots (a
// storekit.SlotStore: the memory store in the process, the Redis store under
// leases it renews while a slot is held, so that a crashed instance's slots
// free themselves). A denial's RetryAfter is ConcurrencyRetryAfter (one
// second): when a slot frees cannot be known. httplimit.WithConcurrency puts
// one in front of HTTP handlers.
//
// # Resets
//
// Limiter.Reset gives a key its whole burst back (an operator restoring a
// customer's quota), in the store and its fallback; ReleaseBox lets a client
// out of a penalty box. Both need a store that can forget state (the memory
// and Redis stores can; others return ErrNoReset).
//
// # Logging
//
// WithHook calls a function after every decision; package core/sloghook
// is such a hook for log/slog, with the key hashed and its own lines
// rate-limited.
//
// # Writing a store
//
// A store implements Store. What else it offers, a Limiter finds by its
// methods: several limits in one step (TakeMany), penalty boxes
// (TakeBoxed), a key in two parts, a check of the limits it can enforce, a
// local store to fall back to, keys and boxes reset. Package core/storekit names those
// interfaces and holds what every store shares: the algorithms' state and
// transition (State, Apply), the input checks and the penalty box's keys
// and limits. core/storetest is the conformance suite every store must
// pass.
package core
