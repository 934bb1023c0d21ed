package redistest

import (
	"context"
	"errors"
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
