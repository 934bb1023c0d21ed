package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// A request whose context is done (its client hung up, or its own deadline
// passed) is decided by Redis as any other, and counted: a decision never
// depends on whether the caller is still there. Before, such a call
// returned the context's error, which a limiter failing open admitted,
// uncounted. Every mode, both kinds of client; the deadline is the store's.
// The stores read a still clock: lease mode meters fixed windows, and a
// window that ended between the take and the look would reset the count.
func TestRequestsWhoseContextIsDoneAreStillDecided(t *testing.T) {
	srv := redistest.Shared(t)
	clock := core.NewManualClock(time.Date(2031, 1, 1, 0, 0, 30, 0, time.UTC))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	l := core.PerMinute(100)
	for _, ctxTimeouts := range []bool{false, true} {
		client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: ctxTimeouts})
		for _, mode := range []struct {
			name  string
			store func(t *testing.T, prefix string) core.Store
		}{
			{"consistent", func(t *testing.T, prefix string) core.Store {
				return newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock))
			}},
			{"batched", func(t *testing.T, prefix string) core.Store {
				return newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock), redisstore.WithBatching(64, 0))
			}},
			{"lease, a cold key", func(t *testing.T, prefix string) core.Store {
				return leased(t, newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock)), redisstore.LeaseConfig{HotThreshold: 1000})
			}},
			{"lease, a hot key's first grant", func(t *testing.T, prefix string) core.Store {
				return leased(t, newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock)), redisstore.LeaseConfig{HotThreshold: 1, MinPrefetch: 1})
			}},
		} {
			t.Run(fmt.Sprintf("%s/ContextTimeoutEnabled=%v", mode.name, ctxTimeouts), func(t *testing.T) {
				prefix := uniquePrefix(t)
				s := mode.store(t, prefix)
				for i, ctx := range []context.Context{done, expired} {
					d, err := s.Take(ctx, "k", l, 1)
					if err != nil || !d.Allowed {
						t.Fatalf("take %d, its context done: %+v, %v; want a decision", i, d, err)
					}
				}
				// Counted in Redis: a plain store on the same keys sees it.
				direct := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithClock(clock))
				fw := l
				if mode.name[:5] == "lease" {
					fw.Algorithm = core.FixedWindow
				}
				d, err := direct.Take(context.Background(), "k", fw, 0)
				if err != nil {
					t.Fatal(err)
				}
				if mode.name == "lease, a hot key's first grant" {
					if d.Remaining > 98 { // a grant takes at least what was asked
						t.Fatalf("%d remaining in Redis, want at most 98: the grants were not counted", d.Remaining)
					}
				} else if d.Remaining != 98 {
					t.Fatalf("%d remaining in Redis, want 98", d.Remaining)
				}
			})
		}
	}
}

// The same for several limits in one step, with and without a penalty box.
func TestStepsWhoseContextIsDoneAreStillDecided(t *testing.T) {
	srv := redistest.Shared(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			opts := []redisstore.Option{redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(10 * time.Second)}
			if batched {
				opts = append(opts, redisstore.WithBatching(64, 0))
			}
			s := newStore(t, srv.Client(t, nil), opts...)
			takes := []core.Take{{Key: "ip", Limit: core.PerMinute(3), Cost: 1}, {Key: "tenant", Limit: core.PerMinute(100), Cost: 1}}
			ds := make([]core.Decision, 2)
			if err := s.TakeMany(done, takes, ds); err != nil || !ds[0].Allowed || ds[0].Remaining != 2 {
				t.Fatalf("TakeMany, its context done: %+v, %v; want admitted with 2 left", ds, err)
			}
			box := core.Box{Key: "client", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}
			for i := 0; i < 2; i++ {
				if _, err := s.TakeBoxed(done, []core.Box{box}, takes, ds); err != nil || !ds[0].Allowed {
					t.Fatalf("TakeBoxed %d, its context done: %+v, %v; want admitted", i, ds, err)
				}
			}
			// The quota is spent: the next denial closes the box, and the box
			// holds, whether or not the caller is still there.
			for i := 0; i < 2; i++ {
				left, err := s.TakeBoxed(done, []core.Box{box}, takes, ds)
				if err != nil || ds[0].Allowed || left <= 0 {
					t.Fatalf("TakeBoxed past the quota, %d, its context done: %+v, left %v, %v; want denied and boxed", i, ds, left, err)
				}
			}
		})
	}
}
