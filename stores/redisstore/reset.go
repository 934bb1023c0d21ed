package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

var (
	_ storekit.Resetter    = (*Store)(nil)
	_ storekit.BoxReleaser = (*Store)(nil)
	_ storekit.Resetter    = (*Leased)(nil)
)

// delScript deletes its keys: one for a reset, a box's two (which share a
// slot) for a release. A script rather than DEL so that it takes the path
// of every other call (the deadline, the breaker, batching).
var delScript = func() script {
	src := "return redis.call('DEL', unpack(KEYS))\n"
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}()

// Reset implements storekit.Resetter: it deletes the key's stored key (one
// key, so it is Redis Cluster safe), within the store's timeout, and
// forgets what the deny cache (WithDenyCache) holds for it. Other
// instances' deny caches are theirs: one that remembers the key denied
// answers so until the denial's RetryAfter, at most.
func (s *Store) Reset(ctx context.Context, key string) error {
	if err := storekit.CheckKey(key); err != nil {
		return err
	}
	if s.closed.Load() {
		return core.ErrClosed
	}
	var h [hashLen]byte
	s.keys.hash(&h, key, "")
	_, err := s.call(ctx, &delScript, []any{"evalsha", delScript.sha, "1", s.keys.stored(&h, key)})
	if s.deny != nil {
		s.deny.forget(&h) // even on an error: the script may have run
	}
	if err != nil {
		return s.callError(err, "reset")
	}
	return nil
}

// ReleaseBox implements storekit.BoxReleaser: it deletes the box of key and
// its denials' log, two keys in one slot, in one script.
func (s *Store) ReleaseBox(ctx context.Context, key string) error {
	if err := storekit.CheckBoxKey(key); err != nil {
		return err
	}
	if s.closed.Load() {
		return core.ErrClosed
	}
	box, denials := s.keys.boxKeys(key)
	if _, err := s.call(ctx, &delScript, []any{"evalsha", delScript.sha, "2", box, denials}); err != nil {
		return s.callError(err, "box release")
	}
	return nil
}

// Reset implements storekit.Resetter: it drops this instance's lease of key
// (its pool of tokens, and a wait after a partial grant), then resets the
// key in Redis as Store.Reset does. Other instances keep the tokens they
// hold, which lapse with their window.
func (l *Leased) Reset(ctx context.Context, key string) error {
	if err := storekit.CheckKey(key); err != nil {
		return err
	}
	if l.closed.Load() {
		return core.ErrClosed
	}
	l.pools.Delete(key)
	err := l.s.Reset(ctx, key)
	l.pools.Delete(key) // a request between the two may have leased again
	return err
}
