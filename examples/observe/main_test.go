package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-go/tollgate/prommetrics"
)

// The numbers move: every router's policy gets decisions, allowed and
// denied (the greedy clients), scraped from the program's own /metrics.
func TestMetricsMove(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, &strings.Builder{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/metrics"
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		if res, err := http.Get(url); err == nil {
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, perr := p.TextToMetricFamilies(res.Body)
			res.Body.Close()
			if perr != nil {
				t.Fatalf("the exposition does not parse: %v", perr)
			}
			seen := map[string]bool{}
			for _, m := range fams["tollgate_decisions_total"].GetMetric() {
				var policy, outcome string
				for _, l := range m.Label {
					switch l.GetName() {
					case "policy":
						policy = l.GetValue()
					case "outcome":
						outcome = l.GetValue()
					}
				}
				if m.Counter.GetValue() > 0 {
					seen[policy+" "+outcome] = true
				}
			}
			for _, p := range []string{"chi", "gin", "echo"} {
				for _, o := range []string{"allowed", "denied"} {
					if !seen[p+" "+o] {
						missing += " " + p + "/" + o
					}
				}
			}
			if missing == "" {
				checkPage(t, "http://"+ln.Addr().String()+"/debug/tollgate?format=json")
				return
			}
		} else {
			missing = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s no decisions for:%s", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Every query of the Grafana dashboard names only metrics prommetrics
// exports (a histogram's _bucket, _sum and _count included), and every
// metric is on the dashboard.
func TestDashboardQueriesUseOurMetrics(t *testing.T) {
	raw, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	m, err := prommetrics.New()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *prometheus.Desc, 64)
	m.Describe(ch)
	close(ch)
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	ours := map[string]bool{}
	for d := range ch {
		if s := fq.FindStringSubmatch(d.String()); s != nil {
			ours[s[1]] = true
		}
	}
	if len(ours) < 10 {
		t.Fatalf("found %d metric names in prommetrics' descriptions: the test reads them wrong", len(ours))
	}
	used := map[string]bool{}
	name := regexp.MustCompile(`tollgate_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && ours[b] {
						base = b
					}
				}
				if !ours[base] {
					t.Errorf("panel %q queries %s, which prommetrics does not export", p.Title, n)
				}
				used[base] = true
			}
		}
	}
	for n := range ours {
		if !used[n] {
			t.Errorf("%s is on no panel of the dashboard", n)
		}
	}
	if queries == 0 {
		t.Fatal("no queries in the dashboard")
	}
}

// checkPage reads the operator's page as JSON: the three policies, and the
// greedy clients among the clients denied most, hashed.
func checkPage(t *testing.T, url string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct {
		Policies []struct{ Name string }
		Denied   struct {
			Top []struct {
				Policy, Key string
				Count       int64
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatalf("the operator's page as JSON: %v", err)
	}
	names := map[string]bool{}
	for _, p := range page.Policies {
		names[p.Name] = true
	}
	for _, n := range []string{"chi", "gin", "echo"} {
		if !names[n] {
			t.Errorf("the operator's page lists policies %v, not %q", page.Policies, n)
		}
	}
	if len(page.Denied.Top) == 0 {
		t.Fatal("the operator's page shows no denied client")
	}
	for _, d := range page.Denied.Top {
		if strings.HasPrefix(d.Key, "client-") || d.Count < 1 {
			t.Errorf("a denied client shown as %+v: want a hashed key and a count", d)
		}
	}
}

// A connection opened without a request (a client that gave up before
// sending one) does not hold the program up when it stops, nor make the
// stop an error.
func TestStopsWithAConnectionThatSentNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, &strings.Builder{}) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Let the server accept it.
	if res, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err == nil {
		res.Body.Close()
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		// Shutdown alone waits 5s for that connection, past run's
		// deadline for it: an error once.
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("run: %v after %v, want it to stop cleanly", err, time.Since(start))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not stop")
	}
}
