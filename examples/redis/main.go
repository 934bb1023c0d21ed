// Command redis shows one limit shared through Redis by several app
// instances. It starts three instances on free loopback ports, a chi, a gin
// and an echo server, each with its own go-redis client, Redis store and
// limiter ("per-ip", 5 a minute, falling back to a memory store of a third of
// that if Redis fails), sends 9 requests to them in turn and prints who
// answered what: 5 admitted in all, however the requests were spread, then
// 429s from every instance.
//
//	go run ./examples/redis                                  # Redis on 127.0.0.1:6379
//	go run ./examples/redis -redis 10.0.0.5:6379
//	go run ./examples/redis -cluster 10.0.0.5:7000,10.0.0.6:7000,10.0.0.7:7000
//
// Each run uses keys of its own (under tollgate-demo:<run>:), which expire
// within a minute. It exits 1 if Redis cannot be reached or the counts are
// wrong.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/echomw"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/stores/memstore"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

const (
	quota     = 5 // requests per minute per client IP, across all instances
	instances = 3
	requests  = 9
)

// config is what the flags set.
type config struct {
	addr    string   // a single Redis server
	cluster []string // Redis Cluster seed addresses; wins over addr
	timeout time.Duration
}

func main() {
	var cfg config
	var cluster string
	flag.StringVar(&cfg.addr, "redis", "127.0.0.1:6379", "Redis `address`")
	flag.StringVar(&cluster, "cluster", "", "Redis Cluster `addresses`, comma-separated (instead of -redis)")
	flag.DurationVar(&cfg.timeout, "timeout", redisstore.DefaultTimeout, "deadline of each Redis call")
	flag.Parse()
	if cluster != "" {
		cfg.cluster = strings.Split(cluster, ",")
	}
	if err := run(context.Background(), os.Stdout, os.Stderr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "redis demo:", err)
		os.Exit(1)
	}
}

// instance is one app process: its own client, store, limiter and server.
type instance struct {
	name   string
	url    string
	client redis.UniversalClient
	srv    *http.Server
}

// run starts the instances, sends the requests, prints the table to w and
// the failover events to logw, and checks the counts.
func run(ctx context.Context, w, logw io.Writer, cfg config) error {
	prefix := "tollgate-demo:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	var all []*instance
	defer func() {
		for _, in := range all {
			in.stop()
		}
	}()
	for _, name := range []string{"chi", "gin", "echo"} {
		in, err := start(ctx, name, prefix, cfg, logw)
		if err != nil {
			return err
		}
		all = append(all, in)
	}

	fmt.Fprintf(w, "%d requests from one client, spread over %d instances sharing \"per-ip\" (%d/m) in Redis:\n\n", requests, instances, quota)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "request\tinstance\tstatus\tRateLimit\tRetry-After")
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	admitted, denied := 0, 0
	for i := 0; i < requests; i++ {
		in := all[i%len(all)]
		resp, err := client.Get(in.url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			admitted++
		case http.StatusTooManyRequests:
			denied++
		default:
			return fmt.Errorf("%s answered %s", in.name, resp.Status)
		}
		retry := resp.Header.Get("Retry-After")
		if retry == "" {
			retry = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", i+1, in.name, resp.StatusCode, resp.Header.Get("RateLimit"), retry)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nadmitted %d, denied %d: the quota is global, not per instance\n", admitted, denied)
	if admitted != quota || denied != requests-quota {
		return fmt.Errorf("admitted %d and denied %d, want %d and %d", admitted, denied, quota, requests-quota)
	}
	return nil
}

// newClient connects to Redis as cfg says, and checks that it answers.
func newClient(ctx context.Context, cfg config) (redis.UniversalClient, error) {
	var c redis.UniversalClient
	if len(cfg.cluster) > 0 {
		// ContextTimeoutEnabled lets the store bound each call with a
		// context deadline instead of a goroutine of its own.
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.cluster, ContextTimeoutEnabled: true})
	} else {
		c = redis.NewClient(&redis.Options{Addr: cfg.addr, ContextTimeoutEnabled: true})
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		where := cfg.addr
		if len(cfg.cluster) > 0 {
			where = "cluster " + strings.Join(cfg.cluster, ",")
		}
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", where, err)
	}
	return c, nil
}

// keySecret is the key secret of every instance of this run.
var keySecret = []byte(rand.Text())

// start builds one instance and serves GET /hello on a free port.
func start(ctx context.Context, name, prefix string, cfg config, logw io.Writer) (*instance, error) {
	client, err := newClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Every instance sharing the Redis keys the hash of its stored keys
	// with the same secret (a Cluster requires one, so that clients cannot
	// choose slots): here they share this process; a real deployment reads
	// it from its secret store.
	opts := []redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithTimeout(cfg.timeout), redisstore.WithKeySecret(keySecret)}
	if len(cfg.cluster) > 0 {
		opts = append(opts, redisstore.WithHashTag())
	}
	store, err := redisstore.New(client, opts...)
	if err != nil {
		client.Close()
		return nil, err
	}
	local, err := memstore.New()
	if err != nil {
		client.Close()
		return nil, err
	}
	lim, err := core.NewLimiter(store, core.PerMinute(quota), core.WithName("per-ip"),
		// If Redis fails, each instance allows a third of the quota on its
		// own, so that the three together stay near it.
		core.WithFallback(local, instances),
		core.WithFailoverHook(func(failing bool, err error) {
			if failing {
				fmt.Fprintf(logw, "%s: Redis failed, deciding locally: %v\n", name, err)
			} else {
				fmt.Fprintf(logw, "%s: Redis is back\n", name)
			}
		}))
	if err != nil {
		client.Close()
		return nil, err
	}

	hello := "hello from " + name + "\n"
	h, err := handler(name, lim, hello)
	if err != nil {
		client.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		client.Close()
		return nil, err
	}
	in := &instance{name: name, url: "http://" + ln.Addr().String() + "/hello", client: client,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := in.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "%s: %v\n", name, err)
		}
	}()
	return in, nil
}

// handler serves GET /hello on the named router behind its adapter's New.
func handler(name string, lim *core.Limiter, hello string) (http.Handler, error) {
	switch name {
	case "chi":
		mw, err := chimw.New(lim)
		if err != nil {
			return nil, err
		}
		r := chi.NewRouter()
		r.Use(mw)
		r.Get("/hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, hello) })
		return r, nil
	case "gin":
		mw, err := ginmw.New(lim)
		if err != nil {
			return nil, err
		}
		gin.SetMode(gin.ReleaseMode)
		g := gin.New()
		g.Use(mw)
		g.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, hello) })
		return g, nil
	default:
		mw, err := echomw.New(lim)
		if err != nil {
			return nil, err
		}
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Use(mw)
		e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, hello) })
		return e, nil
	}
}

func (in *instance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.srv.Shutdown(ctx)
	in.client.Close()
}
