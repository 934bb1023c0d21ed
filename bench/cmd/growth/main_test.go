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
)

var update = flag.Bool("update", false, "rewrite testdata/golden/ from the current output")

// fixtureArgs runs the generator on testdata/raw.txt with every
// machine-dependent value pinned, writing into dir.
func fixtureArgs(dir string) []string {
	return []string{
		"-raw", "testdata/raw.txt",
		"-outdir", dir,
		"-gotest", "cd bench && go test -run '^$' -bench '^BenchmarkGrowth' -count 1 .",
		"-goversion", "go1.26.0",
		"-date", "2026-01-02",
		"-l1d", "49152", "-l2", "1048576", "-l3", "33554432", "-thp", "madvise",
	}
}

// runFixture runs the generator on the fixture and returns what it wrote,
// by file name.
func runFixture(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	var stdout bytes.Buffer
	if err := run(fixtureArgs(dir), &stdout); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(stdout.String(), "warning") {
		t.Errorf("unexpected warnings:\n%s", stdout.String())
	}
	out := map[string]string{}
	for _, name := range []string{"GROWTH.md", "growth-keys.svg", "growth-callers.svg", "growth-limits.svg", "growth-rules.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	return out
}

func readFixture(t *testing.T) *data {
	t.Helper()
	f, err := os.Open("testdata/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := readRaw(f, "raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }

func TestReadRawTakesTheMedianOfEachPointOverTheRounds(t *testing.T) {
	d := readFixture(t)
	if len(d.warnings) > 0 {
		t.Errorf("warnings: %q", d.warnings)
	}
	if d.rounds != 3 || d.cpu != "Test CPU @ 2.00GHz" || len(d.procs) != 1 || d.procs[0] != 2 {
		t.Errorf("rounds %d, cpu %q, procs %v; want 3, the fixture's CPU, [2]", d.rounds, d.cpu, d.procs)
	}
	var names []string
	for _, s := range d.sweeps {
		names = append(names, s.name+":"+s.x)
	}
	if got := strings.Join(names, ","); got != "Keys:keys,Callers:callers,Limits:limits,Rules:rules" {
		t.Errorf("sweeps = %s (BenchmarkMemory must be left out)", got)
	}
	keys := d.sweep("Keys")
	mem := keys.panel("store=memory/callers=1")
	if mem == nil || keys.panel("store=redis/pool=128/callers=64") == nil || len(keys.panels) != 2 {
		t.Fatalf("keys panels: %+v", keys.panels)
	}
	tg := mem.line("tollgate")
	if tg == nil || len(tg.pts) != 5 {
		t.Fatalf("tollgate's memory keys line: %+v", tg)
	}
	// Rounds at 1.0, 1.1 and 0.9 times the value: the median is the value.
	for i, want := range []float64{50, 52, 55, 110, 200} {
		if p := tg.pts[i]; !near(p.ns(), want) {
			t.Errorf("point %g: median %g ns, want %g", p.x, p.ns(), want)
		}
	}
	if p := tg.pts[1]; p.units["ns/op"].n != 3 || !near(p.units["ns/op"].min, 52*0.9) || !near(p.units["ns/op"].max, 52*1.1) {
		t.Errorf("10,000 keys: %+v, want 3 runs from 46.8 to 57.2", p.units["ns/op"])
	}
	if p := tg.pts[4]; p.x != 1e7 || p.units["ns/op"].n != 1 {
		t.Errorf("10,000,000 keys: x %g, %d runs; want 1 run", p.x, p.units["ns/op"].n)
	}
	if got := unitValue(tg.pts[0], "B/key"); got != 64 {
		t.Errorf("B/key = %g, want 64", got)
	}
	throttled := d.sweep("Callers").panel("store=memory/keys=one").line("throttled")
	for _, p := range throttled.pts {
		if want := p.x == 8; p.denied() != want {
			t.Errorf("throttled at %g callers: denied %v, want %v (one round of the 8-caller point denied)", p.x, p.denied(), want)
		}
	}
}

func TestParseName(t *testing.T) {
	read := func(s string) (*data, error) { return readRaw(strings.NewReader(s), "raw") }
	for _, c := range []struct {
		name, line, warning string
	}{
		{"an unknown sweep is reported", "BenchmarkGrowthWidgets/store=memory/widgets=3/lib=x-2\t10\t5 ns/op\n", `unknown sweep "Widgets"`},
		{"a point without its x is reported", "BenchmarkGrowthKeys/store=memory/lib=x-2\t10\t5 ns/op\n", "want lib= and keys= parts"},
		{"a point without lib= is reported", "BenchmarkGrowthKeys/store=memory/keys=10-2\t10\t5 ns/op\n", "want lib= and keys= parts"},
		{"an x that is not a number is reported", "BenchmarkGrowthKeys/keys=many/lib=x-2\t10\t5 ns/op\n", `keys="many" is not a positive number`},
		{"a part that is not key=value is reported", "BenchmarkGrowthKeys/fast/keys=10/lib=x-2\t10\t5 ns/op\n", `name part "/fast" is not key=value`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok := "BenchmarkGrowthKeys/store=memory/keys=10/lib=x-2\t10\t5 ns/op\n"
			d, err := read(c.line + ok)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.warnings) != 1 || !strings.Contains(d.warnings[0], c.warning) {
				t.Errorf("warnings %q, want one containing %q", d.warnings, c.warning)
			}
			if l := d.sweep("Keys").panel("store=memory").line("x"); l == nil || len(l.pts) != 1 || l.pts[0].ns() != 5 {
				t.Errorf("the good line was not kept: %+v", l)
			}
		})
	}
	if _, err := read("BenchmarkMemory/w=a/lib=b-2\t10\t5 ns/op\n"); err == nil || !strings.Contains(err.Error(), "no BenchmarkGrowth results") {
		t.Errorf("a file without growth results: err %v", err)
	}
	// go test omits -1 with GOMAXPROCS=1.
	d, err := read("BenchmarkGrowthCallers/callers=4/lib=x\t10\t5 ns/op\n")
	if err != nil || len(d.procs) != 1 || d.procs[0] != 1 {
		t.Errorf("procs %v, err %v; want [1]", d.procs, err)
	}
}

