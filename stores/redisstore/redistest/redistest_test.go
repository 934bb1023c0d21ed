package redistest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func TestServerStartsOnAFreePortAndStops(t *testing.T) {
	s := Start(t)
	if s.Port == 6379 || s.Addr != "127.0.0.1:"+itoa(s.Port) {
		t.Fatalf("server at %q (port %d), want a free loopback port other than 6379", s.Addr, s.Port)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING: %v", err)
	}
	s.Kill()
	if err := ping(s.Addr); err == nil {
		t.Fatal("the server still answers after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestProxyStallsAndResumes(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Addr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.Stall()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := c.Get(short, "k").Err()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("GET through a stalled proxy: %v, want a timeout", err)
	}
	p.Resume()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after Resume: %q, %v", v, err)
	}
	if p.Accepted.Load() < 1 {
		t.Fatal("the proxy counted no connection")
	}
}

func TestProxyBlackHoleDiscardsWhatItGets(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Addr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	direct := s.Client(t, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.BlackHole()
	accepted := p.Accepted.Load()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := c.Incr(short, "n").Err()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("INCR through a black hole: %v, want a timeout", err)
	}
	// A new connection is accepted, and not answered either.
	fresh := redis.NewClient(&redis.Options{Addr: p.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer fresh.Close()
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	err = fresh.Ping(short).Err()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("PING on a new connection through a black hole: %v, want a timeout", err)
	}
	if p.Accepted.Load() <= accepted {
		t.Fatal("the black hole accepted no new connection")
	}
	if p.Dropped.Load() == 0 {
		t.Fatal("the black hole dropped no byte")
	}
	p.Resume()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after Resume: %q, %v", v, err)
	}
	// Unlike a stall, the black hole delivers nothing late: the INCR sent
	// into it never ran.
	if n, err := direct.Get(ctx, "n").Result(); err != redis.Nil {
		t.Fatalf("the INCR sent into the black hole ran: n = %q (%v)", n, err)
	}
}

func TestProxyDelayAddsToEveryRoundTrip(t *testing.T) {
	s := Start(t)
	p := StartProxy(t, s.Addr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const delay = 30 * time.Millisecond
	p.Delay(delay)
	for i := 1; i <= 3; i++ {
		start := time.Now()
		n, err := c.Incr(ctx, "n").Result()
		if took := time.Since(start); took < delay {
			t.Fatalf("INCR %d took %v through a proxy adding %v", i, took, delay)
		}
		if err != nil || n != int64(i) {
			t.Fatalf("INCR %d: %d, %v", i, n, err)
		}
	}
	// A pipeline's replies come back in order.
	cmds, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := 0; i < 5; i++ {
			pipe.Incr(ctx, "n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if got := cmd.(*redis.IntCmd).Val(); got != int64(4+i) {
			t.Fatalf("pipelined INCR %d answered %d, want %d", i, got, 4+i)
		}
	}
	p.Delay(0)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestServerPausesAndContinues(t *testing.T) {
	s := Start(t)
	c := s.Client(t, &redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1})
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := c.Get(short, "k").Err()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("GET from a paused server: %v, want a timeout", err)
	}
	if err := s.Continue(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after Continue: %q, %v", v, err)
	}
	// A paused server can still be killed, and comes back empty.
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("GET after a restart: %v, want the key gone", err)
	}
}

func TestRestartKeepsTheDataOfAnAppendOnlyServer(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := s.Client(t, &redis.Options{MaxRetries: -1})
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after a restart: %q, %v; want the key kept", v, err)
	}
}

func TestClusterFailsOverToTheReplica(t *testing.T) {
	c := StartClusterWithReplicas(t)
	if len(c.Servers) != 3 || len(c.Replicas) != 3 {
		t.Fatalf("%d masters and %d replicas, want 3 and 3", len(c.Servers), len(c.Replicas))
	}
	cc := c.Client(t, &redis.ClusterOptions{MaxRetries: -1})
	ctx := context.Background()
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	promoted, demoted, err := c.Failover("k", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Replicas, promoted) || !slices.Contains(c.Servers, demoted) {
		t.Fatalf("promoted %s, demoted %s: want a replica promoted and a master demoted", promoted.Addr, demoted.Addr)
	}
	for s, want := range map[*Server]string{promoted: "master", demoted: "slave"} {
		if role, err := roleOf(ctx, s.Addr); err != nil || role != want {
			t.Fatalf("%s after the failover: role %q (%v), want %q", s.Addr, role, err, want)
		}
	}
	// The client follows the slot to its new master, and nothing is lost.
	if v, err := cc.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after the failover: %q, %v", v, err)
	}
	if err := cc.Set(ctx, "k", "w", 0).Err(); err != nil {
		t.Fatalf("SET after the failover: %v", err)
	}
	// And back.
	again, _, err := c.Failover("k", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if again != demoted {
		t.Fatalf("the second failover promoted %s, want the first master %s back", again.Addr, demoted.Addr)
	}
	if v, err := cc.Get(ctx, "k").Result(); err != nil || v != "w" {
		t.Fatalf("GET after failing back: %q, %v", v, err)
	}
}

func TestClusterServesEveryMaster(t *testing.T) {
	c := SharedCluster(t)
	if len(c.Addrs) != 3 {
		t.Fatalf("%d masters, want 3", len(c.Addrs))
	}
	cc := c.Client(t, nil)
	var masters atomic.Int32 // ForEachMaster calls concurrently
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return m.Ping(ctx).Err()
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("ForEachMaster: %d masters, %v; want 3 answering", masters.Load(), err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
