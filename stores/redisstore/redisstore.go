package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
)

// Defaults of the options.
const (
	// DefaultPrefix is put before every key.
	DefaultPrefix = "tollgate:"
	// DefaultTimeout bounds each decision. A loopback round trip takes about
	// 0.05 ms and one inside a data centre well under 1 ms, but a burst of
	// callers on a cold connection pool waits for connections to be dialled
	// and for the server's queue: 64 goroutines racing on a new client
	// missed a 5 ms deadline on nearly every call (bench.TestAccuracy), and
	// each miss closes a connection, so the misses feed themselves. 100 ms
	// leaves room for that, for a garbage-collection pause and a busy
	// server; a dead Redis still costs only the first few requests that
	// long before the breaker answers at once.
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
	// ErrTimeout is returned when Redis did not answer within the store's
	// timeout (or the request's own deadline, if earlier).
	ErrTimeout = errors.New("redisstore: no answer from Redis within the deadline")
	// ErrBreakerOpen is returned, without asking Redis, while the breaker is
	// open after repeated failures.
	ErrBreakerOpen = errors.New("redisstore: breaker open after repeated failures; Redis is skipped until the cool-down ends")
)

// Store is a core.Store keeping each key's state in Redis, decided by one Lua
// script per call. It is safe for concurrent use.
type Store struct {
	client      redis.UniversalClient
	keys        *keyer
	split       bool // a step's keys may be on different nodes: see takeMany
	timeout     time.Duration
	ctxTimeouts bool       // the client applies context deadlines to its sockets
	clock       core.Clock // nil: the server's TIME
	grace       int64      // milliseconds added to every expiry
	base        time.Time  // for local monotonic time, when clock is nil

	breaker *breaker   // nil when disabled
	deny    *denyCache // nil when disabled
	batch   *batcher   // nil when disabled

	closed atomic.Bool
}

var (
	_ core.Store        = (*Store)(nil)
	_ core.LimitChecker = (*Store)(nil)
)

type config struct {
	prefix      string
	hashTag     bool
	secret      []byte
	legacyKeys  bool // version 1 keys (tests of a rolling deploy)
	timeout     time.Duration
	clock       core.Clock
	failures    int
	cooldown    time.Duration
	denyKeys    int
	ctxTimeouts *bool
	batch       int
	batchWait   time.Duration
	senders     int
}

// Option configures a Store.
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

// WithTimeout bounds each call to Redis. Default DefaultTimeout. A request's
// own context deadline applies too, if earlier.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("redisstore: timeout %v: must be positive", d)
		}
		c.timeout = d
		return nil
	})
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
// DefaultBreakerCooldown. Failures caused by the caller's own context (a
// cancelled or expired request) do not count.
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