// pts makes a line from (x, ns) pairs.
func pts(xy ...float64) []point {
	var out []point
	for i := 0; i < len(xy); i += 2 {
		v := xy[i+1]
		out = append(out, point{x: xy[i], units: map[string]stat{"ns/op": {median: v, min: v, max: v, n: 1}}})
	}
	return out
}

// spread gives point i of a line rounds from lo to hi.
func spread(p []point, i int, lo, hi float64) []point {
	s := p[i].units["ns/op"]
	s.min, s.max, s.n = lo, hi, 3
	p[i].units["ns/op"] = s
	return p
}

func TestBends(t *testing.T) {
	for _, c := range []struct {
		name string
		line []point
		want string
	}{
		{"a level line has none", pts(1, 100, 10, 110, 100, 125), ""},
		{"a rise of more than 30% over the point before is one", pts(1e3, 100, 1e4, 105, 1e5, 110, 1e6, 200), "1,000,000 (rises ×1.8)"},
		{"exactly 30% is not", pts(1, 100, 2, 130), ""},
		{"a rise that goes on is one bend", pts(1, 100, 2, 200, 4, 400), "2 (rises ×2.0)"},
		{"a rise that levels off is two", pts(1, 100, 2, 200, 4, 210), "2 (rises ×2.0), 4 (levels off)"},
		{"a fall that levels off, then a rise", pts(1, 1000, 2, 500, 4, 480, 8, 1000), "2 (falls ×2.0), 4 (levels off), 8 (rises ×2.1)"},
		{"a turn from rising to falling", pts(1, 100, 2, 200, 4, 100), "2 (rises ×2.0), 4 (falls ×2.0)"},
		{"one point has none", pts(1, 100), ""},
		{"a step whose rounds overlap is level", spread(pts(1, 100, 2, 200), 0, 80, 210), ""},
		{"a step whose rounds do not overlap is a bend", spread(pts(1, 100, 2, 200), 0, 80, 190), "2 (rises ×2.0)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, b := range bends(c.line, 1.3) {
				got = append(got, b.String())
			}
			if s := strings.Join(got, ", "); s != c.want {
				t.Errorf("bends = %q, want %q", s, c.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	line := pts(1e3, 165, 1e4, 170, 1e5, 190, 1e6, 400, 1e7, 2670)
	want := "no clear step from 1,000 to 100,000 keys (165 ns → 190 ns); rises ×14 from 100,000 to 10,000,000 keys (190 ns → 2.67 µs)"
	if got := describe(line, 1.3, "keys"); got != want {
		t.Errorf("describe =\n%s\nwant\n%s", got, want)
	}
	if got := describe(pts(1, 5000, 2, 2400), 1.3, "callers"); got != "falls ×2.1 from 1 to 2 callers (5.00 µs → 2.40 µs)" {
		t.Errorf("describe = %s", got)
	}
	if got := describe(pts(1, 5), 1.3, "callers"); got != "one point: 5.00 ns" {
		t.Errorf("describe = %s", got)
	}
	if x, r, ok := firstRise(line, 1.3); !ok || x != 1e6 || !near(r, 400.0/190) {
		t.Errorf("firstRise = %g, %g, %v; want 1,000,000, 2.1, true", x, r, ok)
	}
	if _, _, ok := firstRise(pts(1, 10, 2, 9), 1.3); ok {
		t.Error("firstRise found a rise in a falling line")
	}
}

func TestSlopeIsTheCostOfOneMoreUnit(t *testing.T) {
	if got := slope(pts(1, 60, 2, 80, 3, 100, 4, 120)); !near(got, 20) {
		t.Errorf("slope = %g, want 20", got)
	}
	if got := slope(pts(1, 60)); !math.IsNaN(got) {
		t.Errorf("slope of one point = %g, want NaN", got)
	}
	if x, ok := saturatesAt(pts(1, 50000, 2, 26000, 4, 13000, 8, 12000), 1.3); !ok || x != 4 {
		t.Errorf("saturatesAt = %g, %v; want 4, true", x, ok)
	}
}

func TestWidestGapIsTheLargestRatioEitherWayUpToTheLimit(t *testing.T) {
	a := &line{pts: pts(1e3, 100, 1e4, 300, 1e5, 200, 1e7, 5000)}
	b := &line{pts: pts(1e3, 150, 1e4, 100, 1e5, 200, 1e7, 100)}
	if r, x, ok := widestGap(a, b, 1<<20); !ok || x != 1e4 || !near(r, 3) {
		t.Errorf("widestGap = %g at %g, %v; want 3 at 10,000 (10,000,000 is past the limit)", r, x, ok)
	}
	if _, _, ok := widestGap(a, &line{pts: pts(2, 1)}, 1<<20); ok {
		t.Error("widestGap found a gap between lines with no point in common")
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtNS(85.24), "85.2 ns"}, {fmtNS(2670), "2.67 µs"}, {fmtNS(1.2e6), "1.20 ms"}, {fmtNS(123456), "123 µs"},
		{fmtNS(math.NaN()), "—"}, {fmtNS(7.614e9), "7.61 s"}, {fmtX(10_000_000), "10,000,000"}, {fmtXShort(10_000_000), "10M"},
		{fmtXShort(100_000), "100k"}, {fmtXShort(1000), "1,000"}, {fmtTick(2000), "2 µs"}, {fmtTick(500), "500 ns"},
		{fmtBytes(1 << 20), "1 MiB"}, {fmtBytes(48 << 10), "48 KiB"}, {fmtBytes(1.5 * (1 << 30)), "1.50 GiB"},
		{fmtRatio(14.2), "×14"}, {fmtRatio(1.84), "×1.8"}, {fmtRatio(0.5), "×0.5"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if got := yTicks(80, 450); strings.Join(fmtAll(got), ",") != "100 ns,200 ns" {
		t.Errorf("yTicks(80, 450) = %v", got)
	}
	if lo, hi := yRange([]float64{100, 110}); !(hi/lo >= 4-1e-9) {
		t.Errorf("yRange of a flat panel spans %g to %g, want at least ×4", lo, hi)
	}
}

func fmtAll(vs []float64) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmtTick(v))
	}
	return out
}

// TestSVGsAreWellFormed parses each plot with encoding/xml and counts what
// it draws: one polyline per line of each panel, a red ring per denied
// point.
func TestSVGsAreWellFormed(t *testing.T) {
	out := runFixture(t)
	d := readFixture(t)
	for _, s := range d.sweeps {
		name := svgFile(s)
		svg := out[name]
		dec := xml.NewDecoder(strings.NewReader(svg))
		var root string
		count := map[string]int{}
		rings := 0
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Local
					if se.Name.Space != "http://www.w3.org/2000/svg" {
						t.Errorf("%s: namespace %q", name, se.Name.Space)
					}
				}
				count[se.Name.Local]++
				for _, a := range se.Attr {
					if a.Name.Local == "stroke" && a.Value == "#e03131" {
						rings++
					}
				}
			}
		}
		if root != "svg" {
			t.Errorf("%s: root element %q, want svg", name, root)
		}
		lines, denied := 0, 0
		for _, p := range s.panels {
			lines += len(p.lines)
			for _, l := range p.lines {
				for _, pt := range l.pts {
					if pt.denied() {
						denied++
					}
				}
			}
		}
		if count["polyline"] != lines {
			t.Errorf("%s: %d polylines, want %d (one per line)", name, count["polyline"], lines)
		}
		if rings != denied {
			t.Errorf("%s: %d red rings, want %d", name, rings, denied)
		}
		if !strings.Contains(svg, `stroke="#e8590c" stroke-width="3.5"`) {
			t.Errorf("%s: tollgate's default line is not drawn thick and orange", name)
		}
	}
}

