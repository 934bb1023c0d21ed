// Package memstore is tollgate's in-process core.Store, the default.
//
//	store, err := memstore.New()                 // defaults suit most services
//	if err != nil { ... }
//	defer store.Close()
//	lim, err := core.NewLimiter(store, core.PerMinute(100))
//
// # Design
//
// Keys are spread over shards (256 by default) by a seeded hash, so a client
// cannot aim its keys at one shard. Each key's state, its lock and the key
// itself (after its Limiter's prefix, which the store keeps once) are one
// 64-byte slot, one cache line; the slots of a store are one slab in the
// order keys arrived, pointer-free, so the garbage collector never scans it
// (a key longer than a slot holds, and the sliding window log's ring of
// timestamps, are kept beside the shard). A shard finds a key's slot in a
// small index of 8-byte entries. A decision on a key the store holds takes
// only the slot's lock: it reads the shard's first cache line and one line
// of its index, and writes the slot's line alone, so decisions on other
// keys never wait for it and a cold key costs few cache misses. It
// allocates nothing. The shard's lock is taken to add or drop keys and by
// steps over several keys (TakeMany).
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
