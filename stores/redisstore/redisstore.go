package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// Defaults of the options.
const (
	// DefaultPrefix is put before every key.
	DefaultPrefix = "tollgate:"
	// DefaultTimeout bounds how long a caller waits for a decision. A
	// loopback round trip takes about 0.05 ms and one inside a data centre
	// well under 1 ms, but a burst of callers on a cold connection pool
	// waits for connections to be dialled and for the server's queue, and a
	// machine short of CPU adds its scheduling delays: 64 goroutines racing
	// on a new client missed a 5 ms deadline on nearly every call
	// (bench.TestAccuracy). 100 ms leaves room for that, for a
	// garbage-collection pause and a busy server.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultBreakerFailures is how many consecutive failures open the breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerCooldown is how long an open breaker skips Redis before
	// it lets one probe through.
	DefaultBreakerCooldown = time.Second
	// MaxPrefixLen bounds the prefix option.
	MaxPrefixLen = 256
)

// injectedGrace is added to every expiry when the store reads an injected
// clock: such a clock need not follow real time, so the store cannot tell
// when, in Redis' time, a state lapses.
const injectedGrace = time.Minute

var (
	// ErrTimeout is returned when no answer came within the store's
	// timeout. The request's own deadline and cancellation do not shorten
	// it: see WithTimeout.
	ErrTimeout = errors.New("redisstore: no answer from Redis within the deadline")
	// ErrBreakerOpen is returned, without asking Redis, while the breaker is
	// open after repeated failures.
	ErrBreakerOpen = errors.New("redisstore: breaker open after repeated failures; Redis is skipped until the cool-down ends")
)

// Store is a core.Store keeping each key's state in Redis, decided by one Lua
// script per call. It is safe for concurrent use. Make one with New; the
// zero value is not usable.
type Store struct {
	client  redis.UniversalClient
	keys    *keyer
	split   bool // a step's keys may be on different nodes: see takeMany
	timeout time.Duration
	clock   core.Clock // nil: the server's TIME
	grace   int64      // milliseconds added to every expiry
	base    time.Time  // for local monotonic time, when clock is nil

	breaker *breaker        // nil when disabled
	deny    *denyCache      // nil when disabled
	batch   *batcher        // nil when disabled
	local   *memstore.Store // LocalStore
	slots   *slotHolder     // concurrency slots (slots.go)

	// own is the store's own client (conns.go), which client is when set;
	// nil with WithClientPool or a client the store cannot copy, whose
	// calls then run on a goroutine each (call.go).
	own      redis.UniversalClient
	recycler *recycler

	closed atomic.Bool
}

var (
	_ core.Store            = (*Store)(nil)
	_ storekit.LimitChecker = (*Store)(nil)
)

type config struct {
	prefix     string
	hashTag    bool
	secret     []byte
	legacyKeys bool // version 1 keys (tests of a rolling deploy)
	timeout    time.Duration
	clock      core.Clock
	failures   int
	cooldown   time.Duration
	denyKeys   int
	batch      int
	batchWait  time.Duration
	senders    int
	slotLease  time.Duration
	clientPool bool
}

// Option configures a Store. A nil Option is not allowed.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithPrefix sets the string put before every key, to keep tollgate's keys
// apart from the application's. Default DefaultPrefix. It may be empty only
// without WithHashTag.
func WithPrefix(p string) Option {
	return optionFunc(func(c *config) error {
		if len(p) > MaxPrefixLen {
			return fmt.Errorf("redisstore: prefix: %d bytes, more than %d", len(p), MaxPrefixLen)
		}
		c.prefix = p
		return nil
	})
}

// WithHashTag puts each stored key's hash in braces, as prefix+"v2:{hash}",
// so that Redis Cluster places a key by its hash alone, whatever the
// prefix. It needs WithKeySecret, and a prefix without braces. Every key
// still has a slot of its own: a step of several limits on a Cluster is
// taken split by slot either way (see the package doc).
func WithHashTag() Option {
	return optionFunc(func(c *config) error { c.hashTag = true; return nil })
}

