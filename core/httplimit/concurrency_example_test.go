package httplimit_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// A rate limit and a concurrency limit on one route: 100 reports a minute
// per client, at most 1 in flight. The gate is served with ServeHold, as
// every adapter's middleware serves it, so that the slot is held while the
// handler runs.
func ExampleWithConcurrency() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	rate, _ := core.NewLimiter(store, core.PerMinute(100), core.WithName("reports"))
	inFlight, _ := core.NewConcurrencyLimiter(store, 1, core.WithName("reports-in-flight"))
	byIP, err := keyfuncs.IP() // the connection's address
	if err != nil {
		panic(err)
	}
	g, err := httplimit.New(rate, httplimit.WithKeyFunc(byIP), httplimit.WithConcurrency(inFlight, nil))
	if err != nil {
		panic(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, h := g.ServeHold(w, r, "")
		if out != httplimit.Proceed {
			return
		}
		defer h.Release() // also when the handler panics
		entered <- struct{}{}
		<-release // a slow report
		io.WriteString(w, "report\n")
	}))
	defer srv.Close()

	done := make(chan int)
	go func() {
		res, err := http.Get(srv.URL)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	<-entered // the first report is running
	res, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, "Retry-After:", res.Header.Get("Retry-After"))
	fmt.Println("RateLimit-Policy:", res.Header.Get("RateLimit-Policy"))
	fmt.Println("RateLimit:", res.Header.Get("RateLimit"))
	release <- struct{}{}
	fmt.Println("first report:", <-done)
	// Output:
	// 429 Retry-After: 1
	// RateLimit-Policy: "reports";q=100;w=60, "reports-in-flight";q=1;qu="concurrent-requests"
	// RateLimit: "reports-in-flight";r=0
	// first report: 200
}
