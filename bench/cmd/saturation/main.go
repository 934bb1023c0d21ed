// Command saturation measures how the Redis store decides when the
// application's machine has no CPU to spare: a real redis-server (started on
// a free loopback port), every core saturated by busy loops (child
// processes, killed when the command ends, whatever the cause), and 64
// goroutines deciding through one store with its default options (the
// 100 ms deadline, the breaker). It runs once with a default go-redis
// client and once with ContextTimeoutEnabled, each with a fresh pool, and
// prints per run: the decisions Redis made against those that failed (by
// error), the breaker's openings, the callers' latency, the pool's stats
// and the connections dialled.
//
//	cd bench && GOWORK=off go run ./cmd/saturation                 # 6 busy loops, 64 callers, 10 s per run
//	GOWORK=off go run ./cmd/saturation -busy 0 -d 3s                # the same on an idle machine
//	GOWORK=off go run ./cmd/saturation -mode batched                # through WithBatching
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.busy, "busy", 6, "busy-loop `processes` saturating the cores (0: none)")
	flag.IntVar(&cfg.callers, "callers", 64, "goroutines deciding at once")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "how long each run decides")
	flag.StringVar(&cfg.mode, "mode", "consistent", "consistent, batched or lease")
	flag.IntVar(&cfg.poolSize, "pool", 0, "the client's PoolSize (0: go-redis' default, 10 per GOMAXPROCS)")
	flag.StringVar(&cfg.clients, "clients", "default,ctx", "client kinds to run, comma-separated: default, ctx (ContextTimeoutEnabled)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "saturation:", err)
		os.Exit(1)
	}
}

