package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// SVG layout, in pixels: two panels a row under a shared legend. Fixed
// numbers keep the output byte-identical for the same input.
const (
	svgWidth   = 960
	svgMargin  = 16
	svgCols    = 2
	svgPanelW  = (svgWidth - 2*svgMargin - svgGap) / svgCols
	svgPanelH  = 300
	svgGap     = 24
	svgLegendH = 20 // a row of the legend
	svgFont    = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
	// The plot area within a panel.
	plotLeft   = 62
	plotRight  = 14
	plotTop    = 30
	plotBottom = 40
)

// Line colours: tollgate and its modes in warm, thick lines (the default
// of each store thickest); the floor (a bare round trip) dashed blue; peers
// in thin, cool or grey lines. Each library keeps its colour in every plot.
var (
	knownColours = map[string]string{
		"tollgate":              "#e8590c",
		"tollgate-consistent":   "#e8590c",
		"tollgate-path-rules":   "#e8590c",
		"tollgate-batched":      "#c2255c",
		"tollgate-header-rules": "#c2255c",
		"tollgate-lease":        "#9c36b5",
		"tollgate-maxkeys-16M":  "#f59f00",
		"tollgate-n-takes":      "#f59f00",
		"sethvargo-go-limiter":  "#495057",
		"ulule-limiter":         "#1c7ed6",
		"ulule-limiter-redis":   "#1c7ed6",
		"go-chi-httprate":       "#2f9e44",
		"throttled":             "#0c8599",
		"x-time-rate-map":       "#5f3dc4",
		"echo-memory-store":     "#868e96",
		"go-redis-redis_rate":   "#74b816",
		"go-redis-incr":         "#74c0fc",
	}
	// defaults are the lines drawn thickest: what a user gets.
	defaults      = []string{"tollgate", "tollgate-consistent", "tollgate-path-rules"}
	spareTollgate = []string{"#fd7e14", "#d6336c", "#ae3ec9"}
	sparePeer     = []string{"#364fc7", "#5c940d", "#0b7285", "#343a40"}
)

// isTollgate reports whether lib is tollgate or one of its modes.
func isTollgate(lib string) bool { return lib == "tollgate" || strings.HasPrefix(lib, "tollgate-") }

// isFloor reports whether lib is a reference that decides nothing: the
// least a call costs.
func isFloor(lib string) bool { return lib == "go-redis-incr" }

// style is how one library's line is drawn.
type style struct {
	colour string
	width  float64
	dash   string // stroke-dasharray, "" for solid
	bold   bool
}

// styles gives each library of a sweep its style, and the legend's order:
// tollgate's lines first, then the peers, then the floor.
func styles(s *sweep) (map[string]style, []string) {
	var order []string
	for _, p := range s.panels {
		for _, l := range p.lines {
			if !contains(order, l.lib) {
				order = append(order, l.lib)
			}
		}
	}
	var sorted []string
	for _, pass := range []func(string) bool{isTollgate, func(l string) bool { return !isTollgate(l) && !isFloor(l) }, isFloor} {
		for _, l := range order {
			if pass(l) {
				sorted = append(sorted, l)
			}
		}
	}
	m := map[string]style{}
	t, p := 0, 0
	for _, l := range sorted {
		colour, known := knownColours[l]
		switch {
		case isFloor(l):
			m[l] = style{colour: colour, width: 2, dash: "6 4"}
		case isTollgate(l):
			if !known {
				colour = spareTollgate[t%len(spareTollgate)]
				t++
			}
			if contains(defaults, l) {
				m[l] = style{colour: colour, width: 3.5, bold: true}
			} else {
				m[l] = style{colour: colour, width: 2.5, bold: true}
			}
		default:
			if !known {
				colour = sparePeer[p%len(sparePeer)]
				p++
			}
			m[l] = style{colour: colour, width: 1.5}
		}
	}
	return m, sorted
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// esc escapes text for SVG character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a Builder never fail
	return b.String()
}

// logScale maps [lo, hi] (lo > 0) onto [a, b] logarithmically; a single
// value maps to the middle.
type logScale struct{ lo, hi, a, b float64 }

func (s logScale) at(v float64) float64 {
	if s.hi <= s.lo {
		return (s.a + s.b) / 2
	}
	return s.a + (math.Log(v)-math.Log(s.lo))/(math.Log(s.hi)-math.Log(s.lo))*(s.b-s.a)
}

// yRange pads the panel's values: at least a factor of 4 from bottom to
// top, so that noise between flat points does not read as a slope.
func yRange(vals []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		return 1, 10
	}
	lo, hi = lo/1.15, hi*1.15
	if hi/lo < 4 {
		mid := math.Sqrt(lo * hi)
		lo, hi = mid/2, mid*2
	}
	return lo, hi
}

// yTicks are the 1-2-5 values within [lo, hi].
func yTicks(lo, hi float64) []float64 {
	var out []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				out = append(out, v)
			}
		}
	}
	return out
}

