package memstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/core"
)

// BenchmarkPerRequest is the store's cost per request of a rate limit (one
// Take) beside a concurrency limit (an Acquire and its Release), through
// the core limiters, on keys of 10,000 clients, from every core at once:
// go test -bench PerRequest -benchmem; compare with benchstat -col /limit.
func BenchmarkPerRequest(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	ctx := context.Background()
	b.Run("limit=rate", func(b *testing.B) {
		l, err := core.NewLimiter(benchStore(b), core.PerSecond(1_000_000_000), core.WithName("r"))
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919)
			for pb.Next() {
				i++
				if d, _ := l.Take(ctx, keys[i%uint64(len(keys))]); !d.Allowed {
					b.Error("denied")
				}
			}
		})
	})
	b.Run("limit=concurrency", func(b *testing.B) {
		l, err := core.NewConcurrencyLimiter(benchStore(b), 1_000_000, core.WithName("c"))
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919)
			for pb.Next() {
				i++
				s, d, _ := l.Acquire(ctx, keys[i%uint64(len(keys))])
				if !d.Allowed {
					b.Error("denied")
				}
				s.Release()
			}
		})
	})
}
