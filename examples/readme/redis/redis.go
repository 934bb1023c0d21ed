// Package redis is the README's Redis store, batching and lease mode.
package redis

import (
	"log"
	"net/http"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-go/tollgate/chimw"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// Middleware is the README's limit through Redis.
func Middleware() (func(http.Handler) http.Handler, error) {
	// README: redis
	client := redis.NewClient(&redis.Options{Addr: "10.0.0.5:6379"})
	store, err := redisstore.New(client) // 100 ms per call; a local fallback when Redis cannot decide
	if err != nil {
		return nil, err
	}
	lim, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("per-ip"),
		core.WithInstances(4), // Redis down: each instance allows 25/m alone
		core.WithFailoverHook(func(failing bool, err error) { log.Println("redis failing:", failing, err) }))
	if err != nil {
		return nil, err
	}
	return chimw.New(lim)
	// README: end
}

// Modes is the README's batching and lease mode.
func Modes(client *redis.Client) (*core.Limiter, *core.Limiter, error) {
	// README: modes
	// Batching: exact, fewer system calls and round trips under concurrency.
	batched, err := redisstore.New(client, redisstore.WithBatching(redisstore.DefaultBatchSize, 0))
	if err != nil {
		return nil, nil, err
	}
	perIP, err := core.NewLimiter(batched, core.PerMinute(100), core.WithName("per-ip"))
	if err != nil {
		return nil, nil, err
	}

	// Lease mode: hot keys decided in memory from tokens taken in batches.
	base, err := redisstore.New(client)
	if err != nil {
		return nil, nil, err
	}
	leased, err := redisstore.NewLeased(base, redisstore.LeaseConfig{}) // PredictWindow 1s, MinPrefetch 10, CloseWaitWindow 100ms
	if err != nil {
		return nil, nil, err
	}
	perTenant, err := core.NewLimiter(leased, core.PerMinute(6000), core.WithName("per-tenant"))
	if err != nil {
		return nil, nil, err
	}
	// README: end
	return perIP, perTenant, nil
}