// WithTimeout bounds how long a caller waits for Redis' answer: at most d,
// then the call returns ErrTimeout. Default DefaultTimeout. It must be
// positive.
//
// Every call runs under this deadline, the store's own, detached from the
// request's context: neither the request's cancellation (a client that hung
// up, an HTTP/2 stream reset) nor its own deadline ends the call early, so
// a client cannot get past its limit by going away. A command the caller
// stopped waiting for is withdrawn if it has not been sent; once sent it is
// left to finish on its connection (within the client's ReadTimeout), so a
// missed deadline never closes a healthy connection: it may have counted in
// Redis, though its caller was not admitted.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("redisstore: timeout %v: must be positive", d)
		}
		c.timeout = d
		return nil
	})
}

// WithClientPool keeps the store on the client it is given, sending its
// commands through that client's pool, so the client's hooks (AddHook:
// tracing, metrics) see them. Without it the store makes a client of its own
// with the same options (a *redis.Client or a *redis.ClusterClient; other
// kinds are always used as given), whose calls run on the caller's
// goroutine, bounded by the store's deadline, and whose connections survive
// a missed deadline (see the package doc). With it each call runs on a
// goroutine of its own, to be bounded by the deadline without closing a
// connection: two wake-ups more a call, about 25 µs on a 2-core VM
// (docs/BENCHMARKS.md).
func WithClientPool() Option {
	return optionFunc(func(c *config) error { c.clientPool = true; return nil })
}

// WithClock makes the store send the time read from clock (in microseconds)
// instead of using the Redis server's TIME, for deterministic tests. Since
// such a clock need not follow real time, keys then expire a minute after
// their state's lifetime rather than at its end.
func WithClock(clock core.Clock) Option {
	return optionFunc(func(c *config) error {
		if clock == nil {
			return errors.New("redisstore: clock: nil")
		}
		c.clock = clock
		return nil
	})
}

// WithBreaker sets the breaker: after failures consecutive failed calls, the
// store skips Redis for cooldown (returning ErrBreakerOpen at once), then lets
// one call through as a probe; its success closes the breaker, its failure
// opens it for another cool-down. Default DefaultBreakerFailures and
// DefaultBreakerCooldown.
//
// The breaker judges Redis by how its commands end, not by how long their
// callers waited: a command fails when its connection fails, Redis answers
// with an error, or no answer comes within the client's ReadTimeout (go-redis'
// default 5s; set it lower to have a Redis that accepts connections but never
// answers skipped sooner). A command answered after its caller stopped
// waiting is a success; one that never left the pool (its caller stopped
// waiting first, or PoolTimeout passed) says nothing about Redis. So a busy
// client machine (callers queued for connections or for the CPU) never
// opens the breaker while Redis answers.
func WithBreaker(failures int, cooldown time.Duration) Option {
	return optionFunc(func(c *config) error {
		if failures < 1 {
			return fmt.Errorf("redisstore: breaker failures %d: must be at least 1", failures)
		}
		if cooldown <= 0 {
			return fmt.Errorf("redisstore: breaker cooldown %v: must be positive", cooldown)
		}
		c.failures, c.cooldown = failures, cooldown
		return nil
	})
}

// WithoutBreaker disables the breaker: every call goes to Redis.
func WithoutBreaker() Option {
	return optionFunc(func(c *config) error { c.failures = 0; return nil })
}

// WithDenyCache remembers, in process memory, up to maxKeys keys that Redis
// denied a request of cost 1 (or a peek), until their RetryAfter: until then
// a request of cost 0 or 1 on such a key is denied without a round trip, with
// the same Remaining (zero), ResetAfter and RetryAfter Redis would give, since
// nothing can make a denied key admit earlier. Default: off.
func WithDenyCache(maxKeys int) Option {
	return optionFunc(func(c *config) error {
		if maxKeys < 1 {
			return fmt.Errorf("redisstore: deny cache size %d: must be at least 1", maxKeys)
		}
		c.denyKeys = maxKeys
		return nil
	})
}

