package storekit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// A prepared limit decides exactly as Apply under the limit, for every
// algorithm, on random histories.
func TestPreparedDecidesAsApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := range 400 {
		alg := storekit.Algorithms()[trial%len(storekit.Algorithms())]
		l := core.Limit{Rate: int64(1 + rng.IntN(1000)), Period: time.Duration(1 + rng.Int64N(int64(time.Hour))), Algorithm: alg}
		if alg == core.GCRA || alg == core.TokenBucket {
			l.Burst = int64(rng.IntN(50))
		}
		if l.Validate() != nil {
			continue
		}
		p, err := storekit.Prepare(l)
		if err != nil {
			t.Fatal(err)
		}
		if p.Limit() != l {
			t.Fatalf("Limit() = %v, want %v", p.Limit(), l)
		}
		var a, b storekit.State
		now := int64(1_900_000_000e9)
		for step := range 200 {
			now += rng.Int64N(int64(l.Period)/int64(1+rng.IntN(20)) + 1)
			if rng.IntN(20) == 0 {
				now -= rng.Int64N(int64(time.Second)) // a clock stepped back
			}
			cost := int64(rng.IntN(3))
			da := storekit.Apply(&a, now, l, cost)
			db := p.Apply(&b, now, cost)
			if da != db || a.A != b.A || a.B != b.B || a.C != b.C || len(a.Log) != len(b.Log) {
				t.Fatalf("%v, step %d: Apply %+v (state %v), prepared %+v (state %v)", l, step, da, a, db, b)
			}
		}
	}
	if _, err := storekit.Prepare(core.Limit{}); err == nil {
		t.Fatal("Prepare accepted the zero Limit")
	}
}
