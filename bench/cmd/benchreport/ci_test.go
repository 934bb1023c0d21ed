package main

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/perf/benchmath"
)

// TestMedianCI checks intervals worked out by hand from the binomial
// distribution: with n values, the band [l, r) of "values below the
// median" grows from the mode until it holds 95%.
func TestMedianCI(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		name           string
		xs             []float64
		median, lo, hi float64
	}{
		// C(10,k)/1024: 252 + 2·210 + 2·120 + 2·45 = 1002/1024 = 97.9% for
		// k in [2, 9): the 2nd and 9th smallest.
		{"ten values: the 2nd to the 9th", []float64{7, 3, 10, 1, 9, 2, 8, 4, 6, 5}, 5.5, 2, 9},
		// C(6,k)/64: 62/64 = 96.9% for k in [1, 6): the whole sample.
		{"six values: the whole range", []float64{6, 1, 5, 2, 4, 3}, 3.5, 1, 6},
		// Five values: the band reaches k = 0 before 95% (31/32), so the
		// interval has no lower bound.
		{"five values: unbounded below", []float64{5, 4, 3, 2, 1}, 3, -inf, 5},
		{"one value: unbounded", []float64{42}, 42, -inf, inf},
		// 20 values: the 6th to the 15th (95.9%), the textbook interval.
		{"twenty values: the 6th to the 15th", seq(20), 10.5, 6, 15},
		// Ties are values like any other.
		{"equal values", []float64{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 2, 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.xs)
			got := medianCI(c.xs, 0.95)
			if got.median != c.median || got.lo != c.lo || got.hi != c.hi || got.n != len(c.xs) {
				t.Errorf("medianCI(%v) = %+v, want median %v in [%v, %v]", c.xs, got, c.median, c.lo, c.hi)
			}
			if !slices.Equal(in, c.xs) {
				t.Error("medianCI reordered its argument: the rounds' order is the pairing")
			}
		})
	}
	if got := medianCI(nil, 0.95); !math.IsNaN(got.median) || got.n != 0 {
		t.Errorf("medianCI(nil) = %+v, want NaN, n 0", got)
	}
}

func seq(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(n - i)
	}
	return xs
}

// TestMedianCIMatchesBenchstat compares with benchstat's own code
// (benchmath.AssumeNothing) up to 30 values, where both sum the binomial
// probabilities exactly, at two confidence levels. The values are 1 to n
// shuffled, so each bound is its order. Both break a tie between two
// equally likely neighbours to the lower, but benchstat's probabilities
// are not exactly symmetric (C(24,11)/2²⁴ comes out a little below
// C(24,13)/2²⁴), so its tie sometimes goes the other way: then its
// interval is the mirror of this one, of the same confidence.
func TestMedianCIMatchesBenchstat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mirrored := 0
	for _, conf := range []float64{0.95, 0.99} {
		for n := 1; n <= 30; n++ {
			xs := seq(n)
			rng.Shuffle(n, func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
			got := medianCI(xs, conf)
			want := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(xs), nil), conf)
			mirror := float64(n+1) - want.Hi
			mirrorHi := float64(n+1) - want.Lo
			switch {
			case got.median != want.Center:
				t.Errorf("n=%d: median %v, benchstat says %v", n, got.median, want.Center)
			case got.lo == want.Lo && got.hi == want.Hi:
			case got.lo == mirror && got.hi == mirrorHi:
				mirrored++
			default:
				t.Errorf("n=%d confidence %v: [%v, %v], benchstat says [%v, %v]", n, conf, got.lo, got.hi, want.Lo, want.Hi)
			}
		}
	}
	t.Logf("%d of 60 intervals are benchstat's mirrored", mirrored)
	if mirrored > 4 {
		t.Errorf("%d of 60 intervals are benchstat's mirrored; want a few ties at most", mirrored)
	}
}

