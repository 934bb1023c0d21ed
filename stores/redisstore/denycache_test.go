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

// TestDenyCacheSavesRoundTrips counts, on the server, the scripts run for a
// client hammering 1,000 requests at a key limited to 10 an hour (an hour,
// so that nothing refills, nor does a denial lapse, while the test runs).
func TestDenyCacheSavesRoundTrips(t *testing.T) {
	const requests = 1000
	for _, tt := range []struct {
		name    string
		opts    []redisstore.Option
		scripts int
	}{
		// The first EVALSHA finds the new server without the script, and one
		// EVAL follows it: one round trip more, in both.
		{"without the deny cache", nil, requests + 1},
		// 10 admitted, 1 denied and remembered: the other 989 stay local.
		{"with the deny cache", []redisstore.Option{redisstore.WithDenyCache(10_000)}, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			client := srv.Client(t, nil)
			s := newStore(t, client, tt.opts...)
			ctx := context.Background()
			l := core.PerHour(10)
			admitted := 0
			var last core.Decision
			for i := 0; i < requests; i++ {
				d, err := s.Take(ctx, "hammer", l, 1)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					admitted++
				}
				last = d
			}
			stats := commandStats(t, client)
			scripts := stats["evalsha"] + stats["eval"]
			if admitted != 10 || scripts != tt.scripts {
				t.Fatalf("admitted %d, sent %d EVALSHA and EVAL for %d requests; want 10 and %d", admitted, scripts, requests, tt.scripts)
			}
			if last.Reason != core.ReasonLimited || last.Remaining != 0 || last.RetryAfter <= 0 || last.RetryAfter > l.Interval() {
				t.Fatalf("last decision %+v, want a denial with a RetryAfter of at most the %v interval", last, l.Interval())
			}
			t.Logf("%.3f script round trips per request", float64(scripts)/requests)
		})
	}
}

// TestDenyCacheAnswersAsRedisWould compares cached answers with Redis' own at
// the same instants, and checks what the cache never answers.
func TestDenyCacheAnswersAsRedisWould(t *testing.T) {
	client := redistest.Shared(t).Client(t, &redis.Options{})
	clock := core.NewManualClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	prefix := uniquePrefix(t)
	cached := newStore(t, client, redisstore.WithClock(clock), redisstore.WithPrefix(prefix), redisstore.WithDenyCache(100))
	plain := newStore(t, client, redisstore.WithClock(clock), redisstore.WithPrefix(prefix))
	ctx := context.Background()
	l := core.PerSecond(10)
	for i := 0; i < 10; i++ {
		cached.Take(ctx, "k", l, 1)
	}
	if d, _ := cached.Take(ctx, "k", l, 1); d.Allowed {
		t.Fatal("11th request admitted")
	}
	for _, at := range []time.Duration{0, 30 * time.Millisecond, 99 * time.Millisecond} {
		clock.Set(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(at))
		for _, cost := range []int64{0, 1} {
			got, _ := cached.Take(ctx, "k", l, cost)
			want, _ := plain.Take(ctx, "k", l, cost)
			if got != want {
				t.Errorf("at %v, cost %d: cache said %+v, Redis %+v", at, cost, got, want)
			}
		}
	}
	// Another limit on the same key, a cost above 1, and the moment the wait
	// ends all go to Redis.
	wider := core.PerSecond(20)
	if got, want := mustTake(t, cached, "k", wider, 0), mustTake(t, plain, "k", wider, 0); got != want {
		t.Errorf("another limit on the key: cache store said %+v, Redis %+v", got, want)
	}
	if d, _ := cached.Take(ctx, "k", l, 11); d.Reason != core.ReasonCostExceedsBurst {
		t.Errorf("cost above the burst: %+v, want Redis' cost-exceeds-burst", d)
	}
	clock.Set(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(100 * time.Millisecond))
	if d, _ := cached.Take(ctx, "k", l, 1); !d.Allowed {
		t.Errorf("at RetryAfter: %+v, want admitted", d)
	}
}

func mustTake(t *testing.T, s core.Store, key string, l core.Limit, cost int64) core.Decision {
	t.Helper()
	d, err := s.Take(context.Background(), key, l, cost)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
