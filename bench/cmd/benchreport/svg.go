package main

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// SVG layout, in pixels. Fixed numbers keep the output byte-identical for
// the same input.
const (
	svgWidth    = 900
	svgMargin   = 16
	svgLabelEnd = 246 // library names are right-aligned here
	svgBarX     = 254 // bars start here
	svgBarMax   = 520 // the slowest bar of a panel; its label fits after it
	svgRowH     = 22
	svgBarH     = 16
	svgTitleH   = 26
	svgPanelGap = 18
	svgHeaderH  = 64
	svgFont     = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
)

// Bar colours: tollgate stands out; its variants share its hue, the
// references (bare router, bare INCR) are blue, peers are grey.
const (
	colTollgate = "#e8590c"
	colVariant  = "#ffa94d"
	colRefer    = "#74c0fc"
	colPeer     = "#adb5bd"
)

func barColour(lib string) string {
	switch {
	case lib == baselineLib:
		return colTollgate
	case lib == bareLib || lib == incrLib:
		return colRefer
	case !isPeer(lib):
		return colVariant
	default:
		return colPeer
	}
}

type svgBar struct {
	lib, label string
	ns         float64
	over       bool // admitted more than its quota in the accuracy test
}

type svgPanel struct {
	title string
	bars  []svgBar
}

// svgPanels picks what the plot shows: every memory and Redis workload and
// the serial chi middleware workloads.
func (r *report) svgPanels() []svgPanel {
	var panels []svgPanel
	add := func(groupName string, keep func(string) bool) {
		g := r.data.group(groupName)
		if g == nil {
			return
		}
		store := storeFor(groupName)
		for _, w := range g.workloads {
			if !keep(w.name) {
				continue
			}
			p := svgPanel{title: groupTitle(groupName) + " — " + w.name}
			for _, rw := range sortedRows(w.rows, unitNS) {
				ns, ok := rw.value(unitNS)
				if !ok {
					continue
				}
				bar := svgBar{lib: rw.lib, label: rw.lib, ns: ns}
				if _, over := r.acc.overQuota(store, rw.lib); over {
					bar.label, bar.over = rw.lib+" ⚠ over quota", true
				}
				p.bars = append(p.bars, bar)
			}
			if len(p.bars) > 0 {
				panels = append(panels, p)
			}
		}
	}
	all := func(string) bool { return true }
	add("Memory", all)
	add("Redis", all)
	add("RedisCluster", all)
	add("Middleware", func(w string) bool { return strings.HasPrefix(w, "serial") })
	return panels
}

// esc escapes text for SVG character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a Builder never fail
	return b.String()
}

func (r *report) svg() string {
	panels := r.svgPanels()
	height := svgHeaderH + svgMargin
	for _, p := range panels {
		height += svgTitleH + len(p.bars)*svgRowH + svgPanelGap
	}
	if len(panels) == 0 {
		height += svgRowH
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height, esc(svgFont))
	b.WriteString("<title>tollgate benchmarks: ns/op per library, lower is better</title>\n")
	// An opaque background keeps the plot readable on dark pages.
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold" fill="#212529">%s</text>`+"\n",
		svgMargin, esc("Benchmarks: ns/op per library (lower is better)"))

	// Legend, for the colours the panels use.
	used := map[string]bool{}
	for _, p := range panels {
		for _, bar := range p.bars {
			used[barColour(bar.lib)] = true
		}
	}
	x := svgMargin
	for _, l := range []struct{ colour, text string }{
		{colTollgate, "tollgate"}, {colVariant, "tollgate variant"}, {colRefer, "reference (bare router, bare INCR)"}, {colPeer, "peer"},
	} {
		if !used[l.colour] {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="40" width="12" height="12" fill="%s"/>`+"\n", x, l.colour)
		fmt.Fprintf(&b, `<text x="%d" y="50" fill="#495057">%s</text>`+"\n", x+16, esc(l.text))
		x += 16 + 6*len(l.text) + 24 // about 6px a character at 12px
	}

	y := svgHeaderH
	if len(panels) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#495057">%s</text>`+"\n", svgMargin, y+16, esc("No ns/op results to plot."))
	}
	for _, p := range panels {
		y += svgTitleH
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" font-weight="bold" fill="#212529">%s</text>`+"\n", svgMargin, y-8, esc(p.title))
		maxNS := 0.0
		for _, bar := range p.bars {
			maxNS = max(maxNS, bar.ns)
		}
		for _, bar := range p.bars {
			w := 1.0
			if maxNS > 0 {
				w = max(1, bar.ns/maxNS*svgBarMax)
			}
			weight := ""
			if bar.lib == baselineLib {
				weight = ` font-weight="bold"`
			}
			labelColour := "#212529"
			if bar.over {
				labelColour = "#c92a2a" // a fast bar that breaks its quota should not read as a win
			}
			textY := y + svgBarH - 4
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="%s"%s>%s</text>`+"\n", svgLabelEnd, textY, labelColour, weight, esc(bar.label))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", svgBarX, y, w, svgBarH, barColour(bar.lib))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#212529"%s>%s</text>`+"\n", float64(svgBarX)+w+6, textY, weight, esc(fmtMeasure(bar.ns)+" ns"))
			y += svgRowH
		}
		y += svgPanelGap
	}
	b.WriteString("</svg>\n")
	return b.String()
}
