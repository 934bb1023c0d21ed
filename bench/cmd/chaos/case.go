package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// The workload every case runs.
const (
	period    = time.Second
	rate      = 30 // the quota: 30 per one-second window, for all instances together
	instances = 3  // app instances sharing the quota, each with its own client and store
	callers   = 6  // goroutines per instance
	interval  = 20 * time.Millisecond
	name      = "chaos" // the limiter's name, and so its key prefix
	key       = "tenant"

	// The fault starts this long after traffic does (the middle of the
	// second window), and traffic goes on until after it ends, so the
	// breaker's cool-down and a second more fit in.
	faultAt = 1500 * time.Millisecond
	after   = 3 * time.Second
	// caseCap stops a case's traffic whatever happens.
	caseCap = 20 * time.Second
)

// limit is the quota: a fixed window, so that every mode meters the same
// thing (lease mode meters every limit as one) and over-admission can be
// counted window by window.
var limit = core.Limit{Rate: rate, Period: period, Algorithm: core.FixedWindow}

// deadline and cooldown are the Redis store's defaults, which every case
// runs with.
const (
	deadline = redisstore.DefaultTimeout
	cooldown = redisstore.DefaultBreakerCooldown
)

// failurePolicy is what every limiter of the suite does when Redis cannot
// decide, in one place: the library's default over a Redis store (its own
// memory store, LocalStore, holding limit/instances), asked for with
// core.WithInstances. It returns the limiter options and what to close after
// the case (the store closes its local store itself).
func failurePolicy(_ *redisstore.Store, n int) ([]core.Option, func(), error) {
	return []core.Option{core.WithInstances(n)}, func() {}, nil
}

// share is what each instance's fallback may admit per window: the limit
// divided among the instances (core.WithInstances).
func share() int64 { return max(rate/instances, 1) }

// instance is one app process: its own go-redis client, store and limiter.
type instance struct {
	id     int
	proxy  *redistest.Proxy // between this instance and Redis, if any
	lim    *core.Limiter
	base   *redisstore.Store
	closes []func() // in reverse order

	down, up atomic.Int64 // switches the failover hook reported
}

func (in *instance) close() {
	for i := len(in.closes) - 1; i >= 0; i-- {
		in.closes[i]()
	}
	in.closes = nil
}

// outcome is what the limiter's hook saw of one call; each caller has one,
// reached through its context.
type outcome struct {
	fallback bool
	err      error
	at       time.Time // when the hook ran
}

type outcomeKey struct{}

// target is where the instances find Redis.
type target struct {
	addr  string   // a single server
	seeds []string // or a cluster
}

func newInstance(id int, t target, mode, prefix string, proxied bool) (*instance, error) {
	in := &instance{id: id}
	var client redis.UniversalClient
	if t.addr != "" {
		addr := t.addr
		if proxied {
			p, err := redistest.LaunchProxy(t.addr)
			if err != nil {
				return nil, err
			}
			in.proxy = p
			in.closes = append(in.closes, p.Close)
			addr = p.Addr
		}
		client = redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	} else {
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: t.seeds, ContextTimeoutEnabled: true})
	}
	in.closes = append(in.closes, func() { client.Close() })
	// Every instance keys with one secret, as a deployment must (a Cluster
	// refuses to start without one).
	opts := []redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithKeySecret([]byte("chaos-suite-shared-secret"))}
	if mode == "batched" {
		opts = append(opts, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	}
	base, err := redisstore.New(client, opts...)
	if err != nil {
		in.close()
		return nil, err
	}
	in.base = base
	in.closes = append(in.closes, func() { base.Close() })
	var store core.Store = base
	if mode == "lease" {
		l, err := redisstore.NewLeased(base, redisstore.LeaseConfig{})
		if err != nil {
			in.close()
			return nil, err
		}
		in.closes = append(in.closes, func() { l.Close() })
		store = l
	}
	policy, closePolicy, err := failurePolicy(base, instances)
	if err != nil {
		in.close()
		return nil, err
	}
	in.closes = append(in.closes, closePolicy)
	opts2 := append([]core.Option{
		core.WithName(name),
		core.WithHook(func(ctx context.Context, ev core.Event) {
			if o, _ := ctx.Value(outcomeKey{}).(*outcome); o != nil {
				o.fallback, o.err, o.at = ev.Fallback, ev.Err, time.Now()
			}
		}),
		core.WithFailoverHook(func(failing bool, _ error) {
			if failing {
				in.down.Add(1)
			} else {
				in.up.Add(1)
			}
		}),
	}, policy...)
	in.lim, err = core.NewLimiter(store, limit, opts2...)
	if err != nil {
		in.close()
		return nil, err
	}
	// Connect and load the scripts before the clock starts, without taking
	// from the quota; a cluster that has just failed over may take a
	// moment to settle. Switches seen meanwhile are not the case's.
	var err2 error
	for try := 0; try < 50; try++ {
		if _, err2 = in.lim.Peek(context.Background(), key); err2 == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // waiting for servers we do not control
	}
	if err2 != nil {
		in.close()
		return nil, fmt.Errorf("instance %d: warm-up: %w", id, err2)
	}
	in.down.Store(0)
	in.up.Store(0)
	return in, nil
}

