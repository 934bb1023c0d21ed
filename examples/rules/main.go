// Command rules shows tollgate's rules (package rules) in front of chi, gin
// and echo: the rules of rules.yaml (a health check skipped, a login limit
// with a penalty box, an API limited per key (by the key's plan: tiers) and
// per tenant in one step, at most 2 reports in flight per client, a
// search limit in shadow, a deny list), applied to a scripted series of
// requests through each router in turn. It prints every answer and what the
// rules' hook saw, and exits 1 if an answer is not the one the rules call
// for.
//
//	go run ./examples/rules                           # memory store
//	go run ./examples/rules -redis 127.0.0.1:6379     # Redis
//	go run ./examples/rules -rules my.yaml -serve :8080
//
// With -serve it serves the rules on a chi router instead (POST /login,
// GET /api/orders, /reports (3 seconds each), /search, /healthz), re-reading the file every second and
// on SIGHUP; try:
//
//	curl -i -X POST localhost:8080/login
//	curl -i -H 'X-Tenant: acme' -H 'X-Api-Key: k1' localhost:8080/api/orders
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/sloghook"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

//go:embed rules.yaml
var defaultRules []byte

type config struct {
	redis    string   // Redis address; "" for the memory store
	rules    string   // the rules file; "" for the embedded rules.yaml
	adapters []string // the routers to run the script through
}

