package redisstore_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// patience is the deadline of the stores of tests that are not about the
// deadline: long enough that a saturated machine never makes a call miss
// it, so that such a test sees what it is about, never a fallback. The
// deadline itself is the fault tests' subject (fault_test.go), and the
// default one that of the tests named for the defaults.
const patience = 10 * time.Second

// newStore returns a store on client, closed when t ends, whose deadline is
// patience unless opts set another.
func newStore(t testing.TB, client redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, append([]redisstore.Option{redisstore.WithTimeout(patience)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// hammer runs workers goroutines, each calling take each times (w is the
// goroutine's number), and returns how many decisions admitted. An error
// fails t.
func hammer(t *testing.T, workers, each int, take func(w int) (core.Decision, error)) int64 {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				d, err := take(w)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return admitted.Load()
}

func TestNewRejectsBadOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: New does not contact Redis
	defer client.Close()
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   []redisstore.Option
		says   string
	}{
		{"nil client", nil, nil, "nil client"},
		{"hash tag with an empty prefix", client, []redisstore.Option{redisstore.WithPrefix(""), redisstore.WithHashTag()}, "hash tag"},
		{"prefix too long", client, []redisstore.Option{redisstore.WithPrefix(strings.Repeat("p", 300))}, "prefix"},
		{"zero timeout", client, []redisstore.Option{redisstore.WithTimeout(0)}, "timeout"},
		{"negative timeout", client, []redisstore.Option{redisstore.WithTimeout(-time.Second)}, "timeout"},
		{"breaker of zero failures", client, []redisstore.Option{redisstore.WithBreaker(0, time.Second)}, "breaker failures"},
		{"breaker without a cool-down", client, []redisstore.Option{redisstore.WithBreaker(3, 0)}, "cooldown"},
		{"empty deny cache", client, []redisstore.Option{redisstore.WithDenyCache(0)}, "deny cache"},
		{"nil clock", client, []redisstore.Option{redisstore.WithClock(nil)}, "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.New(tt.client, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.says) || s != nil {
				t.Fatalf("New = %v, %v; want nil and an error mentioning %q", s, err, tt.says)
			}
		})
	}
	if s, err := redisstore.New(client, redisstore.WithPrefix("")); err != nil {
		t.Errorf("an empty prefix without a hash tag: %v, want accepted", err)
	} else {
		s.Close()
	}
}

func TestLimitsTheScriptsCannotComputeFailAtConstruction(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client)
	tests := []struct {
		name  string
		limit core.Limit
		field string
	}{
		{"a period in part-microseconds", core.Limit{Rate: 1, Period: 1500 * time.Nanosecond}, "period"},
		{"more than one event per microsecond", core.PerSecond(2_000_000), "rate"},
		{"a period over 35 years", core.Limit{Rate: 1, Period: 40 * 365 * 24 * time.Hour, Algorithm: core.FixedWindow}, "period"},
		{"a burst whose span passes 2^50 µs", core.Limit{Rate: 1, Period: time.Hour, Burst: 1 << 22}, "burst"},
		{"a token bucket span past 2^50 µs", core.Limit{Rate: 7, Period: 24 * time.Hour, Burst: 50_000, Algorithm: core.TokenBucket}, "burst"},
		{"an invalid limit", core.Limit{Rate: 0, Period: time.Second}, "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckLimit(tt.limit)
			var le *core.LimitError
			if !errors.As(err, &le) || le.Field != tt.field || !errors.Is(err, core.ErrInvalidLimit) {
				t.Fatalf("CheckLimit(%v) = %v, want a LimitError on %q", tt.limit, err, tt.field)
			}
			if _, err := core.NewLimiter(s, tt.limit); !errors.Is(err, core.ErrInvalidLimit) {
				t.Fatalf("NewLimiter accepted %v: %v", tt.limit, err)
			}
			if d, err := s.Take(context.Background(), "k", tt.limit, 1); err == nil || d.Allowed {
				t.Fatalf("Take with %v: %+v, %v; want an error, not admitted", tt.limit, d, err)
			}
		})
	}
	for _, l := range []core.Limit{core.PerSecond(1_000_000), {Rate: 1_000_000, Period: 24 * time.Hour}, {Rate: 100_000, Period: 24 * time.Hour, Algorithm: core.SlidingWindowCounter}} {
		if err := s.CheckLimit(l); err != nil {
			t.Errorf("CheckLimit(%v) = %v, want nil", l, err)
		}
	}
}