// errKind names why a store failed, for the report.
func errKind(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return ""
	case errors.Is(err, redisstore.ErrTimeout):
		return "timeout"
	case errors.Is(err, redisstore.ErrBreakerOpen):
		return "breaker open"
	case errors.As(err, &errno) && errno == syscall.ECONNREFUSED:
		return "connection refused"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return "other error"
}

// drive runs every instance's callers from t0 until stop (Unix ns, which
// the fault moves once it knows when it ends), at most caseCap, and returns
// every decision. Each caller sends one request per interval (never
// catching up after a slow one), so each loop is bounded in time and count.
func drive(ctx context.Context, ins []*instance, t0 time.Time, stop *atomic.Int64, errs *errorLog) []sample {
	maxCalls := int(caseCap/interval) + 1
	hard := t0.Add(caseCap).UnixNano()
	out := make([][]sample, len(ins)*callers)
	var wg sync.WaitGroup
	for i, in := range ins {
		for g := 0; g < callers; g++ {
			slot := i*callers + g
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := &outcome{}
				cctx := context.WithValue(ctx, outcomeKey{}, o)
				mine := make([]sample, 0, maxCalls)
				// Callers are spread over the interval.
				next := t0.Add(time.Duration(slot) * interval / time.Duration(len(ins)*callers))
				for n := 0; n < maxCalls && ctx.Err() == nil; n++ {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					now := time.Now()
					if now.UnixNano() >= min(stop.Load(), hard) {
						break
					}
					*o = outcome{}
					d, _ := in.lim.Take(cctx, key)
					wait := time.Since(now)
					s := sample{start: now.UnixNano(), decided: o.at.UnixNano(), wait: wait, reset: d.ResetAfter, inst: in.id, allowed: d.Allowed}
					switch {
					case o.err == nil:
						s.src = byRedis
					case o.fallback:
						s.src = byFallback
					default:
						s.src = byNone
					}
					s.errKind = errKind(o.err)
					if s.errKind != "" {
						errs.add(s.errKind, o.err)
					}
					s.userErr = d.Reason == core.ReasonFailClosed || d.Reason == core.ReasonInvalid
					mine = append(mine, s)
					next = next.Add(interval)
					if now := time.Now(); next.Before(now) {
						next = now
					}
				}
				out[slot] = mine
			}()
		}
	}
	wg.Wait()
	var all []sample
	for _, m := range out {
		all = append(all, m...)
	}
	return all
}

// errorLog keeps one example of each kind of store error a case saw.
type errorLog struct {
	mu    sync.Mutex
	first map[string]string
	count map[string]int
}

func (e *errorLog) add(kind string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		e.first, e.count = map[string]string{}, map[string]int{}
	}
	if _, ok := e.first[kind]; !ok {
		e.first[kind] = err.Error()
	}
	e.count[kind]++
}

// canary measures how late this process gets to run: a goroutine that
// sleeps 1 ms at a time and records how much later than asked it woke. A
// call that waited long while the canary woke late was waiting for a CPU,
// not for Redis.
type canary struct {
	late time.Duration // the latest wake-up; read after stop
	stop chan struct{}
	done chan struct{}
}

func startCanary() *canary {
	c := &canary{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTimer(time.Millisecond)
		defer t.Stop()
		for {
			asked := time.Now()
			t.Reset(time.Millisecond)
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.late = max(c.late, time.Since(asked)-time.Millisecond)
			}
		}
	}()
	return c
}

// end stops the canary and returns its latest wake-up.
func (c *canary) end() time.Duration {
	close(c.stop)
	<-c.done
	return c.late
}
