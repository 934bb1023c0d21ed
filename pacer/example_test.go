package pacer_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tollgate-go/tollgate/pacer"
)

// A client of an API that allows 2 requests a minute: it sends 2, and the
// third waits until the quota is back (here, with WithFailFast, fails at
// once instead, saying for how long).
func Example() {
	left := 2
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if left == 0 {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		left--
		w.Header().Set("RateLimit-Policy", `"per-client";q=2;w=60`)
		w.Header().Set("RateLimit", fmt.Sprintf(`"per-client";r=%d;t=60`, left))
		io.WriteString(w, "ok\n")
	}))
	defer api.Close()

	t, err := pacer.New(nil, pacer.WithFailFast()) // without it: waits, up to a minute (WithMaxWait)
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: t}
	for range 3 {
		res, err := client.Get(api.URL)
		var wait *pacer.WaitError
		if errors.As(err, &wait) {
			fmt.Printf("not sent: policy %q exhausted for about %v\n", wait.Policy, wait.Wait.Round(time.Second))
			continue
		}
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Println(res.Status)
	}
	// Output:
	// 200 OK
	// 200 OK
	// not sent: policy "per-client" exhausted for about 1m0s
}
