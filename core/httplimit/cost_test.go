package httplimit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

func TestCostAfterNeedsServeHold(t *testing.T) {
	l, _ := core.NewLimiter(newStore(t), core.PerMinute(10), core.WithName("tokens"))
	g, err := httplimit.New(l, httplimit.WithKeyFunc(clientKey), httplimit.WithCostAfter(httplimit.CostReported))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Client", "a")
	if out := g.Serve(w, r, ""); out != httplimit.Failed || w.Code != 503 {
		t.Fatalf("Serve: %v, %d; want Failed and 503 (nothing could settle after the handler)", out, w.Code)
	}
	if d, _ := l.Peek(context.Background(), "a"); d.Remaining != 10 {
		t.Fatalf("Serve took %d: want nothing taken", 10-d.Remaining)
	}
	if httplimit.ReportCost(r.Context(), 3) {
		t.Error("ReportCost on a request under no cost-after limit reported true")
	}
	if _, err := httplimit.New(l, httplimit.WithKeyFunc(clientKey), httplimit.WithCostAfter(7)); err == nil || !strings.Contains(err.Error(), "WithCostAfter") {
		t.Errorf("an unknown cost source: %v, want an error naming WithCostAfter", err)
	}
}

// The settlement of a tiered request charges the tier it was taken under,
// and each of several limits on its own key.
func TestCostAfterTiersAndSeveralLimits(t *testing.T) {
	store := newStore(t)
	api, _ := core.NewLimiter(store, core.PerMinute(10), core.WithName("api"))
	daily, _ := core.NewLimiter(store, core.PerHour(1000), core.WithName("daily"))
	plan, _ := keyfuncs.Header("X-Plan", 16)
	g, err := httplimit.New(api, httplimit.WithKeyFunc(clientKey),
		httplimit.WithTiers(api, plan, map[string]core.Limit{"free": core.PerMinute(10), "pro": core.PerMinute(100)}, "free"),
		httplimit.WithLimit(daily, nil), httplimit.WithCostAfter(httplimit.CostReported))
	if err != nil {
		t.Fatal(err)
	}
	// Through an adapter's middleware, which hands the handler the request
	// carrying the settlement.
	mw := (&httplimit.Adapter[*http.Request]{Name: "test", Route: func(*http.Request) string { return "" },
		Request: func(_ *http.Request, r *http.Request) *http.Request { return r }}).Wrap(g)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = mw.Handle(r, w, r, func(r *http.Request) error {
			n, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
			if !httplimit.ReportCost(r.Context(), n) {
				return errors.New("no settlement")
			}
			_, _ = io.WriteString(httplimit.Writer(r, w), "ran")
			return nil
		})
	}))
	t.Cleanup(srv2.Close)
	send := func(header ...string) *http.Response {
		req, _ := http.NewRequest("GET", srv2.URL, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	send("X-Client", "a", "X-Plan", "pro", "X-Cost", "40")
	ctx := context.Background()
	pro, _ := api.Tier(core.PerMinute(100))
	if d, _ := pro.Peek(ctx, "a"); d.Remaining != 60 {
		t.Errorf("pro tier after a request of cost 40: %d left, want 60", d.Remaining)
	}
	if d, _ := daily.Peek(ctx, "a"); d.Remaining != 960 {
		t.Errorf("daily after a request of cost 40: %d left, want 960", d.Remaining)
	}
	// Moving to free, the key is read by free's limit: GCRA carries the
	// 40 of pro's 100 a minute as 24s used, 4 of free's 10: 5 left after
	// this request's reservation.
	if res := send("X-Client", "a", "X-Plan", "free", "X-Cost", "1"); res.StatusCode != 200 || res.Header.Get("X-Ratelimit-Remaining") != "5" {
		t.Errorf("free after 40 under pro: %d with %q left, want 200 with 5", res.StatusCode, res.Header.Get("X-Ratelimit-Remaining"))
	}
}
