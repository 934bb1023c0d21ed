package prommetrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// BenchmarkTake is a decision on a memory store over 10,000 clients with no
// metrics (metrics=off: no hook, the path every limiter without one takes)
// and with this package's options (metrics=on: a counter and the latency
// histogram per decision), serially and from every core:
//
//	go test -run '^$' -bench Take -benchmem -count 6 | benchstat -col /metrics -
func BenchmarkTake(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		mem, err := memstore.New()
		if err != nil {
			b.Fatal(err)
		}
		opts := []core.Option{core.WithName("api")}
		if on {
			m, _ := prommetrics.New()
			sm, _ := m.Store("mem", mem)
			opts = sm.Options("api")
		}
		l, err := core.NewLimiter(mem, core.PerSecond(1_000_000_000), opts...)
		if err != nil {
			b.Fatal(err)
		}
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run("mode=serial/metrics="+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				l.Take(ctx, keys[i%len(keys)])
			}
		})
		b.Run("mode=parallel/metrics="+name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					l.Take(ctx, keys[i%len(keys)])
				}
			})
		})
		mem.Close()
	}
}
