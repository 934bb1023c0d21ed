package e2e_test

import (
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// Issue 16, item 1: with default options, a limiter over Redis keeps
// limiting when Redis cannot decide, in the store's LocalStore under its
// share of the quota (the whole quota for one instance). Redis here is
// dead before the first request. This needs core's default failure policy
// for a storekit.RemoteStore (fall back to its LocalStore); with fail-open as
// the default every request is admitted.
func TestRedisDownTheDefaultLimiterKeepsLimiting(t *testing.T) {
	for _, c := range clients {
		for _, m := range modes {
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				srv := redistest.Start(t)
				srv.Kill()
				client := redis.NewClient(func() *redis.Options { o := c.opt(); o.Addr = srv.Addr; return o }())
				t.Cleanup(func() { client.Close() })
				s := newSite(t, m.store(t, client), nil)
				statuses := map[int]int{}
				for i := 0; i < 20; i++ {
					statuses[s.get(t)]++
				}
				if statuses[http.StatusOK] != int(quota.Rate) || s.Served.Load() != quota.Rate {
					t.Fatalf("20 requests with Redis down: statuses %v, %d served; want %d admitted (the local share), the rest denied", statuses, s.Served.Load(), quota.Rate)
				}
			})
		}
	}
}