// WithContextTimeouts says whether the client applies context deadlines to
// its connections (go-redis' ContextTimeoutEnabled). The store finds this out
// by itself for *redis.Client, *redis.ClusterClient and *redis.Ring; this
// option overrides it, for wrappers. When the client does, each call runs on
// the caller's goroutine under a context deadline; when it does not, or the
// store cannot tell, each call runs on a goroutine of its own that the store
// stops waiting for at the deadline.
func WithContextTimeouts(enabled bool) Option {
	return optionFunc(func(c *config) error { c.ctxTimeouts = &enabled; return nil })
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
	s := &Store{client: client, keys: newKeyer(c.prefix, c.hashTag, c.secret), timeout: c.timeout, clock: c.clock, base: time.Now()}
	s.keys.legacy = c.legacyKeys
	// Only a single server (or a Sentinel failover client, one master at a
	// time) holds every key: a Cluster client, a Ring or a client the store
	// does not know may spread a step's keys over nodes.
	_, single := client.(*redis.Client)
	s.split = !single
	if c.ctxTimeouts != nil {
		s.ctxTimeouts = *c.ctxTimeouts
	} else {
		s.ctxTimeouts = honoursContext(client)
	}
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

// honoursContext reports whether client applies context deadlines to reads
// and writes; go-redis does only with ContextTimeoutEnabled.
func honoursContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// CheckLimit reports whether the store's scripts can enforce l: its period
// must be a whole number of microseconds, and its numbers small enough for
// Lua's doubles (every limit a service would use is).
func (s *Store) CheckLimit(l core.Limit) error {
	_, err := paramsOf(l)
	return err
}

// Close marks the store closed; later calls return core.ErrClosed. It stops
// the batch senders, if any. It does not close the client, which the caller
// owns.
func (s *Store) Close() error {
	s.closed.Store(true)
	if s.batch != nil {
		s.batch.close()
	}
	return nil
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
	if err := core.CheckTake(key, l, cost); err != nil {
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
	if s.deny != nil || s.breaker != nil {
		now = s.localNow()
	}
	if s.deny != nil && cost <= 1 {
		if d, ok := s.deny.get(&h, l, now); ok {
			return d, nil
		}
	}
	probe := false
	if s.breaker != nil {
		if probe, err = s.breaker.allow(now); err != nil {
			return core.Decision{}, err
		}
	}
	d, err := s.eval(ctx, s.keys.stored(&h, key), l, p, min(cost, p.burst+1))
	s.settle(ctx, probe, err)
	if err != nil {
		return core.Decision{}, err
	}
	if s.deny != nil && d.Reason == core.ReasonLimited && cost <= 1 {
		s.deny.put(&h, l, now, d)
	}
	return d, nil
}

// settle tells the breaker, if there is one, how a call ended: a success,
// a failure, or neither when the caller gave up (no verdict on Redis).
func (s *Store) settle(ctx context.Context, probe bool, err error) {
	if s.breaker == nil {
		return
	}
	switch {
	case err == nil:
		s.breaker.success(probe)
	case ctx.Err() != nil:
		s.breaker.release(probe)
	default:
		s.breaker.failure(s.localNow(), probe)
	}
}

// noRetry is a command go-redis must not retry: a script that ran but whose
// reply was lost would consume twice.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

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
	args := make([]any, 7, 7+p.nargs)
	args[0], args[1], args[2], args[3] = "evalsha", scripts[l.Algorithm].sha, "1", full
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

// call runs a script within the store's deadline. go-redis applies context
// deadlines to its sockets only with ContextTimeoutEnabled; otherwise the
// call runs on a goroutine of its own, left behind at the deadline (it ends
// by itself at the client's ReadTimeout; the breaker keeps such calls few).
func (s *Store) call(ctx context.Context, sc *script, args []any) (*redis.Cmd, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.batch != nil {
		cmd, err := s.batch.do(ctx, sc, args)
		return cmd, deadlineErr(ctx, err)
	}
	if s.ctxTimeouts {
		cmd, err := s.run(ctx, sc, args)
		return cmd, deadlineErr(ctx, err)
	}
	type result struct {
		cmd *redis.Cmd
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, e := s.run(ctx, sc, args)
		done <- result{c, e}
	}()
	select {
	case r := <-done:
		return r.cmd, deadlineErr(ctx, r.err)
	case <-ctx.Done():
		return nil, deadlineErr(ctx, ctx.Err())
	}
}

// errDeadline marks a call that ran out of the store's time.
type errDeadline struct{ err error }

func (e errDeadline) Error() string { return e.err.Error() }
func (e errDeadline) Unwrap() error { return e.err }

// deadlineErr marks err when it is the deadline's doing: the context's, or
// a socket timeout.
func deadlineErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	if (errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil) || (errors.As(err, &ne) && ne.Timeout()) {
		return errDeadline{err}
	}
	return err
}

// callError is the error a failed call returns: ErrTimeout for a missed
// deadline, else the client's error, naming what was asked.
func (s *Store) callError(err error, what string) error {
	var de errDeadline
	if errors.As(err, &de) {
		return fmt.Errorf("%w (%v): %w", ErrTimeout, s.timeout, de.err)
	}
	return fmt.Errorf("redisstore: %s: %w", what, err)
}

// run sends EVALSHA, and EVAL when Redis has lost the script (after SCRIPT
// FLUSH, a restart or a failover).
func (s *Store) run(ctx context.Context, sc *script, args []any) (*redis.Cmd, error) {
	cmd := redis.NewCmd(ctx, args...)
	err := s.client.Process(ctx, noRetry{cmd})
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmd, err
	}
	again := make([]any, len(args))
	copy(again, args)
	again[0], again[1] = "eval", sc.src
	cmd = redis.NewCmd(ctx, again...)
	return cmd, s.client.Process(ctx, noRetry{cmd})
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
