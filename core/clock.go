package core

import (
	"sync/atomic"
	"time"
)

// Clock tells stores the time. Stores read it once per decision.
// Its zero value is nil, which no store accepts: SystemClock is the real
// time.
type Clock interface {
	Now() time.Time
}

// SystemClock is time.Now. Its readings carry the monotonic clock, so a store
// that measures time as differences of readings is immune to wall-clock jumps.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told to, for deterministic
// tests. It is safe for concurrent use; its zero value reads the Unix epoch.
type ManualClock struct {
	ns atomic.Int64
}

// NewManualClock returns a ManualClock reading t.
func NewManualClock(t time.Time) *ManualClock {
	c := &ManualClock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock by d, which may be negative to test clocks that
// step backwards.
func (c *ManualClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }
