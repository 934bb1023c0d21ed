package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestScript plays the script through chi, gin and echo, each behind a real
// HTTP server: run checks every status and hook outcome (the penalty box
// and shadow rule among them); the test checks the output shows them.
func TestScript(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func(t *testing.T) config
	}{
		{"memory", func(*testing.T) config { return config{} }},
		{"redis", func(t *testing.T) config { return config{redis: redistest.Start(t).Addr} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			cfg.adapters = []string{"chi", "gin", "echo"}
			var out bytes.Buffer
			if err := run(context.Background(), &out, cfg); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			got := out.String()
			for _, adapter := range cfg.adapters {
				if !strings.Contains(got, adapter+", counters in ") {
					t.Errorf("no run through %s:\n%s", adapter, got)
				}
			}
			for _, want := range []*regexp.Regexp{
				// The third denial closes the box for 15 minutes; the next
				// request is answered from it.
				regexp.MustCompile(`(?m)^10 +login /login +429 +5 +900 .* denied$`),
				regexp.MustCompile(`(?m)^11 +login /login +429 +5 +(900|899) .* penalty$`),
				// The shadow rule never denies.
				regexp.MustCompile(`(?m)^24 +search \(shadow\) /search +200 +- +- +- +shadow-denied$`),
				// k1's denial took nothing from the tenant.
				regexp.MustCompile(`(?m)^15 +api acme/k1 /api/orders +429 +3 +20 +"api-per-tenant";r=2;t=36, "api-per-key";r=0;t=20 `),
				// k3 on pro has pro's 6 (r=5; the X- fields describe the tenant,
				// closest to denying); moved to free it keeps its count:
				// one more, then denied for the 10s its debt exceeds free's.
				regexp.MustCompile(`(?m)^25 +api globex/k3 pro /api/orders +200 +5 +- +"api-per-tenant";r=4;t=12, "api-per-key";r=5;t=10 `),
				regexp.MustCompile(`(?m)^28 +api globex/k3 - /api/orders +200 +3 +- +"api-per-tenant";r=1;t=48, "api-per-key";r=0;t=50 `),
				regexp.MustCompile(`(?m)^29 +api globex/k3 - /api/orders +429 +3 +10 +"api-per-tenant";r=1;t=48, "api-per-key";r=0;t=10 `),
				// Two reports held in flight: a third is denied, with
				// Retry-After 1 and no rate quota taken; once one is done its
				// slot serves the next.
				regexp.MustCompile(`(?m)^3 +report, 2 in flight +429 +1 +"reports-in-flight";r=0$`),
				regexp.MustCompile(`(?m)^4 +report, a slot free again +200 +- +"reports-per-ip";r=27;t=\d+, "reports-in-flight";r=0$`),
			} {
				if n := len(want.FindAllString(got, -1)); n != len(cfg.adapters) {
					t.Errorf("%d lines match %s, want one per router:\n%s", n, want, got)
				}
			}
		})
	}
}

// A rules file with a mistake is refused with its file, line and field.
func TestBadRulesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	bad := strings.Replace(string(defaultRules), "limit: 5/m", "limit: five a minute", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), &bytes.Buffer{}, config{rules: path, adapters: []string{"chi"}})
	if err == nil || !strings.Contains(err.Error(), "rules.yaml:24: rules[1].limits[0].limit") {
		t.Fatalf("run with a bad file: %v, want the file, line and field", err)
	}
}

// A report whose handler panics (or aborts) gives its slot back, through
// every router: the two slots serve two reports held afterwards.
func TestReportPanicFreesItsSlot(t *testing.T) {
	for _, adapter := range []string{"chi", "gin", "echo"} {
		t.Run(adapter, func(t *testing.T) {
			store, closeStore, err := newStore(context.Background(), config{})
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			e, err := loadRules(store, config{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			g := newReportGate()
			var panics atomic.Int32
			report := func() {
				if panics.Add(-1) >= 0 {
					panic(http.ErrAbortHandler) // re-raised by gin and echo's recovery too: the connection drops
				}
				g.report()
			}
			panics.Store(4)
			h, err := router(adapter, e, report)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.Start()
			defer srv.Close()
			for i := 0; i < 4; i++ {
				if res, err := srv.Client().Get(srv.URL + "/reports"); err == nil {
					res.Body.Close()
					t.Fatalf("panicking report %d answered %d", i, res.StatusCode)
				}
			}
			var out bytes.Buffer
			if err := inFlight(context.Background(), &out, srv.URL, srv.Client(), g); err != nil {
				t.Fatalf("after 4 panics: %v\n%s", err, out.String())
			}
		})
	}
}
