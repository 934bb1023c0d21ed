package bench

// How the cost of a decision grows: four sweeps, each a Go benchmark whose
// sub-benchmarks name the point (keys=, callers=, limits=, rules=) and the
// library (lib=), for cmd/growth to plot. growth.sh runs them in rounds
// (make bench-growth); the knobs below size them, small by default so that
// the smoke run (go test -bench . -benchtime 1x) stays short.
//
//	GROWTH_MAX_KEYS        largest key count held in memory (default 10,000)
//	GROWTH_MAX_REDIS_KEYS  largest key count held in Redis (default GROWTH_MAX_KEYS)
//	GROWTH_MAX_RULES       largest rule count (default 1,000; at most rules.MaxRules)
//	GROWTH_MAX_CALLERS     largest caller count (default 256)

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	ulule "github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// envInt reads a knob, or def when it is unset. A knob that is set but not
// a positive integer stops the benchmark: a typo must not shrink a sweep
// unnoticed.
func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// decades returns 1,000, 10,000, … up to max.
func decades(from, max int) []int {
	var out []int
	for n := from; n <= max; n *= 10 {
		out = append(out, n)
	}
	return out
}

// doublings returns 1, 2, 4, … up to max.
func doublings(max int) []int {
	var out []int
	for n := 1; n <= max; n *= 2 {
		out = append(out, n)
	}
	return out
}

// holding is a limit whose state outlives the run: each key may take
// 100,000 events (never reached here), and one event keeps a GCRA key's
// state for 10 minutes, a window key's for the whole window. Every key
// given state before a keys sweep point is therefore still held, by every
// library, when its decisions are measured.
var holding = quota{n: 100_000, window: 100_000 * 10 * time.Minute}

// unbounded is a limit no run reaches and whose window no run outlives:
// 10^12 events over 10,000 hours. The sweeps' limiters live longer than
// a second, and admitting's 10^9 a second then trips a peer:
// sethvargo/go-limiter refills a bucket at each window's tick with
// interval/tokens tokens per tick elapsed, 1 when the two are equal, so after
// its first second such a limiter denies nearly every call.
var unbounded = quota{n: 1_000_000_000_000, window: 10_000 * time.Hour}

// redisPoolSize is the client's pool, as a user sizes one for many callers.
const redisPoolSize = 128

// growthRedis returns a client of the package's shared redis-server (started
// on a free port) built as users build one: no ContextTimeoutEnabled, a pool
// of 128.
func growthRedis(b *testing.B) *redis.Client {
	srv := redistest.Shared(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: redisPoolSize})
	b.Cleanup(func() { c.Close() })
	// Dial the whole pool now: a point whose callers outnumber the
	// connections open so far would otherwise time their dials.
	conns := make([]*redis.Conn, redisPoolSize)
	for i := range conns {
		conns[i] = c.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for _, cn := range conns {
		cn.Close() // back to the pool, open
	}
	return c
}

// A Redis call may wait for a pool connection behind 255 others: 5 s and
// failing closed keep every decision counted in Redis (a fallback to the
// local store would be a faster, uncounted decision). A denial, which the
// admitting and holding limits never give, is reported as denied/op.
const redisTimeout = 5 * time.Second

