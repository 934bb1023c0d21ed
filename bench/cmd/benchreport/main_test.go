package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.* from the current output")

// fixtureArgs runs the report on testdata/ with every machine-dependent
// value pinned, writing into dir.
func fixtureArgs(dir string) []string {
	return []string{
		"-raw", "testdata/raw.txt",
		"-benchstat", "testdata/benchstat.txt",
		"-accuracy", "testdata/accuracy.txt",
		"-command", "make bench",
		"-gotest", "go test -run '^$' -bench . -benchmem -count 6 .",
		"-goversion", "go1.26.0",
		"-cpus", "2",
		"-date", "2026-01-02",
		"-out", filepath.Join(dir, "BENCHMARKS.md"),
		"-svg", filepath.Join(dir, "benchmarks.svg"),
	}
}

// runFixture returns the Markdown and the SVG made from testdata/.
func runFixture(t *testing.T) (md, svg string) {
	t.Helper()
	dir := t.TempDir()
	var stdout bytes.Buffer
	if err := run(fixtureArgs(dir), &stdout); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(stdout.String(), "warning") {
		t.Errorf("unexpected warnings:\n%s", stdout.String())
	}
	return readFile(t, filepath.Join(dir, "BENCHMARKS.md")), readFile(t, filepath.Join(dir, "benchmarks.svg"))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMedians(t *testing.T) {
	d, err := readRaw("raw", "testdata/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.procs; len(got) != 1 || got[0] != 2 {
		t.Errorf("procs = %v, want [2] from the -2 suffixes", got)
	}
	if got := d.config["cpu"]; len(got) != 1 || got[0] != "AMD EPYC 7B13 64-Core Processor" {
		t.Errorf("cpu = %q (two header blocks, one CPU)", got)
	}
	var names []string
	for _, g := range d.groups {
		names = append(names, g.name)
	}
	if got := strings.Join(names, ","); got != "Memory,Middleware,Redis,MemoryPerKey" {
		t.Errorf("groups = %s", got)
	}

	for _, c := range []struct {
		group, workload, lib, unit string
		median, min, max           float64
		n                          int
	}{
		// 20 21 19 20 22 20: an even count, the two middle values agree.
		{"Memory", "serial-one-key", "tollgate", unitNS, 20, 19, 22, 6},
		{"Memory", "serial-one-key", "tollgate", unitAllocs, 0, 0, 0, 6},
		{"Memory", "serial-one-key", "ulule-limiter", unitBytes, 16, 16, 16, 6},
		// 39 39.5 40 40 40.5 41.
		{"Memory", "parallel-100k-keys", "x-time-rate-map", unitNS, 40, 39, 41, 6},
		// 990 995 1000 1000 1005 1010.
		{"Middleware", "serial-one-client", "bare", unitNS, 1000, 990, 1010, 6},
		// 1090 1100 1100 1100 1110 1120.
		{"Middleware", "serial-one-client", "tollgate", unitNS, 1100, 1090, 1120, 6},
		{"Redis", "parallel64-one-key", "go-redis-incr", unitNS, 10000, 9900, 10100, 6},
		// Three runs: the middle one.
		{"MemoryPerKey", "", "tollgate", unitPerKey, 60, 59, 61, 3},
		{"MemoryPerKey", "", "sethvargo-go-limiter", unitPerKey, 150, 150, 151, 3},
	} {
		w := d.group(c.group).workload(c.workload)
		if w == nil || w.lib(c.lib) == nil {
			t.Errorf("%s/%s/%s: missing", c.group, c.workload, c.lib)
			continue
		}
		s := w.lib(c.lib).stats[c.unit]
		if !near(s.median, c.median) || !near(s.min, c.min) || !near(s.max, c.max) || s.n != c.n {
			t.Errorf("%s/%s/%s %s = %+v, want median %v min %v max %v n %d", c.group, c.workload, c.lib, c.unit, s, c.median, c.min, c.max, c.n)
		}
	}

	// (22-19)/2/20 = 7.5%.
	s := d.group("Memory").workload("serial-one-key").lib("tollgate").stats[unitNS]
	if got, ok := s.spreadPct(); !ok || !near(got, 7.5) {
		t.Errorf("spread = %v, %v; want 7.5", got, ok)
	}
	// An odd count takes the middle value.
	if got := summarize([]float64{3, 1, 2}).median; got != 2 {
		t.Errorf("median of 3 1 2 = %v", got)
	}
}

func TestHeadlines(t *testing.T) {
	d, err := readRaw("raw", "testdata/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	acc, err := parseAccuracy("testdata/accuracy.txt", []byte(readFile(t, "testdata/accuracy.txt")))
	if err != nil {
		t.Fatal(err)
	}

	// testdata/raw.txt has 6 runs of each benchmark: too few to decide.
	mem := memoryHeadlines(d, acc)
	if len(mem) != 2 {
		t.Fatalf("memory headlines = %d, want 2", len(mem))
	}
	// serial-one-key: ulule-limiter (35) is the fastest peer but over-admits,
	// so the target is against sethvargo-go-limiter: its runs 40 41 39 40
	// 40 42 over tollgate's 20 21 19 20 22 20 are 2, 1.95, 2.05, 2, 1.82,
	// 2.1, whose median is 2; six runs give the interval [min, max].
	h := mem[0]
	if h.workload != "serial-one-key" || h.fastest.lib != "ulule-limiter" || h.fastestKept.lib != "sethvargo-go-limiter" ||
		!near(h.speed.median, 2) || !near(h.speed.lo, 40.0/22) || !near(h.speed.hi, 42.0/20) || h.speed.n != 6 ||
		h.speed.outcome != undecided || h.allocates() {
		t.Errorf("serial-one-key headline = %+v", h)
	}
	// Against ulule-limiter: 1.75 1.67 1.89 1.7 1.59 1.75, median 1.725.
	if !near(h.anySpeedup, 1.725) {
		t.Errorf("speed-up against the over-admitting peer = %v, want 1.725", h.anySpeedup)
	}
	// parallel-100k-keys: about 1.34×, under the goal, and still undecided
	// with six rounds.
	h = mem[1]
	if h.workload != "parallel-100k-keys" || h.fastestKept.lib != "x-time-rate-map" || !near(h.speed.median, (40.0/30+40.5/30)/2) ||
		h.speed.outcome != undecided {
		t.Errorf("parallel-100k-keys headline = %+v", h)
	}
	if got := h.speed.verdictCell(); got != "⚠️ undecided: 6 rounds, fewer than 10" {
		t.Errorf("verdict = %q", got)
	}

	// No adapter results: each adapter's goal has no data; the bench
	// module's chi router is shown beside, 1100 − 1000 in the median.
	mw := middlewareHeadlines(d, nil)
	if len(mw) != 5 {
		t.Fatalf("middleware headlines = %d, want 4 adapters and the bench module's chi", len(mw))
	}
	for i, a := range adapters {
		if mw[i].adapter != a.title || mw[i].outcome != noData || mw[i].missing != "Benchmark"+a.group {
			t.Errorf("adapter %s = %+v, want no data", a.title, mw[i])
		}
	}
	if h := mw[4]; !h.informative || h.adapter != "chi" || !near(h.median, 100) || !h.allocsOK || !near(h.allocsAdded, 2) {
		t.Errorf("bench module chi = %+v", h)
	}

	// testdata/raw.txt has no serial-one-key redis_rate run, and no
	// batched store. At 64 callers redis_rate's 16,000 ns over tollgate's
	// 11,000 (and 10,800 and 11,200 once each).
	rh := redisRateHeadlines(d)
	if len(rh) != 4 || rh[0].outcome != noData || rh[0].missing != redisRateLib || rh[1].outcome != undecided ||
		!near(rh[1].median, 16.0/11) || !near(rh[1].lo, 16.0/11.2) || !near(rh[1].hi, 16.0/10.8) {
		t.Errorf("redis headlines = %+v", rh)
	}
	if rh[2].outcome != noData || rh[2].missing != "parallel64-100k-keys" {
		t.Errorf("a missing workload = %+v", rh[2])
	}
	bh := batchHeadlines(d)
	if len(bh) != 3 || bh[0].outcome != noData || bh[0].missing != batchedLib {
		t.Errorf("batch headlines = %+v", bh)
	}

	if a, over := acc.overQuota("memory", "ulule-limiter"); !over || a.over() != 13 {
		t.Errorf("ulule-limiter over quota = %v by %d, want by 13", over, a.over())
	}
	if _, over := acc.overQuota("memory", "ulule-limiter-redis"); over {
		t.Error("a redis result leaked into the memory store")
	}
}

// TestMarkdown checks the rendered page line by line where it matters.
func TestMarkdown(t *testing.T) {
	md, _ := runFixture(t)
	for _, want := range []string{
		"# Benchmarks\n\nGenerated by `make bench` — do not edit by hand.\n",
		"- **Go:** go1.26.0\n",
		"- **OS/arch:** linux/amd64\n",
		"- **CPU:** AMD EPYC 7B13 64-Core Processor\n",
		"- **CPUs:** 2 (benchmarks ran with GOMAXPROCS=2)\n",
		"- **Date:** 2026-01-02 (UTC)\n",
		"```sh\ngo test -run '^$' -bench . -benchmem -count 6 .\n```\n",
		// Headline: six rounds decide nothing; the over-admitting peer named.
		"**14 checks: 0 met, 0 missed, 4 undecided, 10 without results.**\n",
		"| serial-one-key | 20.0 | 0 | ulule-limiter 35.0 ⚠ over quota | sethvargo-go-limiter 40.0 | 2.00× (1.73× vs ulule-limiter) | [1.82×, 2.10×] | 6 | ⚠️ undecided: 6 rounds, fewer than 10 |\n",
		"| parallel-100k-keys | 30.0 | 0 | x-time-rate-map 40.0 | same | 1.34× | [1.27×, 1.38×] | 6 | ⚠️ undecided: 6 rounds, fewer than 10 |\n",
		"| sethvargo-go-limiter | 60.0 | 150 | 0.40× | [−∞, +∞] | 3 | ⚠️ undecided: 3 rounds, fewer than 10 |\n",
		"Goal met in 0 of 2 workloads.\n",
		"| gin | `ginmw: BenchmarkGin/{bare,limited}` | — | — | — | — | — | — | ⚠️ no BenchmarkGin result |\n",
		"| chi *(bench module)* | `bench: BenchmarkMiddleware/w=serial-one-client` | 1,000 | 1,100 | +100 | [+90.0, +125] | 6 | +2 | ℹ️ not counted: ⚠️ undecided: 6 rounds, fewer than 10 |\n",
		"No adapter results were given (`-adapters`), so no adapter's goal is checked.\n",
		"| serial-one-key | 31,250 | — | — | — | — | ⚠️ no go-redis-redis_rate result |\n",
		"| parallel64-one-key | 90,909 | 62,500 | 1.45× | [1.43×, 1.48×] | 6 | ⚠️ undecided: 6 rounds, fewer than 10 |\n",
		"| batched ns/op ÷ unbatched ≤ 1.05× | serial-one-key | — | — | — | ⚠️ no tollgate-batched result |\n",
		"- ulule-limiter (memory store): admits 1,013 of a quota of 1,000\n",
		"![ns/op per library, tollgate highlighted](benchmarks.svg)\n",
		// Performance tables: sorted by ns/op, tollgate bold, quota flagged.
		"| library | ns/op | ± | B/op | allocs/op | ×tollgate | quota (64 goroutines, 1,000) |\n",
		"| **tollgate** | **20.0** | **7.5%** | **0** | **0** | **1.00×** | 1,000 (exact) |\n" +
			"| ulule-limiter | 35.0 | 2.9% | 16 | 1 | 1.75× | ⚠ admits 1,013 (over) |\n" +
			"| sethvargo-go-limiter | 40.0 | 3.8% | 0 | 0 | 2.00× | 1,000 (exact) |\n" +
			"| tollgate-system-clock *(tollgate with the precise system clock)* | 45.0 | 2.2% | 0 | 0 | 2.25× | — |\n",
		"| x-time-rate-map | 40.0 | 2.5% | 8 | 1 | 1.33× | 998 (under) |\n",
		"| bare *(router only, no limiter)* | 1,000 | 1.0% | 900 | 10 | (baseline) | 0.91× | — |\n",
		"| go-chi-httprate | 1,500 | 0.7% | 1,400 | 18 | +8 | 1.36× | — |\n",
		"| ulule-limiter-redis | 14,000 | 0.0% | 600 | 12 | 71,429 | 1.27× | ⚠ admits 1,040 (over) |\n",
		"tollgate makes 90,909 decisions/s against 100,000 bare INCR round trips/s: 0.91× the rate of the floor.\n",
		// Memory per key: B/key only.
		"| **tollgate** | **60.0** | **1.00×** |\n| sethvargo-go-limiter | 150 | 2.50× |\n",
		// Accuracy.
		"| ulule-limiter | 1,000 | 64 | 4,000 | 1,013 | ⚠ OVER quota by 13 |\n",
		"| x-time-rate-map | 1,000 | 64 | 4,000 | 998 | under quota by 2 |\n",
		"## Raw benchstat summary\n\n```text\ngoos: linux\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks:\n%s", want)
		}
	}
	// Memory per key's ns/op means nothing and must not appear.
	if strings.Contains(md, "812,345,678") {
		t.Error("page shows MemoryPerKey's ns/op")
	}
	// Sections in order.
	last := -1
	for _, h := range []string{"## Machine", "## Headline", "## In-memory store", "## HTTP middleware (chi)", "## Redis store", "## Memory per key", "## Accuracy", "## Raw benchstat summary"} {
		i := strings.Index(md, h)
		if i <= last {
			t.Errorf("section %q out of order or missing", h)
		}
		last = i
	}
}

