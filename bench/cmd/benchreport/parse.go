package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// stat summarises the repeated runs of one benchmark in one unit.
type stat struct {
	median, min, max float64
	n                int // number of runs
}

// spreadPct is half the range as a percentage of the median: a simple,
// assumption-free "±" that is honest about the worst run.
func (s stat) spreadPct() (float64, bool) {
	if s.median == 0 || s.n < 2 {
		return 0, false
	}
	return (s.max - s.min) / 2 / s.median * 100, true
}

func summarize(vs []float64) stat {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{median: med, min: s[0], max: s[n-1], n: n}
}

// row is one library's results in one workload.
type row struct {
	lib   string
	units []string // in order of first appearance
	stats map[string]stat
	// samples holds each unit's values in the order of the raw file.
	// run.sh appends round after round, so the i-th value of every row
	// comes from round i: the headline pairs rows by that index.
	samples map[string][]float64
}

// sample returns unit's values in input order (nil for a nil row).
func (r *row) sample(unit string) []float64 {
	if r == nil {
		return nil
	}
	return r.samples[unit]
}

// value returns the median for unit.
func (r *row) value(unit string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	s, ok := r.stats[unit]
	return s.median, ok
}

type workload struct {
	name string
	rows []*row // in order of first appearance
}

func (w *workload) lib(name string) *row {
	for _, r := range w.rows {
		if r.lib == name {
			return r
		}
	}
	return nil
}

type group struct {
	name      string // benchmark name without "Benchmark", e.g. "Memory"
	workloads []*workload
}

func (g *group) workload(name string) *workload {
	for _, w := range g.workloads {
		if w.name == name {
			return w
		}
	}
	return nil
}

// rawData is what the raw go test -bench output holds.
type rawData struct {
	groups   []*group
	config   map[string][]string // goos, goarch, pkg, cpu: distinct values in order
	procs    []int               // distinct GOMAXPROCS, in order
	warnings []string
}

func (d *rawData) group(name string) *group {
	for _, g := range d.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// Known groups come first, in this order; others follow in order of first
// appearance.
var groupOrder = []string{"Memory", "Middleware", "EchoMiddleware", "Redis", "RedisCluster", "MemoryPerKey"}

// Known workloads of a group come first, in this order.
var workloadOrder = map[string][]string{
	"Memory": {"serial-one-key", "parallel-one-key", "parallel-100k-keys", "serial-one-key-denied", "parallel-100k-keys-denied"},
}

// benchName is a benchmark name split into the parts the report uses.
type benchName struct {
	group, workload, lib string
	procs                int
}

// splitName splits a benchmark name such as
// "Memory/w=serial-one-key/lib=tollgate-8" (benchfmt has already dropped
// "Benchmark"). Names outside the w=/lib= contract still get a group, a
// workload and a library, so that unknown benchmarks render generically.
func splitName(n benchfmt.Name) benchName {
	base, parts := n.Parts()
	bn := benchName{group: string(base), procs: 1} // go test omits "-1"
	var w string
	var other []string // parts other than w= and lib=, in order
	lastPositional := -1
	for _, p := range parts {
		s := string(p)
		if strings.HasPrefix(s, "-") {
			if v, err := strconv.Atoi(s[1:]); err == nil {
				bn.procs = v
			}
			continue
		}
		s = strings.TrimPrefix(s, "/")
		switch k, v, ok := strings.Cut(s, "="); {
		case ok && k == "lib":
			bn.lib = v
		case ok && k == "w":
			w = v
		default:
			if !ok {
				lastPositional = len(other)
			}
			other = append(other, s)
		}
	}
	// Without lib=, the last positional part (Foo/a/b) names the library;
	// key=value parts (Foo/size=10) describe the workload.
	if bn.lib == "" && lastPositional >= 0 {
		bn.lib = other[lastPositional]
		other = slices.Delete(other, lastPositional, lastPositional+1)
	}
	if bn.lib == "" {
		bn.lib = bn.group
	}
	bn.workload = strings.Join(append(append([]string(nil), w), other...), "/")
	bn.workload = strings.Trim(bn.workload, "/")
	return bn
}

// readRaw parses go test -bench output, the file of flag flagName, with
// benchfmt and takes the median of each unit over the repeated runs of
// each benchmark. It keeps every run's value too, in the order of the file
// (benchfmt reads it line by line and each value is appended), which is
// the order of the rounds.
func readRaw(flagName, path string) (*rawData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", flagName, err)
	}
	defer f.Close()

	type entry struct {
		name  benchName
		units []string
		vals  map[string][]float64
	}
	var entries []*entry
	index := map[benchName]*entry{}
	d := &rawData{config: map[string][]string{}}

	rd := benchfmt.NewReader(f, path)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			// go test output can hold lines that merely look like results
			// (for example a benchmark that logged); skip, but say so.
			d.warnings = append(d.warnings, rec.Error())
		case *benchfmt.Result:
			for _, k := range []string{"goos", "goarch", "pkg", "cpu"} {
				if v := rec.GetConfig(k); v != "" && !slices.Contains(d.config[k], v) {
					d.config[k] = append(d.config[k], v)
				}
			}
			bn := splitName(rec.Name)
			if !slices.Contains(d.procs, bn.procs) {
				d.procs = append(d.procs, bn.procs)
			}
			e := index[bn]
			if e == nil {
				e = &entry{name: bn, vals: map[string][]float64{}}
				index[bn] = e
				entries = append(entries, e)
			}
			for _, v := range rec.Values {
				// benchfmt "tidies" ns/op into sec/op; the report speaks
				// the units go test printed.
				unit, val := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, val = v.OrigUnit, v.OrigValue
				}
				if _, seen := e.vals[unit]; !seen {
					e.units = append(e.units, unit)
				}
				e.vals[unit] = append(e.vals[unit], val)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("-%s: %w", flagName, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("-%s %s: no benchmark results", flagName, path)
	}

	// The same benchmark at several GOMAXPROCS (go test -cpu 1,8) must not
	// be merged: keep them apart as separate workloads.
	multiProcs := len(d.procs) > 1
	for _, e := range entries {
		g := d.group(e.name.group)
		if g == nil {
			g = &group{name: e.name.group}
			d.groups = append(d.groups, g)
		}
		wname := e.name.workload
		if multiProcs {
			wname = strings.TrimSpace(fmt.Sprintf("%s (GOMAXPROCS=%d)", wname, e.name.procs))
		}
		w := g.workload(wname)
		if w == nil {
			w = &workload{name: wname}
			g.workloads = append(g.workloads, w)
		}
		r := &row{lib: e.name.lib, units: e.units, stats: map[string]stat{}, samples: e.vals}
		for _, u := range e.units {
			r.stats[u] = summarize(e.vals[u])
		}
		w.rows = append(w.rows, r)
	}
	sortByRank(d.groups, func(g *group) string { return g.name }, groupOrder)
	for _, g := range d.groups {
		sortByRank(g.workloads, func(w *workload) string { return w.name }, workloadOrder[g.name])
	}
	return d, nil
}

