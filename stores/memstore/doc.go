// Package memstore is tollgate's in-process core.Store, the default.
//
//	store, err := memstore.New()                 // defaults suit most services
//	if err != nil { ... }
//	defer store.Close()
//	lim, err := core.NewLimiter(store, core.PerMinute(100))
//
// # Design
//
// Keys are spread over independently locked shards (256 by default) by a
// seeded hash, so concurrent requests for different keys rarely wait for one
// another and a client cannot aim its keys at one shard. Each key's state is
// a fixed-size, pointer-free slot in its shard's slab (the sliding window log
// adds one ring of timestamps), so a decision on a known key allocates
// nothing and the garbage collector never scans the slab.
//
// Time is read through a core.Clock: by default a coarse clock of 500µs
// resolution shared by the process (one atomic load per decision instead of
// a system clock reading; it lags real time by up to about 500µs,
// which makes limits slightly stricter, never looser). Both it and
// core.SystemClock (WithClock) are measured as offsets on the monotonic
// clock: a wall clock stepped backwards never admits extra requests. Each
// shard also keeps the latest instant it has seen, so an injected clock
// stepping backwards does not either.
//
// # Memory
//
// The number of keys is bounded (WithMaxKeys, default 1<<20). State whose
// ResetAfter has passed is identical to a fresh key's, so it is dropped: by a
// background sweeper that visits one shard at a time (WithSweepInterval,
// default 30s), and by inserts into a full shard.
//
// A full shard never makes room by forgetting a limited key: that would hand
// the client a fresh quota, which a flood of distinct keys could otherwise
// do on purpose. It drops expired state first, then the key closest to a
// whole quota among those that are not limited, and when every key in the
// shard is limited it refuses the new key instead (WithMaxKeys gives the
// details and the bound on what an eviction can cost; Stats counts both).
//
// # Lifetime
//
// Close stops the sweeper. A Store that is no longer referenced stops it too:
// the sweeper holds the store only weakly, and the garbage collector ends it
// when it reclaims the store (runtime.AddCleanup). So a store built inside a
// one-line middleware, which nobody can close, leaves no goroutine behind
// once the middleware is dropped. The default clock's goroutine is shared by
// every store in the process and stops by itself after half a second without
// readers.
package memstore
