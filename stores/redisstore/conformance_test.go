package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storetest"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// prefixes gives every store of the run its own key space on a shared server.
var prefixes atomic.Int64

func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t%d:%s:", prefixes.Add(1), t.Name())
}

// conformance runs core/storetest against stores on client. The suite runs
// 64 goroutines on one key under -race on small machines: a generous timeout
// keeps it about exactness, not latency (the fault tests are about latency).
func conformance(t *testing.T, client redis.UniversalClient, opts ...redisstore.Option) {
	var split []storetest.Option
	if _, ok := client.(*redis.ClusterClient); ok {
		split = append(split, storetest.WithSplitSteps())
	}
	storetest.Run(t, func(t *testing.T, clock core.Clock) core.Store {
		o := append([]redisstore.Option{redisstore.WithClock(clock), redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(patience)}, opts...)
		s, err := redisstore.New(client, o...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, append(split, storetest.WithResolution(time.Microsecond))...)
}

func TestConformanceStandalone(t *testing.T) {
	srv := redistest.Shared(t)
	conformance(t, srv.Client(t, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true}))
}

func TestConformanceStandaloneWithDenyCache(t *testing.T) {
	srv := redistest.Shared(t)
	conformance(t, srv.Client(t, &redis.Options{PoolSize: 64}), redisstore.WithDenyCache(1000))
}

// The Cluster runs the suite without WithHashTag (which a Cluster no longer
// needs: every key has a slot of its own either way), and batched with it.
func TestConformanceCluster(t *testing.T) {
	c := redistest.SharedCluster(t)
	conformance(t, c.Client(t, &redis.ClusterOptions{PoolSize: 64, ContextTimeoutEnabled: true}), redisstore.WithKeySecret(testSecret))
}

func TestConformanceStandaloneBatched(t *testing.T) {
	srv := redistest.Shared(t)
	conformance(t, srv.Client(t, &redis.Options{PoolSize: 64, ContextTimeoutEnabled: true}), redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
}

func TestConformanceClusterBatched(t *testing.T) {
	c := redistest.SharedCluster(t)
	conformance(t, c.Client(t, &redis.ClusterOptions{PoolSize: 64, ContextTimeoutEnabled: true}), redisstore.WithHashTag(), redisstore.WithKeySecret(testSecret), redisstore.WithBatching(redisstore.DefaultBatchSize, 100*time.Microsecond))
}
