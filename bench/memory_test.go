package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Workload names, shared by the report.
const (
	serialOneKey    = "serial-one-key"
	parallelOneKey  = "parallel-one-key"
	parallel100k    = "parallel-100k-keys"
	serialDenied    = "serial-one-key-denied"
	parallelDenied  = "parallel-100k-keys-denied"
	hundredThousand = 100_000
)

// BenchmarkMemory runs each workload against each library's in-memory
// limiter. Names are BenchmarkMemory/w=<workload>/lib=<library>, so that
// benchstat can put the libraries side by side.
func BenchmarkMemory(b *testing.B) {
	keys := clientKeys(hundredThousand)
	for _, w := range []struct {
		name string
		q    quota
		run  func(b *testing.B, d decider, keys []string)
	}{
		{serialOneKey, admitting, runSerialOneKey},
		{parallelOneKey, admitting, runParallelOneKey},
		{parallel100k, admitting, runParallelKeys},
		{serialDenied, denying, runSerialOneKey},
		{parallelDenied, denying, runParallelKeys},
	} {
		for _, l := range memoryLibs {
			b.Run("w="+w.name+"/lib="+l.name, func(b *testing.B) {
				w.run(b, l.make(b, w.q), keys)
			})
		}
	}
}

var ctx = context.Background()

func runSerialOneKey(b *testing.B, d decider, _ []string) {
	d.allow(ctx, "10.0.0.1") // the key exists before timing starts
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.allow(ctx, "10.0.0.1")
	}
}

func runParallelOneKey(b *testing.B, d decider, _ []string) {
	d.allow(ctx, "10.0.0.1")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := perGoroutine(d)
		for pb.Next() {
			d.allow(ctx, "10.0.0.1")
		}
	})
}

// runParallelKeys first gives every key state, then has the callers walk
// the keys from random starting points.
func runParallelKeys(b *testing.B, d decider, keys []string) {
	for _, k := range keys {
		d.allow(ctx, k)
	}
	runtime.GC() // the warm-up's garbage is not the workload's
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := perGoroutine(d)
		i := rand.IntN(len(keys))
		for pb.Next() {
			d.allow(ctx, keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}

// BenchmarkMemoryPerKey reports the heap each library holds per key with
// 1,000,000 keys, as the metric B/key. Run it with -benchtime=1x.
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	for _, l := range memoryLibs {
		b.Run("lib="+l.name, func(b *testing.B) {
			var perKey float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				d := l.make(b, quota{n: 100, window: 60e9})
				// Each key is a new string, as a request's would be, so a
				// library that keeps the caller's string and one that keeps
				// a copy are charged alike.
				for k := 0; k < n; k++ {
					d.allow(ctx, clientKey(k))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
				runtime.KeepAlive(d)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}
