// Command observe shows tollgate's metrics moving. It serves the demo's
// routers (chi, gin and echo v5, each with GET /hello behind its adapter,
// 20 requests a minute per client, one memory store), their Prometheus
// metrics on /metrics, the operator's page on /debug/tollgate (read-only:
// the clients denied most, the store's keys, the policies), and runs a
// small load generator: 50 clients, a few of them greedy, sending
// requests to every router.
//
//	go run ./examples/observe                 # until interrupted
//	go run ./examples/observe -for 30s -addr 127.0.0.1:9464
//
// Point Prometheus at http://ADDR/metrics and load dashboard.json (in this
// folder) into Grafana: decisions by policy and outcome, store latency,
// keys and evictions, fallback and breaker state.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	echo5 "github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/prommetrics"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "where to serve /metrics and the routers")
	d := flag.Duration("for", 0, "stop after this long (0: until interrupted)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *d)
		defer cancel()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "observe:", err)
		os.Exit(1)
	}
	if err := run(ctx, ln, os.Stdout); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "observe:", err)
		os.Exit(1)
	}
}

// run serves the routers and /metrics on ln and loads them until ctx ends.
func run(ctx context.Context, ln net.Listener, w io.Writer) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	m, err := prommetrics.New()
	if err != nil {
		return err
	}
	reg.MustRegister(m)
	store, err := memstore.New(memstore.WithMaxKeys(10_000))
	if err != nil {
		return err
	}
	defer store.Close()
	sm, err := m.Store("memory", store)
	if err != nil {
		return err
	}
	// The operator's page, read-only (no opspage.WithAuthorize): keys are
	// shown hashed.
	page, err := opspage.New()
	if err != nil {
		return err
	}
	view, err := page.Store("memory", store)
	if err != nil {
		return err
	}
	byClient, err := keyfuncs.Header("X-Client", 64)
	if err != nil {
		return err
	}
	// Each limiter reports to both: the metrics' options name it, the
	// page's hooks come with them.
	limiter := func(policy string) (*core.Limiter, error) {
		l, err := core.NewLimiter(store, core.PerMinute(20), append(sm.Options(policy), view.Hooks()...)...)
		if err == nil {
			err = page.Limiters(l)
		}
		return l, err
	}
	hello := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello\n") }

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/tollgate", page)

	chiAPI, err := limiter("chi")
	if err != nil {
		return err
	}
	chiMW, err := chimw.New(chiAPI, httplimit.WithKeyFunc(byClient))
	if err != nil {
		return err
	}
	r := chi.NewRouter()
	r.With(chiMW).Get("/chi/hello", hello)
	mux.Handle("/chi/", r)

	ginAPI, err := limiter("gin")
	if err != nil {
		return err
	}
	ginMW, err := ginmw.New(ginAPI, httplimit.WithKeyFunc(byClient))
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/gin/hello", ginMW, gin.WrapF(hello))
	mux.Handle("/gin/", g)

	echoAPI, err := limiter("echo")
	if err != nil {
		return err
	}
	echoMW, err := echo5mw.New(echoAPI, httplimit.WithKeyFunc(byClient))
	if err != nil {
		return err
	}
	e := echo5.New()
	e.GET("/echo/hello", echo5.WrapHandler(http.HandlerFunc(hello)), echoMW)
	mux.Handle("/echo/", e)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(w, "metrics: %s/metrics\noperator's page: %s/debug/tollgate\nrouters: %s/chi/hello %s/gin/hello %s/echo/hello\n", base, base, base, base, base)

	load(ctx, base)
	// A request the load generator gave up on may have left a connection
	// that never sent one, which Shutdown waits 5s for before it counts as
	// idle: wait a second for the rest, then close what is left.
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// load sends requests from 50 clients to every router until ctx ends:
// most clients send one request every few seconds, within their quota; the
// first five send as fast as they are answered, and are denied.
func load(ctx context.Context, base string) {
	client := &http.Client{Timeout: 5 * time.Second}
	routers := []string{"/chi/hello", "/gin/hello", "/echo/hello"}
	done := make(chan struct{})
	const clients = 50
	for c := 0; c < clients; c++ {
		go func() {
			defer func() { done <- struct{}{} }()
			greedy := c < 5
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for ctx.Err() == nil {
				path := routers[rng.IntN(len(routers))]
				req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
				req.Header.Set("X-Client", "client-"+strconv.Itoa(c))
				if res, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				pause := 20 * time.Millisecond
				if !greedy {
					pause = time.Duration(1000+rng.IntN(4000)) * time.Millisecond
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	for c := 0; c < clients; c++ {
		<-done
	}
}
