package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// The sweeps, in the page's order: the benchmark (BenchmarkGrowth<Name>)
// and the name part that is the x axis (<x>=<value>).
var sweepOrder = []struct{ name, x string }{
	{"Keys", "keys"},
	{"Callers", "callers"},
	{"Limits", "limits"},
	{"Rules", "rules"},
}

// stat summarises one point's repeated runs in one unit.
type stat struct {
	median, min, max float64
	n                int
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

// point is one x value of a line: the median of each unit over the rounds.
type point struct {
	x     float64
	units map[string]stat // "ns/op", "denied/op", "B/key", "allocs/op", …
}

func (p point) ns() float64 { return p.units["ns/op"].median }

// denied reports whether any round of the point denied a decision: the
// limits never deny, so a denial is a failure the store fell back on.
func (p point) denied() bool { return p.units["denied/op"].max > 0 }

// line is one library (or mode) across a panel's x values, sorted by x.
type line struct {
	lib string
	pts []point
}

// at returns the point at x, if the line has one.
func (l *line) at(x float64) (point, bool) {
	for _, p := range l.pts {
		if p.x == x {
			return p, true
		}
	}
	return point{}, false
}

// panel is one chart: the lines that share every name part but x and lib
// (store=memory/callers=1, store=redis/pool=128/keys=one, …).
type panel struct {
	key   string // the shared name parts, as in the benchmark name
	parts []kv
	lines []*line
}

type kv struct{ k, v string }

// get returns the value of name part k, or "".
func (p *panel) get(k string) string {
	for _, e := range p.parts {
		if e.k == k {
			return e.v
		}
	}
	return ""
}

// xs returns every x value of the panel's lines, sorted.
func (p *panel) xs() []float64 {
	var xs []float64
	for _, l := range p.lines {
		for _, pt := range l.pts {
			if !slices.Contains(xs, pt.x) {
				xs = append(xs, pt.x)
			}
		}
	}
	slices.Sort(xs)
	return xs
}

func (p *panel) line(lib string) *line {
	for _, l := range p.lines {
		if l.lib == lib {
			return l
		}
	}
	return nil
}

type sweep struct {
	name   string // Keys, Callers, …
	x      string // keys, callers, …
	panels []*panel
}

func (s *sweep) panel(key string) *panel {
	for _, p := range s.panels {
		if p.key == key {
			return p
		}
	}
	return nil
}

// data is what the raw go test output holds.
type data struct {
	sweeps   []*sweep // in sweepOrder, only those present
	cpu      string
	procs    []int // distinct GOMAXPROCS (the -N suffix), in order
	rounds   int   // the most runs any point has
	warnings []string
}

func (d *data) sweep(name string) *sweep {
	for _, s := range d.sweeps {
		if s.name == name {
			return s
		}
	}
	return nil
}

// parsedName is a growth benchmark's name: its sweep, x value, library
// and the other parts, which name its panel.
type parsedName struct {
	sweep, xkey string
	x           float64
	lib         string
	parts       []kv
	procs       int
}

// parseName splits "GrowthKeys/store=memory/callers=1/keys=1000/lib=tollgate-2"
// (benchfmt has dropped "Benchmark"). ok is false for a benchmark that is
// not a growth sweep.
func parseName(n benchfmt.Name) (pn parsedName, ok bool, err error) {
	base, parts := n.Parts()
	name, isGrowth := strings.CutPrefix(string(base), "Growth")
	if !isGrowth {
		return pn, false, nil
	}
	i := slices.IndexFunc(sweepOrder, func(s struct{ name, x string }) bool { return s.name == name })
	if i < 0 {
		return pn, true, fmt.Errorf("%s: unknown sweep %q", n.Full(), name)
	}
	pn = parsedName{sweep: name, xkey: sweepOrder[i].x, procs: 1} // go test omits "-1"
	xSeen := false
	for _, p := range parts {
		s := string(p)
		if v, isProcs := strings.CutPrefix(s, "-"); isProcs {
			if n, err := strconv.Atoi(v); err == nil {
				pn.procs = n
			}
			continue
		}
		k, v, found := strings.Cut(strings.TrimPrefix(s, "/"), "=")
		switch {
		case !found:
			return pn, true, fmt.Errorf("%s: name part %q is not key=value", n.Full(), s)
		case k == "lib":
			pn.lib = v
		case k == pn.xkey:
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x <= 0 {
				return pn, true, fmt.Errorf("%s: %s=%q is not a positive number", n.Full(), k, v)
			}
			pn.x, xSeen = x, true
		default:
			pn.parts = append(pn.parts, kv{k, v})
		}
	}
	if pn.lib == "" || !xSeen {
		return pn, true, fmt.Errorf("%s: want lib= and %s= parts", n.Full(), pn.xkey)
	}
	return pn, true, nil
}

// readRaw parses go test -bench output with benchfmt and takes, for every
// point of every line, the median of each unit over its runs (the rounds).
func readRaw(r io.Reader, fileName string) (*data, error) {
	type key struct {
		sweep, panel, lib string
		x                 float64
	}
	type entry struct {
		name parsedName
		vals map[string][]float64
	}
	var order []key
	entries := map[key]*entry{}
	d := &data{}

	rd := benchfmt.NewReader(r, fileName)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			d.warnings = append(d.warnings, rec.Error())
		case *benchfmt.Result:
			pn, ok, err := parseName(rec.Name)
			if !ok {
				continue // another benchmark in the same file
			}
			if err != nil {
				d.warnings = append(d.warnings, err.Error())
				continue
			}
			if cpu := rec.GetConfig("cpu"); cpu != "" && d.cpu == "" {
				d.cpu = strings.TrimSpace(cpu)
			}
			if !slices.Contains(d.procs, pn.procs) {
				d.procs = append(d.procs, pn.procs)
			}
			k := key{pn.sweep, panelKey(pn.parts), pn.lib, pn.x}
			e := entries[k]
			if e == nil {
				e = &entry{name: pn, vals: map[string][]float64{}}
				entries[k] = e
				order = append(order, k)
			}
			for _, v := range rec.Values {
				// benchfmt tidies ns/op into sec/op; keep go test's units.
				unit, val := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, val = v.OrigUnit, v.OrigValue
				}
				e.vals[unit] = append(e.vals[unit], val)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s: no BenchmarkGrowth results", fileName)
	}

	for _, k := range order {
		e := entries[k]
		s := d.sweep(k.sweep)
		if s == nil {
			s = &sweep{name: k.sweep, x: e.name.xkey}
			d.sweeps = append(d.sweeps, s)
		}
		p := s.panel(k.panel)
		if p == nil {
			p = &panel{key: k.panel, parts: e.name.parts}
			s.panels = append(s.panels, p)
		}
		l := p.line(k.lib)
		if l == nil {
			l = &line{lib: k.lib}
			p.lines = append(p.lines, l)
		}
		pt := point{x: k.x, units: map[string]stat{}}
		for u, vs := range e.vals {
			pt.units[u] = summarize(vs)
			d.rounds = max(d.rounds, len(vs))
		}
		if _, ok := pt.units["ns/op"]; !ok {
			d.warnings = append(d.warnings, fmt.Sprintf("Growth%s/%s/%s=%g/lib=%s: no ns/op", k.sweep, k.panel, e.name.xkey, k.x, k.lib))
			continue
		}
		l.pts = append(l.pts, pt)
	}
	for _, s := range d.sweeps {
		for _, p := range s.panels {
			for _, l := range p.lines {
				slices.SortFunc(l.pts, func(a, b point) int { return cmpFloat(a.x, b.x) })
			}
		}
	}
	slices.SortStableFunc(d.sweeps, func(a, b *sweep) int { return sweepRank(a.name) - sweepRank(b.name) })
	return d, nil
}

func sweepRank(name string) int {
	return slices.IndexFunc(sweepOrder, func(s struct{ name, x string }) bool { return s.name == name })
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func panelKey(parts []kv) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p.k + "=" + p.v)
	}
	return b.String()
}
