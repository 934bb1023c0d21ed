// Command distributed measures tollgate's three ways to share one limit
// between instances — consistent (a Redis round trip per decision), batched
// (concurrent decisions in one pipeline) and lease (tokens granted in
// batches, decisions local) — on a real redis-server it starts itself on a
// free port. N instances (2, 4, 8), each with its own go-redis client and
// store, send traffic of several shapes at one global key whose quota the
// demand exceeds; the command reports, per shape and mode, what was
// admitted against the quota (over-admission must be 0), the Redis round
// trips per decision, and the decision latency, and writes docs/DISTRIBUTED.md.
//
//	cd bench && GOWORK=off go run ./cmd/distributed            # or: make distributed
//	go run ./cmd/distributed -quick -out /tmp/d.md              # a short run
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "../docs/DISTRIBUTED.md", "write the report to `file` (- for stdout only)")
	flag.BoolVar(&cfg.quick, "quick", false, "a short run: N=2 only, two shapes, shorter windows")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "distributed:", err)
		os.Exit(1)
	}
}

type config struct {
	out   string
	quick bool
}

// shape is a traffic pattern: the demand of instance i of n at instant t
// (from 0 to 1 of the window), as a share of the total demand rate.
type shape struct {
	name string
	what string
	rate func(i, n int, t float64) float64
}

var shapes = []shape{
	{"even", "every instance sends the same", func(i, n int, t float64) float64 { return 1 / float64(n) }},
	{"skewed 90/10", "instance 1 sends 90%, the others share 10%", func(i, n int, t float64) float64 {
		if i == 0 {
			return 0.9
		}
		return 0.1 / float64(n-1)
	}},
	{"bursty on/off", "all send in bursts: 4× the rate a quarter of the time", func(i, n int, t float64) float64 {
		if int(t*20)%4 == 0 {
			return 4 / float64(n)
		}
		return 0
	}},
	{"idle then active", "instance 1 idle for the first half, then sends as much as all others", func(i, n int, t float64) float64 {
		if i == 0 {
			if t < 0.5 {
				return 0
			}
			return 0.5
		}
		return 0.5 / float64(n-1)
	}},
}

var modes = []string{"consistent", "batched", "lease"}

// result is one run's figures.
type result struct {
	shape, mode         string
	n                   int
	quota, demand       int64
	admitted, decisions int64
	roundTrips          int64
	p50, p99            time.Duration
	slow                float64 // the share of decisions that took over slowMark
}

// slowMark is lease mode's latency goal for a decision's p99: a decision
// slower than it waited for Redis (a grant's round trip), not for memory.
const slowMark = 10 * time.Microsecond

func (r result) over() int64 { return max(r.admitted-r.quota, 0) }

// under is the share of the quota not admitted though demanded.
func (r result) under() float64 {
	want := min(r.demand, r.quota)
	if want == 0 {
		return 0
	}
	return float64(max(want-r.admitted, 0)) / float64(want) * 100
}

func (r result) perDecision() float64 {
	if r.decisions == 0 {
		return 0
	}
	return float64(r.roundTrips) / float64(r.decisions)
}

// hook counts round trips: a command sent alone, or a pipeline.
type hook struct{ trips atomic.Int64 }

func (h *hook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.trips.Add(1); return next(ctx, cmd) }
}
func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.trips.Add(1); return next(ctx, cmds) }
}

// instance is one app process: its own client and store.
type instance struct {
	client *redis.Client
	hook   *hook
	store  core.Store
	close  func()
}

