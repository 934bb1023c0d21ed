package redisstore

import (
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// A Store and a Leased store are core.RemoteStores: a Limiter over either
// falls back to its LocalStore by default.
var (
	_ storekit.RemoteStore = (*Store)(nil)
	_ storekit.RemoteStore = (*Leased)(nil)
)

// newLocal makes the memory store a Store keeps for LocalStore, on the
// store's injected clock if it has one.
func newLocal(clock core.Clock) (*memstore.Store, error) {
	if clock != nil {
		return memstore.New(memstore.WithClock(clock))
	}
	return memstore.New()
}

// LocalStore returns the store that decides in this process when Redis
// cannot: a memory store that the Store owns, made by New and closed by
// Close. A core.Limiter over the Store falls back to it by default, with
// the limit divided by the instance count (core.WithInstances): while Redis
// cannot decide, each instance admits at most its share of the quota per
// window, so the service stays limited rather than unlimited.
func (s *Store) LocalStore() core.Store { return s.local }

// LocalStore returns the base store's LocalStore: when Redis cannot grant
// tokens and a pool is spent, decisions fall back to it.
func (l *Leased) LocalStore() core.Store { return l.s.local }
