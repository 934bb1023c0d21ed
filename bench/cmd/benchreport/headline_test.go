package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/headline holds ten rounds made up so that each goal comes out
// a known way: raw.txt as run.sh writes it (each round every benchmark,
// then ten runs of BenchmarkMemoryPerKey), adapters.txt the adapter
// modules' bare and limited runs (echo v5's in six rounds only).

func TestHeadlineChecks(t *testing.T) {
	d, err := readRaw("raw", "testdata/headline/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	ad, err := readRaw("adapters", "testdata/headline/adapters.txt")
	if err != nil {
		t.Fatal(err)
	}
	acc, err := parseAccuracy("testdata/accuracy.txt", []byte(readFile(t, "testdata/accuracy.txt")))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		median, lo, hi float64
		n              int
		outcome        outcome
	}
	same := func(t *testing.T, what string, c check, w want) {
		t.Helper()
		if !near(c.median, w.median) || !near(c.lo, w.lo) || !near(c.hi, w.hi) || c.n != w.n || c.outcome != w.outcome {
			t.Errorf("%s = %v in [%v, %v] over %d rounds, outcome %d; want %v in [%v, %v] over %d, outcome %d",
				what, c.median, c.lo, c.hi, c.n, c.outcome, w.median, w.lo, w.hi, w.n, w.outcome)
		}
	}

	// redis_rate at 60,000 + 1,000·i ns against tollgate's 50,000: ratios
	// 1.20 to 1.38, the 2nd and 9th bound the interval.
	rh := redisRateHeadlines(d)
	same(t, "redis serial-one-key", rh[0].check, want{1.29, 1.22, 1.36, 10, met})
	same(t, "redis parallel64-one-key", rh[1].check, want{27450.0 / 30000, 27100.0 / 30000, 27800.0 / 30000, 10, missed})
	same(t, "redis parallel64-100k-keys", rh[2].check, want{(30000.0 + 30100) / 2 / 30000, 29000.0 / 30000, 31000.0 / 30000, 10, undecided})
	if !rh[3].informative || rh[3].workload != "parallel64-one-key-denied" {
		t.Errorf("denied row = %+v, want informative", rh[3])
	}
	// Then the Cluster's four, for information: 44,000 over 40,000.
	if len(rh) != 8 || !rh[4].cluster || !rh[4].informative || rh[4].workload != "serial-one-key" {
		t.Fatalf("redis rows = %+v, want the Cluster's four after the standalone's", rh)
	}
	same(t, "cluster serial-one-key", rh[4].check, want{1.1, 1.1, 1.1, 10, met})

	bh := batchHeadlines(d)
	same(t, "batched serial", bh[0].check, want{1.02, 1.02, 1.02, 10, met})
	same(t, "batched parallel64-one-key", bh[1].check, want{2, 2, 2, 10, met})
	same(t, "batched parallel64-100k-keys", bh[2].check, want{22.0 / 15, 22.0 / 15, 22.0 / 15, 10, missed})
	if len(bh) != 6 || !bh[3].cluster || !bh[3].informative || bh[2].informative {
		t.Errorf("batch rows = %+v, want the Cluster's three after the standalone's, informative", bh)
	}
	same(t, "cluster batched serial", bh[3].check, want{41.0 / 40, 41.0 / 40, 41.0 / 40, 10, met})

	mem := memoryHeadlines(d, acc)
	same(t, "memory serial-one-key", mem[0].speed, want{2.225, 2.05, 2.4, 10, met})
	// Three times as fast, but one run allocated.
	same(t, "memory parallel-one-key", mem[1].speed, want{3, 3, 3, 10, missed})
	if !mem[1].allocates() || mem[0].allocates() {
		t.Errorf("allocates = %v, %v; want only parallel-one-key", mem[0].allocates(), mem[1].allocates())
	}
	same(t, "memory parallel-100k-keys", mem[2].speed, want{40.0 / 30, 40.0 / 30, 40.0 / 30, 10, missed})

	// The fastest quota-keeping peers: sethvargo-go-limiter, then
	// x-time-rate-map; each B/key run i of tollgate (120.i) over the
	// peer's.
	pk := perKeyHeadlines(d, mem)
	if len(pk) != 2 || pk[0].peer != "sethvargo-go-limiter" || pk[1].peer != "x-time-rate-map" {
		t.Fatalf("per-key peers = %+v", pk)
	}
	same(t, "B/key against sethvargo-go-limiter", pk[0].check, want{(120.4/136.2 + 120.5/136.3) / 2, 120.1 / 135.9, 120.8 / 136.6, 10, met})

	mw := middlewareHeadlines(d, ad)
	if len(mw) != 5 {
		t.Fatalf("middleware rows = %d, want 4 adapters and the bench module's chi", len(mw))
	}
	same(t, "chi", mw[0].check, want{249, 242, 256, 10, met})
	same(t, "gin", mw[1].check, want{600, 600, 600, 10, missed})
	same(t, "echo v4", mw[2].check, want{299.5, 280, 320, 10, undecided})
	same(t, "echo v5", mw[3].check, want{80, 80, 80, 6, undecided})
	same(t, "bench module chi", mw[4].check, want{250, 250, 250, 10, met})
	if !mw[4].informative || mw[0].allocsAdded != 2 || mw[3].allocsAdded != 1 {
		t.Errorf("rows = %+v", mw)
	}
}

