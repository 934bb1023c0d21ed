package storekit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// GCRA and the token bucket are one meter: on any history they must decide
// alike whenever Period/Rate is whole nanoseconds.
func TestTokenBucketDecidesAsGCRA(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		rate := int64(1 + rng.IntN(50))
		l := core.Limit{Rate: rate, Period: time.Duration(rate) * time.Duration(1+rng.IntN(1e6)), Burst: int64(1 + rng.IntN(20))}
		tb := l.WithAlgorithm(core.TokenBucket)
		var gs, ts storekit.State
		now := int64(1e18)
		for i := 0; i < 300; i++ {
			now += int64(rng.IntN(int(l.Interval()) * 2))
			cost := int64(rng.IntN(int(l.Burst) + 2))
			var gd, td core.Decision
			gd = storekit.Apply(&gs, now, l, cost)
			td = storekit.Apply(&ts, now, tb, cost)
			td.Limit = l
			if gd != td {
				t.Fatalf("limit %v, step %d, cost %d: GCRA %+v, token bucket %+v", l, i, cost, gd, td)
			}
		}
	}
}

// Apply never changes state except for an admitted take.
func TestApplyWritesOnlyAdmittedTakes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, alg := range storekit.Algorithms() {
		l := core.PerSecond(5).WithAlgorithm(alg)
		var s storekit.State
		now := int64(2e18)
		for i := 0; i < 500; i++ {
			now += int64(rng.IntN(int(300 * time.Millisecond)))
			cost := int64(rng.IntN(8))
			before := s
			before.Log = append([]int64(nil), s.Log...)
			next := s
			d := storekit.Apply(&next, now, l, cost)
			if !(d.Allowed && cost > 0) {
				if next.A != before.A || next.B != before.B || next.C != before.C || !slicesEqual(next.Log, before.Log) {
					t.Fatalf("%v: %v with cost %d changed the state", alg, d.Reason, cost)
				}
			}
			s = next
		}
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
