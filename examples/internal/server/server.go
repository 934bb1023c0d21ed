// Package server is what the example servers share: flags, a memory
// store and limiter, and a graceful shutdown. Each example keeps only what
// is particular to its router.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// App builds an example's router with the adapter's middleware applying l.
type App func(l *core.Limiter) (http.Handler, error)

// Main runs the example named name: it reads -addr and -limit, serves app
// until SIGINT or SIGTERM, and exits 2 on bad flags, 1 on failure.
func Main(name string, app App) {
	addr, limit, err := ParseFlags(name, os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the flag set has printed the error and the usage
	}
	if err := serve(name, addr, limit, app); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// limitValue is a core.Limit as a flag, read by core.ParseLimit.
type limitValue core.Limit

func (v *limitValue) String() string { return core.Limit(*v).String() }

func (v *limitValue) Set(s string) error {
	l, err := core.ParseLimit(s)
	if err != nil {
		return err
	}
	*v = limitValue(l)
	return nil
}

// ParseFlags reads the command line of the example named name. On an error,
// including an invalid -limit, it has already printed the reason and the
// usage to output.
func ParseFlags(name string, args []string, output io.Writer) (addr string, limit core.Limit, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen `address`")
	lv := limitValue(core.PerMinute(10))
	fs.Var(&lv, "limit", "limit per client IP and route: `RATE/PERIOD`, then optionally a burst and an algorithm, as in 5/s, 100/m burst 20, 1000/h fixed-window")
	if err := fs.Parse(args); err != nil {
		return "", core.Limit{}, err
	}
	return addr, core.Limit(lv), nil
}

// NewHandler returns app limiting each client IP to limit, named "per-ip",
// in a memory store of its own. Call closeStore when done with it.
func NewHandler(limit core.Limit, app App) (h http.Handler, closeStore func() error, err error) {
	store, err := memstore.New()
	if err != nil {
		return nil, nil, err
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err == nil {
		h, err = app(l)
	}
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	return h, store.Close, nil
}

// serve runs the app on addr until SIGINT or SIGTERM, then shuts it down.
func serve(name, addr string, limit core.Limit, app App) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h, closeStore, err := NewHandler(limit, app)
	if err != nil {
		return err
	}
	defer closeStore()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("%s: listening on %s, %s per client IP and route; try: curl -i http://%s/users/1\n", name, ln.Addr(), limit, ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills at once
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Loopback serves h on a free loopback port, for the examples that run
// their own server and client in one process. It returns the base URL
// ("http://127.0.0.1:port") and stop, which shuts the server down (waiting
// up to 5 seconds for requests in flight) and reports what went wrong
// while it served or stopped.
func Loopback(h http.Handler) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if err != nil {
			err = fmt.Errorf("shutdown: %w", err)
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("serve: %w", serr))
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}