// TestKeysCarryThePrefixAndExpireWithTheirState uses the server's TIME, as in
// production, and reads the keys back with plain commands.
func TestKeysCarryThePrefixAndExpireWithTheirState(t *testing.T) {
	client := redistest.Shared(t).Client(t, nil)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	// lifetime is how long each algorithm's state lasts after 3 takes of
	// 10/m at some instant t0 into a window: at most these, and, where exact,
	// at least these less one interval (6s: the takes and the reading may be
	// that far apart on a saturated machine, never more; a limit of 10/s,
	// as this test had, left them 100ms).
	tests := []struct {
		alg      core.Algorithm
		lifetime time.Duration
		exact    bool
	}{
		{core.GCRA, 18 * time.Second, true},
		{core.TokenBucket, 18 * time.Second, true},
		{core.FixedWindow, time.Minute, false},              // until the window ends
		{core.SlidingWindowCounter, 2 * time.Minute, false}, // until the next window ends
		{core.SlidingWindowLog, time.Minute, true},
	}
	for _, hashTag := range []bool{false, true} {
		opts := []redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithKeySecret(testSecret)}
		if hashTag {
			opts = append(opts, redisstore.WithHashTag())
		}
		s := newStore(t, client, opts...)
		for _, tt := range tests {
			key := tt.alg.String() + "-" + strconv.FormatBool(hashTag)
			l := core.PerMinute(10).WithAlgorithm(tt.alg)
			for i := 0; i < 3; i++ {
				if d, err := s.Take(ctx, key, l, 1); err != nil || !d.Allowed {
					t.Fatalf("%v take %d: %+v, %v", tt.alg, i, d, err)
				}
			}
			want := storedKey(prefix, key, hashTag)
			ttl, err := client.PTTL(ctx, want).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > tt.lifetime || (tt.exact && ttl < tt.lifetime-l.Interval()) {
				t.Errorf("%v: key %q has TTL %v, want the state's lifetime %v", tt.alg, want, ttl, tt.lifetime)
			}
			// A denial writes nothing, so it does not extend the key's life.
			s.Take(ctx, key, l, 8)
			if again, _ := client.PTTL(ctx, want).Result(); again > ttl {
				t.Errorf("%v: a denied take moved the TTL from %v to %v", tt.alg, ttl, again)
			}
		}
	}
}

func TestScriptsSurviveScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, nil)
	ctx := context.Background()
	s := newStore(t, client)
	l := core.PerHour(100) // nothing refills while the test runs
	for i := 0; i < 3; i++ {
		if err := client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 5; j++ {
			d, err := s.Take(ctx, "k", l, 1)
			if err != nil || d.Remaining != int64(100-1-5*i-j) {
				t.Fatalf("flush %d, take %d: %+v, %v; want admitted, the count carried on", i, j, d, err)
			}
		}
	}
	stats := commandStats(t, client)
	if stats["evalsha"] != 15 || stats["eval"] != 3 {
		t.Fatalf("commands %v; want 15 EVALSHA, and one EVAL after each of the 3 flushes", stats)
	}
}

