package redisstore

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// denyCache remembers keys Redis denied, until their RetryAfter. A key denied
// a request of cost 1 cannot admit one before its RetryAfter (that is what
// RetryAfter means, and other instances' admissions only push it later), so
// answering from here changes no decision. Times are the store's local
// nanoseconds.
type denyCache struct {
	seed     maphash.Seed
	perShard int
	shards   [denyShards]denyShard
}

const denyShards = 16

type denyShard struct {
	mu sync.Mutex
	m  map[string]denied // guarded by mu
	_  [40]byte          // keep neighbouring locks off one cache line
}

type denied struct {
	limit        core.Limit
	until, reset int64 // local instants at which RetryAfter and ResetAfter end
}

func newDenyCache(maxKeys int) *denyCache {
	c := &denyCache{seed: maphash.MakeSeed(), perShard: max(maxKeys/denyShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]denied)
	}
	return c
}

func (c *denyCache) shard(h *[hashLen]byte) *denyShard {
	return &c.shards[maphash.Bytes(c.seed, h[:])%denyShards]
}

// get returns the remembered denial of the key whose hash is h under l, if
// it still holds at now. (Keys are remembered by their hash, as Redis
// stores them: bounded, and no client's bytes kept in memory.)
func (c *denyCache) get(h *[hashLen]byte, l core.Limit, now int64) (core.Decision, bool) {
	sh := c.shard(h)
	sh.mu.Lock()
	e, ok := sh.m[string(h[:])]
	if ok && now >= e.until {
		delete(sh.m, string(h[:]))
		ok = false
	}
	sh.mu.Unlock()
	if !ok || e.limit != l {
		return core.Decision{}, false
	}
	return core.Decision{
		Reason:     core.ReasonLimited,
		Limit:      l,
		ResetAfter: time.Duration(max(e.reset-now, 0)),
		RetryAfter: time.Duration(e.until - now),
	}, true
}

// put remembers a denial made at now. A full shard first drops its lapsed
// entries; if none lapsed, the denial is not remembered.
// forget drops what the cache holds for a key whose state changed outside a
// take (a settlement): its next take asks Redis.
func (c *denyCache) forget(h *[hashLen]byte) {
	sh := c.shard(h)
	sh.mu.Lock()
	delete(sh.m, string(h[:]))
	sh.mu.Unlock()
}

func (c *denyCache) put(h *[hashLen]byte, l core.Limit, now int64, d core.Decision) {
	if d.RetryAfter <= 0 || d.Remaining != 0 {
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[string(h[:])]; !ok && len(sh.m) >= c.perShard {
		for k, e := range sh.m {
			if now >= e.until {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= c.perShard {
			return
		}
	}
	sh.m[string(h[:])] = denied{limit: l, until: now + int64(d.RetryAfter), reset: now + int64(d.ResetAfter)}
}
