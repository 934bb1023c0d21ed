package memstore_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// benchLimit is high enough that nearly every Take is admitted, so the
// benchmarks measure the admitting path, which writes state.
func benchLimit(alg core.Algorithm) core.Limit {
	if alg == core.SlidingWindowLog {
		// At most MaxLogRate entries: 10,000 per millisecond.
		return core.Limit{Rate: core.MaxLogRate, Period: time.Millisecond, Algorithm: alg}
	}
	return core.PerSecond(1_000_000_000).WithAlgorithm(alg)
}

func benchStore(b *testing.B, opts ...memstore.Option) *memstore.Store {
	s, err := memstore.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkTake(b *testing.B) {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
	}
	for _, alg := range storekit.Algorithms() {
		l := benchLimit(alg)
		b.Run(alg.String()+"/serial-one-key", func(b *testing.B) {
			s := benchStore(b)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Take(ctx, "one-key", l, 1)
			}
		})
		b.Run(alg.String()+"/parallel-one-key", func(b *testing.B) {
			s := benchStore(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Take(ctx, "one-key", l, 1)
				}
			})
		})
		b.Run(alg.String()+"/parallel-100k-keys", func(b *testing.B) {
			s := benchStore(b)
			for _, k := range keys {
				s.Take(ctx, k, l, 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					s.Take(ctx, keys[i], l, 1)
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkClock compares the default system clock with a coarse clock of
// 250µs resolution, on GCRA.
func BenchmarkClock(b *testing.B) {
	coarse, err := core.NewCoarseClock(250 * time.Microsecond)
	if err != nil {
		b.Fatal(err)
	}
	defer coarse.Stop()
	l := benchLimit(core.GCRA)
	for _, c := range []struct {
		name  string
		clock core.Clock
	}{{"system", core.SystemClock}, {"coarse-250us", coarse}} {
		b.Run(c.name+"/serial-one-key", func(b *testing.B) {
			s := benchStore(b, memstore.WithClock(c.clock))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Take(ctx, "one-key", l, 1)
			}
		})
		b.Run(c.name+"/parallel-one-key", func(b *testing.B) {
			s := benchStore(b, memstore.WithClock(c.clock))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Take(ctx, "one-key", l, 1)
				}
			})
		})
	}
}

// BenchmarkMemoryPerKey reports the heap held per key with 1,000,000 keys.
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
	}
	for _, l := range []core.Limit{core.PerMinute(100), core.PerMinute(10).WithAlgorithm(core.SlidingWindowLog)} {
		b.Run(l.Algorithm.String(), func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s, _ := memstore.New(memstore.WithMaxKeys(2*n), memstore.WithSweepInterval(0))
				for _, k := range keys {
					s.Take(ctx, k, l, 1)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if s.Len() != n {
					b.Fatalf("store holds %d keys, want %d", s.Len(), n)
				}
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(s)
				s.Close()
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// BenchmarkTakeMany takes two limits together (a client's and a tenant's),
// beside the same two taken one after the other.
func BenchmarkTakeMany(b *testing.B) {
	l := benchLimit(core.GCRA)
	b.Run("two-limits-one-step", func(b *testing.B) {
		s := benchStore(b)
		takes := []core.Take{{Key: "per-ip:10.0.0.1", Limit: l, Cost: 1}, {Key: "per-tenant:acme", Limit: l, Cost: 1}}
		ds := make([]core.Decision, 2)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.TakeMany(ctx, takes, ds)
		}
	})
	b.Run("two-limits-two-takes", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.Take(ctx, "per-ip:10.0.0.1", l, 1)
			s.Take(ctx, "per-tenant:acme", l, 1)
		}
	})
}

// BenchmarkTakeBoxed takes two limits under penalty boxes, as rules with
// a penalty do: the boxes are read with the limits in one step. One box
// over both limits (one rule), and two boxes each over its own limit (two
// rules matched together).
func BenchmarkTakeBoxed(b *testing.B) {
	l := benchLimit(core.GCRA)
	pen := core.Penalty{Denials: 5, Within: time.Minute, For: time.Hour}
	takes := []core.Take{{Key: "per-ip:10.0.0.1", Limit: l, Cost: 1}, {Key: "per-tenant:acme", Limit: l, Cost: 1}}
	for _, c := range []struct {
		name  string
		boxes []core.Box
	}{
		{"one-box", []core.Box{{Key: "\x00penalty:api:10.0.0.1", Penalty: pen}}},
		{"two-boxes", []core.Box{{Key: "\x00penalty:ip:10.0.0.1", Penalty: pen, Takes: 1 << 0}, {Key: "\x00penalty:tenant:acme", Penalty: pen, Takes: 1 << 1}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b)
			ds := make([]core.Decision, 2)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.TakeBoxed(ctx, c.boxes, takes, ds)
			}
		})
	}
}

// BenchmarkFloodOfNewKeys takes distinct keys, each twice, into a full store
// (65,536 keys): every key makes room for itself, the eviction path. ns/op
// is per key (two takes).
func BenchmarkFloodOfNewKeys(b *testing.B) {
	const maxKeys = 1 << 16
	keys := make([]string, 4*maxKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("flood-%d", i)
	}
	l := core.PerHour(10)
	s := benchStore(b, memstore.WithMaxKeys(maxKeys), memstore.WithSweepInterval(0))
	for _, k := range keys[:maxKeys] {
		s.Take(ctx, k, l, 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := keys[maxKeys+i%(len(keys)-maxKeys)]
		s.Take(ctx, k, l, 1)
		s.Take(ctx, k, l, 1)
	}
}
