package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/ginmw"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// Modes, in the order run tries them.
const (
	consistent = "consistent" // every decision is one Lua script in Redis
	lease      = "lease"      // tokens are taken from Redis in batches and spent locally
)

// keySecret keys the hash of every stored key, so that clients cannot
// choose the Cluster slots their keys land in. Every instance sharing the
// Cluster must use the same one: here they share this process; a real
// deployment reads it from its secret store.
var keySecret = []byte(rand.Text())

// newStore builds an instance's store for mode, over client, with its keys
// under prefix. Keys are hash-tagged, so that each client's counter lives in
// one slot of the Cluster whichever instance asks. The func closes the store
// (not the client, which the caller owns).
func newStore(mode string, client redis.UniversalClient, prefix string) (core.Store, func(), error) {
	base, err := redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithHashTag(), redisstore.WithKeySecret(keySecret))
	if err != nil {
		return nil, nil, err
	}
	switch mode {
	case consistent:
		return base, func() { base.Close() }, nil
	case lease:
		st, err := leaseStore(base)
		if err != nil {
			base.Close()
			return nil, nil, err
		}
		return st, func() { st.Close(); base.Close() }, nil
	}
	base.Close()
	return nil, nil, fmt.Errorf("mode %q: want %q or %q", mode, consistent, lease)
}

// instance is one app server: its own Redis Cluster client, and for each
// mode its own store, limiter and router.
type instance struct {
	name   string // "chi" or "gin": the router, and the X-Instance header
	addr   string
	client *redis.ClusterClient
	srv    *http.Server

	router atomic.Pointer[http.Handler] // nil until the first use

	mu    sync.Mutex // guards close
	close func()     // closes the store of the router in use
}

// startInstance serves on a free loopback port. Until use installs a
// router it answers 503, with its X-Instance header, so a balancer can be
// seen to reach it.
func startInstance(name string, redisAddrs []string) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &instance{
		name: name,
		addr: ln.Addr().String(),
		// ContextTimeoutEnabled lets the store bound each call with a
		// context deadline instead of a goroutine of its own.
		client: redis.NewClusterClient(&redis.ClusterOptions{Addrs: redisAddrs, ContextTimeoutEnabled: true}),
	}
	in.srv = &http.Server{Handler: http.HandlerFunc(in.serve), ReadHeaderTimeout: 5 * time.Second}
	go in.srv.Serve(ln)
	return in, nil
}

func (in *instance) serve(w http.ResponseWriter, r *http.Request) {
	if h := in.router.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("X-Instance", in.name)
	http.Error(w, "starting", http.StatusServiceUnavailable)
}

// use builds the store, limiter and router of mode, with keys under prefix,
// and serves with them from now on.
func (in *instance) use(mode, prefix string, quota int64) error {
	store, closeStore, err := newStore(mode, in.client, prefix)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	// Fail closed: if Redis cannot decide, the client gets a 503 and the
	// demo reports it, rather than an admission that would blur the count.
	lim, err := core.NewLimiter(store, core.PerMinute(quota), core.WithName("per-client"), core.WithFailClosed())
	if err != nil {
		closeStore()
		return fmt.Errorf("%s: %w", in.name, err)
	}
	h, err := router(in.name, lim)
	if err != nil {
		closeStore()
		return fmt.Errorf("%s: %w", in.name, err)
	}
	in.router.Store(&h)
	in.mu.Lock()
	prev := in.close
	in.close = closeStore
	in.mu.Unlock()
	if prev != nil {
		prev()
	}
	return nil
}

// byClient keys requests by the X-Client header. Behind a load balancer
// every connection comes from the balancer's address (127.0.0.1 here), so
// keying by IP would put all clients in one bucket. In production, key by a
// header only once authentication has checked it (an API key, a tenant id),
// or by the client IP read with keyfuncs' trusted-proxy options.
func byClient() (httplimit.Option, error) {
	key, err := keyfuncs.Header("X-Client", 64)
	if err != nil {
		return nil, err
	}
	return httplimit.WithKeyFunc(key), nil
}

// router returns GET /hello on the named router, behind lim. Every answer,
// 429s included, says which instance gave it in X-Instance.
func router(name string, lim *core.Limiter) (http.Handler, error) {
	key, err := byClient()
	if err != nil {
		return nil, err
	}
	hello := "hello from " + name + "\n"
	switch name {
	case "chi":
		mw, err := chimw.New(lim, key)
		if err != nil {
			return nil, err
		}
		r := chi.NewRouter()
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Instance", "chi")
				next.ServeHTTP(w, r)
			})
		})
		r.Use(mw)
		r.Get("/hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, hello) })
		return r, nil
	case "gin":
		mw, err := ginmw.New(lim, key)
		if err != nil {
			return nil, err
		}
		g := gin.New()
		g.Use(func(c *gin.Context) { c.Header("X-Instance", "gin") }, mw)
		g.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, hello) })
		return g, nil
	}
	return nil, fmt.Errorf("router %q: want chi or gin", name)
}

// stop shuts the server down, then closes the store and the client.
func (in *instance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.srv.Shutdown(ctx)
	in.mu.Lock()
	if in.close != nil {
		in.close()
		in.close = nil
	}
	in.mu.Unlock()
	in.client.Close()
}
