// Command cluster is a deployment you can run: a three-master Redis Cluster,
// two app instances (a chi router and a gin router, each with its own Redis
// Cluster client and store) enforcing one limit, "per-client" (100 requests
// a minute for each X-Client header), and a load balancer in front of them
// (nginx if it is on PATH, else a round-robin reverse proxy in this
// process). It sends load through the balancer from three clients and
// prints, per mode, who answered what and what each client was admitted:
// exactly the quota, however the requests were spread over the instances
// (plus one per minute/quota that the run lasts, as the limit refills; the
// default run takes a fraction of that).
//
// Clients are told apart by their X-Client header, not their address:
// behind a balancer every connection comes from the balancer (127.0.0.1
// here), so keying by IP would put every client in one bucket.
//
//	go run ./examples/cluster                 # from the repository root
//	go run ./examples/cluster -lb go -c 32    # the Go balancer, 32 at a time
//	go run ./examples/cluster -keep           # then serve until Ctrl-C, for ab or curl
//
// It runs each mode in turn with keys of its own: consistent (each decision
// is one Lua script in Redis) and lease (each instance takes tokens from
// Redis in batches and decides locally; it never admits more than the
// quota, and may admit less).
//
// Every process it starts (redis-server, nginx) lives in a temporary
// directory, on free loopback ports, and is stopped when the program ends,
// on Ctrl-C too (and on Linux by the kernel, should the program be killed;
// only the directory is then left behind).
// It exits 1 if a client was admitted more than its quota, if consistent
// mode admitted less, or if any answer was neither 200 nor 429.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// clients is how many X-Client values the load comes from.
const clients = 3

// config is what the flags set.
type config struct {
	quota int64  // requests a minute per client, across all instances
	n     int    // requests each client sends; 0: 3 × quota
	c     int    // requests in flight at once
	lb    string // "auto", "nginx" or "go"
	keep  bool   // serve until ctx ends after the run
}

func init() { gin.SetMode(gin.ReleaseMode) } // no route listing on stdout

func main() {
	var cfg config
	flag.Int64Var(&cfg.quota, "quota", 100, "requests a minute each client may make, across both instances")
	flag.IntVar(&cfg.n, "n", 0, "requests each client sends (default 3 × quota)")
	flag.IntVar(&cfg.c, "c", 16, "requests in flight at once")
	flag.StringVar(&cfg.lb, "lb", "auto", "load balancer: auto (nginx if on PATH, else go), nginx or go")
	flag.BoolVar(&cfg.keep, "keep", false, "after the run, keep serving until Ctrl-C")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Stdout, cfg)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; everything started is stopped")
		}
		fmt.Fprintln(os.Stderr, "cluster demo:", err)
		os.Exit(1)
	}
}

