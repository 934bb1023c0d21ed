package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// BenchmarkPerRequest is the cost per request of a rate limit (one Take,
// one round trip) beside a concurrency limit (an Acquire and its Release,
// two), on a local single server, from 64 goroutines on keys of 10,000
// clients: go test -bench PerRequest -benchmem; compare with benchstat
// -col /limit.
func BenchmarkPerRequest(b *testing.B) {
	srv := redistest.Shared(b)
	client := srv.Client(b, &redis.Options{PoolSize: 64})
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	ctx := context.Background()
	store := func(b *testing.B) *redisstore.Store {
		s, err := redisstore.New(client, redisstore.WithPrefix(uniquePrefix(b)), redisstore.WithTimeout(patience)) // about cost, not deadlines
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	run := func(b *testing.B, one func(key string)) {
		var next atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(32) // 64 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919)
			for pb.Next() {
				i++
				one(keys[i%uint64(len(keys))])
			}
		})
	}
	b.Run("limit=rate", func(b *testing.B) {
		l, err := core.NewLimiter(store(b), core.PerSecond(1_000_000), core.WithName("r"))
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(key string) {
			if d, err := l.Take(ctx, key); !d.Allowed || err != nil {
				b.Error("denied", err)
			}
		})
	})
	b.Run("limit=concurrency", func(b *testing.B) {
		l, err := core.NewConcurrencyLimiter(store(b), 1_000_000, core.WithName("c"))
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(key string) {
			s, d, err := l.Acquire(ctx, key)
			if !d.Allowed || err != nil {
				b.Error("denied", err)
			}
			s.Release()
		})
	})
}
