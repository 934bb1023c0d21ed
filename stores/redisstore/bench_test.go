package redisstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

var scriptFloor = redis.NewScript(`local t = redis.call('TIME')
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], t[1], 'PX', 60000)
return 1`)

// BenchmarkRoundTrip compares a decision with the bare round trip it rides
// on: go-redis INCR against the same local redis-server (started by the
// benchmark, on a free port), serially and from 64 goroutines. One decision
// is one EVALSHA, so the goal is at least 0.9× INCR's rate:
//
//	make bench-redis    (-count 6; compare the pairs with benchstat or by ratio)
//
// The limit admits a million a second per key, so decisions are admissions,
// which write; each goroutine has its own key. The store's timeout is raised
// to 1s: 64 callers on a two-core machine that also runs Redis queue for
// milliseconds, and this measures throughput, not the failure policy.
func BenchmarkRoundTrip(b *testing.B) {
	srv := redistest.Shared(b)
	limit := core.Limit{Rate: 1_000_000, Period: time.Second}
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel-64", true}} {
		run := func(b *testing.B, op func(ctx context.Context, key string) error) {
			b.ReportAllocs()
			ctx := context.Background()
			var ids atomic.Int64
			if !mode.parallel {
				key := "bench:" + strconv.FormatInt(ids.Add(1), 10)
				for b.Loop() {
					if err := op(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(64 / max(1, runtimeProcs()))
			b.RunParallel(func(pb *testing.PB) {
				key := "bench:" + strconv.FormatInt(ids.Add(1), 10)
				for pb.Next() {
					if err := op(ctx, key); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		b.Run(mode.name, func(b *testing.B) {
			client := srv.Client(b, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true})
			b.Run("incr", func(b *testing.B) {
				run(b, func(ctx context.Context, key string) error { return client.Incr(ctx, key).Err() })
			})
			// The least any atomic read-modify-write script does: read the
			// server's clock, GET, SET with an expiry. Redis' scripting costs
			// microseconds per call and per redis.call, which INCR does not pay.
			b.Run("script-floor", func(b *testing.B) {
				run(b, func(ctx context.Context, key string) error {
					return scriptFloor.Run(ctx, client, []string{key}).Err()
				})
			})
			for _, alg := range []core.Algorithm{core.GCRA, core.SlidingWindowCounter} {
				s := newStore(b, client, redisstore.WithPrefix("bench:"+alg.String()+":"), redisstore.WithTimeout(time.Second))
				l := limit.WithAlgorithm(alg)
				if alg != core.GCRA {
					l.Burst = 0
				}
				b.Run(alg.String(), func(b *testing.B) {
					run(b, func(ctx context.Context, key string) error {
						d, err := s.Take(ctx, key, l, 1)
						if err == nil && !d.Allowed {
							b.Fatalf("denied: %+v", d)
						}
						return err
					})
				})
			}
			// The same decisions with WithBatching: concurrent calls go in
			// pipelines; a lone one is sent at once.
			batched := newStore(b, client, redisstore.WithPrefix("bench:batched:"), redisstore.WithTimeout(time.Second), redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
			b.Run("gcra-batched", func(b *testing.B) {
				run(b, func(ctx context.Context, key string) error {
					d, err := batched.Take(ctx, key, limit, 1)
					if err == nil && !d.Allowed {
						b.Fatalf("denied: %+v", d)
					}
					return err
				})
			})
			// A client left at go-redis' default (ContextTimeoutEnabled
			// false): the store runs each call the same way with both
			// kinds (on a goroutine of its own, so that the caller can stop
			// waiting at the deadline while the command finishes).
			plain := srv.Client(b, &redis.Options{PoolSize: 64})
			s := newStore(b, plain, redisstore.WithPrefix("bench:plain:"), redisstore.WithTimeout(time.Second))
			b.Run("gcra-default-client", func(b *testing.B) {
				run(b, func(ctx context.Context, key string) error { _, err := s.Take(ctx, key, limit, 1); return err })
			})
		})
	}
}

// BenchmarkInterleaved runs INCR and a decision alternately in one serial
// loop, so that the machine's drift during a run (tens of percent on a shared
// VM) weighs on both alike, and reports each side's mean latency and
// rate-ratio: the decision rate as a fraction of the INCR rate. (With many
// goroutines alternating, every call waits behind everyone's mix and the two
// latencies converge, so the parallel comparison is BenchmarkRoundTrip's.)
func BenchmarkInterleaved(b *testing.B) {
	srv := redistest.Shared(b)
	client := srv.Client(b, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true})
	for _, alg := range []core.Algorithm{core.GCRA, core.SlidingWindowCounter} {
		l := core.Limit{Rate: 1_000_000, Period: time.Second, Algorithm: alg}
		s := newStore(b, client, redisstore.WithPrefix("inter:"+alg.String()+":"), redisstore.WithTimeout(time.Second))
		b.Run(alg.String(), func(b *testing.B) {
			ctx := context.Background()
			key := "inter:" + alg.String()
			var incr, take, floor time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				switch i % 3 {
				case 0:
					if err := client.Incr(ctx, key).Err(); err != nil {
						b.Fatal(err)
					}
					incr += time.Since(start)
				case 1:
					if err := scriptFloor.Run(ctx, client, []string{key + ":floor"}).Err(); err != nil {
						b.Fatal(err)
					}
					floor += time.Since(start)
				default:
					if _, err := s.Take(ctx, key, l, 1); err != nil {
						b.Fatal(err)
					}
					take += time.Since(start)
				}
			}
			third := float64(b.N) / 3
			b.ReportMetric(float64(incr)/third, "incr-ns/op")
			b.ReportMetric(float64(floor)/third, "script-floor-ns/op")
			b.ReportMetric(float64(take)/third, "decision-ns/op")
			b.ReportMetric(float64(incr)/float64(take), "rate-vs-incr")
			b.ReportMetric(float64(floor)/float64(take), "rate-vs-floor")
		})
	}
}

// BenchmarkSeveralLimits is a request under two limits (a client's and a
// tenant's) decided in one TakeMany, beside the same request under one
// limit, serially and from 64 goroutines, on a local redis-server.
func BenchmarkSeveralLimits(b *testing.B) {
	srv := redistest.Shared(b)
	client := srv.Client(b, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true})
	s := newStore(b, client, redisstore.WithPrefix("bench:several:"), redisstore.WithTimeout(time.Second))
	l := core.Limit{Rate: 1_000_000, Period: time.Second}
	var ids atomic.Int64
	for _, mode := range []string{"serial", "parallel-64"} {
		run := func(b *testing.B, op func(ctx context.Context, id string) error) {
			b.ReportAllocs()
			ctx := context.Background()
			if mode == "serial" {
				id := strconv.FormatInt(ids.Add(1), 10)
				for b.Loop() {
					if err := op(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(64 / max(1, runtimeProcs()))
			b.RunParallel(func(pb *testing.PB) {
				id := strconv.FormatInt(ids.Add(1), 10)
				for pb.Next() {
					if err := op(ctx, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		b.Run(mode+"/one-limit", func(b *testing.B) {
			run(b, func(ctx context.Context, id string) error {
				_, err := s.Take(ctx, "client:"+id, l, 1)
				return err
			})
		})
		b.Run(mode+"/two-limits", func(b *testing.B) {
			ds := make([]core.Decision, 2)
			run(b, func(ctx context.Context, id string) error {
				return s.TakeMany(ctx, []core.Take{{Key: "tenant:" + id, Limit: l, Cost: 1}, {Key: "client:" + id, Limit: l, Cost: 1}}, ds)
			})
		})
	}
}

// BenchmarkDenyCacheHit is a client hammering past its limit with the deny
// cache on: every decision is answered from process memory, without a
// round trip and without an allocation.
func BenchmarkDenyCacheHit(b *testing.B) {
	srv := redistest.Shared(b)
	s := newStore(b, srv.Client(b, nil), redisstore.WithPrefix("bench:deny:"), redisstore.WithDenyCache(1000))
	ctx := context.Background()
	l := core.PerHour(1)
	key := "client:" + strconv.FormatInt(time.Now().UnixNano(), 10)
	s.Take(ctx, key, l, 1)
	if d, err := s.Take(ctx, key, l, 1); err != nil || d.Allowed {
		b.Fatalf("the key is not denied: %+v, %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := s.Take(ctx, key, l, 1); d.Allowed {
			b.Fatal("admitted")
		}
	}
}