// TestNoScriptStormStillExact flushes the script cache as fast as it can
// while 16 goroutines take from one key: each NOSCRIPT costs a second round
// trip, and the quota is still exact.
func TestNoScriptStormStillExact(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{PoolSize: 32})
	s := newStore(t, client)
	ctx := context.Background()
	stop := make(chan struct{})
	var flushes atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				if client.ScriptFlush(ctx).Err() == nil {
					flushes.Add(1)
				}
			}
		}
	}()
	defer close(stop)
	n := hammer(t, 16, 60, func(int) (core.Decision, error) { return s.Take(ctx, "storm", core.PerHour(300), 1) })
	if n != 300 {
		t.Fatalf("admitted %d of 960 during %d flushes, want exactly 300", n, flushes.Load())
	}
	if stats := commandStats(t, client); stats["eval"] == 0 {
		t.Fatalf("no EVAL after %d flushes: the storm did not reach the store (%v)", flushes.Load(), stats)
	}
}

func TestScriptsWorkAfterARestart(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{PoolSize: 4, ContextTimeoutEnabled: true})
	s := newStore(t, client, redisstore.WithoutBreaker())
	ctx := context.Background()
	l := core.PerMinute(100)
	if d, err := s.Take(ctx, "k", l, 10); err != nil || d.Remaining != 90 {
		t.Fatalf("before the restart: %+v, %v", d, err)
	}
	srv.Kill()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Pooled connections to the old process fail once each, and are not
	// retried (a retried script could consume twice); then the store works
	// again, with the script loaded anew and the state gone with the process.
	failures := 0
	for {
		d, err := s.Take(ctx, "k", l, 1)
		if err == nil {
			if d.Remaining != 99 {
				t.Fatalf("after the restart: %+v, want a fresh bucket (the server keeps nothing on disk)", d)
			}
			break
		}
		if failures++; failures > 4 {
			t.Fatalf("still failing after %d calls: %v", failures, err)
		}
	}
}

// TestReadOnlyReplicaIsAnErrorNotAnAdmission points the store at a real
// replica, as a client can find itself after a failover.
func TestReadOnlyReplicaIsAnErrorNotAnAdmission(t *testing.T) {
	primary := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	s := newStore(t, replica.Client(t, nil))
	d, err := s.Take(context.Background(), "k", core.PerSecond(5), 1)
	if err == nil || !strings.Contains(err.Error(), "READONLY") || d.Allowed {
		t.Fatalf("Take on a replica: %+v, %v; want an error naming READONLY", d, err)
	}
	lim, _ := core.NewLimiter(s, core.PerSecond(5), core.WithFailClosed())
	if d, err := lim.Take(context.Background(), "k"); d.Allowed || d.Reason != core.ReasonFailClosed || !errors.Is(err, core.ErrStore) {
		t.Fatalf("through a fail-closed limiter: %+v, %v; want denied as fail-closed", d, err)
	}
}

// TestServerRefusingScriptsIsAnError uses an ACL user without the scripting
// commands: a Redis that refuses EVAL outright.
func TestServerRefusingScriptsIsAnError(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	admin := srv.Client(t, nil)
	if err := admin.Do(ctx, "ACL", "SETUSER", "noscripts", "on", ">s3cret", "~*", "+@all", "-@scripting").Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, srv.Client(t, &redis.Options{Username: "noscripts", Password: "s3cret"}))
	d, err := s.Take(ctx, "k", core.PerSecond(5), 1)
	if err == nil || !strings.Contains(err.Error(), "NOPERM") || d.Allowed {
		t.Fatalf("Take without scripting rights: %+v, %v; want an error naming NOPERM", d, err)
	}
}

// TestAnotherAlgorithmsStateReadsAsANewKey changes a key's algorithm, which
// a redeploy can do: the old state, of another shape or even another Redis
// type, is ignored rather than misread, as in the memory store.
func TestAnotherAlgorithmsStateReadsAsANewKey(t *testing.T) {
	client := redistest.Shared(t).Client(t, nil)
	s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)))
	ctx := context.Background()
	order := append(storekit.Algorithms(), core.GCRA, core.SlidingWindowLog, core.FixedWindow)
	for i, alg := range order {
		l := core.PerMinute(10).WithAlgorithm(alg)
		d, err := s.Take(ctx, "k", l, 4)
		if err != nil || !d.Allowed || d.Remaining != 6 {
			t.Fatalf("switch %d to %v: %+v, %v; want a fresh key's decision", i, alg, d, err)
		}
	}
}