func TestPaired(t *testing.T) {
	// Round i with round i; the extra run of the longer side is dropped.
	got := paired([]float64{10, 20, 40, 99}, []float64{5, 5, 10}, ratio)
	if want := []float64{2, 4, 4}; !slices.Equal(got, want) {
		t.Errorf("paired ratio = %v, want %v", got, want)
	}
	got = paired([]float64{350, 340}, []float64{100, 50}, minus)
	if want := []float64{250, 290}; !slices.Equal(got, want) {
		t.Errorf("paired minus = %v, want %v", got, want)
	}
	// Pairing removes what the rounds share: both libraries twice as slow
	// in one round leave the ratio where it was.
	peer := []float64{30, 30, 60, 30, 30, 60, 30, 30, 60, 30}
	tollgate := []float64{20, 20, 40, 20, 20, 40, 20, 20, 40, 20}
	if c := decide(goalMemSpeedup, paired(peer, tollgate, ratio)); c.lo != 1.5 || c.hi != 1.5 || c.outcome != met {
		t.Errorf("paired check = %+v, want exactly 1.5×, met (the bound touching the target counts)", c)
	}
}

func TestDecide(t *testing.T) {
	ten := func(base float64, spread ...float64) []float64 {
		xs := make([]float64, 10)
		for i := range xs {
			xs[i] = base
			if i < len(spread) {
				xs[i] = spread[i]
			}
		}
		return xs
	}
	atLeast, atMost := goal{target: 1, atLeast: true}, goal{target: 300, atLeast: false}
	for _, c := range []struct {
		name string
		g    goal
		xs   []float64
		want outcome
	}{
		{"at least: the whole interval above", atLeast, ten(1.2, 1.1, 1.3), met},
		{"at least: the lower bound on the target", atLeast, ten(1.2, 0.5, 1, 1.4), met},
		{"at least: the whole interval below", atLeast, ten(0.9, 0.8, 1.5), missed},
		{"at least: the interval holds the target", atLeast, []float64{0.9, 0.95, 0.97, 0.99, 1, 1.01, 1.02, 1.03, 1.05, 1.1}, undecided},
		{"at least: clear, but nine rounds", atLeast, ten(2)[:9], undecided},
		{"at most: the whole interval below", atMost, ten(250, 100, 400), met},
		{"at most: the upper bound on the target", atMost, ten(250, 400, 300), met},
		{"at most: the whole interval above", atMost, ten(600), missed},
		{"at most: the interval holds the target", atMost, []float64{250, 350, 280, 320, 290, 310, 295, 305, 300, 299}, undecided},
	} {
		if got := decide(c.g, c.xs); got.outcome != c.want {
			t.Errorf("%s: %v → %+v, want outcome %v", c.name, c.xs, got, c.want)
		}
	}
	for _, c := range []struct {
		c    check
		want string
	}{
		{decide(atLeast, ten(2)), "✅ met"},
		{decide(atLeast, ten(0.5)), "❌ missed"},
		{decide(atLeast, ten(2)[:6]), "⚠️ undecided: 6 rounds, fewer than 10"},
		{decide(atMost, []float64{250, 350, 280, 320, 290, 310, 295, 305, 300, 299}), "⚠️ undecided: the interval holds the target"},
		{absent(atLeast, "go-redis-redis_rate"), "⚠️ no go-redis-redis_rate result"},
	} {
		if got := c.c.verdictCell(); got != c.want {
			t.Errorf("verdict = %q, want %q", got, c.want)
		}
	}
}

// TestRawKeepsOrder checks that readRaw keeps each benchmark's runs in the
// order of the file, interleaved with other benchmarks': the round of a
// run is its rank among that benchmark's runs.
func TestRawKeepsOrder(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "raw.txt")
	var lines []string
	for _, v := range []string{"3", "1", "2"} {
		lines = append(lines,
			"BenchmarkRedis/w=serial-one-key/lib=tollgate-2 \t100\t"+v+"0.0 ns/op",
			"BenchmarkRedis/w=serial-one-key/lib=go-redis-redis_rate-2 \t100\t"+v+"5.0 ns/op",
			"PASS")
	}
	if err := os.WriteFile(raw, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := readRaw("raw", raw)
	if err != nil {
		t.Fatal(err)
	}
	w := d.group("Redis").workload("serial-one-key")
	if got := w.lib("tollgate").sample(unitNS); !slices.Equal(got, []float64{30, 10, 20}) {
		t.Errorf("tollgate's runs = %v, want 30 10 20 (the file's order)", got)
	}
	if got := w.lib(redisRateLib).sample(unitNS); !slices.Equal(got, []float64{35, 15, 25}) {
		t.Errorf("redis_rate's runs = %v, want 35 15 25", got)
	}
	if got := w.lib("tollgate").stats[unitNS].median; got != 20 {
		t.Errorf("median = %v, want 20", got)
	}
}
