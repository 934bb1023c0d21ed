package pacer_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/pacer"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The API of the tests below: every request is under two limits per client
// IP, taken together, as core/httplimit sends them:
//
//	RateLimit-Policy: "per-second";q=10;w=1, "per-2s";q=12;w=2
//	RateLimit: "per-second";r=R1;t=T1, "per-2s";r=R2;t=T2
//
// The second binds once the first has let 12 through in less than two
// seconds, so a paced client must follow both.
var (
	perSecond = core.PerSecond(10)
	perTwoSec = core.Limit{Rate: 12, Period: 2 * time.Second}
)

// Workload: goroutines sharing one client, each sending perGoroutine GETs.
const (
	goroutines   = 8
	perGoroutine = 3
)

// tollgateAPI serves GET / behind a core/httplimit Gate with the two
// limits, and counts what it answered.
type tollgateAPI struct {
	*httptest.Server
	ok, refused atomic.Int64
}

func newTollgateAPI(t *testing.T) *tollgateAPI {
	t.Helper()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a, err := core.NewLimiter(store, perSecond, core.WithName("per-second"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.NewLimiter(store, perTwoSec, core.WithName("per-2s"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := keyfuncs.IP()
	if err != nil {
		t.Fatal(err)
	}
	g, err := httplimit.New(a, httplimit.WithKeyFunc(ip), httplimit.WithLimit(b, ip))
	if err != nil {
		t.Fatal(err)
	}
	api := &tollgateAPI{}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Serve(w, r, "") != httplimit.Proceed {
			api.refused.Add(1)
			return
		}
		api.ok.Add(1)
		io.WriteString(w, "ok\n")
	}))
	t.Cleanup(api.Close)
	return api
}

// result counts what a workload's callers got.
type result struct {
	ok, refused, other int
	errs               []error
}

// run sends the workload to url through rt and counts the answers.
func run(t *testing.T, rt http.RoundTripper, url string) result {
	t.Helper()
	client := &http.Client{Transport: rt}
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				resp, err := client.Get(url)
				mu.Lock()
				switch {
				case err != nil:
					res.errs = append(res.errs, err)
				case resp.StatusCode == http.StatusOK:
					res.ok++
				case resp.StatusCode == http.StatusTooManyRequests:
					res.refused++
				default:
					res.other++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	return res
}

// The key test: 8 goroutines sharing one paced transport send a
// tollgate-limited API with two policies no request it refuses; the same
// workload through a plain transport is refused.
func TestPacedClientOfATollgateAPIIsNeverRefused(t *testing.T) {
	const total = goroutines * perGoroutine

	plain := newTollgateAPI(t)
	base := &http.Transport{MaxIdleConnsPerHost: goroutines}
	t.Cleanup(base.CloseIdleConnections)
	unpaced := run(t, base, plain.URL)

	api := newTollgateAPI(t)
	tr, err := pacer.New(&http.Transport{MaxIdleConnsPerHost: goroutines})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	start := time.Now()
	paced := run(t, tr, api.URL)
	took := time.Since(start)

	t.Logf("%d goroutines x %d GETs against limits %v and %v per client IP:", goroutines, perGoroutine, perSecond, perTwoSec)
	t.Logf("without pacing: %d admitted, %d refused (429) by the server", plain.ok.Load(), plain.refused.Load())
	t.Logf("with pacing:    %d admitted, %d refused (429) by the server, in %v", api.ok.Load(), api.refused.Load(), took.Round(10*time.Millisecond))

	if len(unpaced.errs) > 0 || unpaced.ok+unpaced.refused != total {
		t.Fatalf("without pacing: %+v, want %d answers of 200 or 429", unpaced, total)
	}
	if unpaced.refused == 0 || plain.refused.Load() != int64(unpaced.refused) {
		t.Errorf("without pacing: callers saw %d refusals, the server made %d; want the same number, more than 0", unpaced.refused, plain.refused.Load())
	}
	if len(paced.errs) > 0 || paced.ok != total || paced.refused != 0 || paced.other != 0 {
		t.Fatalf("with pacing: %d 200s, %d 429s, %d others, errors %v; want %d 200s", paced.ok, paced.refused, paced.other, paced.errs, total)
	}
	if n := api.refused.Load(); n != 0 {
		t.Errorf("with pacing: the server refused %d requests (the transport retried them), want 0", n)
	}
}

// A client that learns from a tollgate API that its quota is spent fails
// fast with the policy that is, and how long it is for.
func TestFailFastNamesTheExhaustedTollgatePolicy(t *testing.T) {
	api := newTollgateAPI(t)
	tr, err := pacer.New(nil, pacer.WithFailFast())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var werr *pacer.WaitError
	sent := 0
	for ; sent < 100; sent++ {
		resp, err := client.Get(api.URL)
		if errors.As(err, &werr) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if werr == nil {
		t.Fatalf("100 requests sent without a *WaitError")
	}
	if sent != 10 || api.refused.Load() != 0 {
		t.Errorf("failed fast after %d requests with %d refused, want after the 10 of per-second, none refused", sent, api.refused.Load())
	}
	if werr.Policy != "per-second" || werr.Wait <= 0 || werr.Wait > time.Second {
		t.Errorf("WaitError %+v, want policy per-second, a wait in (0, 1s]", *werr)
	}
}