func TestTwoInstancesShareOneLimitExactly(t *testing.T) {
	srv := redistest.Shared(t)
	prefix := uniquePrefix(t)
	const quota, workers, each = 500, 24, 50
	var limiters [2]*core.Limiter
	for i := range limiters {
		// Separate clients, separate stores: two app processes.
		s := newStore(t, srv.Client(t, &redis.Options{PoolSize: 16}), redisstore.WithPrefix(prefix))
		lim, err := core.NewLimiter(s, core.PerHour(quota), core.WithFailClosed())
		if err != nil {
			t.Fatal(err)
		}
		limiters[i] = lim
	}
	var admitted [2]atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2*workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lim := limiters[w%2]
			for i := 0; i < each; i++ {
				d, err := lim.Take(context.Background(), "shared-client")
				if err != nil {
					failed.Add(1)
				}
				if d.Allowed {
					admitted[w%2].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	a, b := admitted[0].Load(), admitted[1].Load()
	if failed.Load() != 0 || a+b != quota || a == 0 || b == 0 {
		t.Fatalf("instances admitted %d + %d = %d of %d attempts (%d errors), want exactly %d in total from both", a, b, a+b, 2*workers*each, failed.Load(), quota)
	}
}

// commandStats returns how many times each command ran on the server.
func commandStats(t testing.TB, client *redis.Client) map[string]int {
	t.Helper()
	info, err := client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]int{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		stats[name] = n
	}
	return stats
}

// With every option at its default, 64 goroutines burst on a new client (no
// connection dialled yet) against a quota of 1,000 a day. On a saturated
// machine some calls miss the 100 ms deadline, whichever side is to blame,
// and the limiter's default policy hands them to the store's local store.
// What the defaults guarantee, however busy the machine, and what is
// asserted, decision by decision as the hook reports them:
//
//   - every request is decided, by Redis or by the local store: none is
//     admitted uncounted (with a 5 ms default deadline and fail-open as the
//     default policy, most of these calls timed out while connections were
//     dialled, and 2,560 were admitted);
//   - Redis never admits more than the quota, and every token it counted
//     (read back from Redis afterwards) went to a caller it admitted or to
//     one that stopped waiting at the deadline, whose command ran anyway: so
//     when Redis made every decision it admitted exactly the quota;
//   - the local store admits at most the instance's share of the quota,
//     here all of it (one instance, the default).
func TestDefaultsColdPoolBurstAdmitsExactlyTheQuota(t *testing.T) {
	srv := redistest.Shared(t)
	limit := core.Limit{Rate: 1000, Period: 24 * time.Hour}
	const callers, each = 64, 40
	for round := range 3 {
		prefix := fmt.Sprintf("cold%d-%d:", time.Now().UnixNano(), round)
		client := srv.Client(t, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true})
		s, err := redisstore.New(client, redisstore.WithPrefix(prefix)) // the defaults, timeout included
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		var by tally
		l, err := core.NewLimiter(s, limit, core.WithHook(by.hook))
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		var admitted atomic.Int64
		var start, done sync.WaitGroup
		start.Add(1)
		for range callers {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				for range each {
					if d, _ := l.Take(context.Background(), "client"); d.Allowed {
						admitted.Add(1)
					}
				}
			}()
		}
		start.Done()
		done.Wait()

		// What Redis counted, read by a store with time to spare; and what
		// the limit earned back while the round ran (one token per 86.4 s,
		// so nothing in practice, but a slow enough machine could earn one).
		reader, err := core.NewLimiter(newStore(t, client, redisstore.WithPrefix(prefix)), limit, core.WithFailClosed())
		if err != nil {
			t.Fatal(err)
		}
		left, err := reader.Peek(context.Background(), "client")
		if err != nil {
			t.Fatal(err)
		}
		earned := int64(time.Since(began) / limit.Interval())
		quota := limit.Rate
		counted := quota - left.Remaining // at least; at most counted+earned
		ra, rd, fa, fb := by.redisAdmitted.Load(), by.redisDenied.Load(), by.fallbackAdmitted.Load(), by.fallbacks()
		t.Logf("round %d: Redis admitted %d and denied %d; the local store admitted %d of %d; Redis counted %d", round, ra, rd, fa, fb, counted)

		if n := by.neither.Load(); n != 0 {
			t.Errorf("round %d: %d requests decided by neither Redis nor the local store (the first: %v)", round, n, by.neitherErr())
		}
		if ra+rd+fb+by.neither.Load() != callers*each || ra+fa != admitted.Load() {
			t.Errorf("round %d: the hook saw %d decisions and %d admissions; the callers made %d and were admitted %d", round, ra+rd+fb+by.neither.Load(), ra+fa, callers*each, admitted.Load())
		}
		if ra > quota+earned || ra > counted+earned {
			t.Errorf("round %d: Redis admitted %d; it counted %d of a quota of %d: over-admission", round, ra, counted, quota)
		}
		if counted > ra+fb {
			t.Errorf("round %d: Redis counted %d, more than the %d it admitted and the %d calls that stopped waiting", round, counted, ra, fb)
		}
		if rd > 0 && ra+fb < quota {
			t.Errorf("round %d: Redis denied %d after admitting %d, with %d calls that stopped waiting: denied before the quota of %d was spent", round, rd, ra, fb, quota)
		}
		if fb == 0 && ra < quota {
			t.Errorf("round %d: Redis made every decision and admitted %d, want exactly %d", round, ra, quota)
		}
		if share := quota; fa > share+earned {
			t.Errorf("round %d: the local store admitted %d, more than the instance's share %d", round, fa, share)
		}
	}
}