// run starts the deployment, drives each mode's load through the balancer,
// prints the results to w, and stops everything before it returns.
func run(ctx context.Context, w io.Writer, cfg config) error {
	if cfg.quota < 1 || cfg.c < 1 || cfg.n < 0 {
		return fmt.Errorf("-quota %d, -c %d, -n %d: quota and c must be at least 1, n at least 0", cfg.quota, cfg.c, cfg.n)
	}
	if cfg.n == 0 {
		cfg.n = int(3 * cfg.quota)
	}
	dir, err := os.MkdirTemp("", "tollgate-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // deferred first, so it runs after every process has stopped

	// Three masters on free loopback ports, joined with redis-cli --cluster
	// create; they die with this program.
	cluster, err := redistest.LaunchCluster()
	if err != nil {
		return err
	}
	defer cluster.Shutdown()
	fmt.Fprintf(w, "redis cluster: %s (3 masters, cluster_state:ok)\n", strings.Join(cluster.Addrs, " "))

	var apps []*instance
	defer func() {
		for _, in := range apps {
			in.stop()
		}
	}()
	for _, name := range []string{"chi", "gin"} {
		in, err := startInstance(name, cluster.Addrs)
		if err != nil {
			return err
		}
		apps = append(apps, in)
		fmt.Fprintf(w, "%s instance: http://%s\n", name, in.addr)
	}

	lb, err := startBalancer(ctx, cfg.lb, dir, []string{apps[0].addr, apps[1].addr})
	if err != nil {
		return err
	}
	defer lb.stop()
	fmt.Fprintf(w, "balancer: %s at http://%s (%s)\n", lb.kind, lb.addr, lb.what)

	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	serving := ""
	for _, mode := range []string{consistent, lease} {
		err := runMode(ctx, w, cfg, mode, "tollgate-cluster:"+runID+":"+mode+":", apps, lb)
		if err != nil {
			return err
		}
		serving = mode
	}

	if !cfg.keep {
		return nil
	}
	url := "http://" + lb.addr + "/hello"
	fmt.Fprintf(w, "\nserving in %s mode through %s until Ctrl-C; try, in another terminal:\n\n", serving, lb.kind)
	fmt.Fprintf(w, "  ab -n 1000 -c 100 -H 'X-Client: me' %s\n", url)
	fmt.Fprintf(w, "  curl -i -H 'X-Client: me' %s\n\n", url)
	fmt.Fprintf(w, "ab's \"Non-2xx responses\" are the 429s (and its \"Failed requests\" the answers of another length): client me\n")
	fmt.Fprintf(w, "gets %d at once and one more every %v, whichever instance answers.\n", cfg.quota, core.PerMinute(cfg.quota).Interval())
	<-ctx.Done()
	return nil
}

// runMode puts every instance in mode, with keys under prefix, sends the
// load and reports it.
func runMode(ctx context.Context, w io.Writer, cfg config, mode, prefix string, apps []*instance, lb *balancer) error {
	for _, in := range apps {
		if err := in.use(mode, prefix, cfg.quota); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nmode %s: %d requests from each of %d clients (X-Client: client-1..client-%d), %d at a time, through %s\n\n",
		mode, cfg.n, clients, clients, cfg.c, lb.kind)
	start := time.Now()
	t, err := drive(ctx, "http://"+lb.addr+"/hello", cfg.n, cfg.c)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	return report(w, cfg, mode, t, start, elapsed, apps)
}

// tally is what the answers were.
type tally struct {
	byInstance map[string]*[3]int // instance → 200s, 429s, 503s of the limiter
	sent       [clients]int
	admitted   [clients]int
	denied     [clients]int
	// refused counts the limiter's own 503s (with Retry-After): Redis could
	// not decide within the deadline and the limiter failed closed. Such a
	// request took nothing from the quota.
	refused [clients]int
	other   map[string]int // "gin: 502 Bad Gateway" or a transport error → how many
}

func clientName(i int) string { return "client-" + strconv.Itoa(i+1) }

// drive sends n requests as each client, c at a time, the clients'
// requests interleaved.
func drive(ctx context.Context, url string, n, c int) (*tally, error) {
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: c},
	}
	defer hc.CloseIdleConnections()
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		for i := 0; i < n*clients; i++ {
			select {
			case jobs <- i % clients:
			case <-ctx.Done():
				return
			}
		}
	}()
	t := &tally{byInstance: map[string]*[3]int{}, other: map[string]int{}}
	var mu sync.Mutex // guards t
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for client := range jobs {
				status, inst, retry, err := send(ctx, hc, url, clientName(client))
				mu.Lock()
				t.sent[client]++
				switch {
				case err != nil:
					t.other[err.Error()]++
				case inst != "chi" && inst != "gin":
					t.other[fmt.Sprintf("%d without a known X-Instance (%q)", status, inst)]++
				case status == http.StatusOK:
					t.admitted[client]++
					t.row(inst)[0]++
				case status == http.StatusTooManyRequests:
					t.denied[client]++
					t.row(inst)[1]++
				case status == http.StatusServiceUnavailable && retry:
					t.refused[client]++
					t.row(inst)[2]++
				default:
					t.other[inst+": "+strconv.Itoa(status)+" "+http.StatusText(status)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tally) row(inst string) *[3]int {
	r := t.byInstance[inst]
	if r == nil {
		r = new([3]int)
		t.byInstance[inst] = r
	}
	return r
}

// send makes one request as client and returns the status and the
// instance that answered.
func send(ctx context.Context, hc *http.Client, url, client string) (status int, instance string, retryAfter bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", false, err
	}
	req.Header.Set("X-Client", client)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Instance"), resp.Header.Get("Retry-After") != "", nil
}

// report prints the tables of one mode and checks each client's count.
//
// In consistent mode the limit is GCRA: a fresh client may make quota
// requests at once, then earns one more every minute/quota. A run longer
// than that earns some back, so what a client may be admitted is the quota
// plus what the run's length earned; with the default flags a run takes a
// fraction of that interval. Lease mode meters the limit as a fixed window
// of a minute (redisstore.NewLeased): a run that crosses into the next
// minute may be admitted that minute's quota too.
func report(w io.Writer, cfg config, mode string, t *tally, start time.Time, elapsed time.Duration, apps []*instance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "instance\t200s\t429s\t503s")
	for _, in := range apps {
		r := t.row(in.name)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", in.name, r[0], r[1], r[2])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "client\tsent\t200s\t429s")
	total := 0
	for i := range clients {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", clientName(i), t.sent[i], t.admitted[i], t.denied[i])
		total += t.sent[i]
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d requests in %v\n", total, elapsed.Round(time.Millisecond))

	limit := core.PerMinute(cfg.quota)
	earned := int(elapsed / limit.Interval())
	if mode == lease {
		windows := int(start.Add(elapsed).Truncate(time.Minute).Sub(start.Truncate(time.Minute))/time.Minute) + 1
		earned = int(cfg.quota) * (windows - 1)
	}
	allowed := int(cfg.quota) + earned
	var errs []error
	for i := range clients {
		name, got, sent := clientName(i), t.admitted[i], t.sent[i]
		line := fmt.Sprintf("%s: admitted %d of %d, quota %d a minute", name, got, sent, cfg.quota)
		if earned > 0 {
			line += fmt.Sprintf(" (+%d earned back during the run)", earned)
		}
		if r := t.refused[i]; r > 0 {
			line += fmt.Sprintf(" (%d refused with 503: Redis did not answer within the deadline and the limiter failed closed; each may have been counted)", r)
		}
		// What a mode that loses nothing admits at least. A request refused
		// with 503 may still have been counted: its command reached Redis
		// and was decided after its caller stopped waiting (never an
		// admission the client sees), so each refusal may cost one.
		floor := max(min(sent-t.refused[i], int(cfg.quota))-t.refused[i], 0)
		switch {
		case got > allowed:
			line += ": OVER-ADMISSION"
			errs = append(errs, fmt.Errorf("mode %s: %s admitted %d, more than the %d allowed", mode, name, got, allowed))
		case got >= floor:
			line += ": the instances share one count"
		case mode == consistent:
			line += ": UNDER-ADMISSION"
			errs = append(errs, fmt.Errorf("mode %s: %s admitted %d, fewer than %d, in the mode that decides exactly", mode, name, got, floor))
		default:
			line += fmt.Sprintf(": %.1f%% under, never over: the instances share one count", 100*float64(floor-got)/float64(floor))
		}
		fmt.Fprintln(w, line)
	}
	if len(t.other) > 0 {
		fmt.Fprintln(w, "answers neither 200 nor 429:")
		for _, what := range slices.Sorted(maps.Keys(t.other)) {
			fmt.Fprintf(w, "  %d × %s\n", t.other[what], what)
		}
		errs = append(errs, fmt.Errorf("mode %s: %d kinds of answer neither 200 nor 429", mode, len(t.other)))
	}
	return errors.Join(errs...)
}