// New returns a Store using client, which may be a single-node client, a
// Sentinel failover client, a Cluster client or a Ring. Close does not close
// the client. New does not contact Redis; scripts are loaded on first use.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	c := config{prefix: DefaultPrefix, timeout: DefaultTimeout, failures: DefaultBreakerFailures, cooldown: DefaultBreakerCooldown}
	for _, o := range opts {
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if c.hashTag && c.prefix == "" {
		return nil, errors.New("redisstore: hash tag: needs a non-empty prefix, so that tollgate's keys stay apart from the application's")
	}
	if err := checkKeys(client, &c); err != nil {
		return nil, err
	}
	switch {
	case c.slotLease == 0:
		c.slotLease = max(DefaultSlotLease, 3*c.timeout)
	case c.slotLease < 3*c.timeout:
		return nil, fmt.Errorf("redisstore: slot lease %v: shorter than 3 × the timeout %v, so a renewal could miss it", c.slotLease, c.timeout)
	}
	local, err := newLocal(c.clock)
	if err != nil {
		return nil, fmt.Errorf("redisstore: local store: %w", err)
	}
	s := &Store{client: client, keys: newKeyer(c.prefix, c.hashTag, c.secret), timeout: c.timeout, clock: c.clock, base: time.Now(), local: local}
	s.keys.legacy = c.legacyKeys
	if !c.clientPool {
		r := newRecycler(s)
		if own := ownClient(client, r); own != nil {
			s.client, s.own, s.recycler = own, own, r
		}
	}
	s.slots = newSlotHolder(s, c.slotLease)
	// Only a single server (or a Sentinel failover client, one master at a
	// time) holds every key: a Cluster client, a Ring or a client the store
	// does not know may spread a step's keys over nodes.
	_, single := client.(*redis.Client)
	s.split = !single
	if c.clock != nil {
		s.grace = int64(injectedGrace / time.Millisecond)
	}
	if c.failures > 0 {
		s.breaker = &breaker{threshold: int64(c.failures), cooldown: int64(c.cooldown)}
	}
	if c.denyKeys > 0 {
		s.deny = newDenyCache(c.denyKeys)
	}
	if c.batch > 0 {
		s.batch = newBatcher(s, c.batch, cmpOr(c.senders, DefaultBatchSenders), c.batchWait)
	}
	return s, nil
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// Client returns the client the store sends its commands through: its own,
// made from the one New was given (see WithClientPool), or that one. Add
// hooks to it (tracing, metrics: redis.UniversalClient.AddHook) to see the
// store's commands, and read its PoolStats. Close closes it when it is the
// store's own.
func (s *Store) Client() redis.UniversalClient { return s.client }

// CheckLimit reports whether the store's scripts can enforce l: its period
// must be a whole number of microseconds, and its numbers small enough for
// Lua's doubles (every limit a service would use is).
func (s *Store) CheckLimit(l core.Limit) error {
	_, err := paramsOf(l)
	return err
}

// Close marks the store closed; later calls return core.ErrClosed. It stops
// the batch senders, if any, and closes the local store (LocalStore). It
// does not close the client, which the caller owns. Commands whose callers
// stopped waiting may still be finishing on their connections; each ends
// within the client's ReadTimeout.
func (s *Store) Close() error {
	s.closed.Store(true)
	if s.batch != nil {
		s.batch.close()
	}
	s.slots.close()
	if s.own != nil {
		s.recycler.close()
		s.own.Close()
	}
	return s.local.Close()
}

// localNow is the store's own time for the breaker and the deny cache: the
// injected clock, or monotonic time.
func (s *Store) localNow() int64 {
	if s.clock != nil {
		return s.clock.Now().UnixNano()
	}
	return int64(time.Since(s.base))
}

// Take applies limit to key's state in Redis, atomically, in one round trip
// (two when Redis has lost the script).
func (s *Store) Take(ctx context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := storekit.CheckTake(key, l, cost); err != nil {
		return core.Decision{}, err
	}
	if s.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	p, err := paramsOf(l)
	if err != nil {
		return core.Decision{}, err
	}
	var h [hashLen]byte
	s.keys.hash(&h, key, "")
	var now int64
	if s.deny != nil {
		now = s.localNow()
	}
	if s.deny != nil && cost <= 1 {
		if d, ok := s.deny.get(&h, l, now); ok {
			return d, nil
		}
	}
	d, err := s.eval(ctx, s.keys.stored(&h, key), l, p, min(cost, p.burst+1))
	if err != nil {
		return core.Decision{}, err
	}
	if s.deny != nil && d.Reason == core.ReasonLimited && cost <= 1 {
		s.deny.put(&h, l, now, d)
	}
	return d, nil
}

// Settle implements storekit.Settler: storekit.Settle on key's state in one
// script, in one round trip (two when Redis has lost the script). The deny
// cache (WithDenyCache) forgets the key, so its next take asks Redis.
func (s *Store) Settle(ctx context.Context, key string, l core.Limit, delta int64) (core.Decision, error) {
	if err := storekit.CheckSettle(key, l, delta); err != nil {
		return core.Decision{}, err
	}
	if s.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	p, err := paramsOf(l)
	if err != nil {
		return core.Decision{}, err
	}
	var h [hashLen]byte
	s.keys.hash(&h, key, "")
	sc := &settleScripts[l.Algorithm]
	cmd, err := s.call(ctx, sc, s.scriptArgs(sc, s.keys.stored(&h, key), p, delta, s.at()))
	if s.deny != nil {
		s.deny.forget(&h) // even on an error: the script may have run
	}
	if err != nil {
		return core.Decision{}, s.callError(err, l.Algorithm.String()+" settlement")
	}
	vals, err := cmd.Slice()
	if err != nil || len(vals) != 4 {
		return core.Decision{}, fmt.Errorf("redisstore: unexpected settlement reply %v (%v)", vals, err)
	}
	return decode(vals, l)
}

var _ storekit.Settler = (*Store)(nil)

// eval runs the limit's script on full, a stored key (a new string, which
// the command may outlive), and turns its reply into a Decision.
func (s *Store) eval(ctx context.Context, full string, l core.Limit, p params, cost int64) (core.Decision, error) {
	sc := &scripts[l.Algorithm]
	args := s.evalArgs(full, l, p, cost, s.at())
	cmd, err := s.call(ctx, sc, args)
	if err != nil {
		return core.Decision{}, s.callError(err, l.Algorithm.String())
	}
	vals, err := cmd.Slice()
	if err != nil || len(vals) != 4 {
		return core.Decision{}, fmt.Errorf("redisstore: unexpected script reply %v (%v)", vals, err)
	}
	return decode(vals, l)
}

// evalArgs is the EVALSHA of the limit's script on full at now.
func (s *Store) evalArgs(full string, l core.Limit, p params, cost int64, now any) []any {
	return s.scriptArgs(&scripts[l.Algorithm], full, p, cost, now)
}

// scriptArgs is the EVALSHA of sc, an algorithm's script or settlement, on
// full at now.
func (s *Store) scriptArgs(sc *script, full string, p params, cost int64, now any) []any {
	args := make([]any, 7, 7+p.nargs)
	args[0], args[1], args[2], args[3] = "evalsha", sc.sha, "1", full
	args[4], args[5], args[6] = now, cost, s.grace
	for i := 0; i < p.nargs; i++ {
		args = append(args, p.args[i])
	}
	return args
}

// at is the instant a script is told: the injected clock's, in
// microseconds, or "" for the server's TIME.
func (s *Store) at() any {
	if s.clock != nil {
		return floorDiv(s.clock.Now().UnixNano(), int64(time.Microsecond))
	}
	return ""
}

// decode reads a script's reply: {outcome, remaining, reset, retry}, with
// outcome 1 admitted, 0 denied, 2 too costly, and durations in microseconds.
func decode(vals []any, l core.Limit) (core.Decision, error) {
	var n [4]int64
	for i, v := range vals {
		x, ok := v.(int64)
		if !ok {
			return core.Decision{}, fmt.Errorf("redisstore: unexpected script reply %v", vals)
		}
		n[i] = x
	}
	d := core.Decision{Limit: l, Remaining: max(n[1], 0), ResetAfter: time.Duration(max(n[2], 0)) * time.Microsecond}
	switch n[0] {
	case 1:
		d.Allowed = true
	case 0:
		d.Reason = core.ReasonLimited
		d.RetryAfter = time.Duration(max(n[3], 0)) * time.Microsecond
	case 2:
		d.Reason = core.ReasonCostExceedsBurst
		d.RetryAfter = core.Never
	default:
		return core.Decision{}, errors.New("redisstore: unexpected script outcome " + strconv.FormatInt(n[0], 10))
	}
	return d, nil
}

// floorDiv rounds towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