func newInstance(addr, prefix, mode string) (*instance, error) {
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 32})
	h := &hook{}
	opts := []redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithTimeout(time.Second)}
	if mode == "batched" {
		opts = append(opts, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	}
	base, err := redisstore.New(client, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	in := &instance{client: client, hook: h, store: base, close: func() { base.Close(); client.Close() }}
	if mode == "lease" {
		l, err := redisstore.NewLeased(base, redisstore.LeaseConfig{})
		if err != nil {
			in.close()
			return nil, err
		}
		in.store = l
		in.close = func() { l.Close(); base.Close(); client.Close() }
	}
	// Load the scripts before counting.
	if _, err := in.store.Take(context.Background(), "warm", core.Limit{Rate: 1000, Period: time.Second, Algorithm: core.FixedWindow}, 0); err != nil {
		in.close()
		return nil, err
	}
	// The store's commands go through its own client: count them there.
	base.Client().AddHook(h)
	return in, nil
}

// runCase runs n instances of mode under shape s, demand the given multiple
// of the quota, for one window of the limit (after a warm-up window when
// warm), and returns the measured window's figures.
func runCase(ctx context.Context, addr string, s shape, mode string, n int, lim core.Limit, demand float64, senders int, warm bool) (result, error) {
	prefix := fmt.Sprintf("dist:%d:%s:%s:%d:", time.Now().UnixNano(), s.name, mode, n)
	var ins []*instance
	defer func() {
		for _, in := range ins {
			in.close()
		}
	}()
	for i := 0; i < n; i++ {
		in, err := newInstance(addr, prefix, mode)
		if err != nil {
			return result{}, err
		}
		ins = append(ins, in)
	}
	// Two windows of the limit (windows are aligned to Unix time): a
	// warm-up one, in which the same traffic makes the key hot and gives
	// lease mode a rate to predict from, then the measured one, at steady
	// load. Each phase starts a little after its window begins and stops a
	// little before it ends, so every request falls in its window; only the
	// measured window's requests are counted.
	period := lim.Period
	first := time.Now().Truncate(period).Add(period + period/50)
	start := first
	if warm {
		start = first.Add(period)
	}
	span := period * 9 / 10
	total := demand * float64(lim.Rate) / span.Seconds() // requests per second, all instances
	var admitted, decisions, demanded atomic.Int64
	lat := make([][]time.Duration, n*senders)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for phase := first; !phase.After(start); phase = phase.Add(period) {
					measured := phase.Equal(start)
					time.Sleep(time.Until(phase))
					next := phase
					for {
						now := time.Now()
						t := float64(now.Sub(phase)) / float64(span)
						if t >= 1 {
							break
						}
						r := s.rate(i, n, t) * total / float64(senders)
						if r <= 0 {
							next = now.Add(time.Millisecond)
							time.Sleep(time.Millisecond)
							continue
						}
						next = next.Add(time.Duration(float64(time.Second) / r))
						if d := time.Until(next); d > 0 {
							time.Sleep(d)
						} else if -d > 50*time.Millisecond {
							next = time.Now() // fell behind (a burst starting): do not catch up all at once
						}
						t0 := time.Now()
						d, err := ins[i].store.Take(ctx, "tenant", lim, 1)
						if !measured {
							continue
						}
						demanded.Add(1)
						mine = append(mine, time.Since(t0))
						if err != nil {
							firstErr.CompareAndSwap(nil, err)
							continue
						}
						decisions.Add(1)
						if d.Allowed {
							admitted.Add(1)
						}
					}
				}
				lat[i*senders+g] = mine
			}()
		}
	}
	// The round trips of the measured window only.
	time.Sleep(time.Until(start))
	var before int64
	for _, in := range ins {
		before += in.hook.trips.Load()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return result{}, err
	}
	trips := -before
	for _, in := range ins {
		trips += in.hook.trips.Load()
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(int(float64(len(all))*p), len(all)-1)]
	}
	var slow float64
	if len(all) > 0 {
		i, _ := slices.BinarySearch(all, slowMark+1)
		slow = float64(len(all)-i) / float64(len(all))
	}
	return result{shape: s.name, mode: mode, n: n, quota: lim.Rate, demand: demanded.Load(), admitted: admitted.Load(), decisions: decisions.Load(), roundTrips: trips, p50: pct(0.5), p99: pct(0.99), slow: slow}, nil
}

