// Command chaos runs real faults against real Redis servers it starts
// itself (on free loopback ports) while several tollgate instances share one
// limit through them, in each of the three modes (consistent, batched,
// lease), and writes docs/RELIABILITY.md: per fault and mode, the caller's
// wait, what was admitted against the quota (Redis' decisions apart from
// the fallback's), the errors a user would see, the switches the failover
// hook reported, and how soon Redis decided again after the fault.
//
//	cd bench && GOWORK=off go run ./cmd/chaos            # or: make chaos
//	go run ./cmd/chaos -faults black,killed -modes lease -out -   # a part, to stdout
//
// Every server and busy loop it starts is stopped when it ends, also on an
// error or SIGINT (and, on Linux, dies with it if it is killed).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

type config struct {
	verbose io.Writer // nil, or where -v writes each case's timeline
	out     string
	faults  string
	modes   string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "../docs/RELIABILITY.md", "write the report to `file` (- for stdout)")
	flag.StringVar(&cfg.faults, "faults", "", "run only the faults whose name contains one of these comma-separated `words`")
	flag.StringVar(&cfg.modes, "modes", "", "run only these comma-separated `modes` (consistent, batched, lease)")
	verbose := flag.Bool("v", false, "print each case's timeline: who decided, per instance, every 100 ms")
	flag.DurationVar(&slowOver, "slow", 0, "with -v, also list every call that waited longer than `duration`")
	spinD := flag.Duration("spin", 0, "internal: be a busy loop for `duration`")
	flag.Parse()
	if *verbose {
		cfg.verbose = os.Stdout
	}
	if *spinD > 0 {
		spinFor(*spinD)
		return
	}

	// go-redis logs every failed dial; the faults make many, and the
	// report counts them.
	redis.SetLogger(quiet{})
	cl := &cleanup{}
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "chaos: %v: stopping\n", sig)
		cancel()
		// The run stops at its next step; if it has not within 5 s (or
		// on a second signal), stop everything it started and exit.
		select {
		case <-sigs:
		case <-time.After(5 * time.Second):
		}
		cl.run()
		os.Exit(130)
	}()
	err := run(ctx, os.Stdout, cfg, cl)
	cl.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		if ctx.Err() != nil {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// slowOver is -slow.
var slowOver time.Duration

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// cleanup is what to stop on the way out, whichever way that is.
type cleanup struct {
	mu  sync.Mutex
	fns map[int]func()
	n   int
}

// add registers fn, run by run unless remove is called first.
func (c *cleanup) add(fn func()) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fns == nil {
		c.fns = map[int]func(){}
	}
	c.n++
	id := c.n
	c.fns[id] = fn
	return func() {
		c.mu.Lock()
		delete(c.fns, id)
		c.mu.Unlock()
	}
}

// run calls every registered function once, the latest first.
func (c *cleanup) run() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	n := c.n
	c.mu.Unlock()
	for id := n; id > 0; id-- {
		if fn, ok := fns[id]; ok {
			fn()
		}
	}
}

var modes = []string{"consistent", "batched", "lease"}

