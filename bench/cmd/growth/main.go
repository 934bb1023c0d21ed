// Command growth turns the raw output of the growth benchmarks
// (bench/growth_test.go, run in rounds by bench/growth.sh) into plots of how
// the cost of a decision grows, one SVG a sweep, and the page that explains
// them, docs/GROWTH.md.
//
//	go run ./cmd/growth -raw ../docs/bench/growth-raw.txt -outdir ../docs
//
// Every number on the page is computed from the raw file: the median of each
// point over the rounds, where each line bends (a step of more than -bend,
// 30% by default, over the point before), and the sizes the explanations
// compare against (the caches, read from the machine).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "growth:", err)
		os.Exit(1)
	}
}

type options struct {
	raw, outdir     string
	command         string
	gotest          listFlag
	goVersion, date string
	bend            float64
	caches          caches
}

// listFlag is a flag that may be repeated; each value may hold several
// lines.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, "\n") }

func (l *listFlag) Set(s string) error {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			*l = append(*l, line)
		}
	}
	return nil
}

func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("growth", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.raw, "raw", "", "go test -bench output of the growth benchmarks, all rounds (required)")
	fs.StringVar(&o.outdir, "outdir", "", "directory for GROWTH.md and growth-*.svg (required)")
	fs.StringVar(&o.command, "command", "make bench-growth", "the command that regenerates the page, as the page names it")
	fs.Var(&o.gotest, "gotest", "the go test command lines that produced -raw (repeatable)")
	fs.StringVar(&o.goVersion, "goversion", runtime.Version(), "Go version to report")
	fs.StringVar(&o.date, "date", time.Now().UTC().Format(time.DateOnly), "date to report")
	fs.Float64Var(&o.bend, "bend", 1.3, "a step that changes the cost by more than this factor is a bend")
	l1d := fs.Int64("l1d", 0, "L1 data cache bytes (0: read from the machine)")
	l2 := fs.Int64("l2", 0, "L2 cache bytes (0: read from the machine)")
	l3 := fs.Int64("l3", 0, "L3 cache bytes (0: read from the machine)")
	thp := fs.String("thp", "", "transparent huge page mode, with -l2 or -l3 (else read from the machine)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.raw == "" || o.outdir == "" {
		return nil, errors.New("-raw and -outdir are required")
	}
	if o.bend <= 1 {
		return nil, fmt.Errorf("-bend %g: want a factor above 1", o.bend)
	}
	if *l2 > 0 || *l3 > 0 {
		o.caches = caches{l1d: *l1d, l2: *l2, l3: *l3, source: "given on the command line", thp: *thp}
	} else {
		o.caches = detectCaches()
	}
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	f, err := os.Open(o.raw)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := readRaw(f, o.raw)
	if err != nil {
		return err
	}
	for _, w := range d.warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	r := &report{o: o, d: d}
	for _, s := range d.sweeps {
		name := svgFile(s)
		if err := os.WriteFile(filepath.Join(o.outdir, name), []byte(r.svg(s)), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", filepath.Join(o.outdir, name))
	}
	page := filepath.Join(o.outdir, "GROWTH.md")
	if err := os.WriteFile(page, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", page)
	return nil
}

// svgFile is a sweep's plot: growth-keys.svg, growth-callers.svg, …
func svgFile(s *sweep) string { return "growth-" + s.x + ".svg" }

// report is what the page and the plots are made from.
type report struct {
	o *options
	d *data
}
