package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	ulule "github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// admittingRedis admits every call at the rates a Redis round trip allows.
// (tollgate's Redis store counts in microseconds, so it refuses limits of
// more than one event per µs, such as admitting's.)
var admittingRedis = quota{n: 1_000_000, window: time.Second}

// redisLib builds one library's limiter over a shared go-redis client.
// prefix keeps each library's (and each run's) keys apart.
type redisLib struct {
	name string
	make func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider
}

// redisLibs: tollgate's GCRA, the peers, and a bare INCR, the least a
// round trip costs (it decides nothing).
var redisLibs = []redisLib{
	{"tollgate", newTollgateRedis},
	// Batching (overlapping calls share pipelines and script calls) and
	// lease mode (hot keys decided from tokens Redis granted in bulk):
	// tollgate's other two Redis modes, both exact across instances.
	{"tollgate-batched", func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
		s, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithKeySecret(benchSecret), redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
		return tollgateOver(tb, s, err, q)
	}},
	{"tollgate-lease", func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
		base, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithKeySecret(benchSecret))
		if err != nil {
			tb.Fatal(err)
		}
		// The defaults, but for a quota smaller than the default
		// prefetch (the denied workload's 1 an hour), which lease mode
		// refuses.
		var cfg redisstore.LeaseConfig
		if q.n < redisstore.DefaultMinPrefetch {
			cfg.MinPrefetch = int64(q.n)
		}
		s, err := redisstore.NewLeased(base, cfg)
		return tollgateOver(tb, s, err, q)
	}},
	{"go-redis-incr", func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
		return incrDecider{c, prefix}
	}},
	{"go-redis-redis_rate", func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
		return redisRateDecider{redis_rate.NewLimiter(c), redis_rate.Limit{Rate: q.n, Burst: q.n, Period: q.window}, prefix}
	}},
	{"ulule-limiter-redis", func(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
		st, err := ululeredis.NewStoreWithOptions(c, ulule.StoreOptions{Prefix: prefix})
		if err != nil {
			tb.Fatal(err)
		}
		return ululeDecider{ulule.New(st, ulule.Rate{Period: q.window, Limit: int64(q.n)})}
	}},
}

func newTollgateRedis(tb testing.TB, c redis.UniversalClient, q quota, prefix string) decider {
	s, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithKeySecret(benchSecret))
	return tollgateOver(tb, s, err, q)
}

// benchSecret is the stores' key secret, which a Cluster requires (the
// store refuses the public built-in one there); every run uses it alike.
var benchSecret = []byte("bench-secret-0123456789abcdef")

type incrDecider struct {
	c      redis.UniversalClient
	prefix string
}

func (d incrDecider) allow(ctx context.Context, key string) bool {
	return d.c.Incr(ctx, d.prefix+key).Err() == nil
}

type redisRateDecider struct {
	l      *redis_rate.Limiter
	limit  redis_rate.Limit
	prefix string
}

func (d redisRateDecider) allow(ctx context.Context, key string) bool {
	res, err := d.l.Allow(ctx, d.prefix+key, d.limit)
	return err == nil && res.Allowed > 0
}

// redisClient returns a client of the shared test server (started on a free
// port, never 6379) as users build one: redis.NewClient with go-redis'
// defaults (ContextTimeoutEnabled off) and a pool of 128, large enough for
// 64 callers. Every library gets the same client.
func redisClient(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: redistest.Shared(tb).Addr, PoolSize: 128})
	tb.Cleanup(func() { c.Close() })
	return c
}

// callers64 sets RunParallel to 64 goroutines on any GOMAXPROCS.
func callers64(b *testing.B) { b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) }

// BenchmarkRedis runs each workload against each library's Redis limiter on
// a local redis-server, over loopback.
func BenchmarkRedis(b *testing.B) { benchRedis(b, redisClient(b)) }

// BenchmarkRedisCluster runs the same on a local Redis Cluster of three
// masters, through a redis.NewClusterClient built as users build one (pool
// of 128 per node, go-redis' defaults otherwise).
func BenchmarkRedisCluster(b *testing.B) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.SharedCluster(b).Addrs, PoolSize: 128})
	b.Cleanup(func() { c.Close() })
	benchRedis(b, c)
}

func benchRedis(b *testing.B, c redis.UniversalClient) {
	keys := clientKeys(hundredThousand)
	run := 0
	for _, w := range []struct {
		name string
		q    quota
		run  func(b *testing.B, d decider, keys []string)
	}{
		{"serial-one-key", admittingRedis, runSerialOneKey},
		{"parallel64-one-key", admittingRedis, func(b *testing.B, d decider, keys []string) { callers64(b); runParallelOneKey(b, d, keys) }},
		{"parallel64-100k-keys", admittingRedis, func(b *testing.B, d decider, keys []string) { callers64(b); walkKeys(b, d, keys) }},
		{"parallel64-one-key-denied", denying, func(b *testing.B, d decider, keys []string) { callers64(b); runParallelOneKey(b, d, keys) }},
	} {
		for _, l := range redisLibs {
			b.Run("w="+w.name+"/lib="+l.name, func(b *testing.B) {
				run++
				// A fresh prefix per run: -count repeats start from no state.
				w.run(b, l.make(b, c, w.q, "b"+strconv.Itoa(run)+":"), keys)
			})
		}
	}
}

// walkKeys has the callers walk the keys from random starting points.
// Unlike runParallelKeys it gives the keys no state first: over a round
// trip, creating a key and updating one cost the same.
func walkKeys(b *testing.B, d decider, keys []string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			d.allow(ctx, keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}
