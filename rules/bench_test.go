package rules_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/core/httplimit/adaptertest"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/rules"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// fiftyRules is 50 rules, each matching GET under a path prefix of its own
// and holding 2 limits: per client IP and per tenant (a header).
func fiftyRules() rules.Config {
	var cfg rules.Config
	huge := core.Limit{Rate: 1_000_000_000, Period: time.Second} // never reached
	for i := 0; i < 50; i++ {
		n := strconv.Itoa(i)
		cfg.Rules = append(cfg.Rules, rules.Rule{
			Name:  "svc" + n,
			Match: rules.Match{Methods: []string{"GET"}, PathPrefixes: []string{"/svc" + n + "/"}},
			Limits: []rules.NamedLimit{
				{Name: "svc" + n + "-per-tenant", Limit: huge, Key: "header:X-Tenant"},
				{Name: "svc" + n + "-per-ip", Limit: huge, Key: "ip"},
			},
		})
	}
	return cfg
}

// BenchmarkRules is a request matched against 50 rules of 2 limits each,
// on the memory store: matching plus deciding both limits in one step plus
// the response fields. The first rule matching, the last, and none are
// measured beside a Gate holding the same 2 limits with no rules at all.
func BenchmarkRules(b *testing.B) {
	store, err := memstore.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	e, err := rules.New(store, fiftyRules())
	if err != nil {
		b.Fatal(err)
	}
	serve := func(b *testing.B, h func(w http.ResponseWriter, r *http.Request) httplimit.Outcome, path string) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "203.0.113.7:41000"
		r.Header.Set("X-Tenant", "acme")
		w := adaptertest.NewNopWriter()
		if out := h(w, r); out != httplimit.Proceed {
			b.Fatalf("outcome %v", out)
		}
		b.ReportAllocs()
		for b.Loop() {
			w.Reset()
			h(w, r)
		}
	}
	rule := func(w http.ResponseWriter, r *http.Request) httplimit.Outcome { return e.Serve(w, r, "") }
	b.Run("50-rules/first-matches", func(b *testing.B) { serve(b, rule, "/svc0/items") })
	b.Run("50-rules/last-matches", func(b *testing.B) { serve(b, rule, "/svc49/items") })
	b.Run("50-rules/none-matches", func(b *testing.B) { serve(b, rule, "/other") })

	// The same rules, each with a penalty box: the box is read in the
	// limits' step.
	boxed := fiftyRules()
	for i := range boxed.Rules {
		boxed.Rules[i].Penalty = &core.Penalty{Denials: 5, Within: time.Minute, For: time.Hour}
	}
	eb, err := rules.New(store, boxed)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("50-rules-boxed/last-matches", func(b *testing.B) {
		serve(b, func(w http.ResponseWriter, r *http.Request) httplimit.Outcome { return eb.Serve(w, r, "") }, "/svc49/items")
	})
	// Mode all, two rules matching, each with a penalty.
	both := rules.Config{Mode: rules.AllMatches, Rules: boxed.Rules[:2]}
	both.Rules[1].Match.PathPrefixes = both.Rules[0].Match.PathPrefixes
	ea, err := rules.New(store, both)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("all-2-rules-boxed", func(b *testing.B) {
		serve(b, func(w http.ResponseWriter, r *http.Request) httplimit.Outcome { return ea.Serve(w, r, "") }, "/svc0/items")
	})

	// The same two limits in a Gate, keyed by key funcs: no rules.
	tenant, err := core.NewLimiter(store, core.Limit{Rate: 1_000_000_000, Period: time.Second}, core.WithName("gate-per-tenant"))
	if err != nil {
		b.Fatal(err)
	}
	ip, err := core.NewLimiter(store, core.Limit{Rate: 1_000_000_000, Period: time.Second}, core.WithName("gate-per-ip"))
	if err != nil {
		b.Fatal(err)
	}
	hdr, err := keyfuncs.Header("X-Tenant", 256)
	if err != nil {
		b.Fatal(err)
	}
	ipKey, err := keyfuncs.IP()
	if err != nil {
		b.Fatal(err)
	}
	g, err := httplimit.New(tenant, httplimit.WithKeyFunc(hdr), httplimit.WithLimit(ip, ipKey))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gate-2-limits", func(b *testing.B) {
		serve(b, func(w http.ResponseWriter, r *http.Request) httplimit.Outcome { return g.Serve(w, r, "") }, "/svc49/items")
	})
}

// BenchmarkPerRequest is a request through Engine.Handler under one rule
// holding a concurrency limit (a slot taken before the handler runs and
// given back when it returns), beside the same rule holding a rate limit
// instead: what a concurrency limit costs a request next to a rate limit,
// on the memory store, from every core over 10,000 client IPs, as
// memstore's BenchmarkPerRequest measures the two without the engine.
// Compare the two with benchstat -col /limit.
func BenchmarkPerRequest(b *testing.B) {
	addrs := make([]string, 10_000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.0.%d.%d:41000", i>>8, i&255)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	// Each limit is one no request reaches.
	for _, c := range []struct {
		name  string
		limit rules.NamedLimit
	}{
		{"rate", rules.NamedLimit{Name: "per-ip", Limit: core.Limit{Rate: 1_000_000_000, Period: time.Second}, Key: "ip"}},
		{"concurrency", rules.NamedLimit{Name: "per-ip", Concurrent: 1_000_000, Key: "ip"}},
	} {
		b.Run("limit="+c.name, func(b *testing.B) {
			store, err := memstore.New()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			e, err := rules.New(store, rules.Config{Rules: []rules.Rule{{
				Name:   "uploads",
				Match:  rules.Match{PathPrefixes: []string{"/upload"}},
				Limits: []rules.NamedLimit{c.limit},
			}}})
			if err != nil {
				b.Fatal(err)
			}
			h := e.Handler(ok)
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(7919)
				r := httptest.NewRequest(http.MethodGet, "/upload/file", nil)
				w := adaptertest.NewNopWriter()
				for pb.Next() {
					i++
					r.RemoteAddr = addrs[i%uint64(len(addrs))]
					w.Reset()
					h.ServeHTTP(w, r)
					if w.Status() != http.StatusOK {
						b.Errorf("status %d, want 200", w.Status())
						return
					}
				}
			})
		})
	}
}
