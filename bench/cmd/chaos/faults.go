package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// env is what a fault acts on.
type env struct {
	srv      *redistest.Server  // the single server, or nil
	cluster  *redistest.Cluster // the cluster, or nil
	ins      []*instance
	stateKey string // the Redis key holding the limit's state
	cl       *cleanup

	mu         sync.Mutex
	start, end time.Time // when the fault began and ended
	dials      int64     // connections opened through the proxies from start to end
}

func (e *env) began() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.start, e.dials = time.Now(), -e.accepted()
}

func (e *env) ended() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.end = time.Now()
	e.dials += e.accepted()
}

// accepted is how many connections the instances' proxies have accepted.
func (e *env) accepted() (n int64) {
	for _, in := range e.ins {
		if in.proxy != nil {
			n += in.proxy.Accepted.Load()
		}
	}
	return n
}

// fault is one kind of failure.
type fault struct {
	name    string
	what    string
	cluster bool             // runs against the Redis Cluster with replicas
	durable bool             // the single server writes every write to an append-only file before answering
	proxied func(i int) bool // which instances reach Redis through a proxy
	loses   bool             // the fault loses Redis' data: its over-admission is bounded by the state lost
	// answers says which instances' Redis goes on answering within the
	// deadline through the fault (nil: none), so that every decision
	// should stay Redis' (issue 16, item 2).
	answers func(i int) bool
	inject  func(context.Context, *env) (lost int64, err error)
}

// hold is how long most faults last.
const hold = 2 * time.Second

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func allProxied(int) bool { return true }
func everyone(int) bool   { return true }

var faults = []fault{
	{
		name:    "killed, restarted 2 s later",
		what:    "`SIGKILL` to redis-server, restarted on the same port 2 s later. The server writes an append-only file (`--appendonly yes --appendfsync always`: every write is in the file before it is answered), so it comes back with its data: a crash of the process that loses no state. The file is in memory (/dev/shm where there is one): on this machine's shared disk an fsync took up to 90 ms, which would have measured the disk.",
		durable: true,
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			e.srv.Kill()
			err := sleep(ctx, hold)
			if rerr := e.srv.Restart(); rerr != nil {
				return 0, rerr
			}
			e.ended()
			return 0, err
		},
	},
	{
		name: "stopped 2 s (SIGSTOP)",
		what: "`SIGSTOP` to redis-server, `SIGCONT` 2 s later: connections stay open and nothing is answered (a long pause, a frozen VM); then it serves what was sent meanwhile.",
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			if err := e.srv.Pause(); err != nil {
				return 0, err
			}
			err := sleep(ctx, hold)
			if cerr := e.srv.Continue(); cerr != nil {
				return 0, cerr
			}
			e.ended()
			return 0, err
		},
	},
	{
		name:    "+50 ms latency, 3 s",
		what:    "Every instance reaches Redis through a TCP proxy, which holds every reply 50 ms for 3 s: each round trip takes 50 ms more, half the store's 100 ms deadline.",
		proxied: allProxied,
		answers: everyone,
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			for _, in := range e.ins {
				in.proxy.Delay(50 * time.Millisecond)
			}
			err := sleep(ctx, 3*time.Second)
			for _, in := range e.ins {
				in.proxy.Delay(0)
			}
			e.ended()
			return 0, err
		},
	},
	{
		name:    "black hole 2 s",
		what:    "Every instance reaches Redis through a TCP proxy, which for 2 s accepts connections and discards every byte both ways: requests go out and nothing comes back.",
		proxied: allProxied,
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			for _, in := range e.ins {
				in.proxy.BlackHole()
			}
			err := sleep(ctx, hold)
			for _, in := range e.ins {
				in.proxy.Resume()
			}
			e.ended()
			return 0, err
		},
	},
	{
		name:  "restarted, data lost mid-window",
		what:  "In the middle of a window, with its quota spent: writes paused (`CLIENT PAUSE WRITE`) so the state can be read exactly, then `SIGKILL` and an immediate restart with no persistence: the window's count is gone, and Redis admits the quota again. The bound on Redis' over-admission is the count lost.",
		loses: true,
		inject: func(ctx context.Context, e *env) (int64, error) {
			c := redis.NewClient(&redis.Options{Addr: e.srv.Addr, MaxRetries: -1})
			defer c.Close()
			e.began()
			if err := c.Do(ctx, "client", "pause", "2000", "write").Err(); err != nil {
				return 0, fmt.Errorf("CLIENT PAUSE: %w", err)
			}
			v, err := c.Get(ctx, e.stateKey).Result()
			if err != nil && err != redis.Nil {
				return 0, fmt.Errorf("GET %s: %w", e.stateKey, err)
			}
			lost := countIn(v, time.Now())
			e.srv.Kill()
			if err := e.srv.Restart(); err != nil {
				return lost, err
			}
			e.ended()
			return lost, nil
		},
	},
	{
		name:    "cluster master fails over",
		what:    "A Redis Cluster of three masters with one replica each. `CLUSTER FAILOVER` to the replica of the master serving the key: the master stops taking writes until the replica has them all, the replica takes over the slots, the old master becomes its replica. The fault ends when every node agrees.",
		cluster: true,
		answers: everyone,
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			if _, _, err := e.cluster.Failover(e.stateKey, 30*time.Second); err != nil {
				return 0, err
			}
			e.ended()
			return 0, nil
		},
	},
	{
		name:    "app CPU saturated 3 s",
		what:    "Busy loops in other processes, three per core, for 3 s, then killed: the instances (and Redis, on the same two cores) get a fraction of the CPU.",
		answers: everyone,
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			stop, err := spin(e.cl, 3*runtime.NumCPU(), 3*time.Second)
			if err != nil {
				return 0, err
			}
			err = sleep(ctx, 3*time.Second)
			stop()
			e.ended()
			return 0, err
		},
	},
	{
		name:    "1 of 3 instances cut off 2 s",
		what:    "Instance 1 reaches Redis through a TCP proxy that black-holes for 2 s; instances 2 and 3 keep Redis. Instance 1 falls back to its share while the others go on spending the quota in Redis.",
		proxied: func(i int) bool { return i == 0 },
		answers: func(i int) bool { return i != 0 },
		inject: func(ctx context.Context, e *env) (int64, error) {
			e.began()
			e.ins[0].proxy.BlackHole()
			err := sleep(ctx, hold)
			e.ins[0].proxy.Resume()
			e.ended()
			return 0, err
		},
	},
}