// callerCounts are the concurrencies throughput measures.
var callerCounts = []int{1, 8, 64}

// throughput measures decisions/s on one instance from each number of
// callers: a bare INCR loop, consistent decisions and batched ones. Keys
// are "INCR@64" and so on.
func throughput(ctx context.Context, addr string, d time.Duration) (map[string]float64, error) {
	out := map[string]float64{}
	for _, callers := range callerCounts {
		if err := throughputAt(ctx, addr, d, callers, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func throughputAt(ctx context.Context, addr string, d time.Duration, callers int, out map[string]float64) error {
	lim := core.Limit{Rate: 1_000_000, Period: time.Second} // never reached
	for _, what := range []string{"INCR", "consistent", "batched"} {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, PoolSize: 64})
		var opts []redisstore.Option
		if what == "batched" {
			opts = append(opts, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
		}
		s, err := redisstore.New(client, append(opts, redisstore.WithPrefix(fmt.Sprintf("tp:%d:", time.Now().UnixNano())), redisstore.WithTimeout(time.Second))...)
		if err != nil {
			return err
		}
		var count, failed atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("k%d", g)
				for time.Now().Before(stop) {
					var err error
					if what == "INCR" {
						err = client.Incr(ctx, "tp:incr:"+key).Err()
					} else {
						_, err = s.Take(ctx, key, lim, 1)
					}
					if err != nil {
						failed.Add(1)
						continue
					}
					count.Add(1)
				}
			}()
		}
		wg.Wait()
		s.Close()
		client.Close()
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("throughput, %s, %d callers: %d calls failed", what, callers, n)
		}
		out[fmt.Sprintf("%s@%d", what, callers)] = float64(count.Load()) / d.Seconds()
	}
	return nil
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	srv, err := redistest.Launch()
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	ns, list := []int{2, 4, 8}, shapes
	window, demand := 2*time.Second, 2.0
	tpTime := tpTimeOf(cfg)
	if cfg.quick {
		ns, list, window = []int{2}, shapes[:2], time.Second
	}
	lim := core.Limit{Rate: 2000, Period: window, Algorithm: core.FixedWindow}
	var results []result
	for _, s := range list {
		for _, n := range ns {
			for _, m := range modes {
				r, err := runCase(ctx, srv.Addr, s, m, n, lim, demand, 4, true)
				if err != nil {
					return fmt.Errorf("%s, %s, N=%d: %w", s.name, m, n, err)
				}
				fmt.Fprintf(w, "%-17s N=%d %-10s admitted %5d of %d (demand %d), %.3f round trips per decision, p50 %v p99 %v\n",
					s.name, n, m, r.admitted, r.quota, r.demand, r.perDecision(), r.p50, r.p99)
				results = append(results, r)
			}
		}
	}
	// The prototype's own example: two proxies, 20/s for 10 s, 120
	// requests each.
	var proto []result
	protoLim := core.Limit{Rate: 200, Period: 10 * time.Second, Algorithm: core.FixedWindow}
	if !cfg.quick {
		for _, m := range modes {
			r, err := runCase(ctx, srv.Addr, shapes[0], m, 2, protoLim, 240.0/200, 1, false)
			if err != nil {
				return fmt.Errorf("prototype case, %s: %w", m, err)
			}
			fmt.Fprintf(w, "prototype 2×120 at 20/s for 10s, %-10s admitted %d of 200\n", m, r.admitted)
			proto = append(proto, r)
		}
	}
	tp, err := throughput(ctx, srv.Addr, tpTime)
	if err != nil {
		return err
	}
	for _, c := range callerCounts {
		fmt.Fprintf(w, "%d callers: INCR %.0f/s, consistent %.0f/s, batched %.0f/s\n", c, tp[fmt.Sprint("INCR@", c)], tp[fmt.Sprint("consistent@", c)], tp[fmt.Sprint("batched@", c)])
	}
	for _, r := range results {
		if r.over() > 0 {
			return fmt.Errorf("%s %s N=%d: admitted %d, over the quota %d", r.shape, r.mode, r.n, r.admitted, r.quota)
		}
	}
	if cfg.out == "-" {
		return nil
	}
	return os.WriteFile(cfg.out, []byte(report(cfg, lim, window, demand, results, proto, tp)), 0o644)
}

