// Package redisstore is a core.Store that keeps each key's state in Redis, so
// that many instances of a service share one limit exactly.
//
//	client := redis.NewClient(&redis.Options{Addr: "10.0.0.5:6379"})
//	store, err := redisstore.New(client)
//	...
//	lim, err := core.NewLimiter(store, core.PerMinute(100), core.WithInstances(4))
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
// A caller waits at most the store's deadline: WithTimeout (DefaultTimeout,
// 100 ms). The call runs detached from the request's context, under that
// deadline only: a request whose client hung up (or whose own deadline
// passed) is decided and counted as any other, so leaving early never gets
// a client past its limit. go-redis is told not to retry a decision, since a
// script whose reply was lost has already counted. On an error the store
// returns it, and core.Limiter applies its policy; by default it decides
// with LocalStore, a memory store the Store owns, under the limit divided by
// the instance count, so a limiter over Redis stays a limiter when Redis
// cannot decide (and core.WithFailoverHook reports each switch).
//
// A busy client machine must not look like a dead Redis. A command whose
// caller stopped waiting is withdrawn if it is still waiting for a pool
// connection, and otherwise left to finish on its connection, so a missed
// deadline never closes a healthy connection (go-redis closes one whose
// context deadline reaches the socket: the next calls dial, miss their
// deadlines in turn, and the pool churns); each call runs on a goroutine of
// its own for that. The breaker judges Redis by how commands end: after
// DefaultBreakerFailures consecutive commands that failed on their
// connection or got no answer within the client's ReadTimeout, it answers
// ErrBreakerOpen at once for DefaultBreakerCooldown, then lets one probe
// through. Time spent waiting for a pool connection or for the CPU is never
// blamed on Redis. Both kinds of go-redis client, with and without
// ContextTimeoutEnabled, behave the same.
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
// # Batching
//
// WithBatching(maxBatch, maxWait) sends concurrent decisions together: a
// call that finds one of the senders (WithBatchSenders, default 4) idle is
// sent at once, alone, so a lone request waits for nothing; calls that
// arrive while every sender is busy queue, and the next free sender sends
// up to maxBatch of them as one pipeline of EVALSHA commands (split per
// node by a Cluster client). On a single server (or a Sentinel failover
// client) the batch's GCRA decisions go in one call of a script that runs
// gcra.lua once per decision: Redis' own cost of a script call, about 10 µs
// here against 3 µs for a decision within one, is then paid once per batch.
// Every decision is still decided alone and in order, so it is exact; each
// caller keeps its own deadline, and a caller that gives up before its
// batch is sent is left out of it. It is off by default: serially it is
// level with one call per decision, within the noise of the measurements
// (docs/DISTRIBUTED.md), and it starts goroutines that Close stops.
//
// # Lease mode
//
// NewLeased(store, LeaseConfig{}) decides hot keys locally: each instance
// takes tokens from the key's global count in batches, by one atomic script
// that takes up to n (a grant may be partial), and spends them in memory.
// It refills in the background when a pool falls below half the predicted
// need; the grant size follows the requests seen over PredictWindow
// (default 1s; shorter follows traffic faster and holds fewer tokens,
// longer asks less often), at least MinPrefetch (default 10; at most the
// limit's rate); after a grant that came back short (the window's quota is
// spent) it does not ask again for CloseWaitWindow (default 100ms, at most
// PredictWindow) and denies locally meanwhile. A key becomes hot, and
// leased, after HotThreshold (default 10) requests within one
// PredictWindow; cold keys, most per-client keys, go to Redis one decision
// at a time, so idle clients hold no tokens.
//
// Lease mode meters every limit as a fixed window of Rate per Period: the
// window is the unit a token belongs to, and a token expires with its
// window. Redis grants each token once, so the instances together never
// admit more than a window's quota; the price is under-admission, tokens
// left in a pool when its window ends or its instance stops (Close gives
// back what it can). With Redis down, a pool's tokens are spent, then the
// error goes to the limiter's failure policy; leasing resumes by itself.
// A limit changed while tokens are out drops them (Redis has counted them).
// It lives in this package, not as a wrapper of any store, because a grant
// is one Redis script: the core.Store contract has no "take up to n".
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
// against 0.6 µs per INCR. The client side adds 13 allocations over INCR
// (among them the goroutine each call runs on: see When Redis fails).
package redisstore
