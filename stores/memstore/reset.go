package memstore

import (
	"context"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

var (
	_ storekit.Resetter    = (*Store)(nil)
	_ storekit.BoxReleaser = (*Store)(nil)
)

// Reset implements storekit.Resetter: it drops key's state, so that the
// key's next Take finds a key never used.
func (s *Store) Reset(_ context.Context, key string) error {
	if err := storekit.CheckKey(key); err != nil {
		return err
	}
	if s.closed.Load() {
		return core.ErrClosed
	}
	h := hashKey(&s.secret, key) | 1
	sh := s.shardOf(h)
	sh.mu.Lock()
	sh.drop(h, key)
	sh.mu.Unlock()
	return nil
}

// ReleaseBox implements storekit.BoxReleaser: it drops both keys of key's
// box (storekit.BoxKeys) under their shards' locks, taken in ascending
// order as a step takes them, so that no step sees the box open and its
// denials still counted.
func (s *Store) ReleaseBox(_ context.Context, key string) error {
	if err := storekit.CheckBoxKey(key); err != nil {
		return err
	}
	if s.closed.Load() {
		return core.ErrClosed
	}
	box, denials := storekit.BoxKeys(key)
	hb, hd := hashKey(&s.secret, box)|1, hashKey(&s.secret, denials)|1
	a, b := s.shardOf(hb), s.shardOf(hd)
	if hb>>1&s.mask > hd>>1&s.mask {
		a, b = b, a
	}
	a.mu.Lock()
	if b != a {
		b.mu.Lock()
	}
	s.shardOf(hb).drop(hb, box)
	s.shardOf(hd).drop(hd, denials)
	if b != a {
		b.mu.Unlock()
	}
	a.mu.Unlock()
	return nil
}

// drop removes key's slot, if it has one. The shard's lock is held.
func (sh *shard) drop(h uint64, key string) {
	if i, found := sh.find(h, key); found {
		sh.removeAt(i)
	}
}