func main() {
	var cfg config
	var serve string
	flag.StringVar(&cfg.redis, "redis", "", "keep the counters in the Redis at `address` (default: in memory)")
	flag.StringVar(&cfg.rules, "rules", "", "the rules `file` (default: the rules.yaml beside this program)")
	flag.StringVar(&serve, "serve", "", "serve the rules on a chi router at `address` instead of running the script")
	flag.Parse()
	cfg.adapters = []string{"chi", "gin", "echo"}
	var err error
	if serve != "" {
		err = serveRules(cfg, serve)
	} else {
		err = run(context.Background(), os.Stdout, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rules example:", err)
		os.Exit(1)
	}
}

// step is one scripted request and the answer the rules call for.
type step struct {
	what    string
	method  string
	path    string
	header  []string
	status  int
	outcome string // what the hook reports; "" for nothing
}

func script() []step {
	api := func(tenant, key string, status int, outcome string) step {
		return step{"api " + tenant + "/" + key, "GET", "/api/orders", []string{"X-Tenant", tenant, "X-Api-Key", key}, status, outcome}
	}
	login := func(status int, outcome string) step {
		return step{"login", "POST", "/login", nil, status, outcome}
	}
	const both = "api-per-tenant=allowed, api-per-key=allowed"
	search := func(outcome string) step { return step{"search (shadow)", "GET", "/search", nil, 200, outcome} }
	plan := func(plan string, status int, outcome string) step {
		h := []string{"X-Tenant", "globex", "X-Api-Key", "k3"}
		if plan != "" {
			h = append(h, "X-Plan", plan)
		}
		return step{"api globex/k3 " + dash(plan), "GET", "/api/orders", h, status, outcome}
	}
	return []step{
		{"health check", "GET", "/healthz", nil, 200, ""},
		{"health check", "GET", "/healthz", nil, 200, ""},
		login(200, "allowed"), login(200, "allowed"), login(200, "allowed"), login(200, "allowed"), login(200, "allowed"),
		login(429, "denied"), login(429, "denied"),
		login(429, "denied"),  // the third denial within a minute: into the box for 15m
		login(429, "penalty"), // in the box: no decision spent
		api("acme", "k1", 200, both), api("acme", "k1", 200, both), api("acme", "k1", 200, both),
		// k1's 3/m is spent; the tenant's decision is what a peek shows,
		// for the denied request took nothing from it.
		api("acme", "k1", 429, "api-per-tenant=allowed, api-per-key=denied"),
		api("acme", "k2", 200, both), api("acme", "k2", 200, both),
		api("acme", "k2", 429, "api-per-tenant=denied, api-per-key=allowed"), // acme's 5/m
		{"api without headers (by IP)", "GET", "/api/orders", nil, 200, "api-per-tenant=allowed, api-per-key=allowed"},
		{"api with a revoked key", "GET", "/api/orders", []string{"X-Tenant", "acme", "X-Api-Key", "revoked-key"}, 403, "deny-listed"},
		search("allowed"), search("allowed"), search("shadow-denied"), search("shadow-denied"),
		// k3 on pro: 6 a minute. Three of them are half of pro's minute
		// (GCRA counts its debt in time), so on free, after a downgrade, it
		// has half of free's 3 left: one more, then a denial.
		plan("pro", 200, both), plan("pro", 200, both), plan("pro", 200, both),
		plan("", 200, both),
		plan("", 429, "api-per-tenant=allowed, api-per-key=denied"),
	}
}

// recorder keeps the events the rules' hook reports.
type recorder struct {
	mu  sync.Mutex
	evs []rules.Event // guarded by mu
}

func (r *recorder) hook(_ context.Context, ev rules.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// take returns the outcome of the request the events are of: one outcome,
// or each policy's when there are several.
func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { r.evs = nil }()
	if len(r.evs) == 1 {
		return r.evs[0].Outcome()
	}
	var out []string
	for _, ev := range r.evs {
		out = append(out, ev.Name+"="+ev.Outcome())
	}
	return strings.Join(out, ", ")
}

// run plays the script through each adapter, each with a fresh store, and
// checks every answer.
func run(ctx context.Context, w io.Writer, cfg config) error {
	for _, name := range cfg.adapters {
		if err := runOne(ctx, w, cfg, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func runOne(ctx context.Context, w io.Writer, cfg config, adapter string) error {
	store, closeStore, err := newStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	var rec recorder
	e, err := loadRules(store, cfg, rules.WithHook(rec.hook))
	if err != nil {
		return err
	}
	defer e.Close()
	reports := newReportGate()
	h, err := router(adapter, e, reports.report)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	where := "memory"
	if cfg.redis != "" {
		where = "Redis at " + cfg.redis
	}
	fmt.Fprintf(w, "%s, counters in %s:\n\n", adapter, where)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\trequest\tstatus\tLimit\tRetry-After\tRateLimit\thook")
	var wrong []string
	for i, s := range script() {
		req, err := http.NewRequestWithContext(ctx, s.method, base+s.path, nil)
		if err != nil {
			return err
		}
		for j := 0; j+1 < len(s.header); j += 2 {
			req.Header.Set(s.header[j], s.header[j+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		outcome := rec.take()
		fmt.Fprintf(tw, "%d\t%s %s\t%d\t%s\t%s\t%s\t%s\n", i+1, s.what, s.path, resp.StatusCode, dash(resp.Header.Get("X-RateLimit-Limit")), dash(resp.Header.Get("Retry-After")), dash(resp.Header.Get("RateLimit")), dash(outcome))
		if resp.StatusCode != s.status || outcome != s.outcome {
			wrong = append(wrong, fmt.Sprintf("request %d (%s): %d %q, want %d %q", i+1, s.what, resp.StatusCode, outcome, s.status, s.outcome))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := inFlight(ctx, w, base, client, reports); err != nil {
		wrong = append(wrong, err.Error())
	}
	if len(wrong) > 0 {
		return errors.New(strings.Join(wrong, "; "))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newStore returns the store cfg asks for: memory, or Redis under a prefix
// of this run's own.
func newStore(ctx context.Context, cfg config) (core.Store, func(), error) {
	if cfg.redis == "" {
		s, err := memstore.New()
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	client := redis.NewClient(&redis.Options{Addr: cfg.redis, ContextTimeoutEnabled: true})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("cannot reach Redis at %s: %w", cfg.redis, err)
	}
	prefix := "tollgate-rules-demo:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return s, func() { s.Close(); client.Close() }, nil
}

// loadRules loads the rules file, or the embedded one.
func loadRules(store core.Store, cfg config, opts ...rules.Option) (*rules.Engine, error) {
	if cfg.rules != "" {
		return rules.Load(store, cfg.rules, opts...)
	}
	c, err := rules.Parse("rules.yaml", defaultRules)
	if err != nil {
		return nil, err
	}
	return rules.New(store, c, opts...)
}

// router returns the named router with the rules in front of its routes;
// GET /reports calls report before it answers.
func router(name string, e *rules.Engine, report func()) (http.Handler, error) {
	ok := "ok\n"
	switch name {
	case "chi":
		r := chi.NewRouter()
		r.Use(chimw.Wrap(e))
		h := func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, ok) }
		r.Get("/healthz", h)
		r.Post("/login", h)
		r.Get("/api/orders", h)
		r.Get("/search", h)
		r.Get("/reports", func(w http.ResponseWriter, r *http.Request) { report(); h(w, r) })
		return r, nil
	case "gin":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.Use(ginmw.Wrap(e))
		h := func(c *gin.Context) { c.String(http.StatusOK, ok) }
		r.GET("/healthz", h)
		r.POST("/login", h)
		r.GET("/api/orders", h)
		r.GET("/search", h)
		r.GET("/reports", func(c *gin.Context) { report(); h(c) })
		return r, nil
	case "echo":
		r := echo.New()
		r.HideBanner, r.HidePort = true, true
		r.Use(echomw.Wrap(e))
		h := func(c echo.Context) error { return c.String(http.StatusOK, ok) }
		r.GET("/healthz", h)
		r.POST("/login", h)
		r.GET("/api/orders", h)
		r.GET("/search", h)
		r.GET("/reports", func(c echo.Context) error { report(); return h(c) })
		return r, nil
	}
	return nil, fmt.Errorf("unknown router %q", name)
}

// serveRules serves the rules file on a chi router until interrupted,
// re-reading it every second and on SIGHUP, and logging decisions and
// reloads with log/slog.
func serveRules(cfg config, addr string) error {
	if cfg.rules == "" {
		dir, err := os.MkdirTemp("", "tollgate-rules")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.rules = filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(cfg.rules, defaultRules, 0o600); err != nil {
			return err
		}
		log.Printf("rules in %s (a copy of the example's rules.yaml): edit it to see a reload", cfg.rules)
	}
	store, closeStore, err := newStore(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	logs, err := rules.SlogHook(logger, sloghook.WithAllowed())
	if err != nil {
		return err
	}
	e, err := rules.Load(store, cfg.rules, rules.WithHook(logs), rules.WithWatch(time.Second),
		rules.WithReloadHook(func(ev rules.ReloadEvent) {
			if ev.Err != nil {
				logger.Error("rules file refused; the rules in force stay", "path", ev.Path, "error", ev.Err)
				return
			}
			logger.Info("rules reloaded", "path", ev.Path, "rules", ev.Rules)
		}))
	if err != nil {
		return err
	}
	defer e.Close()
	h, err := router("chi", e, func() { time.Sleep(3 * time.Second) }) // a slow report
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			_ = e.Reload() // reported through the reload hook
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("serving", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-stop:
		return srv.Close()
	}
}

// reportGate holds the script's reports in their handler: report says it
// has begun on entered, then waits for release.
type reportGate struct{ entered, release chan struct{} }

func newReportGate() *reportGate {
	return &reportGate{make(chan struct{}), make(chan struct{})}
}

func (g *reportGate) report() {
	g.entered <- struct{}{}
	<-g.release
}

// inFlight shows the reports' concurrency limit: two reports held in their
// handler, a third denied while they are, and a fourth admitted once one of
// them is done, its slot given back.
func inFlight(ctx context.Context, w io.Writer, base string, client *http.Client, g *reportGate) error {
	fmt.Fprintln(w, "reports, at most 2 in flight per client:")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\trequest\tstatus\tRetry-After\tRateLimit")
	type reply struct {
		status int
		h      http.Header
		err    error
	}
	send := func() chan reply {
		c := make(chan reply, 1)
		go func() {
			req, err := http.NewRequestWithContext(ctx, "GET", base+"/reports", nil)
			if err != nil {
				c <- reply{err: err}
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				c <- reply{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c <- reply{status: resp.StatusCode, h: resp.Header}
		}()
		return c
	}
	var wrong []string
	show := func(n int, what string, r reply, want int) {
		if r.err != nil {
			wrong = append(wrong, fmt.Sprintf("report %d: %v", n, r.err))
			return
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", n, what, r.status, dash(r.h.Get("Retry-After")), dash(r.h.Get("RateLimit")))
		if r.status != want {
			wrong = append(wrong, fmt.Sprintf("report %d (%s): %d, want %d", n, what, r.status, want))
		}
	}
	// enter sends a report and waits until its handler runs (or it is
	// answered without running, which the check then reports).
	enter := func() (chan reply, *reply) {
		c := send()
		select {
		case <-g.entered:
			return c, nil
		case r := <-c:
			return nil, &r
		}
	}
	first, r1 := enter()
	if r1 != nil {
		show(1, "report (held)", *r1, 200)
		return errors.New(strings.Join(wrong, "; ") + "; report 1 was not held")
	}
	second, r2 := enter()
	if r2 != nil {
		g.release <- struct{}{}
		show(2, "report (held)", *r2, 200)
		return errors.New(strings.Join(wrong, "; ") + "; report 2 was not held")
	}
	show(3, "report, 2 in flight", <-send(), http.StatusTooManyRequests)
	g.release <- struct{}{} // one of the two ends
	other := 2              // the report still held
	select {
	case r := <-first:
		show(1, "report 1 done", r, 200)
	case r := <-second:
		show(2, "report 2 done", r, 200)
		second, other = first, 1
	}
	fourth, r4 := enter()
	if r4 == nil {
		g.release <- struct{}{} // the second and the fourth end
		g.release <- struct{}{}
		show(4, "report, a slot free again", <-fourth, 200)
	} else {
		g.release <- struct{}{}
		show(4, "report, a slot free again", *r4, 200)
	}
	show(other, "report "+strconv.Itoa(other)+" done", <-second, 200)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(wrong) > 0 {
		return errors.New(strings.Join(wrong, "; "))
	}
	return nil
}
