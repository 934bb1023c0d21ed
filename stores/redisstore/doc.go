// Package redisstore is a core.Store that keeps each key's state in Redis, so
// that many instances of a service share one limit exactly.
//
//	client := redis.NewClient(&redis.Options{Addr: "10.0.0.5:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.New(client)
//	...
//	lim, err := core.NewLimiter(store, core.PerMinute(100), core.WithFallback(local, 4))
//
// The client may be a *redis.Client, a Sentinel failover client, a
// *redis.ClusterClient or a *redis.Ring: anything that is a
// redis.UniversalClient. The store does not close it.
//
// # One round trip per decision
//
// Each algorithm is one Lua script (see lua/) that reads the key, decides and
// writes it back atomically: the same transition as core.Apply, computed in
// microseconds with Lua's doubles, which are exact below 2^53. CheckLimit
// (which core.NewLimiter calls) rejects the few limits whose numbers would not
// stay there: periods that are not whole microseconds, more than one event
// per microsecond, spans of more than 2^50 µs (35 years). A script touches
// exactly one key, so it is safe on Redis Cluster; WithHashTag braces the key
// so that keys of one client can share a slot. Scripts are run with EVALSHA;
// when Redis answers NOSCRIPT (after SCRIPT FLUSH, a restart or a failover)
// the same call is sent again with EVAL. Time is the server's TIME, so app
// servers with skewed clocks agree; WithClock injects a clock for tests. Every
// write sets the key to expire when its state would be whole again.
//
// # When Redis fails
//
// Every call has a deadline: WithTimeout (DefaultTimeout, 100 ms), or the
// request's own if earlier. go-redis is told not to retry a decision, since a
// script whose reply was lost has already counted. On an error the store
// returns it, and core.Limiter applies its policy: fail open, fail closed, or
// a fallback store with the limit divided among the instances (and
// core.WithFailoverHook reports each switch). After DefaultBreakerFailures
// consecutive failures the breaker answers ErrBreakerOpen at once for
// DefaultBreakerCooldown, then lets one probe through.
//
// go-redis applies context deadlines to its sockets only with
// ContextTimeoutEnabled; the store finds out from the client's options. With
// it, a call runs on the caller's goroutine; without it, each call runs on a
// goroutine of its own that the store stops waiting for at the deadline.
//
// # Several limits in one step
//
// Store is a core.MultiStore: TakeMany runs one script over every key of a
// request, so a request one limit denies consumes none of the others, at
// the cost of one round trip. When every limit is GCRA (the default) the
// script reads every state with one MGET, decides each, and writes them
// all or none; otherwise each algorithm's script, made a function, is
// called first without writing, then, if every take is admitted, again with
// writes. From 64 goroutines, a second GCRA limit costs 9–17% more time per
// decision than one (BenchmarkSeveralLimits, make bench-rules).
//
// Store is also a core.BoxStore: TakeBoxed adds a penalty box's two keys to
// the same script, which reads the box first (a client in it is answered
// with the time left, and nothing else runs) and, when the step is denied,
// counts the denial and closes the box on the K-th. The box is shared by
// every instance on the Redis and costs no extra round trip. On Redis Cluster one script may only touch one hash slot:
// with WithHashTag the first take's key is the step's primary key, stored
// as prefix{key} as Take stores it, and the others are kept under its tag,
// prefix{primary}key. Put first the key every request of the step shares
// (the tenant, the API key); the others are then counted within it (a
// per-IP count per tenant). The deny cache is not consulted for a step.
//
// # Deny cache
//
// WithDenyCache remembers keys denied a request of cost 1 until their
// RetryAfter, in process memory: a client hammering past its limit then
// costs no round trip, and the answers are the ones Redis would give.
//
// # Cost
//
// make bench-redis runs, against a local redis-server it starts, a decision
// beside a bare go-redis INCR and beside the cheapest atomic script that
// reads the server's clock, GETs and SETs. On a two-core VM where the client
// and the server share the cores, medians of 6 runs: serially, with the three
// interleaved in one loop, a GCRA decision runs at 0.67× INCR's rate and 0.80×
// the cheapest script's (sliding window counter 0.66× and 0.79×); from 64
// goroutines, 0.58× and 0.72× (19.8 µs against 11.4 µs a call). The gap is
// Redis' scripting: Redis reports about 13 µs of server time per decision
// against 0.6 µs per INCR. The client side adds 11 allocations over INCR.
package redisstore
