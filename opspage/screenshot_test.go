package opspage_test

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/opspage"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

var screenshot = flag.String("screenshot", "", "write the operator's page, as a PNG, to this file (make opspage-screenshot)")

// demoRules is the rules file of the screenshot: a service's health check,
// login, and API.
const demoRules = `mode: first
deny:
  cidr: [192.0.2.0/24]
rules:
  - name: health
    match: {path_prefix: /healthz}
    skip: true
  - name: login
    match: {method: POST, path_prefix: /login}
    limits:
      - {name: login-per-ip, limit: 5/m, key: ip}
    penalty: {denials: 5, within: 10m, for: 15m}
  - name: api
    match: {path_prefix: /api/}
    limits:
      - name: api-per-tenant
        key: "header:X-Tenant"
        tiers: {free: 100/m, pro: 5000/m}
        tier_key: "header:X-Plan"
        default_tier: free
      - {name: api-per-ip, limit: 20/s burst 40, key: ip}
      - {name: uploads, concurrent: 4, key: ip}
`

// TestScreenshot renders the page of a small service, a memory store and a
// Redis store beside a rules file, after a few minutes' worth of traffic,
// in a real Chromium, as an operator sees it; with -screenshot it writes
// the PNG (docs/opspage.png is made so).
func TestScreenshot(t *testing.T) {
	out := *screenshot
	if out != "" {
		abs, err := filepath.Abs(out)
		if err != nil {
			t.Fatal(err)
		}
		out = abs
	}
	t.Chdir(t.TempDir()) // so that the page names the file as an application would
	if err := os.WriteFile("rules.yaml", []byte(demoRules), 0o600); err != nil {
		t.Fatal(err)
	}
	mem := memStore(t)
	client := redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true})
	red := redisStore(t, client, redisstore.WithPrefix(uniquePrefix(t)))

	page, err := opspage.New(opspage.WithAuthorize(isOperator))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := page.Store("local", mem)
	shared, _ := page.Store("redis", red)
	checkout, err := core.NewLimiter(mem, core.PerMinute(30), local.Options("checkout")...)
	if err != nil {
		t.Fatal(err)
	}
	search, err := core.NewLimiter(red, core.PerSecond(10).WithAlgorithm(core.SlidingWindowCounter), shared.Options("search")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := page.Limiters(checkout, search); err != nil {
		t.Fatal(err)
	}
	res, _ := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("127.0.0.1"))
	engine, err := rules.Load(red, "rules.yaml", rules.WithIPResolver(res), rules.WithLimiterOptions(shared.Hooks()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	if err := page.Rules(engine); err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/debug/tollgate", page)
	mux.Handle("/", engine.Handler(ok))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, page: page, srv: srv}

	// Traffic: tenants on the free plan over their quota, one address
	// scraping, one guessing passwords until boxed, and a checkout and a
	// search limit in Go.
	ctx := t.Context()
	api := func(n int, tenant, plan string, ips ...string) {
		for i := 0; i < n; i++ {
			f.request("GET", fmt.Sprintf("/api/v1/items/%d", i), "X-Tenant", tenant, "X-Plan", plan, "X-Forwarded-For", ips[i%len(ips)])
		}
	}
	api(160, "initech", "free", "203.0.113.24", "203.0.113.25", "203.0.113.26", "203.0.113.27", "203.0.113.28", "203.0.113.29")
	api(130, "globex", "free", "198.51.100.40", "198.51.100.41", "198.51.100.42", "198.51.100.43")
	api(104, "hooli", "free", "198.51.100.60", "198.51.100.61", "198.51.100.62")
	api(300, "acme", "pro", "203.0.113.90") // one address scraping
	for i := 0; i < 12; i++ {
		f.request("POST", "/login", "X-Forwarded-For", "203.0.113.7")
	}
	for i := 0; i < 7; i++ {
		f.request("POST", "/login", "X-Forwarded-For", "198.51.100.23")
	}
	for i := 0; i < 41; i++ {
		checkout.Take(ctx, "customer-4711")
	}
	for i := 0; i < 33; i++ {
		checkout.Take(ctx, "customer-1024")
	}
	for i := 0; i < 25; i++ {
		search.Take(ctx, "203.0.113.24")
	}

	bctx := browser(t, true)
	run(t, bctx, "sizing the window", chromedp.EmulateViewport(1200, 900))
	open(t, bctx, f)
	shot := run(t, bctx, "taking the screenshot", chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() < 900 {
		t.Fatalf("the screenshot is %v, want 1200 wide and the whole page tall", b)
	}
	if out != "" {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes, %v) at %v", out, len(shot), img.Bounds().Size(), time.Now().UTC().Format(time.RFC3339))
	}
}