func tpTimeOf(cfg config) time.Duration {
	if cfg.quick {
		return time.Second
	}
	return 3 * time.Second
}

func report(cfg config, lim core.Limit, window time.Duration, demand float64, results, proto []result, tp map[string]float64) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cmd := "cd bench && GOWORK=off go run ./cmd/distributed"
	if cfg.quick {
		cmd += " -quick"
	}
	p("# Distributed limits: consistent, batched and lease mode\n\n")
	p("Generated by `%s` (`make distributed`) on %s. Do not edit: run it again.\n\n", cmd, time.Now().UTC().Format("2006-01-02"))
	p("Machine: %s, %d cores, %s, %s. One `redis-server` on a loopback port, started by the command; every instance has its own go-redis client and store, as separate processes would.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), redisVersion())
	p("Each case: N instances send traffic of one shape at one global key limited to %d per %v (fixed window, so every mode meters the same quota), for 90%% of one window, after a warm-up window of the same traffic (steady load: the key is hot and lease mode has a rate to predict from); demand is %.0f× the quota. Lease mode runs at its defaults (PredictWindow 1s, MinPrefetch 10, CloseWaitWindow 100ms, HotThreshold 10); batched at batch 64, 4 senders.\n\n", lim.Rate, window, demand)
	p("- **admitted**: requests admitted in the window, against the quota. Over-admission must be 0.\n- **under**: the share of the quota not admitted though demand exceeded it.\n- **RT/decision**: Redis round trips (a command alone, or a pipeline) per decision.\n- **p50, p99**: the latency of one decision, as the caller sees it.\n\n")
	var overall []result
	overall = append(overall, results...)
	leaseEvenSkew, ok98 := 0, 0
	for _, r := range results {
		if r.mode == "lease" && (r.shape == "even" || r.shape == "skewed 90/10") {
			leaseEvenSkew++
			if r.under() <= 2 {
				ok98++
			}
		}
	}
	p("## Headline\n\n")
	mark := func(ok bool) string {
		if ok {
			return "✅"
		}
		return "❌"
	}
	var over int64
	var leaseRT, leaseP99 []float64
	for _, r := range overall {
		over += r.over()
		if r.mode == "lease" {
			leaseRT = append(leaseRT, r.perDecision())
			leaseP99 = append(leaseP99, float64(r.p99))
		}
	}
	maxRT := slices.Max(leaseRT)
	maxP99 := time.Duration(slices.Max(leaseP99))
	p("| target | measured | |\n|---|---|---|\n")
	p("| no over-admission, any mode | %d requests over the quota in %d cases | %s |\n", over, len(overall), mark(over == 0))
	p("| lease: ≥ 20× fewer round trips than decisions | at most %.3f round trips per decision (%.0f× fewer) | %s |\n", maxRT, 1/maxRT, mark(maxRT <= 0.05))
	p("| lease: ≥ 98%% of the quota, even and skewed | %d of %d cases | %s |\n", ok98, leaseEvenSkew, mark(ok98 == leaseEvenSkew))
	p("| lease: decision p99 < 10 µs | worst p99 %v | %s |\n", maxP99, mark(maxP99 < slowMark))
	ratio := tp["batched@64"] / tp["INCR@64"]
	p("| batching: ≥ 1.5× a bare INCR loop's decisions/s, 64 callers | %.0f/s against %.0f/s: %.2f× | %s |\n\n", tp["batched@64"], tp["INCR@64"], ratio, mark(ratio >= 1.5))
	if len(proto) > 0 {
		p("## The prototype's example: two proxies, 20/s for 10 s, 120 requests each\n\nA quota of 200 per 10 s window; each of two instances sends 120 requests spread over it (240 in all), from a standing start (no warm-up).\n\n| mode | admitted of 200 |\n|---|---:|\n")
		for _, r := range proto {
			p("| %s | %d |\n", r.mode, r.admitted)
		}
		p("\nThe rate-limit-prefetch design admitted 196 of 200 in this example.\n\n")
	}
	p("## Throughput (one instance)\n\nDecisions per second from 1, 8 and 64 callers, each on a key of its own, for %v each: a bare go-redis `INCR` loop, consistent decisions (GCRA, one `EVALSHA` each) and batched ones (`WithBatching(64, 0)`, 4 senders).\n\n| callers | INCR | consistent | × INCR | batched | × INCR | batched ÷ consistent |\n|---:|---:|---:|---:|---:|---:|---:|\n", tpTimeOf(cfg))
	for _, c := range callerCounts {
		in, co, ba := tp[fmt.Sprint("INCR@", c)], tp[fmt.Sprint("consistent@", c)], tp[fmt.Sprint("batched@", c)]
		p("| %d | %.0f | %.0f | %.2f | %.0f | %.2f | %.2f |\n", c, in, co, co/in, ba, ba/in, ba/co)
	}
	p("\n## Lease mode's p99\n\n")
	p("A lease decision is local (a pool's lock and a counter) unless its pool is empty: then it waits for a grant, one round trip to Redis, as every decision does in consistent mode. A p99 under %v needs fewer than 1%% of an instance's decisions to wait. Each instance waits at least once a window (tokens belong to a window and expire with it, so a new window starts with an empty pool), and again whenever its demand outruns the prefetch; with N instances each sees 1/N of the traffic, so those waits are a larger share of its decisions. The cases that miss the goal, with the share of their decisions slower than %v:\n\n", slowMark, slowMark)
	p("| shape | N | decisions | slower than %v | RT/decision | p99 |\n|---|---:|---:|---:|---:|---:|\n", slowMark)
	missed, waited := 0, 0
	for _, r := range results {
		if r.mode == "lease" && r.p99 >= slowMark {
			missed++
			if r.slow >= 0.01 {
				waited++
			}
			p("| %s | %d | %d | %.2f%% | %.3f | %v |\n", r.shape, r.n, r.decisions, 100*r.slow, r.perDecision(), r.p99.Round(time.Microsecond/10))
		}
	}
	if missed == 0 {
		p("| (none) | | | | | |\n")
	}
	if missed > 0 {
		p("\nIn %d of these %d cases at least 1%% of the decisions took longer than %v, so the p99 falls on a wait for Redis, not on a local decision; what such a wait costs is about the consistent-mode latency of the same case. Granting the next window's tokens before the window starts would remove the wait at each window's start; it is not built.\n", waited, missed, slowMark)
	}
	p("\n## Every case\n\n")
	p("| shape | N | mode | admitted / quota | over | under | RT/decision | p50 | p99 | > %v |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n", slowMark)
	for _, r := range results {
		p("| %s | %d | %s | %d / %d | %d | %.1f%% | %.3f | %v | %v | %.2f%% |\n", r.shape, r.n, r.mode, r.admitted, r.quota, r.over(), r.under(), r.perDecision(), r.p50.Round(time.Microsecond/10), r.p99.Round(time.Microsecond/10), 100*r.slow)
	}
	p("\nShapes:\n\n")
	for _, s := range shapes {
		p("- **%s**: %s.\n", s.name, s.what)
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "redis-server"
	}
	f := strings.Fields(string(out))
	for _, x := range f {
		if strings.HasPrefix(x, "v=") {
			return "Redis " + strings.TrimPrefix(x, "v=")
		}
	}
	return strings.TrimSpace(string(out))
}
