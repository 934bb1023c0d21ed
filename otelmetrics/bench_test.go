package otelmetrics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tollgate-go/tollgate/core"
)

// BenchmarkTake is a decision on a memory store without metrics (no hook:
// the limiter's direct path) and with this package's options, recording
// into the OpenTelemetry SDK (a ManualReader's MeterProvider: the
// aggregation an exporting reader pays too); serially on one key, and
// from every core over 100,000 keys.
//
//	GOWORK=off go test -run '^$' -bench BenchmarkTake -benchmem -count 6 . | benchstat -col /metrics -
func BenchmarkTake(b *testing.B) {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
	}
	limit := core.PerSecond(1_000_000_000) // nearly every take admitted: the path that writes
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%s", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			store := newMemstore(b)
			opts := []core.Option{core.WithName("api")}
			if on {
				_, m := newMetrics(b)
				opts = storeMetrics(b, m, "memory", store).Options("api")
			}
			lim := newLimiter(b, store, limit, opts...)
			b.Run("serial-one-key", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					lim.Take(ctx, "one-key")
				}
			})
			b.Run("parallel-100k-keys", func(b *testing.B) {
				for _, k := range keys {
					lim.Take(ctx, k)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := rand.IntN(len(keys))
					for pb.Next() {
						lim.Take(ctx, keys[i])
						if i++; i == len(keys) {
							i = 0
						}
					}
				})
			})
		})
	}
}