// fmtTick is a short axis label: "500 ns", "2 µs", "10k", "1M".
func fmtTick(ns float64) string {
	switch {
	case ns >= 1e6:
		return trimZero(ns/1e6) + " ms"
	case ns >= 1e3:
		return trimZero(ns/1e3) + " µs"
	}
	return trimZero(ns) + " ns"
}

func fmtXShort(x float64) string {
	switch {
	case x >= 1e6:
		return trimZero(x/1e6) + "M"
	case x >= 1e4:
		return trimZero(x/1e3) + "k"
	}
	return fmtX(x)
}

func trimZero(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

// svg draws one sweep: a panel per chart, log x, log y (ns per decision),
// one line per library, tollgate's thick and warm.
func (r *report) svg(s *sweep) string {
	st, libs := styles(s)
	legendRows := (len(libs) + 3) / 4
	headerH := 52 + legendRows*svgLegendH + 8
	rows := (len(s.panels) + svgCols - 1) / svgCols
	height := headerH + rows*(svgPanelH+svgGap) + svgMargin

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height, esc(svgFont))
	title := sweepTitle(s) + ": ns per decision (log scales, lower is better)"
	fmt.Fprintf(&b, "<title>%s</title>\n", esc("tollgate, how the cost grows — "+title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold" fill="#212529">%s</text>`+"\n", svgMargin, esc(title))
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#495057">%s</text>`+"\n", svgMargin, esc(fmt.Sprintf("medians of %d rounds; a red ring marks a point where a decision was denied (a failure, not a limit)", r.d.rounds)))

	// Legend: four a row.
	for i, lib := range libs {
		x := svgMargin + (i%4)*((svgWidth-2*svgMargin)/4)
		y := 52 + (i/4)*svgLegendH + 10
		sty := st[lib]
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%g"%s/>`+"\n",
			x, y, x+26, y, sty.colour, sty.width, dashAttr(sty.dash))
		weight := ""
		if sty.bold {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#212529"%s>%s</text>`+"\n", x+32, y+4, weight, esc(lib))
	}

	w := svgPanelW
	if len(s.panels) == 1 {
		w = svgWidth - 2*svgMargin // one panel takes the whole width
	}
	for i, p := range s.panels {
		px := svgMargin + (i%svgCols)*(svgPanelW+svgGap)
		py := headerH + (i/svgCols)*(svgPanelH+svgGap)
		r.svgPanel(&b, s, p, st, px, py, w)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

func (r *report) svgPanel(b *strings.Builder, s *sweep, p *panel, st map[string]style, px, py, w int) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#dee2e6"/>`+"\n", px, py, w, svgPanelH)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold" fill="#212529">%s</text>`+"\n", px+10, py+20, esc(panelTitle(p)))

	x0, x1 := float64(px+plotLeft), float64(px+w-plotRight)
	y0, y1 := float64(py+svgPanelH-plotBottom), float64(py+plotTop)
	xs := p.xs()
	xsc := logScale{xs[0], xs[len(xs)-1], x0 + 8, x1 - 8}
	var vals []float64
	for _, l := range p.lines {
		for _, pt := range l.pts {
			vals = append(vals, pt.ns())
		}
	}
	lo, hi := yRange(vals)
	ysc := logScale{lo, hi, y0, y1}

	// Grid and axes.
	for _, t := range yTicks(lo, hi) {
		y := ysc.at(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f1f3f5"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#495057">%s</text>`+"\n", x0-6, y+4, esc(fmtTick(t)))
	}
	for _, x := range xs {
		xp := xsc.at(x)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f1f3f5"/>`+"\n", xp, y0, xp, y1)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#495057">%s</text>`+"\n", xp, y0+16, esc(fmtXShort(x)))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#868e96"/>`+"\n", x0, y0, x1, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#868e96"/>`+"\n", x0, y0, x0, y1)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#495057">%s</text>`+"\n", (x0+x1)/2, py+svgPanelH-6, esc(axisTitle(s.x)))

	// Peers first, tollgate last, so that tollgate's lines are on top.
	var ordered []*line
	for _, pass := range []func(string) bool{func(l string) bool { return !isTollgate(l) }, isTollgate} {
		for _, l := range p.lines {
			if pass(l.lib) {
				ordered = append(ordered, l)
			}
		}
	}
	for _, l := range ordered {
		sty := st[l.lib]
		var pts []string
		for _, pt := range l.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xsc.at(pt.x), ysc.at(pt.ns())))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%g" stroke-linejoin="round"%s points="%s"><title>%s</title></polyline>`+"\n",
			sty.colour, sty.width, dashAttr(sty.dash), strings.Join(pts, " "), esc(l.lib))
		for _, pt := range l.pts {
			cx, cy := xsc.at(pt.x), ysc.at(pt.ns())
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="%s"><title>%s</title></circle>`+"\n",
				cx, cy, sty.width+1, sty.colour, esc(fmt.Sprintf("%s, %s %s: %s", l.lib, fmtX(pt.x), s.x, fmtNS(pt.ns()))))
			if pt.denied() {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="none" stroke="#e03131" stroke-width="2"/>`+"\n", cx, cy, sty.width+5)
			}
		}
	}
}
