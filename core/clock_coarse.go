package core

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// UnixNano returns the clock's current reading in nanoseconds, without
// building a time.Time (stores read it through storekit.UnixNanoClock).
func (c *ManualClock) UnixNano() int64 { return c.ns.Load() }

// coarseIdleTicks is how many resolutions without a reader stop a
// CoarseClock's goroutine. Counted in time, not in ticks received: a ticker
// on a starved machine drops ticks, and the goroutine must still stop.
const coarseIdleTicks = 1000

// CoarseClock is a Clock that trades resolution for speed: one goroutine
// stores the time every resolution, and a reading is one atomic load
// (about 1ns, against 20–40ns for the system clock on a virtual machine).
//
// Its readings never go backwards and lag real time by about one resolution,
// more if the process is starved of CPU. A lagging clock makes a limiter
// slightly stricter (refills and new windows come late); it never admits
// more. The goroutine stops by itself once no one has read the clock for
// 1000 resolutions (half a second at 500µs), so an unused clock leaves no
// goroutine behind; the next reading, which starts it again, takes the
// precise time. Stop ends it for good.
// The zero CoarseClock is not usable: build one with NewCoarseClock.
type CoarseClock struct {
	res    time.Duration
	base   time.Time // monotonic reference
	baseNs int64

	now     atomic.Int64 // latest reading, Unix ns
	touched atomic.Bool  // read since the last tick
	running atomic.Bool  // the ticking goroutine is alive

	halted atomic.Bool // Stop was called: read the precise time

	mu      sync.Mutex    // serialises starting and stopping the goroutine
	stopped bool          // guarded by mu
	done    chan struct{} // guarded by mu: closed when the latest goroutine has ended
	stop    chan struct{}
}

// NewCoarseClock returns a CoarseClock of the given resolution, from 10µs to
// 100ms. A few hundred microseconds suits limits of up to a few thousand
// events per second per key.
func NewCoarseClock(resolution time.Duration) (*CoarseClock, error) {
	if resolution < 10*time.Microsecond || resolution > 100*time.Millisecond {
		return nil, fmt.Errorf("core: coarse clock resolution %v: want 10µs to 100ms", resolution)
	}
	c := &CoarseClock{res: resolution, base: time.Now(), stop: make(chan struct{})}
	c.baseNs = c.base.UnixNano()
	c.now.Store(c.baseNs)
	return c, nil
}

// Resolution returns the interval between the clock's ticks.
func (c *CoarseClock) Resolution() time.Duration { return c.res }

// Now returns the clock's current reading.
func (c *CoarseClock) Now() time.Time { return time.Unix(0, c.UnixNano()) }

// UnixNano returns the clock's current reading in nanoseconds.
func (c *CoarseClock) UnixNano() int64 {
	if !c.running.Load() {
		return c.wake()
	}
	if !c.touched.Load() {
		c.touched.Store(true)
	}
	return c.now.Load()
}

// precise reads the monotonic clock as Unix nanoseconds.
func (c *CoarseClock) precise() int64 { return c.baseNs + int64(time.Since(c.base)) }

// advance stores a precise reading unless a later one is already stored.
func (c *CoarseClock) advance() int64 {
	n := c.precise()
	for {
		old := c.now.Load()
		if n <= old {
			return old
		}
		if c.now.CompareAndSwap(old, n) {
			return n
		}
	}
}

func (c *CoarseClock) wake() int64 {
	if c.halted.Load() {
		return c.advance()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.advance()
	if !c.running.Load() && !c.stopped {
		c.touched.Store(true)
		c.running.Store(true)
		c.done = make(chan struct{})
		go c.tick(n, c.done)
	}
	return n
}

// tick stores the time every resolution until Stop, or until no one has
// read the clock for coarseIdleTicks resolutions since the reading at
// start; it closes done when it returns.
func (c *CoarseClock) tick(start int64, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(c.res)
	defer t.Stop()
	idleAfter := coarseIdleTicks * int64(c.res)
	lastRead := start
	for {
		select {
		case <-c.stop:
			c.running.Store(false)
			return
		case <-t.C:
			n := c.advance()
			if c.touched.Swap(false) {
				lastRead = n
				continue
			}
			if n-lastRead < idleAfter {
				continue
			}
			c.mu.Lock()
			if !c.touched.Load() {
				c.running.Store(false)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
	}
}

// Stop ends the ticking goroutine for good and waits until it has returned;
// later readings take the precise time. It is safe to call more than once.
func (c *CoarseClock) Stop() {
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		c.halted.Store(true)
		close(c.stop)
	}
	done := c.done
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}
