package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tollgate-go/tollgate/core"
)

// tally counts a limiter's decisions by who made them, as its hook tells:
// Redis (no error), the fallback store (Event.Fallback), or neither (an
// error and no fallback decision: the caller was refused). On a busy
// machine some calls miss the store's deadline, so which of Redis and the
// fallback decides a given request is not fixed; what each guarantees is:
// Redis never admits more than the quota, and the fallback no more than
// the instance's share.
type tally struct {
	redisAdmitted, redisDenied       atomic.Int64
	fallbackAdmitted, fallbackDenied atomic.Int64
	neither                          atomic.Int64

	mu           sync.Mutex
	firstNeither error // guarded by mu
}

// hook is the limiter's core.WithHook function.
func (c *tally) hook(_ context.Context, ev core.Event) {
	switch {
	case ev.Err == nil && ev.Decision.Allowed:
		c.redisAdmitted.Add(1)
	case ev.Err == nil:
		c.redisDenied.Add(1)
	case ev.Fallback && ev.Decision.Allowed:
		c.fallbackAdmitted.Add(1)
	case ev.Fallback:
		c.fallbackDenied.Add(1)
	default:
		if c.neither.Add(1) == 1 {
			c.mu.Lock()
			c.firstNeither = ev.Err
			c.mu.Unlock()
		}
	}
}

// fallbacks is how many decisions the fallback made: requests whose call to
// Redis failed (a missed deadline, a dead server, an open breaker).
func (c *tally) fallbacks() int64 { return c.fallbackAdmitted.Load() + c.fallbackDenied.Load() }

// neitherErr is the error of the first decision made by neither.
func (c *tally) neitherErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstNeither
}
