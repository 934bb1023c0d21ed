package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// Accuracy: 64 goroutines race on one key whose quota is 1,000 in one
// window (a day, so that no refill or new window falls inside the test).
// Exactly 1,000 must be admitted. A library that admits more is not
// keeping its quota, however fast it is; the report flags it.
const (
	accuracyQuota      = 1000
	accuracyGoroutines = 64
	accuracyAttempts   = 40 // per goroutine: 2,560 in all, well over the quota
)

var accuracyWindow = quota{n: accuracyQuota, window: 24 * time.Hour}

// accuracyResult is one line of the report's input.
type accuracyResult struct {
	Store      string `json:"store"`
	Lib        string `json:"lib"`
	Quota      int    `json:"quota"`
	Goroutines int    `json:"goroutines"`
	Attempts   int    `json:"attempts"`
	Admitted   int64  `json:"admitted"`
}

// race runs the accuracy race against d and returns how many were admitted.
func race(d decider) int64 {
	var admitted atomic.Int64
	var start, done sync.WaitGroup
	start.Add(1)
	for range accuracyGoroutines {
		done.Add(1)
		go func() {
			defer done.Done()
			d := perGoroutine(d)
			start.Wait() // all goroutines begin together
			for range accuracyAttempts {
				if d.allow(ctx, "10.0.0.1") {
					admitted.Add(1)
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	return admitted.Load()
}

// report prints a result as the line the report generator reads.
func report(t *testing.T, r accuracyResult) {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ACCURACY %s\n", b)
}

// TestAccuracy runs the race against every library. It fails only if
// tollgate admits other than the quota: the peers' counts are reported,
// not judged here.
func TestAccuracy(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		for _, l := range memoryLibs {
			t.Run(l.name, func(t *testing.T) {
				n := race(l.make(t, accuracyWindow))
				report(t, accuracyResult{"memory", l.name, accuracyQuota, accuracyGoroutines, accuracyGoroutines * accuracyAttempts, n})
				if l.name == "tollgate" && n != accuracyQuota {
					t.Errorf("tollgate admitted %d, want exactly %d", n, accuracyQuota)
				}
			})
		}
	})
	t.Run("redis", func(t *testing.T) {
		c := redisClient(t)
		for i, l := range redisLibs {
			if l.name == "go-redis-incr" {
				continue // not a limiter
			}
			t.Run(l.name, func(t *testing.T) {
				prefix := fmt.Sprintf("accuracy%d:", i)
				if l.name == "tollgate" {
					raceTollgateRedis(t, c, prefix)
					return
				}
				n := race(l.make(t, c, accuracyWindow, prefix))
				report(t, accuracyResult{"redis", l.name, accuracyQuota, accuracyGoroutines, accuracyGoroutines * accuracyAttempts, n})
			})
		}
	})
}

// raceTollgateRedis runs the race against tollgate's Redis store with its
// defaults, counting the decisions by who made them (the hook says). What is
// guaranteed, on any machine, however busy: Redis never admits more than the
// quota, and exactly the quota when it made every decision; decisions made
// by the local fallback (a call that missed its deadline) admit at most the
// instance's share, here the whole quota (one instance). The report shows
// everything admitted.
func raceTollgateRedis(t *testing.T, c *redis.Client, prefix string) {
	s, err := redisstore.New(c, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var byRedis, byFallback, deniedByError atomic.Int64
	l, err := core.NewLimiter(s, core.Limit{Rate: accuracyQuota, Period: accuracyWindow.window}, core.WithName("bench"),
		core.WithHook(func(_ context.Context, ev core.Event) {
			switch {
			case ev.Err == nil && ev.Decision.Allowed:
				byRedis.Add(1)
			case ev.Fallback && ev.Decision.Allowed:
				byFallback.Add(1)
			case ev.Err != nil && !ev.Decision.Allowed && !ev.Fallback:
				deniedByError.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	n := race(tollgateDecider{l})
	report(t, accuracyResult{"redis", "tollgate", accuracyQuota, accuracyGoroutines, accuracyGoroutines * accuracyAttempts, n})
	r, f := byRedis.Load(), byFallback.Load()
	t.Logf("admitted %d: %d by Redis, %d by the fallback; %d refused for an error", n, r, f, deniedByError.Load())
	if r+f != n {
		t.Errorf("the hook counted %d + %d admissions, the callers %d", r, f, n)
	}
	if r > accuracyQuota {
		t.Errorf("Redis admitted %d, more than the quota %d", r, accuracyQuota)
	}
	if f == 0 && deniedByError.Load() == 0 && r != accuracyQuota {
		t.Errorf("Redis made every decision and admitted %d, want exactly %d", r, accuracyQuota)
	}
	if f > accuracyQuota {
		t.Errorf("the fallback admitted %d, more than the instance's share %d", f, accuracyQuota)
	}
}