// TestDeterministic runs twice and compares bytes, then compares against
// the golden files (go test -update rewrites them).
func TestDeterministic(t *testing.T) {
	md1, svg1 := runFixture(t)
	md2, svg2 := runFixture(t)
	if md1 != md2 || svg1 != svg2 {
		t.Fatal("same input, different output")
	}
	for name, got := range map[string]string{"BENCHMARKS.golden.md": md1, "benchmarks.golden.svg": svg1} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want := readFile(t, path); got != want {
			t.Errorf("%s differs from the output; if the change is intended, run go test -update", path)
		}
	}
}

func TestSVG(t *testing.T) {
	_, svg := runFixture(t)
	wellFormed(t, svg)
	for _, want := range []string{
		`fill="#e8590c"`, // tollgate's colour
		`>In-memory store — serial-one-key</text>`,
		`>Redis store — parallel64-one-key</text>`,
		`>HTTP middleware (chi) — serial-one-client</text>`,
		`>ulule-limiter ⚠ over quota</text>`,
		`>20.0 ns</text>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", "@import", "href="} {
		if strings.Contains(svg, bad) {
			t.Errorf("SVG is not self-contained: has %s", bad)
		}
	}
}

func wellFormed(t *testing.T, svg string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

// TestGeneric feeds names outside the contract, odd characters and two
// GOMAXPROCS values: the report must render them, not crash.
func TestGeneric(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.txt")
	if err := os.WriteFile(raw, []byte(strings.Join([]string{
		"goos: darwin",
		"goarch: arm64",
		"BenchmarkWidget/size=10-1 \t100\t50.0 ns/op\t20.00 MB/s",
		"BenchmarkWidget/size=10-4 \t100\t15.0 ns/op\t70.00 MB/s",
		"BenchmarkMemory/w=serial-one-key/lib=a|b<c&d-4 \t100\t10.0 ns/op",
		"BenchmarkMemory/w=serial-one-key/lib=tollgate-4 \t100\t5.0 ns/op",
		"BenchmarkPlain \t100\t7.0 ns/op", // no sub-benchmarks, GOMAXPROCS=1
		"BenchmarkBroken-4 \tnotanumber\t1 ns/op",
		"",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, svgPath := filepath.Join(dir, "out.md"), filepath.Join(dir, "img", "b.svg")
	if err := os.Mkdir(filepath.Dir(svgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	err := run([]string{"-raw", raw, "-out", out, "-svg", svgPath, "-goversion", "go1.26.0", "-date", "2026-01-02",
		"-accuracy", filepath.Join(dir, "absent.txt")}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "warning: -raw: skipped") || !strings.Contains(stdout.String(), "warning: -accuracy") {
		t.Errorf("want warnings for the broken line and the absent file, got:\n%s", stdout.String())
	}
	md := readFile(t, out)
	for _, want := range []string{
		"## Widget (`BenchmarkWidget`)",
		"### size=10 (GOMAXPROCS=4)",
		"| MB/s |", // an unknown unit gets a column, in go test's own unit
		`a\|b&lt;c&d`,
		"## Plain (`BenchmarkPlain`)",
		"](img/b.svg)",
		"- **OS/arch:** darwin/arm64",
		"No accuracy results were given",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	svg := readFile(t, svgPath)
	wellFormed(t, svg)
	if !strings.Contains(svg, "a|b&lt;c&amp;d") {
		t.Error("SVG does not escape library names")
	}
}

func TestSplitName(t *testing.T) {
	for _, c := range []struct {
		in   string
		want benchName
	}{
		{"Memory/w=serial-one-key/lib=tollgate-system-clock-8", benchName{"Memory", "serial-one-key", "tollgate-system-clock", 8}},
		{"Redis/w=parallel64-one-key/lib=go-redis-incr-2", benchName{"Redis", "parallel64-one-key", "go-redis-incr", 2}},
		{"MemoryPerKey/lib=tollgate-2", benchName{"MemoryPerKey", "", "tollgate", 2}},
		{"Memory/w=serial-one-key/lib=tollgate", benchName{"Memory", "serial-one-key", "tollgate", 1}},
		{"Foo/a/b-4", benchName{"Foo", "a", "b", 4}},
		{"Foo/n=3/lib=x-4", benchName{"Foo", "n=3", "x", 4}},
		{"Plain-4", benchName{"Plain", "", "Plain", 4}},
		{"Widget/size=10/fast-4", benchName{"Widget", "size=10", "fast", 4}},
		{"Widget/size=10-4", benchName{"Widget", "size=10", "Widget", 4}},
	} {
		if got := splitName(benchfmt.Name(c.in)); got != c.want {
			t.Errorf("splitName(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.md")
	badAcc := filepath.Join(dir, "acc.txt")
	if err := os.WriteFile(badAcc, []byte("noise\nACCURACY {\"store\":\"memory\",\"lib\":\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("PASS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", out}, "-raw is required"},
		{[]string{"-raw", "testdata/raw.txt"}, "-out is required"},
		{[]string{"-raw", filepath.Join(dir, "nope.txt"), "-out", out}, "-raw: open " + filepath.Join(dir, "nope.txt")},
		{[]string{"-raw", empty, "-out", out}, "no benchmark results"},
		{[]string{"-raw", "testdata/raw.txt", "-out", out, "-accuracy", badAcc}, "-accuracy " + badAcc + ":2:"},
		{[]string{"-raw", "testdata/raw.txt", "-out", out, "-date", "02/01/2026"}, "-date"},
		{[]string{"-raw", "testdata/raw.txt", "-out", filepath.Join(dir, "missing", "out.md")}, "-out:"},
		{[]string{"-raw", "testdata/raw.txt", "-out", out, "stray"}, "unexpected argument"},
	} {
		err := run(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{commaInt(52340), "52,340"},
		{commaInt(999), "999"},
		{commaInt(-1234567), "-1,234,567"},
		{fmtMeasure(20.15), "20.1"},
		{fmtMeasure(1234.4), "1,234"},
		{fmtMeasure(2.345), "2.35"},
		{fmtCount(2.5), "2.5"},
		{fmtSigned(2), "+2"},
		{fmtSigned(-1), "-1"},
		{perSecond(19106), "52,340"},
		{codeSpan("a`b"), "``a`b``"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
