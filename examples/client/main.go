// Command client shows a paced client of a rate-limited API. It starts a
// chi server on a free loopback port with GET /items under two limits per
// client IP taken together, 10 a second and 12 per 2 seconds, which it
// announces in the RateLimit-Policy and RateLimit fields; then 8 goroutines
// sharing one client send it 3 requests each, first through a plain
// http.Transport, then (against a fresh server) through a pacer.Transport,
// and it prints how many requests the server refused each time. It exits 1
// if the paced client was refused at all, or the plain one never was.
//
//	go run ./examples/client
//	go run ./examples/client -goroutines 16 -requests 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/examples/internal/server"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/pacer"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The API's two limits per client IP.
var (
	perSecond = core.PerSecond(10)
	perTwoSec = core.Limit{Rate: 12, Period: 2 * time.Second}
)

// workload is the traffic each client sends.
type workload struct {
	goroutines int // sharing one http.Client
	requests   int // GETs per goroutine, one after another
}

// result is what one client's workload got.
type result struct {
	client           string
	sent, ok, denied int64
	took             time.Duration
}

func main() {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	var wl workload
	fs.IntVar(&wl.goroutines, "goroutines", 8, "goroutines sharing one client")
	fs.IntVar(&wl.requests, "requests", 3, "GET requests per goroutine")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if wl.goroutines < 1 || wl.requests < 1 {
		fmt.Fprintln(os.Stderr, "client: -goroutines and -requests must be at least 1")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, wl); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// run sends the workload through a plain and a paced client, each against
// a fresh server, prints what the servers answered to w and checks it.
func run(ctx context.Context, w io.Writer, wl workload) error {
	plain := &http.Transport{MaxIdleConnsPerHost: wl.goroutines}
	defer plain.CloseIdleConnections()
	// The pacer wraps any transport; nil would be http.DefaultTransport.
	paced, err := pacer.New(&http.Transport{MaxIdleConnsPerHost: wl.goroutines})
	if err != nil {
		return err
	}
	defer paced.CloseIdleConnections()

	var results []result
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"plain http.Transport", plain}, {"pacer.Transport", paced}} {
		res, err := against(ctx, c.rt, wl)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		res.client = c.name
		results = append(results, res)
	}
	if err := report(w, wl, results); err != nil {
		return err
	}
	return check(results)
}

// newAPI returns the API's router: GET /items under both limits, counted
// in a memory store of its own.
func newAPI() (http.Handler, func(), error) {
	store, err := memstore.New()
	if err != nil {
		return nil, nil, err
	}
	a, err := core.NewLimiter(store, perSecond, core.WithName("per-second"))
	if err != nil {
		return nil, nil, err
	}
	b, err := core.NewLimiter(store, perTwoSec, core.WithName("per-2s"))
	if err != nil {
		return nil, nil, err
	}
	ip, err := keyfuncs.IP()
	if err != nil {
		return nil, nil, err
	}
	mw, err := chimw.New(a, httplimit.WithLimit(b, ip))
	if err != nil {
		return nil, nil, err
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/items", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "[]\n")
	})
	return r, func() { store.Close() }, nil
}

// against serves a fresh API on a free loopback port, sends it the
// workload through rt and counts what the server answered.
func against(ctx context.Context, rt http.RoundTripper, wl workload) (res result, err error) {
	api, closeStore, err := newAPI()
	if err != nil {
		return result{}, err
	}
	defer closeStore()
	var ok, denied atomic.Int64
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		api.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusOK:
			ok.Add(1)
		case http.StatusTooManyRequests:
			denied.Add(1)
		}
	})
	base, stop, err := server.Loopback(counted)
	if err != nil {
		return result{}, err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()

	client := &http.Client{Transport: rt, Timeout: time.Minute}
	url := base + "/items"
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for range wl.goroutines {
		wg.Go(func() {
			for range wl.requests {
				if err := get(ctx, client, url); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	// Connections dialled while others were busy, then never used, would
	// hold up the server's Shutdown for seconds.
	client.CloseIdleConnections()
	if first != nil {
		return result{}, first
	}
	res.sent, res.ok, res.denied = int64(wl.goroutines*wl.requests), ok.Load(), denied.Load()
	return res, nil
}

// get sends one GET and reads its answer, whatever its status.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// report prints one row per client.
func report(w io.Writer, wl workload, results []result) error {
	fmt.Fprintf(w, "%d goroutines sharing one client, %d GET /items each, against limits per client IP of %v and %v:\n\n",
		wl.goroutines, wl.requests, perSecond, perTwoSec)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "client\tsent\tadmitted\trefused (429)\ttook")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%v\n", r.client, r.sent, r.ok, r.denied, r.took.Round(time.Millisecond))
	}
	return tw.Flush()
}

// check wants the paced client never refused and every request admitted,
// and the plain one refused: a workload the limits do not bind shows
// nothing.
func check(results []result) error {
	plain, paced := results[0], results[1]
	if paced.denied != 0 || paced.ok != paced.sent {
		return fmt.Errorf("%s: %d sent, %d admitted, %d refused; want every one admitted", paced.client, paced.sent, paced.ok, paced.denied)
	}
	if plain.denied == 0 {
		return fmt.Errorf("%s: none of %d refused: the workload does not reach the limits", plain.client, plain.sent)
	}
	return nil
}
