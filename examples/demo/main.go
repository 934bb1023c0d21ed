// Command demo shows tollgate's router adapters answering alike. It starts
// a chi, a gin, an echo v4 and an echo v5 server on free loopback ports, each with
// GET /hello behind the adapter's one-line form PerIP(core.PerMinute(5)),
// sends each a burst of 8 requests and prints what came back: 5 admitted,
// 3 denied, and the rate-limit fields of the first denial, router by
// router. It exits 1 if a server or a request fails or the counts are not
// 5 and 3.
//
//	go run ./examples/demo
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
	echo5 "github.com/labstack/echo/v5"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/echo5mw"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/examples/internal/server"
	"github.com/tollgate-go/tollgate/ginmw"
)

const (
	quota     = 5 // requests per minute per client IP
	burstSize = 8 // requests sent to each router
)

// fieldNames are the response fields shown for the first denial.
var fieldNames = []string{
	"X-RateLimit-Limit",
	"X-RateLimit-Remaining",
	"X-RateLimit-Reset",
	"RateLimit-Policy",
	"RateLimit",
	"Retry-After",
}

// result is what one router answered to the burst.
type result struct {
	router      string
	sent        int
	ok          int         // 200s
	denied      int         // 429s
	firstDenial http.Header // the header of the first 429, nil if none
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run bursts every router, prints the results to w and checks the counts.
func run(w io.Writer) error {
	results, err := burstAll(context.Background())
	if err != nil {
		return err
	}
	if err := report(w, results); err != nil {
		return err
	}
	return check(results)
}

// routers returns a fresh handler per router, each serving GET /hello
// behind its adapter's PerIP with a memory store of its own.
func routers() []struct {
	name    string
	handler http.Handler
} {
	r := chi.NewRouter()
	r.Use(chimw.PerIP(core.PerMinute(quota)))
	r.Get("/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "hello\n")
	})

	gin.SetMode(gin.ReleaseMode) // no route listing on stdout
	g := gin.New()
	g.Use(ginmw.PerIP(core.PerMinute(quota)))
	g.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(echomw.PerIP(core.PerMinute(quota)))
	e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "hello\n") })

	e5 := echo5.New() // its banner is printed by StartConfig only
	e5.Use(echo5mw.PerIP(core.PerMinute(quota)))
	e5.GET("/hello", func(c *echo5.Context) error { return c.String(http.StatusOK, "hello\n") })

	return []struct {
		name    string
		handler http.Handler
	}{{"chi", r}, {"gin", g}, {"echo v4", e}, {"echo v5", e5}}
}

// burstAll bursts each router in turn, on a server of its own.
func burstAll(ctx context.Context) ([]result, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var results []result
	for _, rt := range routers() {
		res, err := burst(ctx, client, rt.name, rt.handler)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rt.name, err)
		}
		results = append(results, res)
	}
	return results, nil
}

// burst serves h on a free loopback port, sends it burstSize GET /hello
// requests one after another and shuts the server down.
func burst(ctx context.Context, client *http.Client, name string, h http.Handler) (res result, err error) {
	base, stop, err := server.Loopback(h)
	if err != nil {
		return result{}, err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()

	res.router = name
	url := base + "/hello"
	for range burstSize {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return result{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return result{}, err
		}
		// Drain the body so the next request reuses the connection.
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return result{}, err
		}
		res.sent++
		switch resp.StatusCode {
		case http.StatusOK:
			res.ok++
		case http.StatusTooManyRequests:
			res.denied++
			if res.firstDenial == nil {
				res.firstDenial = resp.Header
			}
		}
	}
	return res, nil
}

// report prints a summary table, then the first denial's fields with one
// column per router, then whether the routers agreed.
func report(w io.Writer, results []result) error {
	fmt.Fprintf(w, "GET /hello %d times on each router, each behind PerIP(core.PerMinute(%d)):\n\n", burstSize, quota)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "router\tsent\t200\t429")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r.router, r.sent, r.ok, r.denied)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nfields of the first 429:")
	fmt.Fprint(tw, "field")
	for _, r := range results {
		fmt.Fprintf(tw, "\t%s", r.router)
	}
	fmt.Fprintln(tw)
	for _, name := range fieldNames {
		fmt.Fprint(tw, name)
		for _, r := range results {
			v := r.firstDenial.Get(name)
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(tw, "\t%s", v)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	answer := "no"
	if identical(results) {
		answer = "yes"
	}
	_, err := fmt.Fprintf(w, "\nall %d routers answered identically: %s\n", len(results), answer)
	return err
}

// identical reports whether every router had the same counts and the same
// first-denial fields.
func identical(results []result) bool {
	if len(results) == 0 {
		return true
	}
	first := results[0]
	for _, r := range results[1:] {
		if r.sent != first.sent || r.ok != first.ok || r.denied != first.denied {
			return false
		}
		for _, name := range fieldNames {
			if r.firstDenial.Get(name) != first.firstDenial.Get(name) {
				return false
			}
		}
	}
	return true
}

// check reports every router that did not admit exactly quota requests and
// deny the rest.
func check(results []result) error {
	var errs []error
	for _, r := range results {
		if r.sent != burstSize || r.ok != quota || r.denied != burstSize-quota {
			errs = append(errs, fmt.Errorf("%s: %d sent, %d admitted, %d denied; want %d, %d, %d",
				r.router, r.sent, r.ok, r.denied, burstSize, quota, burstSize-quota))
		}
	}
	return errors.Join(errs...)
}
