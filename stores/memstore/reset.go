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
	sh, tag := s.locate(key)
	sh.mu.Lock()
	sh.drop(tag, key)
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
	hb, hd := hashKey(&s.secret, box), hashKey(&s.secret, denials)
	a, b := s.shardOf(hb), s.shardOf(hd)
	if hb&s.mask > hd&s.mask {
		a, b = b, a
	}
	a.mu.Lock()
	if b != a {
		b.mu.Lock()
	}
	s.shardOf(hb).drop(tagOf(hb), box)
	s.shardOf(hd).drop(tagOf(hd), denials)
	if b != a {
		b.mu.Unlock()
	}
	a.mu.Unlock()
	return nil
}

// drop removes key's slot, if it has one. The shard's lock is held.
func (sh *shard) drop(tag uint32, key string) {
	if v, i := sh.find(tag, key, nil); v != 0 {
		e := sh.slab.at(entrySlot(v))
		e.lock()
		sh.removeAt(sh.idx.Load(), i, e)
		e.unlock()
	}
}