func tollgateRedisStore(tb testing.TB, c redis.UniversalClient, prefix string, opts ...redisstore.Option) *redisstore.Store {
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithTimeout(redisTimeout)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// tollgateModes are the Redis store's modes: a script per decision
// (consistent, the default), concurrent decisions batched, and hot keys
// leased (decided locally from tokens granted in bulk).
var tollgateModes = []struct {
	name  string
	store func(tb testing.TB, c redis.UniversalClient, prefix string) core.Store
}{
	{"tollgate-consistent", func(tb testing.TB, c redis.UniversalClient, prefix string) core.Store {
		return tollgateRedisStore(tb, c, prefix)
	}},
	{"tollgate-batched", func(tb testing.TB, c redis.UniversalClient, prefix string) core.Store {
		return tollgateRedisStore(tb, c, prefix, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	}},
	{"tollgate-lease", func(tb testing.TB, c redis.UniversalClient, prefix string) core.Store {
		l, err := redisstore.NewLeased(tollgateRedisStore(tb, c, prefix), redisstore.LeaseConfig{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Close() })
		return l
	}},
}

// limiterOver is a fail-closed Limiter of q named name over s.
func limiterOver(tb testing.TB, s core.Store, q quota, name string) *core.Limiter {
	l, err := core.NewLimiter(s, core.Limit{Rate: int64(q.n), Period: q.window}, core.WithName(name), core.WithFailClosed())
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// growthRedisLibs are tollgate's modes, the Redis peers, and a bare INCR,
// the floor of a round trip.
func growthRedisLibs() []redisLib {
	var libs []redisLib
	for _, m := range tollgateModes {
		libs = append(libs, redisLib{m.name, func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
			return tollgateDecider{limiterOver(tb, m.store(tb, c, prefix), q, "bench")}
		}})
	}
	for _, l := range redisLibs {
		// tollgate's own entries (its modes again, under the same names)
		// are the ones above.
		if !strings.HasPrefix(l.name, "tollgate") {
			libs = append(libs, l)
		}
	}
	return libs
}

// growthMemoryLibs are tollgate and the in-memory peers, without the
// system-clock variant (a clock, not a way to hold keys).
func growthMemoryLibs() []lib {
	var libs []lib
	for _, l := range memoryLibs {
		if l.name != "tollgate-system-clock" {
			libs = append(libs, l)
		}
	}
	return libs
}

// seqLen is how many decisions a key sequence holds before it repeats.
const seqLen = 1 << 20

// keySeq returns seqLen keys drawn at random among the first n of
// clientKey, each a fresh copy (as a request's key is), laid out in the
// order they are used in one buffer. Reading the sequence is then a
// stream the hardware prefetches: the measured cache misses are the
// library's, not the harness's, whatever n is.
func keySeq(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	idx := make([]int, seqLen)
	size := 0
	for i := range idx {
		idx[i] = r.IntN(n)
		size += len(clientKey(idx[i]))
	}
	buf := make([]byte, 0, size)
	for _, k := range idx {
		buf = append(buf, clientKey(k)...)
	}
	all := string(buf)
	seq := make([]string, seqLen)
	off := 0
	for i, k := range idx {
		l := len(clientKey(k))
		seq[i] = all[off : off+l]
		off += l
	}
	return seq
}

func heapInUse() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// runCallers runs b.N decisions from exactly n goroutines (RunParallel
// can only start multiples of GOMAXPROCS): each takes work in small chunks
// from a shared counter. start(g) returns goroutine g's decision. The
// result is wall time per decision: with one caller a decision's latency,
// with many the inverse of the throughput. denied/op counts decisions that
// were not admitted, which the benchmarks' limits never cause.
func runCallers(b *testing.B, n int, start func(g int) func() bool) {
	grain := int64(max(1, min(64, b.N/(n*16))))
	var next, denied atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for g := range n {
		one := start(g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			var d int64
			for {
				lo := next.Add(grain) - grain
				if lo >= int64(b.N) {
					break
				}
				for i := lo; i < min(lo+grain, int64(b.N)); i++ {
					if !one() {
						d++
					}
				}
			}
			denied.Add(d)
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(gate)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(denied.Load())/float64(b.N), "denied/op")
}

// serialLoop decides each key of seq in turn, b.Loop's number of times,
// and reports denied/op and the metrics given (after the loop: b.Loop's
// start, like ResetTimer, drops metrics reported before it).
func serialLoop(b *testing.B, allow func(key string) bool, seq []string, metrics ...metric) {
	b.ReportAllocs()
	i, n, denied := 0, 0, 0
	for b.Loop() {
		if !allow(seq[i]) {
			denied++
		}
		n++
		if i++; i == len(seq) {
			i = 0
		}
	}
	b.ReportMetric(float64(denied)/float64(max(n, 1)), "denied/op")
	for _, m := range metrics {
		b.ReportMetric(m.value, m.unit)
	}
}

// metric is a value a benchmark reports beside ns/op.
type metric struct {
	value float64
	unit  string
}

// BenchmarkGrowthKeys is the cost of a decision against the number of keys
// held: every key is given state first, then decisions fall on random keys
// among them. In memory, one caller (the store's own cost, no contention),
// and B/key reports the heap each key holds. In Redis, 64 callers (a single
// caller would only measure the round trip), over a keyspace filled to n keys.
func BenchmarkGrowthKeys(b *testing.B) {
	maxKeys := envInt(b, "GROWTH_MAX_KEYS", 10_000)
	maxRedis := envInt(b, "GROWTH_MAX_REDIS_KEYS", maxKeys)

	libs := growthMemoryLibs()
	// tollgate's default bound (memstore.WithMaxKeys) holds 1,048,576
	// keys: above it, "tollgate" evicts keys to make room, and this line
	// holds every key.
	libs = append(libs[:1:1], append([]lib{{"tollgate-maxkeys-16M", func(tb testing.TB, q quota) decider {
		return tollgateWith(tb, q, memstore.WithMaxKeys(1<<24))
	}}}, libs[1:]...)...)
	for _, n := range decades(1000, maxKeys) {
		seq := keySeq(n, 1)
		for _, l := range libs {
			b.Run("store=memory/callers=1/keys="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
				runtime.GC() // the previous library's heap is garbage now
				before := heapInUse()
				d := l.make(b, holding)
				for k := range n {
					d.allow(ctx, clientKey(k)) // a new string per key, as a request's
				}
				// The fill's garbage is not the workload's; how long a
				// collection takes with the keys held is reported: a
				// library that holds a pointer per key makes every
				// collection walk them.
				start := time.Now()
				runtime.GC()
				gc := metric{float64(time.Since(start)) / 1e6, "gc-ms"}
				perKey := metric{(heapInUse() - before) / float64(n), "B/key"}
				serialLoop(b, func(key string) bool { return d.allow(ctx, key) }, seq, perKey, gc)
			})
		}
	}

	c := growthRedis(b)
	// The fill has a client of its own, which waits for each script as
	// long as it takes and never sends one twice (a retry would find the
	// server busy with the first).
	fc := redis.NewClient(&redis.Options{Addr: redistest.Shared(b).Addr, ReadTimeout: -1, MaxRetries: -1})
	b.Cleanup(func() { fc.Close() })
	filled := 0
	for i, n := range decades(1000, maxRedis) {
		fillRedis(b, fc, filled, n)
		filled = n
		seq := keySeq(n, 2)
		run := 0
		// The first library after a fill finds the server busiest (its
		// hash tables still growing): a different one goes first at each
		// size.
		libs := growthRedisLibs()
		libs = append(libs[i%len(libs):], libs[:i%len(libs)]...)
		for _, l := range libs {
			b.Run("store=redis/pool="+strconv.Itoa(redisPoolSize)+"/callers=64/keys="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
				run++ // each b.N of the ramp starts from a prefix of its own
				prefix := "k" + strconv.Itoa(n) + "." + strconv.Itoa(run) + ":"
				d := l.make(b, c, holding, prefix)
				runCallers(b, 64, func(int) func() bool {
					i := rand.IntN(seqLen)
					return func() bool {
						i = (i + 1) & (seqLen - 1)
						return d.allow(ctx, seq[i])
					}
				})
			})
		}
	}
}

// fillScript sets keys fill:<from> … fill:<to-1> to a value the size of a
// limiter's state, expiring in an hour, as tollgate's keys do: Redis holds
// them in its keyspace and in its table of expiries.
var fillScript = redis.NewScript(`
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) - 1 do
	redis.call('SET', 'fill:' .. i, '1767225600000000', 'PX', 3600000)
end
return 0`)

// fillRedis grows the server's keyspace from `from` keys to `to`, 10,000
// per script call (well within Redis' 5 s script time limit, past which it
// answers BUSY): a script fills Redis ten times faster than the libraries'
// own decisions could (1e7 decisions would take minutes), and a key's cost
// to Redis (memory, lookups) does not depend on who wrote it.
func fillRedis(b *testing.B, c *redis.Client, from, to int) {
	for lo := from; lo < to; lo += 10_000 {
		hi := min(lo+10_000, to)
		if err := fillScript.Run(ctx, c, nil, lo, hi).Err(); err != nil && err != redis.Nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrowthCallers is the cost of a decision against the number of
// concurrent callers, on one key and on 100,000 (walked from random starting
// points), in memory and in Redis (a pool of 128 connections).
func BenchmarkGrowthCallers(b *testing.B) {
	maxCallers := envInt(b, "GROWTH_MAX_CALLERS", 256)
	keys := clientKeys(hundredThousand)
	// perCaller gives goroutine g a walk of keys (one key: always the
	// same), from a random start.
	perCaller := func(d decider, many bool) func(g int) func() bool {
		return func(g int) func() bool {
			d := perGoroutine(d)
			if !many {
				return func() bool { return d.allow(ctx, "10.0.0.1") }
			}
			i := rand.IntN(len(keys))
			return func() bool {
				if i++; i == len(keys) {
					i = 0
				}
				return d.allow(ctx, keys[i])
			}
		}
	}
	for _, ks := range []string{"one", "100k"} {
		// Each library's limiter is made and given state once, for every
		// caller count: a fill of 100,000 keys per run of the b.N ramp
		// would cost more than the measurement.
		libs := growthMemoryLibs()
		ds := make([]decider, len(libs))
		for i, l := range libs {
			ds[i] = l.make(b, unbounded)
			if ks == "100k" {
				for _, k := range keys {
					ds[i].allow(ctx, k)
				}
			} else {
				ds[i].allow(ctx, "10.0.0.1")
			}
		}
		runtime.GC()
		for _, n := range doublings(maxCallers) {
			for i, l := range libs {
				b.Run("store=memory/keys="+ks+"/callers="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
					runCallers(b, n, perCaller(ds[i], ks == "100k"))
				})
			}
		}
	}

	c := growthRedis(b)
	run := 0
	for _, ks := range []string{"one", "100k"} {
		for _, n := range doublings(maxCallers) {
			for _, l := range growthRedisLibs() {
				b.Run("store=redis/pool="+strconv.Itoa(redisPoolSize)+"/keys="+ks+"/callers="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
					run++
					d := l.make(b, c, admittingRedis, "c"+strconv.Itoa(run)+":")
					runCallers(b, n, perCaller(d, ks == "100k"))
				})
			}
		}
	}
}

// limitsLib decides one request under n limits.
type limitsLib struct {
	name string
	// make returns a decider for goroutine use: each call of perCaller
	// gives one goroutine its own scratch (decision slices).
	make func(tb testing.TB, n int, q quota) (perCaller func() decider)
}

// takeAllDecider takes every limiter on the same client key in one
// core.TakeAll step: admitted by all, or consuming none.
type takeAllDecider struct {
	ls   []*core.Limiter
	keys []string
	ds   []core.Decision
}

func (d *takeAllDecider) allow(ctx context.Context, key string) bool {
	for i := range d.keys {
		d.keys[i] = key
	}
	if err := core.TakeAll(ctx, d.ls, d.keys, d.ds); err != nil {
		return false
	}
	for _, dec := range d.ds {
		if !dec.Allowed {
			return false
		}
	}
	return true
}

// sequence asks each decider in turn and stops at the first denial, as
// code built on a library without a step of several limits does. It is
// not the same work as one atomic step (a denial leaves the earlier limits
// charged), but it is the nearest those libraries offer.
type sequence []decider

func (s sequence) allow(ctx context.Context, key string) bool {
	for _, d := range s {
		if !d.allow(ctx, key) {
			return false
		}
	}
	return true
}

// limitNames are the limiters' names: distinct, so each counts its own
// keys.
func limitName(i int) string { return "limit" + strconv.Itoa(i) }

func tollgateLimiters(tb testing.TB, s core.Store, n int, q quota) []*core.Limiter {
	ls := make([]*core.Limiter, n)
	for i := range ls {
		ls[i] = limiterOver(tb, s, q, limitName(i))
	}
	return ls
}

func takeAll(ls []*core.Limiter) func() decider {
	return func() decider {
		return &takeAllDecider{ls: ls, keys: make([]string, len(ls)), ds: make([]core.Decision, len(ls))}
	}
}

func shared(d decider) func() decider { return func() decider { return d } }

func takesInSequence(ls []*core.Limiter) func() decider {
	s := make(sequence, len(ls))
	for i, l := range ls {
		s[i] = tollgateDecider{l}
	}
	return shared(s)
}

var memoryLimitsLibs = []limitsLib{
	{"tollgate", func(tb testing.TB, n int, q quota) func() decider {
		s, err := memstore.New()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return takeAll(tollgateLimiters(tb, s, n, q))
	}},
	// The same limiters taken one after another: what the one step saves.
	{"tollgate-n-takes", func(tb testing.TB, n int, q quota) func() decider {
		s, err := memstore.New()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return takesInSequence(tollgateLimiters(tb, s, n, q))
	}},
	{"sethvargo-go-limiter", func(tb testing.TB, n int, q quota) func() decider {
		s := make(sequence, n)
		for i := range s {
			s[i] = newSethvargo(tb, q)
		}
		return shared(s)
	}},
	{"x-time-rate-map", func(tb testing.TB, n int, q quota) func() decider {
		s := make(sequence, n)
		for i := range s {
			s[i] = newXRateMap(tb, q)
		}
		return shared(s)
	}},
}

func redisLimitsLibs(c *redis.Client) []limitsLib {
	var libs []limitsLib
	for _, m := range tollgateModes {
		libs = append(libs, limitsLib{m.name, func(tb testing.TB, n int, q quota) func() decider {
			return takeAll(tollgateLimiters(tb, m.store(tb, c, "l"+strconv.Itoa(nextRun())+":"), n, q))
		}})
	}
	libs = append(libs,
		limitsLib{"go-redis-redis_rate", func(tb testing.TB, n int, q quota) func() decider {
			s := make(sequence, n)
			l := redis_rate.NewLimiter(c)
			run := strconv.Itoa(nextRun())
			for i := range s {
				s[i] = redisRateDecider{l, redis_rate.Limit{Rate: q.n, Burst: q.n, Period: q.window}, "l" + run + ":" + limitName(i) + ":"}
			}
			return shared(s)
		}},
		limitsLib{"ulule-limiter-redis", func(tb testing.TB, n int, q quota) func() decider {
			s := make(sequence, n)
			run := strconv.Itoa(nextRun())
			for i := range s {
				st, err := ululeredis.NewStoreWithOptions(c, ulule.StoreOptions{Prefix: "l" + run + ":" + limitName(i)})
				if err != nil {
					tb.Fatal(err)
				}
				s[i] = ululeDecider{ulule.New(st, ulule.Rate{Period: q.window, Limit: int64(q.n)})}
			}
			return shared(s)
		}},
	)
	return libs
}

var runs atomic.Int64

// nextRun numbers runs, so that each starts from keys of its own.
func nextRun() int { return int(runs.Add(1)) }

// BenchmarkGrowthLimits is the cost of one request under n limits (1 to 8),
// one client key: in memory from one caller, in Redis from 1 and from 64.
// tollgate takes them in one step (core.TakeAll: one script in Redis);
// the peers have no such step and are called once per limit.
func BenchmarkGrowthLimits(b *testing.B) {
	point := func(b *testing.B, callers int, perCaller func() decider) {
		d0 := perCaller()
		d0.allow(ctx, "10.0.0.1") // the keys exist before timing starts
		runCallers(b, callers, func(int) func() bool {
			d := perCaller()
			return func() bool { return d.allow(ctx, "10.0.0.1") }
		})
	}
	for n := 1; n <= 8; n++ {
		for _, l := range memoryLimitsLibs {
			b.Run("store=memory/callers=1/limits="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
				point(b, 1, l.make(b, n, unbounded))
			})
		}
	}
	c := growthRedis(b)
	for _, callers := range []int{1, 64} {
		for n := 1; n <= 8; n++ {
			for _, l := range redisLimitsLibs(c) {
				b.Run("store=redis/pool="+strconv.Itoa(redisPoolSize)+"/callers="+strconv.Itoa(callers)+"/limits="+strconv.Itoa(n)+"/lib="+l.name, func(b *testing.B) {
					point(b, callers, l.make(b, n, admittingRedis))
				})
			}
		}
	}
}

