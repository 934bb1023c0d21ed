// Command benchreport turns raw go test -bench output into the Markdown
// results page and the SVG plot in docs/.
//
//	go run ./cmd/benchreport -raw results/raw.txt -adapters results/adapters.txt \
//		-benchstat results/benchstat.txt -accuracy results/accuracy.txt \
//		-command 'make bench' -out ../docs/BENCHMARKS.md -svg ../docs/benchmarks.svg
//
// Every number on the page is computed from the inputs: the tables give the
// median of each unit over a benchmark's repeated runs; the headline decides
// each goal from the runs paired by round (ci.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

type options struct {
	raw, benchstat, accuracy, notes string
	adapters, distributed, growth   string
	commands, gotest                listFlag
	out, svg                        string
	goVersion                       string
	cpus                            int
	date                            string
	goos, goarch                    string // used when the raw file has no goos:/goarch: lines
}

// listFlag is a flag that may be repeated; each value may also hold
// several lines.
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
	o := &options{goos: runtime.GOOS, goarch: runtime.GOARCH}
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.raw, "raw", "", "raw `go test -bench` output (required)")
	fs.StringVar(&o.benchstat, "benchstat", "", "benchstat output to include verbatim (optional; a missing file is skipped)")
	fs.StringVar(&o.notes, "notes", "", "Markdown to include after the headline: what is measured and how (optional)")
	fs.StringVar(&o.adapters, "adapters", "", "raw `go test -bench` output of the adapter modules' own benchmarks, BenchmarkChi, BenchmarkGin, BenchmarkEcho and BenchmarkEcho5, bare and limited (optional; a missing file is skipped)")
	fs.StringVar(&o.distributed, "distributed", "", "the distributed results page to link from the headline, e.g. ../docs/DISTRIBUTED.md (optional; linked if it exists)")
	fs.StringVar(&o.growth, "growth", "", "the growth page to link from the headline, e.g. ../docs/GROWTH.md (optional; linked if it exists)")
	fs.StringVar(&o.accuracy, "accuracy", "", "go test -v output with ACCURACY lines (optional; a missing file is skipped)")
	fs.Var(&o.commands, "command", "the command that regenerates the page, e.g. 'make bench' (repeatable)")
	fs.Var(&o.gotest, "gotest", "a go test command line to show (repeatable, or several lines)")
	fs.StringVar(&o.out, "out", "", "Markdown output `file` (required)")
	fs.StringVar(&o.svg, "svg", "", "SVG plot output `file` (default: none)")
	fs.StringVar(&o.goVersion, "goversion", "", "Go version to report (default: from `go version`)")
	fs.IntVar(&o.cpus, "cpus", 0, "CPU count to report (default: runtime.NumCPU())")
	fs.StringVar(&o.date, "date", time.Now().UTC().Format(time.DateOnly), "date of the run, YYYY-MM-DD (default: today, UTC)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all inputs are flags)", fs.Arg(0))
	}
	if o.raw == "" {
		return nil, errors.New("-raw is required")
	}
	if o.out == "" {
		return nil, errors.New("-out is required")
	}
	if _, err := time.Parse(time.DateOnly, o.date); err != nil {
		return nil, fmt.Errorf("-date %q: want YYYY-MM-DD", o.date)
	}
	if o.cpus < 0 {
		return nil, fmt.Errorf("-cpus %d: want a positive count", o.cpus)
	}
	if o.cpus == 0 {
		o.cpus = runtime.NumCPU()
	}
	return o, nil
}

// run is main without the process: testable, and it never exits.
func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	data, err := readRaw("raw", o.raw)
	if err != nil {
		return err
	}
	for _, w := range data.warnings {
		fmt.Fprintf(stdout, "warning: -raw: skipped %s\n", w)
	}

	r := &report{opts: o, data: data, goVersion: o.goVersion}
	if _, ok, err := readOptional("adapters", o.adapters); err != nil {
		return err
	} else if ok {
		if r.adapters, err = readRaw("adapters", o.adapters); err != nil {
			return err
		}
		for _, w := range r.adapters.warnings {
			fmt.Fprintf(stdout, "warning: -adapters: skipped %s\n", w)
		}
	} else if o.adapters != "" {
		fmt.Fprintf(stdout, "warning: -adapters %s does not exist; no adapter checks\n", o.adapters)
	}
	for _, l := range []struct {
		path string
		link *string
	}{{o.distributed, &r.distributedLink}, {o.growth, &r.growthLink}} {
		if l.path == "" {
			continue
		}
		if _, err := os.Stat(l.path); err == nil {
			*l.link = relLink(o.out, l.path)
		}
	}
	if text, ok, err := readOptional("accuracy", o.accuracy); err != nil {
		return err
	} else if ok {
		if r.acc, err = parseAccuracy(o.accuracy, text); err != nil {
			return err
		}
	} else if o.accuracy != "" {
		fmt.Fprintf(stdout, "warning: -accuracy %s does not exist; no quota checks\n", o.accuracy)
	}
	if text, ok, err := readOptional("notes", o.notes); err != nil {
		return err
	} else if ok {
		r.notes = string(text)
	} else if o.notes != "" {
		fmt.Fprintf(stdout, "warning: -notes %s does not exist; no notes\n", o.notes)
	}
	if text, ok, err := readOptional("benchstat", o.benchstat); err != nil {
		return err
	} else if ok {
		r.benchstat = string(text)
	} else if o.benchstat != "" {
		fmt.Fprintf(stdout, "warning: -benchstat %s does not exist; no benchstat summary\n", o.benchstat)
	}
	if r.goVersion == "" {
		r.goVersion = goVersion()
	}
	if o.svg != "" {
		r.imageLink = relLink(o.out, o.svg)
	}

	// Standard output carries only warnings and this summary.
	if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d groups)\n", o.out, len(data.groups))
	if o.svg != "" {
		if err := os.WriteFile(o.svg, []byte(r.svg()), 0o644); err != nil {
			return fmt.Errorf("-svg: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.svg)
	}
	return nil
}

// goVersion asks the go command, as the benchmarks were most likely run by
// it; "unknown" rather than failing, since the report is still useful.
func goVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return "unknown (go version failed; pass -goversion)"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
}

// relLink is target's path relative to the page out (the SVG, another
// page), with forward slashes as Markdown wants, so the link works
// wherever the docs are checked out.
func relLink(out, target string) string {
	absOut, err1 := filepath.Abs(out)
	absTarget, err2 := filepath.Abs(target)
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(target)
	}
	rel, err := filepath.Rel(filepath.Dir(absOut), absTarget)
	if err != nil {
		return filepath.ToSlash(target)
	}
	return filepath.ToSlash(rel)
}
