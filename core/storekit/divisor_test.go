package storekit

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The divisor's multiplication gives Go's quotient for every divisor and
// dividend, at the edges and at random.
func TestDivisorDividesExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	check := func(d, n int64) {
		t.Helper()
		v := newDivisor(d)
		if got, want := v.div(n), n/d; got != want {
			t.Fatalf("%d/%d: divisor gives %d, want %d", n, d, got, want)
		}
	}
	edges := []int64{0, 1, 2, 3, 7, 1<<31 - 1, 1 << 31, 1<<32 + 1, 1e9, 1<<62 - 1, 1 << 62, math.MaxInt64 - 1, math.MaxInt64}
	for _, d := range edges[1:] {
		for _, n := range edges {
			check(d, n)
			check(d, -n)
			if n >= d {
				check(d, n-n%d)   // a multiple
				check(d, n-n%d-1) // one below it
			}
		}
	}
	for range 1_000_000 {
		d := 1 + rng.Int64N(math.MaxInt64>>rng.IntN(63))
		n := rng.Int64N(math.MaxInt64 >> rng.IntN(63))
		check(d, n)
		if q := n / d; q > 0 {
			check(d, q*d)
			check(d, q*d-1)
		}
	}
}