// BenchmarkGrowthRules is a request matched against n rules (1 to 10,000),
// each with one limit per client IP, on the memory store, the request
// matching the last rule: through the whole of Engine.Serve (matching, the
// decision, the response fields), from one caller. Two shapes: rules that
// match a path prefix each (the engine indexes them by first path segment)
// and rules that match a header value each (no index: each rule is tried
// in turn). The peers have no rules.
func BenchmarkGrowthRules(b *testing.B) {
	maxRules := min(envInt(b, "GROWTH_MAX_RULES", 1_000), rules.MaxRules)
	huge := core.Limit{Rate: 1_000_000_000, Period: time.Second}
	for _, n := range append([]int{1}, decades(10, maxRules)...) {
		for _, shape := range []string{"path", "header"} {
			b.Run("store=memory/callers=1/rules="+strconv.Itoa(n)+"/lib=tollgate-"+shape+"-rules", func(b *testing.B) {
				var cfg rules.Config
				for i := range n {
					name := "r" + strconv.Itoa(i)
					m := rules.Match{PathPrefixes: []string{"/" + name + "/"}}
					if shape == "header" {
						m = rules.Match{Headers: []rules.HeaderMatch{{Name: "X-Tenant", Equals: name}}}
					}
					cfg.Rules = append(cfg.Rules, rules.Rule{
						Name:   name,
						Match:  m,
						Limits: []rules.NamedLimit{{Name: name + "-per-ip", Limit: huge, Key: "ip"}},
					})
				}
				s, err := memstore.New()
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				e, err := rules.New(s, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { e.Close() })
				last := "r" + strconv.Itoa(n-1)
				r := httptest.NewRequest(http.MethodGet, "/"+last+"/items", nil)
				r.RemoteAddr = "203.0.113.7:41000"
				r.Header.Set("X-Tenant", last)
				runtime.GC() // compiling 10,000 rules leaves garbage: not the request's
				w := adaptertest.NewNopWriter()
				if out := e.Serve(w, r, ""); out != httplimit.Proceed {
					b.Fatalf("outcome %v, want Proceed", out)
				}
				if w.Header().Get("RateLimit-Policy") == "" && w.Header().Get("X-RateLimit-Limit") == "" {
					b.Fatal("no rate-limit fields: the last rule did not apply")
				}
				serialLoop(b, func(string) bool {
					w.Reset()
					return e.Serve(w, r, "") == httplimit.Proceed
				}, []string{""})
			})
		}
	}
}