// countIn reads a fixed window's state ("f<start µs>:<count>") and returns
// its count if the window is the one at now, else 0.
func countIn(v string, now time.Time) int64 {
	start, count, ok := strings.Cut(strings.TrimPrefix(v, "f"), ":")
	if !ok || !strings.HasPrefix(v, "f") {
		return 0
	}
	w, err1 := strconv.ParseInt(start, 10, 64)
	n, err2 := strconv.ParseInt(count, 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	us := now.UnixMicro()
	if w != us-us%int64(period/time.Microsecond) {
		return 0
	}
	return n
}

// spin starts n busy loops, each a process of this program (flag -spin)
// that stops by itself after limit plus a margin and dies with this
// program (Linux). stop kills them and waits; cl does too, on any exit.
func spin(cl *cleanup, n int, limit time.Duration) (stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmds []*exec.Cmd
	kill := func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		cmds = nil
	}
	var once sync.Once
	kill1 := func() { once.Do(kill) }
	remove := cl.add(kill1)
	for i := 0; i < n; i++ {
		c := exec.Command(exe, "-spin", (limit + 5*time.Second).String())
		c.Env = append(os.Environ(), "GOMAXPROCS=1")
		dieWithParent(c)
		if err := c.Start(); err != nil {
			kill1()
			remove()
			return nil, fmt.Errorf("busy loop: %w", err)
		}
		cmds = append(cmds, c)
	}
	return func() { kill1(); remove() }, nil
}

// sink keeps the busy loop's work from being optimised away.
var sink int

// spinFor burns one core for d.
func spinFor(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 1<<20; i++ {
			sink += i
		}
	}
}