// pick keeps the names that contain one of the comma-separated words.
func pick(names []string, words string) []string {
	if words == "" {
		return names
	}
	var out []string
	for _, n := range names {
		for _, w := range strings.Split(words, ",") {
			if w = strings.TrimSpace(w); w != "" && strings.Contains(n, w) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func run(ctx context.Context, w io.Writer, cfg config, cl *cleanup) error {
	cl.add(redistest.StopAll) // every server this program started, whatever else fails
	began := time.Now()
	var fs []fault
	for _, f := range faults {
		if len(pick([]string{f.name}, cfg.faults)) == 1 {
			fs = append(fs, f)
		}
	}
	ms := pick(modes, cfg.modes)
	if len(fs) == 0 || len(ms) == 0 {
		return fmt.Errorf("no fault or no mode selected (faults %q, modes %q)", cfg.faults, cfg.modes)
	}
	var cluster *redistest.Cluster
	defer func() {
		if cluster != nil {
			cluster.Shutdown()
		}
	}()
	var results []result
	for _, f := range fs {
		for _, m := range ms {
			if err := ctx.Err(); err != nil {
				return err
			}
			if f.cluster && cluster == nil {
				c, err := redistest.LaunchClusterWithReplicas()
				if err != nil {
					return err
				}
				cluster = c
			}
			r, err := runCase(ctx, f, m, cluster, cl, cfg.verbose)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", f.name, m, err)
			}
			fmt.Fprintln(w, r.line())
			results = append(results, r)
		}
	}
	page := report(cfg, machineInfo(), began, time.Since(began), results)
	if cfg.out == "-" {
		_, err := io.WriteString(w, page)
		return err
	}
	return os.WriteFile(cfg.out, []byte(page), 0o644)
}

// durableDir is a directory for a server's append-only file: in memory
// where the system has /dev/shm, so that fsync costs nothing.
func durableDir() (string, error) {
	parent := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		parent = "/dev/shm"
	}
	return os.MkdirTemp(parent, "chaos-aof-")
}

// runCase starts the servers and instances a fault needs, runs traffic
// through the fault, and returns the figures.
func runCase(ctx context.Context, f fault, mode string, cluster *redistest.Cluster, cl *cleanup, verbose io.Writer) (result, error) {
	e := &env{cl: cl, cluster: cluster}
	var t target
	if f.cluster {
		t.seeds = cluster.Seeds()
	} else {
		var args []string
		if f.durable {
			dir, err := durableDir()
			if err != nil {
				return result{}, err
			}
			defer os.RemoveAll(dir)
			args = []string{"--dir", dir, "--appendonly", "yes", "--appendfsync", "always"}
		}
		srv, err := redistest.Launch(args...)
		if err != nil {
			return result{}, err
		}
		defer srv.Shutdown()
		e.srv, t.addr = srv, srv.Addr
	}
	prefix := fmt.Sprintf("chaos:%d:", time.Now().UnixNano())
	defer func() {
		for _, in := range e.ins {
			in.close()
		}
	}()
	for i := 0; i < instances; i++ {
		in, err := newInstance(i, t, mode, prefix, f.proxied != nil && f.proxied(i))
		if err != nil {
			return result{}, err
		}
		e.ins = append(e.ins, in)
	}
	// The Redis key of the limit's state: every instance stores it alike.
	e.stateKey = e.ins[0].base.StoredKey(e.ins[0].lim.Prefix() + key)

	// Traffic starts just after a window begins; the fault, in the middle
	// of the second window.
	t0 := time.Now().Truncate(period).Add(period + 10*time.Millisecond)
	var stop atomic.Int64
	stop.Store(t0.Add(caseCap).UnixNano())
	var lost int64
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if ferr = sleep(ctx, time.Until(t0.Add(faultAt))); ferr != nil {
			stop.Store(0)
			return
		}
		lost, ferr = f.inject(ctx, e)
		if ferr != nil {
			stop.Store(0)
			return
		}
		stop.Store(e.end.Add(after).UnixNano())
	}()
	errs := &errorLog{}
	load0 := loadAverage()
	can := startCanary()
	samples := drive(ctx, e.ins, t0, &stop, errs)
	late := can.end()
	load1 := loadAverage()
	<-done
	if ferr != nil {
		return result{}, ferr
	}
	if verbose != nil {
		fmt.Fprint(verbose, timeline(samples, t0, e.start, e.end))
		fmt.Fprintf(verbose, "    canary woke up to %v late; load average %.1f\n", late, max(load0, load1))
		for k, v := range errs.first {
			fmt.Fprintf(verbose, "    %s: %d, e.g. %s\n", k, errs.count[k], v)
		}
		if slowOver > 0 {
			for _, s := range samples {
				if s.wait > slowOver {
					fmt.Fprintf(verbose, "    slow: at %v inst %d waited %v src %d err %q\n", time.Duration(s.start-t0.UnixNano()).Round(time.Millisecond), s.inst+1, s.wait.Round(time.Millisecond), s.src, s.errKind)
				}
			}
		}
	}
	lostWindow := int64(-1)
	if f.loses {
		lostWindow = e.start.UnixNano() / int64(period)
	}
	r := result{
		fault: f.name, mode: mode, loses: f.loses, lost: lost,
		decisions: len(samples),
		lat:       latencies(samples),
		acc:       account(samples, rate, period, lostWindow, lost),
		slow:      slowest(samples, deadline+10*time.Millisecond),
		errs:      errs.count, errFirst: errs.first,
		faultFor: e.end.Sub(e.start),
		late:     late, load: max(load0, load1), dials: e.dials,
	}
	r.rec, r.fellBack, r.recovered = recovery(samples, e.end.UnixNano())
	for _, s := range samples {
		if s.userErr {
			r.userErrs++
		}
	}
	for _, in := range e.ins {
		r.down += in.down.Load()
		r.up += in.up.Load()
	}
	r.answering = f.answers != nil
	for _, s := range samples {
		if s.src == byRedis {
			r.byRedis++
		}
		if f.answers == nil || !f.answers(s.inst) {
			continue
		}
		r.ansDecisions++
		if s.src == byRedis {
			r.ansByRedis++
		}
		if s.errKind == "breaker open" {
			r.ansBreaker++
		}
	}
	r.tail = tailErrors(samples, e.end.UnixNano())
	return r, nil
}
