package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// A key in lease mode whose window this instance spent (its pool empty,
// waiting out a partial grant) is decided afresh after a reset, through a
// limiter: this instance's lease is dropped with the key in Redis. On one
// server and on a Cluster.
func TestLeaseResetDropsTheLease(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
		opts   []redisstore.Option
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient {
			return redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true})
		}, nil},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{ContextTimeoutEnabled: true})
		}, []redisstore.Option{redisstore.WithHashTag(), redisstore.WithKeySecret(testSecret)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := core.NewManualClock(time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC))
			o := append([]redisstore.Option{redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithClock(clock), redisstore.WithTimeout(patience)}, tt.opts...)
			base := newStore(t, tt.client(t), o...)
			l := leased(t, base, redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 10})
			lim, err := core.NewLimiter(l, core.Limit{Rate: 20, Period: time.Hour}, core.WithName("api"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			admitted := 0
			for i := 0; i < 40; i++ {
				d, err := lim.Take(ctx, "client")
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					admitted++
				}
			}
			if admitted != 20 || l.Hot() != 1 {
				t.Fatalf("admitted %d of 40 with %d keys leased, want the quota 20 from a lease", admitted, l.Hot())
			}
			if err := lim.Reset(ctx, "client"); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			if l.Hot() != 0 {
				t.Fatalf("%d keys leased after the reset, want 0", l.Hot())
			}
			admitted = 0
			for i := 0; i < 40; i++ {
				if d, _ := lim.Take(ctx, "client"); d.Allowed {
					admitted++
				}
			}
			if admitted != 20 {
				t.Fatalf("admitted %d of 40 after the reset, want the whole quota 20 again", admitted)
			}
		})
	}
}