func TestPage(t *testing.T) {
	md := runFixture(t)["GROWTH.md"]
	for _, want := range []string{
		"Generated by `make bench-growth`",
		"- **Caches (as reported):** L1d 48 KiB, L2 1 MiB, L3 32 MiB — read from given on the command line",
		"- **Transparent huge pages:** madvise",
		"- **Rounds:** 3:",
		"![Keys held: ns per decision, one line per library, tollgate's thick and orange](growth-keys.svg)",
		// The medians table, and the point measured in one round.
		"| **tollgate** | 50.0 ns | 52.0 ns | 55.0 ns | 110 ns | 200 ns |",
		"Measured in fewer rounds (the medians of those rounds): 10,000,000 keys: 1 of 3.",
		// Bends, computed.
		"- **tollgate**: bends at 1,000,000 (rises ×2.0) — no clear step from 1,000 to 100,000 keys (50.0 ns → 55.0 ns); rises ×3.6 from 100,000 to 10,000,000 keys (55.0 ns → 200 ns).",
		"- sethvargo-go-limiter: bends at 100,000 (rises ×2.2), 1,000,000 (levels off), 10,000,000 (rises ×2.9)",
		// The heap against the caches: 1 MiB / 64 B = 16,384 keys.
		"| **tollgate** | 64 | 16,000 keys | 520,000 keys | 1,000,000 keys (×2.0) | 50.0 ns → 200 ns (×4.0) | 3.00 ms |",
		// Lease mode: hot while a key gets 10 requests a second.
		"keys are hot at 1,000, 10,000 keys and cold from 100,000 keys",
		// Callers: GOMAXPROCS from the names, the floor, saturation.
		"GOMAXPROCS is 2",
		"a bare `INCR` costs 50.0 µs with one caller",
		"go-redis-incr stops falling at 4 callers (13.0 µs)",
		"beyond 128 callers",
		// Limits: the slope.
		"| **tollgate** | 60.0 ns | 120 ns | 20.0 ns |",
		"| sethvargo-go-limiter | 70.0 ns | 280 ns | 70.0 ns |",
		// Rules.
		"**tollgate-header-rules**: 500 ns at 1 rule → 101 µs at 10,000 rules, 10.0 ns a rule",
		"**tollgate-path-rules**: 500 ns at 1 rule → 530 ns at 10,000 rules, 0.0025 ns a rule",
		// A denied point is marked.
		"| throttled | 100 ns | 80.0 ns | 85.0 ns | 90.0 ns ‡ |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("GROWTH.md lacks:\n%s", want)
		}
	}
}

