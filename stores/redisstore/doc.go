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
// redis.UniversalClient. The store does not close it. A Cluster or a Ring
// needs WithKeySecret, the same on every instance (see Keys).
//
// # One round trip per decision
//
// Each algorithm is one Lua script (see lua/) that reads the key, decides and
// writes it back atomically: the same transition as storekit.Apply, computed in
// microseconds with Lua's doubles, which are exact below 2^53. CheckLimit
// (which core.NewLimiter calls) rejects the few limits whose numbers would not
// stay there: periods that are not whole microseconds, more than one event
// per microsecond, spans of more than 2^50 µs (35 years). A script touches
// exactly one key, so it is safe on Redis Cluster. Scripts are run with EVALSHA;
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
// The store sends its commands through a client of its own, made from the
// one it is given with the same options (address, credentials, TLS, pool
// size, Sentinel failover, Cluster nodes) and ContextTimeoutEnabled on, so
// that a command runs on its caller's goroutine and the store's deadline
// reaches the socket: both kinds of go-redis client, with and without
// ContextTimeoutEnabled, behave the same, and a call costs no hand-off to
// another goroutine (about 25 µs a call on a 2-core VM). The given client's
// hooks (AddHook) do not see these commands: add them to Store.Client, or
// keep the store on the given client with WithClientPool, each call then
// running on a goroutine of its own.
// A Ring, or a client type of the caller's own, is always used as given.
//
// A busy client machine must not look like a dead Redis. A command whose
// caller stopped waiting is withdrawn if it is still waiting for a pool
// connection. One already sent keeps its connection: go-redis gives up a
// connection whose read missed a context deadline, and would close it, so
// that the next calls dial, miss their deadlines in turn, and the pool
// churns; the store's own dialer keeps the socket instead, reads the late
// reply (a PING with a random token follows it, and the connection is in
// step once the token comes back) and hands the socket to the next dial. The
// breaker judges Redis by how commands end: after DefaultBreakerFailures
// consecutive commands that failed on their connection or got no answer
// within the client's ReadTimeout (a late reply counts as an answer), it
// answers ErrBreakerOpen at once for DefaultBreakerCooldown, then lets one
// probe through. Time spent waiting for a pool connection or for the CPU is
// never blamed on Redis.
//
// # Keys
//
// No byte a client sends is stored in Redis. The key a store is given (the
// limiter's prefix and the client's key: an IP, a tenant, an API key) is
// stored as the store's prefix, a format version and a keyed hash of it:
//
//	tollgate:v2:1f0c9a…(32 hex digits)      tollgate:v2:{1f0c9a…} with WithHashTag
//
// The hash is HMAC-SHA256 truncated to 128 bits, keyed by WithKeySecret. So
// a stored key is 35 bytes after the prefix (37 with the braces) whatever
// the key, an API key used as a key is not readable in Redis or its dumps,
// and on a Redis Cluster no client can choose the slot its keys land in
// (keys built to share one would otherwise pile onto one master). The
// deny cache, in process memory, keeps keys by their hashes too.
//
// Without WithKeySecret a built-in secret is used. It is public: enough on a
// single server (keys bounded, no credential stored), not on a Cluster or a
// Ring, where anyone can compute a key's slot; New refuses a
// *redis.ClusterClient, a *redis.Ring or WithHashTag without
// WithKeySecret. Give every instance that shares the Redis the same secret
// (16 random bytes or more, from the deployment's secret store): an
// instance with another secret counts every client afresh, in keys of its
// own. Changing the secret, like changing the prefix, restarts every count.
//
// The "v2:" names the format. Version 1, before it, stored the key itself
// after the prefix (prefix{key} with WithHashTag; on a Cluster a step's
// other keys under the first one's tag). During a rolling deploy from
// version 1, old and new instances count each client in two places, and
// neither sees the other's count: while both run, a client can get up to
// one extra quota per limit (a 3/m limit admits up to 6 in that minute,
// TestRollingDeployAcrossTheKeyFormatCountsTwiceAtMost). Penalty boxes are
// likewise kept apart. Once every instance runs version 2 the old keys
// expire with their state, within the longest period of any limit; to
// avoid the double count, roll over in a quiet hour or accept it.
//
// # Several limits in one step
//
// Store is a storekit.MultiStore: a request under several limits (per IP and
// per tenant) is admitted by all of them or consumes none. Every limit is
// counted under its own key, the one Take uses: a step's keys never scope
// one another, so no limit's count depends on which other limits share a
// request.
//
// On a single server (a *redis.Client, or a Sentinel failover client) one
// script decides every take, at the cost of one round trip. When every
// limit is GCRA (the default) the script reads every state with one MGET,
// decides each, and writes them all or none; otherwise each algorithm's
// script, made a function, is called first without writing, then, if every
// take is admitted, again with writes. From 64 goroutines, a second GCRA
// limit costs 9–17% more time per decision than one (BenchmarkSeveralLimits,
// make bench-rules).
//
// On a Redis Cluster every key is in a slot of its own, and one script may
// only touch one slot, so a step is split by slot (also on a Ring, and on a
// client the store does not recognise): one pipelined round trip decides
// every take without writing (each on its own node) and reads the step's
// penalty boxes; if a box is closed the client gets the box's answer, if a
// take would deny the step is denied and takes nothing, as on one server;
// otherwise a second round trip takes each key by itself. Two round trips,
// and not one atomic step: a concurrent request can spend a limit between
// them, and then the step's other takes stay consumed although the step is
// denied. That race costs quota (under-admission, only when a limit runs
// out under concurrent requests), never admits a request past any limit.
// A *redis.Client pointed at a Cluster node gets CROSSSLOT for a step:
// the store returns ErrCrossSlot, an invalid setup, which core denies
// rather than failing open.
//
// Store is also a storekit.BoxStore. On one server TakeBoxed adds each penalty
// box's two keys to the step's script, which reads the boxes first (a
// client in any box is answered with the longest time left, and nothing
// else runs) and, when the step is denied, counts the denial in each box
// whose selected takes (core.Box.Takes) include a denied one, closing a box
// on its K-th; the boxes are shared by every instance and cost no extra
// round trip. On a Cluster the boxes are read in the first round trip and
// a denial is counted in a third (a box's two keys share a slot); a denial
// that finds its box closed since is not counted, and the step is answered
// from the box. The deny cache is not consulted for a step.
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
// gcra.lua once per decision: Redis' own cost of a script call, several
// times that of a decision within one, is then paid once per batch.
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
// # Concurrency slots
//
// The store holds the slots of a core.ConcurrencyLimiter (at most N requests
// in flight per key): a sorted set per key of slot ids, each scored by the
// instant, in the server's TIME, at which its lease ends. Acquire is one
// script that drops the ended leases, counts, and adds a slot if fewer than
// N are held; Release removes it (ZREM). While a slot is held, one goroutine
// per store renews the leases of every slot it holds, every third of a lease
// (ZADD XX, one script per key, pipelined), so a request held open for
// hours keeps its slot; when the process dies, nothing renews them and they
// free themselves within one lease (WithSlotLease, default
// DefaultSlotLease). Close stops the renewer. A slot whose script ran but
// whose answer was lost (a missed deadline) is held by no one and frees
// itself the same way; a lease that ended while Redis was out of reach for
// longer than one is not taken back, so a slot may then be given twice for
// the rest of that request. Each step touches one key, so slots work alike
// on a single server and on a Cluster. When Redis cannot decide, a limiter
// falls back to the local store (LocalStore) by default, holding its share
// of N (core.WithInstances), as a rate limit does; a slot is given back to
// the store that gave it.
//
// A request under both concurrency and rate limits (httplimit's
// WithConcurrency beside WithLimit) takes its slots first, then its rate
// limits in their step, as the section above describes for the store it
// runs on, Cluster included: a request a concurrency limit denies asks no
// rate limit, and one a rate limit denies gives its slots back before it
// is answered. The two are not one atomic step: for the moment between them
// a request later denied by a rate limit holds a slot another request may
// be refused for (under-admission, never over).
//
// # Cost
//
// make bench-redis runs, against a local redis-server it starts, a decision
// beside a bare go-redis INCR and beside the cheapest atomic script that
// reads the server's clock, GETs and SETs, serially and from 64 goroutines;
// docs/BENCHMARKS.md in the repository has the figures of the last run (make
// bench), with the machine and the command. The gap to INCR is Redis'
// scripting (INFO commandstats shows its server time per call), and the
// client side runs each call on a goroutine of its own (see When Redis
// fails).
//
// # Redis settings
//
// Run the Redis tollgate uses with maxmemory-policy noeviction (or give
// it a Redis of its own without maxmemory). Under an evicting policy
// (allkeys-lru, allkeys-lfu, allkeys-random, and the volatile-* ones,
// since every tollgate key has an expiry) a key Redis evicts is a client's
// quota reset: a flood of short-lived keys (other clients' IPs) can evict
// a drained counter, and the client starts afresh (TestEvictionResetsAQuota
// shows it under allkeys-lru).
//
// Size maxmemory for the keys alive at once: each distinct (limit, key)
// seen within the limit's period (GCRA, token bucket: until its quota is
// whole again; fixed window: to the window's end; sliding window counter:
// two windows; sliding window log: the period). MEMORY USAGE on Redis 7.0,
// with the default 9-byte prefix (TestMemoryPerKey -v): 120 bytes for a GCRA,
// token bucket, fixed window or sliding window counter key, 200 for a
// sliding window log with one event and about 11 more per event (1,192 at
// 100), 136 for a closed penalty box. A million clients under one GCRA
// limit: about 120 MB.
//
// Under noeviction, when used memory reaches maxmemory Redis refuses
// writes with an OOM error. A decision that would consume then fails: the
// store returns the error (never an admission), and the limiter's failure
// policy decides: fail open admits everyone while Redis is full, fail
// closed denies everyone, a fallback store limits locally. Decisions that
// write nothing (peeks, denials) are still answered. Watch used_memory
// against maxmemory.
package redisstore