// sortByRank puts the items named in known first, in that order, and keeps
// the rest in their current (first appearance) order after them.
func sortByRank[T any](items []T, name func(T) string, known []string) {
	rank := func(t T) int {
		if i := slices.Index(known, name(t)); i >= 0 {
			return i
		}
		return len(known)
	}
	slices.SortStableFunc(items, func(a, b T) int { return rank(a) - rank(b) })
}

// accuracy is one ACCURACY line: how many of attempts a library admitted
// against quota when goroutines callers raced for one key.
type accuracy struct {
	Store      string `json:"store"`
	Lib        string `json:"lib"`
	Quota      int64  `json:"quota"`
	Goroutines int64  `json:"goroutines"`
	Attempts   int64  `json:"attempts"`
	Admitted   int64  `json:"admitted"`
}

func (a accuracy) over() int64 { return a.Admitted - a.Quota }

// accuracySet holds the accuracy lines in input order. A nil set is empty.
type accuracySet struct {
	lines []accuracy
}

const accuracyMarker = "ACCURACY "

// parseAccuracy collects the ACCURACY lines of go test -v output read from
// path. The marker may follow a t.Log prefix ("x_test.go:12: "), so it is
// looked for anywhere in a line; all other lines are ignored.
func parseAccuracy(path string, data []byte) (*accuracySet, error) {
	set := &accuracySet{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		i := strings.Index(line, accuracyMarker+"{")
		if i < 0 {
			continue
		}
		var a accuracy
		// A Decoder reads the one JSON object and ignores what follows.
		if err := json.NewDecoder(strings.NewReader(line[i+len(accuracyMarker):])).Decode(&a); err != nil {
			return nil, fmt.Errorf("-accuracy %s:%d: %w", path, n, err)
		}
		if a.Store == "" || a.Lib == "" || a.Quota <= 0 {
			return nil, fmt.Errorf("-accuracy %s:%d: want store, lib and a positive quota", path, n)
		}
		set.lines = append(set.lines, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-accuracy %s: %w", path, err)
	}
	return set, nil
}

// stores lists the stores with results: memory, redis, then any others.
func (s *accuracySet) stores() []string {
	var out []string
	if s == nil {
		return out
	}
	for _, a := range s.lines {
		if !slices.Contains(out, a.Store) {
			out = append(out, a.Store)
		}
	}
	sortByRank(out, func(s string) string { return s }, []string{"memory", "redis"})
	return out
}

func (s *accuracySet) byStore(store string) []accuracy {
	var out []accuracy
	if s == nil {
		return out
	}
	for _, a := range s.lines {
		if a.Store == store {
			out = append(out, a)
		}
	}
	return out
}

// primary is the store's first line. The performance tables show each
// library's result at the primary's quota and goroutines, so one column
// compares like with like.
func (s *accuracySet) primary(store string) (accuracy, bool) {
	ls := s.byStore(store)
	if len(ls) == 0 {
		return accuracy{}, false
	}
	return ls[0], true
}

// lookup returns lib's line at the primary quota and goroutines of store.
func (s *accuracySet) lookup(store, lib string) (accuracy, bool) {
	p, ok := s.primary(store)
	if !ok {
		return accuracy{}, false
	}
	for _, a := range s.byStore(store) {
		if a.Lib == lib && a.Quota == p.Quota && a.Goroutines == p.Goroutines {
			return a, true
		}
	}
	return accuracy{}, false
}

// overQuota returns lib's worst over-admission in store, if any line of it
// admitted more than its quota.
func (s *accuracySet) overQuota(store, lib string) (accuracy, bool) {
	var worst accuracy
	found := false
	for _, a := range s.byStore(store) {
		if a.Lib == lib && a.over() > 0 && (!found || a.over() > worst.over()) {
			worst, found = a, true
		}
	}
	return worst, found
}

// readOptional reads an optional input file. A flag left empty or naming
// a file that does not exist yields ok == false and no error.
func readOptional(flagName, path string) (data []byte, ok bool, err error) {
	if path == "" {
		return nil, false, nil
	}
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("-%s: %w", flagName, err)
	}
	return data, true, nil
}