type config struct {
	busy, callers int
	duration      time.Duration
	mode          string
	clients       string
	poolSize      int
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	srv, err := redistest.Launch()
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	fmt.Fprintf(w, "redis-server on %s; GOMAXPROCS %d; %d CPUs; %d busy loops; %d callers; %v per run; mode %s\n",
		srv.Addr, runtime.GOMAXPROCS(0), runtime.NumCPU(), cfg.busy, cfg.callers, cfg.duration, cfg.mode)
	stopBusy, err := busyLoops(cfg.busy)
	defer stopBusy()
	if err != nil {
		return err
	}
	for _, kind := range splitComma(cfg.clients) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := measure(ctx, srv.Addr, kind, cfg)
		if err != nil {
			return err
		}
		r.print(w)
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// busyLoops starts n shell busy loops and returns what kills them. They are
// also killed by the kernel if this process dies first (Linux).
func busyLoops(n int) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		cmds = nil
	}
	for i := 0; i < n; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		c.SysProcAttr = deathSignal()
		if err := c.Start(); err != nil {
			return stop, fmt.Errorf("busy loop: %w", err)
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

// dialCounter counts the connections a client dials.
type dialCounter struct{ n atomic.Int64 }

func (d *dialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.n.Add(1)
		return next(ctx, network, addr)
	}
}
func (d *dialCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (d *dialCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

type result struct {
	kind, mode                 string
	decided, timeouts, breaker int64
	other                      int64
	firstOther                 error
	openings                   int64
	lat                        []time.Duration
	stats                      redis.PoolStats
	dials                      int64
	elapsed                    time.Duration
	poolSize                   int
	cpu, redisCPU              time.Duration // this process's, and the server's, over the run
}

func measure(ctx context.Context, addr, kind string, cfg config) (*result, error) {
	opt := &redis.Options{Addr: addr, PoolSize: cfg.poolSize}
	switch kind {
	case "default":
	case "ctx":
		opt.ContextTimeoutEnabled = true
	default:
		return nil, fmt.Errorf("client kind %q: want default or ctx", kind)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	var opts []redisstore.Option
	if cfg.mode == "batched" {
		opts = append(opts, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	}
	base, err := redisstore.New(client, opts...)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	// The store's commands go through its own client (made with opt's
	// options): its dials and pool are the ones that tell.
	dials := &dialCounter{}
	base.Client().AddHook(dials)
	var store core.Store = base
	switch cfg.mode {
	case "consistent", "batched":
	case "lease":
		l, err := redisstore.NewLeased(base, redisstore.LeaseConfig{})
		if err != nil {
			return nil, err
		}
		defer l.Close()
		store = l
	default:
		return nil, fmt.Errorf("mode %q: want consistent, batched or lease", cfg.mode)
	}

	r := &result{kind: kind, mode: cfg.mode, poolSize: client.Options().PoolSize}
	// The breaker's openings, read from the sequence of answers: an answer
	// ErrBreakerOpen after one that was not starts an opening.
	var mu sync.Mutex
	open := false
	lim := core.PerSecond(1_000_000)
	stop := time.Now().Add(cfg.duration)
	var wg sync.WaitGroup
	lats := make([][]time.Duration, cfg.callers)
	cpu0, rcpu0 := processCPU(), serverCPU(ctx, client)
	start := time.Now()
	for g := 0; g < cfg.callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "saturation:" + kind + ":" + strconv.Itoa(g)
			for time.Now().Before(stop) && ctx.Err() == nil {
				t0 := time.Now()
				_, err := store.Take(context.Background(), key, lim, 1)
				lats[g] = append(lats[g], time.Since(t0))
				mu.Lock()
				switch {
				case err == nil:
					r.decided++
					open = false
				case errors.Is(err, redisstore.ErrBreakerOpen):
					r.breaker++
					if !open {
						r.openings++
						open = true
					}
				case errors.Is(err, redisstore.ErrTimeout):
					r.timeouts++
				default:
					r.other++
					if r.firstOther == nil {
						r.firstOther = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.cpu, r.redisCPU = processCPU()-cpu0, serverCPU(ctx, client)-rcpu0
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	slices.Sort(r.lat)
	r.stats = *base.Client().PoolStats()
	r.dials = dials.n.Load()
	return r, ctx.Err()
}

func (r *result) print(w io.Writer) {
	total := r.decided + r.timeouts + r.breaker + r.other
	pct := func(n int64) string {
		if total == 0 {
			return "-"
		}
		return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 2, 64) + "%"
	}
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	name := "default client"
	if r.kind == "ctx" {
		name = "ContextTimeoutEnabled"
	}
	fmt.Fprintf(w, "\n%s (%s mode, pool size %d), %v:\n", name, r.mode, r.poolSize, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  decisions: %d, by Redis %d (%s); failed: timeout %d (%s), breaker open %d (%s), other %d\n",
		total, r.decided, pct(r.decided), r.timeouts, pct(r.timeouts), r.breaker, pct(r.breaker), r.other)
	if r.firstOther != nil {
		fmt.Fprintf(w, "  first other error: %v\n", r.firstOther)
	}
	fmt.Fprintf(w, "  breaker openings: %d\n", r.openings)
	fmt.Fprintf(w, "  caller latency: p50 %v, p99 %v, p99.9 %v, max %v\n", q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(0.999).Round(10*time.Microsecond), q(1).Round(10*time.Microsecond))
	if r.decided > 0 {
		fmt.Fprintf(w, "  CPU per decision made by Redis: this process %v, redis-server %v\n",
			(r.cpu / time.Duration(r.decided)).Round(100*time.Nanosecond), (r.redisCPU / time.Duration(r.decided)).Round(100*time.Nanosecond))
	}
	s := r.stats
	fmt.Fprintf(w, "  pool: hits %d, misses %d, timeouts %d, total conns %d, idle %d, stale %d, waits %d (%v waiting); dialled %d\n",
		s.Hits, s.Misses, s.Timeouts, s.TotalConns, s.IdleConns, s.StaleConns, s.WaitCount, time.Duration(s.WaitDurationNs).Round(time.Millisecond), r.dials)
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time the redis-server has used, from INFO cpu.
func serverCPU(ctx context.Context, client *redis.Client) time.Duration {
	info, err := client.Info(context.WithoutCancel(ctx), "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, f := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, f); ok {
				x, _ := strconv.ParseFloat(v, 64)
				total += x
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}
