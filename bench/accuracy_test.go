package bench

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
				n := race(l.make(t, c, accuracyWindow, fmt.Sprintf("accuracy%d:", i)))
				report(t, accuracyResult{"redis", l.name, accuracyQuota, accuracyGoroutines, accuracyGoroutines * accuracyAttempts, n})
				if l.name == "tollgate" && n != accuracyQuota {
					t.Errorf("tollgate admitted %d, want exactly %d", n, accuracyQuota)
				}
			})
		}
	})
}
