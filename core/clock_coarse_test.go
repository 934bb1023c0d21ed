package core

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestCoarseClockRejectsBadResolution(t *testing.T) {
	for _, r := range []time.Duration{0, time.Microsecond, time.Second} {
		if _, err := NewCoarseClock(r); err == nil {
			t.Errorf("NewCoarseClock(%v) succeeded, want an error", r)
		}
	}
}

// In a synctest bubble time moves only when every goroutine waits, so the
// lag is checked against the resolution itself, whatever the machine's load:
// a reading is never behind the precise time by more than one tick.
func TestCoarseClockIsMonotonicAndLagsByAtMostItsResolution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const res = time.Millisecond
		c, err := NewCoarseClock(res)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := int64(0)
				for range 500 {
					n := c.UnixNano()
					if n < last {
						errs <- "reading went backwards"
						return
					}
					if lag := time.Duration(c.precise() - n); lag > res {
						errs <- "reading lagged " + lag.String()
						return
					}
					last = n
					time.Sleep(time.Duration(37*(g+1)) * time.Microsecond)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		before := c.UnixNano()
		time.Sleep(20 * time.Millisecond)
		if after := c.UnixNano(); after-before < int64(20*time.Millisecond-res) {
			t.Fatalf("after 20ms the clock moved %v, want at least 19ms", time.Duration(after-before))
		}
	})
}

func TestCoarseClockStopsWhenIdleAndWakesPrecisely(t *testing.T) {
	c, err := NewCoarseClock(10 * time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	c.UnixNano()
	if !c.running.Load() {
		t.Fatal("the first reading did not start the ticker")
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the ticker still runs after 10s without readers")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	wall := c.precise()
	if got := c.UnixNano(); got < wall {
		t.Fatalf("the first reading after idling is %v behind the precise time", time.Duration(wall-got))
	}
	if !c.running.Load() {
		t.Fatal("a reading after idling did not restart the ticker")
	}
	c.Stop()
	c.Stop()
	first := c.UnixNano()
	time.Sleep(2 * time.Millisecond)
	if c.UnixNano() <= first {
		t.Fatal("a stopped clock no longer moves")
	}
}
