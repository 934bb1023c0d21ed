package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// Cost known after the response (httplimit.WithCostAfter) on a real Redis
// and a real Redis Cluster, through chimw on a real server: two instances
// share a limit of response bytes; each charges its responses' real size,
// one of them streamed to a client that goes away mid-body.
func TestCostAfterOnRedis(t *testing.T) {
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			client := b.client(t)
			prefix := fmt.Sprintf("e2e-cost-%d:", i)
			settled := make(chan core.Event, 64)
			newServer := func() *httptest.Server {
				o := append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithKeySecret(testSecret), redisstore.WithTimeout(storeTimeout)}, b.opts...)
				s, err := redisstore.New(client, o...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				// 10,000 bytes an hour per client (so the test's own time
				// refills next to nothing), token bucket; fail closed, so
				// every answer is Redis'.
				l, err := core.NewLimiter(s, core.PerHour(10_000).WithAlgorithm(core.TokenBucket), core.WithName("bytes"), core.WithFailClosed(),
					core.WithHook(func(_ context.Context, ev core.Event) {
						if ev.Settled {
							settled <- ev
						}
					}))
				if err != nil {
					t.Fatal(err)
				}
				client, _ := keyfuncs.Header("X-Client", 64)
				mw, err := chimw.New(l, httplimit.WithKeyFunc(client), httplimit.WithCostAfter(httplimit.CostBodyBytes))
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.Header.Get("X-Size"))
					if r.Header.Get("X-Stream") == "" {
						_, _ = io.WriteString(w, strings.Repeat("x", n))
						return
					}
					// Half, flushed; the rest once the client is gone.
					_, _ = io.WriteString(w, strings.Repeat("x", n/2)+"\n")
					_ = http.NewResponseController(w).Flush()
					<-r.Context().Done()
					_, _ = io.WriteString(w, strings.Repeat("y", n-n/2-1))
				})))
				t.Cleanup(srv.Close)
				return srv
			}
			a, b := newServer(), newServer()
			get := func(srv *httptest.Server, size int) *http.Response {
				req, _ := http.NewRequest("GET", srv.URL, nil)
				req.Header.Set("X-Client", "alice")
				req.Header.Set("X-Size", strconv.Itoa(size))
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res
			}
			wait := func() core.Event {
				select {
				case ev := <-settled:
					if ev.Err != nil {
						t.Fatalf("settlement failed: %v", ev.Err)
					}
					return ev
				case <-time.After(patience):
					t.Fatal("no settlement")
					return core.Event{}
				}
			}
			if res := get(a, 4000); res.StatusCode != 200 {
				t.Fatalf("first: %d", res.StatusCode)
			}
			if ev := wait(); ev.Cost != 3999 || ev.Decision.Remaining > 6000 {
				t.Fatalf("settlement %+v, want 3999 charged past the reservation, at most 6000 left", ev)
			}
			// The other instance sees the same count, and charges its own.
			if res := get(b, 5000); res.StatusCode != 200 || mustInt(t, res.Header.Get("X-Ratelimit-Remaining")) > 5999 {
				t.Fatalf("second, on the other instance: %d with %s left, want 200 with at most 5999", res.StatusCode, res.Header.Get("X-Ratelimit-Remaining"))
			}
			wait()
			// A stream its client leaves mid-body is settled at what was
			// written: 2,001 bytes, then (after the client left) what of
			// the other 1,999 the server still took.
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", a.URL, nil)
			req.Header.Set("X-Client", "alice")
			req.Header.Set("X-Size", "4000")
			req.Header.Set("X-Stream", "1")
			res, err := a.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			cancel()
			res.Body.Close()
			ev := wait()
			if ev.Cost < 2001-1 || ev.Cost > 4000-1 {
				t.Fatalf("settlement of the abandoned stream %+v, want its bytes written (2,001 to 4,000) less the reservation", ev)
			}
			// At least 11,000 bytes charged of 10,000: the key is in debt, and
			// denied on either instance until it has paid.
			if res := get(b, 10); res.StatusCode != 429 {
				t.Fatalf("in debt: %d, want 429", res.StatusCode)
			}
			if res := get(a, 10); res.StatusCode != 429 {
				t.Fatalf("in debt, the other instance: %d, want 429", res.StatusCode)
			}
		})
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