func TestHeadlineMarkdown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "DISTRIBUTED.md"), []byte("# Distributed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	render := func(t *testing.T) string {
		t.Helper()
		var stdout bytes.Buffer
		err := run([]string{
			"-raw", "testdata/headline/raw.txt", "-adapters", "testdata/headline/adapters.txt",
			"-accuracy", "testdata/accuracy.txt",
			"-distributed", filepath.Join(dir, "DISTRIBUTED.md"), "-growth", filepath.Join(dir, "GROWTH.md"),
			"-goversion", "go1.26.0", "-cpus", "2", "-date", "2026-01-02", "-out", filepath.Join(dir, "BENCHMARKS.md"),
		}, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stdout.String(), "warning") {
			t.Errorf("unexpected warnings:\n%s", stdout.String())
		}
		return readFile(t, filepath.Join(dir, "BENCHMARKS.md"))
	}

	md := render(t)
	for _, want := range []string{
		"**15 checks: 7 met, 5 missed, 3 undecided.**\n",
		"| workload | tollgate decisions/s | redis_rate decisions/s | × redis_rate | 95% CI | rounds | verdict |\n",
		"| serial-one-key | 20,000 | 15,504 | 1.29× | [1.22×, 1.36×] | 10 | ✅ met |\n",
		"| parallel64-one-key | 33,333 | 36,430 | 0.92× | [0.90×, 0.93×] | 10 | ❌ missed |\n",
		"| parallel64-100k-keys | 33,333 | 33,278 | 1.00× | [0.97×, 1.03×] | 10 | ⚠️ undecided: the interval holds the target |\n",
		"| parallel64-one-key-denied *(informative)* | 40,000 | 38,462 | 1.04× | [1.04×, 1.04×] | 10 | ℹ️ not counted: ✅ met |\n",
		// A Cluster's rows are shown beside the standalone server's.
		"| Cluster: serial-one-key *(informative)* | 25,000 | 22,727 | 1.10× | [1.10×, 1.10×] | 10 | ℹ️ not counted: ✅ met |\n",
		"| batched decisions/s ÷ INCR ops/s ≥ 1.50× | Cluster: parallel64-one-key *(informative)* | 2.00× | [2.00×, 2.00×] | 10 | ℹ️ not counted: ✅ met |\n",
		"## Redis Cluster store (`BenchmarkRedisCluster`)\n",
		"| batched ns/op ÷ unbatched ≤ 1.05× | serial-one-key | 1.02× | [1.02×, 1.02×] | 10 | ✅ met |\n",
		"| batched decisions/s ÷ INCR ops/s ≥ 1.50× | parallel64-one-key | 2.00× | [2.00×, 2.00×] | 10 | ✅ met |\n",
		"| batched decisions/s ÷ INCR ops/s ≥ 1.50× | parallel64-100k-keys | 1.47× | [1.47×, 1.47×] | 10 | ❌ missed |\n",
		"| serial-one-key | 20.0 | 0 | ulule-limiter 35.0 ⚠ over quota | sethvargo-go-limiter 44.5 | 2.23× (1.75× vs ulule-limiter) | [2.05×, 2.40×] | 10 | ✅ met |\n",
		"| parallel-one-key | 20.0 | 1 | sethvargo-go-limiter 60.0 | same | 3.00× | [3.00×, 3.00×] | 10 | ❌ missed: allocates |\n",
		"| parallel-100k-keys | 30.0 | 0 | x-time-rate-map 40.0 | same | 1.33× | [1.33×, 1.33×] | 10 | ❌ missed |\n",
		"Goal met in 1 of 3 workloads.\n",
		"| sethvargo-go-limiter | 120 | 136 | 0.88× | [0.88×, 0.88×] | 10 | ✅ met |\n",
		"| chi | `chimw: BenchmarkChi/{bare,limited}` | 100 | 349 | +249 | [+242, +256] | 10 | +2 | ✅ met |\n",
		"| gin | `ginmw: BenchmarkGin/{bare,limited}` | 120 | 720 | +600 | [+600, +600] | 10 | +2 | ❌ missed |\n",
		"| echo v4 | `echomw: BenchmarkEcho/{bare,limited}` | 50.0 | 350 | +300 | [+280, +320] | 10 | +2 | ⚠️ undecided: the interval holds the target |\n",
		"| echo v5 | `echo5mw: BenchmarkEcho5/{bare,limited}` | 70.0 | 150 | +80.0 | [+80.0, +80.0] | 6 | +1 | ⚠️ undecided: 6 rounds, fewer than 10 |\n",
		"| chi *(bench module)* | `bench: BenchmarkMiddleware/w=serial-one-client` | 1,000 | 1,250 | +250 | [+250, +250] | 10 | +2 | ℹ️ not counted: ✅ met |\n",
		"checked by `make distributed` in [DISTRIBUTED.md](DISTRIBUTED.md#headline).\n",
		// The Redis tables show the batched and lease modes.
		"| tollgate-batched *(batching on)* |",
		"| tollgate-lease *(lease mode)* |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks:\n%s", want)
		}
	}
	if strings.Contains(md, "GROWTH.md") {
		t.Error("page links GROWTH.md, which does not exist")
	}
	for _, h := range []string{"### 1. Redis, consistent mode", "### 2. Redis, batching", "### 3. In-memory store", "### 4. HTTP middleware", "### 5 and 6. Checked on other pages"} {
		if !strings.Contains(md, h) {
			t.Errorf("page lacks the heading %q", h)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "GROWTH.md"), []byte("# Growth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if md := render(t); !strings.Contains(md, "[GROWTH.md](GROWTH.md)") {
		t.Error("page does not link GROWTH.md, which exists")
	}
	// Without DISTRIBUTED.md the lease goal is named, not linked.
	if err := os.Remove(filepath.Join(dir, "DISTRIBUTED.md")); err != nil {
		t.Fatal(err)
	}
	if md := render(t); !strings.Contains(md, "checked by `make distributed`, which writes `DISTRIBUTED.md` (absent when this page was made).\n") {
		t.Error("page does not name the lease goal's page when it is absent")
	}
}