func TestPageLinksTheRawResultsWhenTheyLiveBesideIt(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("testdata/raw.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench", "growth-raw.txt"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-raw", filepath.Join(dir, "bench", "growth-raw.txt"), "-outdir", dir, "-l2", "1048576"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "GROWTH.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "The raw results, every round: [bench/growth-raw.txt](bench/growth-raw.txt).") {
		t.Error("GROWTH.md does not link bench/growth-raw.txt")
	}
	if strings.Contains(runFixture(t)["GROWTH.md"], "The raw results") {
		t.Error("GROWTH.md links a raw file outside its directory")
	}
}

// TestGolden pins the whole output, so that a change to it is a reviewed
// change: run go test -update to accept one.
func TestGolden(t *testing.T) {
	out := runFixture(t)
	for name, got := range out {
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (run go test -update if the change is intended)", name, path)
		}
	}
}

func TestCaches(t *testing.T) {
	dir := t.TempDir()
	write := func(index, level, typ, size string) {
		d := filepath.Join(dir, index)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"level": level, "type": typ, "size": size} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("index0", "1", "Data", "48K")
	write("index1", "1", "Instruction", "32K")
	write("index2", "2", "Unified", "1024K")
	write("index3", "3", "Unified", "32M")
	c, ok := sysfsCaches(dir)
	if !ok || c.l1d != 48<<10 || c.l2 != 1<<20 || c.l3 != 32<<20 || c.source != dir {
		t.Errorf("sysfsCaches = %+v, %v", c, ok)
	}
	if got := l3Note(caches{source: "getconf (CPUID)", l3: 508 << 20}); !strings.Contains(got, "An L3 of 508 MiB is likely the host socket's") {
		t.Errorf("l3Note for a VM's 508 MiB = %q", got)
	}
	if got := l3Note(caches{source: "getconf (CPUID)", l3: 32 << 20}) + l3Note(caches{source: dir, l3: 512 << 20}); got != "" {
		t.Errorf("l3Note = %q, want none for 32 MiB or for sysfs", got)
	}
	if _, ok := sysfsCaches(filepath.Join(dir, "none")); ok {
		t.Error("sysfsCaches found caches in a missing directory")
	}
	for s, want := range map[string]string{"always [madvise] never": "madvise", "[always] madvise never": "always", "": "", "always": ""} {
		if got := thpMode(s); got != want {
			t.Errorf("thpMode(%q) = %q, want %q", s, got, want)
		}
	}
	for s, want := range map[string]int64{"48K": 48 << 10, "32M": 32 << 20, "512": 512, "": 0, "K": 0, "-1K": 0} {
		if got, _ := parseCacheSize(s); got != want {
			t.Errorf("parseCacheSize(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-outdir", "x"}, "-raw and -outdir are required"},
		{[]string{"-raw", "x"}, "-raw and -outdir are required"},
		{[]string{"-raw", "x", "-outdir", "y", "-bend", "1"}, "want a factor above 1"},
		{[]string{"-raw", "x", "-outdir", "y", "extra"}, "unexpected arguments"},
	} {
		if _, err := parseFlags(c.args, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.args, err, c.want)
		}
	}
	if err := run([]string{"-raw", filepath.Join(t.TempDir(), "missing"), "-outdir", t.TempDir(), "-l2", "1"}, io.Discard); err == nil {
		t.Error("a missing -raw file gave no error")
	}
}