// storedKey is the key a store with testSecret keeps key under: the prefix,
// "v2:" and the first 128 bits of HMAC-SHA256(secret, key) in hex, braced
// with WithHashTag. Computed here apart from the store, it pins the format:
// a change of it would restart every count at a deploy.
func storedKey(prefix, key string, hashTag bool) string {
	k := storedKeyWith(prefix, key, testSecret)
	if hashTag {
		return prefix + "v2:{" + strings.TrimPrefix(k, prefix+"v2:") + "}"
	}
	return k
}

func storedKeyWith(prefix, key string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key))
	return prefix + "v2:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// The store sends its commands through a client of its own, made with the
// given client's options, unless WithClientPool keeps it on the given one:
// a hook on the given client sees the store's commands only then.
func TestTheStoresOwnClientAndWithClientPool(t *testing.T) {
	for _, clientPool := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithClientPool=%v", clientPool), func(t *testing.T) {
			client := redistest.Shared(t).Client(t, nil)
			var c counter
			client.AddHook(&c)
			opts := []redisstore.Option{redisstore.WithPrefix(uniquePrefix(t))}
			if clientPool {
				opts = append(opts, redisstore.WithClientPool())
			}
			s := newStore(t, client, opts...)
			for i := 0; i < 3; i++ {
				if d, err := s.Take(context.Background(), "k", core.PerHour(10), 1); err != nil || d.Remaining != int64(9-i) {
					t.Fatalf("take %d: %+v, %v", i, d, err)
				}
			}
			if seen := c.lone.Load() > 0; seen != clientPool {
				t.Fatalf("the given client's hook saw %d commands; want some only with WithClientPool", c.lone.Load())
			}
			// Client is the client the commands go through: a hook added
			// to it sees them either way.
			if (s.Client() == redis.UniversalClient(client)) != clientPool {
				t.Fatalf("Client() is the given client: %v; want that only with WithClientPool", !clientPool)
			}
			var own counter
			s.Client().AddHook(&own)
			if _, err := s.Take(context.Background(), "k", core.PerHour(10), 1); err != nil || own.lone.Load() != 1 {
				t.Fatalf("a hook added to Client() saw %d commands of one take (%v), want 1", own.lone.Load(), err)
			}
		})
	}
}
