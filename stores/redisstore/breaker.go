package redisstore

import "sync/atomic"

// breaker stops calls to a Redis that keeps failing: after threshold
// consecutive failures it is open for cooldown, during which calls fail at
// once; then one call goes through as a probe, and its outcome closes the
// breaker or opens it again. Times are the store's local nanoseconds. The
// closed state costs a call two atomic loads.
type breaker struct {
	threshold int64
	cooldown  int64

	fails     atomic.Int64  // consecutive failures
	openUntil atomic.Int64  // 0 when closed
	probing   atomic.Bool   // a probe is in flight
	opened    atomic.Uint64 // times it opened from closed (Figures)
}

// allow reports whether a call may go to Redis, and whether it is the probe.
func (b *breaker) allow(now int64) (probe bool, err error) {
	until := b.openUntil.Load()
	if until == 0 {
		return false, nil
	}
	if now >= until && b.probing.CompareAndSwap(false, true) {
		return true, nil
	}
	return false, ErrBreakerOpen
}

func (b *breaker) success(probe bool) {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
	if probe {
		b.probing.Store(false)
	}
}

func (b *breaker) failure(now int64, probe bool) {
	if n := b.fails.Add(1); probe || n >= b.threshold {
		if b.openUntil.Swap(now+b.cooldown) == 0 {
			b.opened.Add(1)
		}
	}
	if probe {
		b.probing.Store(false)
	}
}

// release ends a call that told nothing about Redis (its caller gave up).
func (b *breaker) release(probe bool) {
	if probe {
		b.probing.Store(false)
	}
}
