package memstore

import (
	"context"
	"sync"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

var _ storekit.SlotStore = (*Store)(nil)

// slotShards is how many locks the concurrency slots are spread over.
const slotShards = 64

// slotTable holds the concurrency slots of a Store: per key, how many are
// held. It needs no lease: the slots live and die with the process that
// holds them. Its zero value is ready.
type slotTable struct {
	shards [slotShards]slotShard
}

type slotShard struct {
	mu   sync.Mutex       // guards held
	held map[string]int64 // key → slots held, never 0 (the key is deleted)
	_    [40]byte         // a shard to a cache line
}

// Acquire implements storekit.SlotStore: it holds one of max slots of key,
// if fewer are held. It never blocks on anything but a shard lock, so it
// ignores ctx; it allocates only for a key that holds no slot yet.
func (s *Store) Acquire(_ context.Context, key string, max int64) (uint64, core.Decision, error) {
	if err := storekit.CheckAcquire(key, max); err != nil {
		return 0, core.Decision{Reason: core.ReasonInvalid}, err
	}
	if s.closed.Load() {
		return 0, core.Decision{}, core.ErrClosed
	}
	sh := &s.slots.shards[hashKey(&s.secret, key)%slotShards]
	sh.mu.Lock()
	n := sh.held[key]
	if n >= max {
		sh.mu.Unlock()
		return 0, core.Decision{Reason: core.ReasonLimited}, nil
	}
	if sh.held == nil {
		sh.held = make(map[string]int64)
	}
	sh.held[key] = n + 1
	sh.mu.Unlock()
	return 1, core.Decision{Allowed: true, Remaining: max - n - 1}, nil
}

// Release implements storekit.SlotStore: it gives back one slot of key. A
// Release of a key that holds none does nothing. It works after Close, so
// that requests in flight then still give their slots back.
func (s *Store) Release(_ context.Context, key string, id uint64) error {
	if id == 0 {
		return nil
	}
	sh := &s.slots.shards[hashKey(&s.secret, key)%slotShards]
	sh.mu.Lock()
	switch n := sh.held[key]; {
	case n > 1:
		sh.held[key] = n - 1
	case n == 1:
		delete(sh.held, key)
	}
	sh.mu.Unlock()
	return nil
}

// Held returns how many concurrency slots of key are held, for tests and
// operators.
func (s *Store) Held(key string) int64 {
	sh := &s.slots.shards[hashKey(&s.secret, key)%slotShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.held[key]
}
