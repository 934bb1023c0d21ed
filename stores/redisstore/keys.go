package redisstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// MinKeySecretLen is the shortest secret WithKeySecret accepts.
const MinKeySecretLen = 16

// keyVersion marks the format of the keys the store writes, after the
// prefix: "v2:" and a keyed hash of the key it was given. Version 1 (no
// mark) stored the given key itself.
const keyVersion = "v2:"

// hashLen is the length of a key's hash in a stored key: 128 bits in hex.
const hashLen = 32

// builtinSecret is the key secret of a store given none (WithKeySecret).
// It is public, so it keeps stored keys bounded and free of clients'
// bytes, but anyone can compute where a key lands: enough for a single
// server, not for a Cluster, where New requires a secret of the user's.
var builtinSecret = []byte("tollgate redisstore built-in key secret, v2")

// WithKeySecret sets the secret of the keyed hash (HMAC-SHA256, truncated
// to 128 bits) that makes each stored key: prefix, the format version
// "v2:", and the hash of the key the store was given, in hex. It must be at
// least MinKeySecretLen bytes, random, and the same on every instance that
// shares the Redis: instances with different secrets count a client under
// different keys. The slice is copied.
//
// Default: a built-in secret, which is enough on a single server (stored
// keys stay 35 bytes after the prefix, whatever the key, and never hold a
// client's credentials), but not on a Redis Cluster or Ring, where a
// client who can compute the hash chooses the slot its keys land in: New
// refuses a *redis.ClusterClient, a *redis.Ring or WithHashTag without
// this option. Changing the secret starts every count afresh, as a new
// prefix would.
func WithKeySecret(secret []byte) Option {
	return optionFunc(func(c *config) error {
		if len(secret) < MinKeySecretLen {
			return fmt.Errorf("redisstore: key secret: %d bytes, want at least %d random bytes", len(secret), MinKeySecretLen)
		}
		c.secret = append([]byte(nil), secret...)
		return nil
	})
}

// checkKeys validates the options that shape stored keys, for client.
func checkKeys(client redis.UniversalClient, c *config) error {
	if c.hashTag && strings.ContainsAny(c.prefix, "{}") {
		return errors.New("redisstore: prefix: holds a brace; with WithHashTag the braces around each key's hash must decide its slot")
	}
	if c.secret != nil {
		return nil
	}
	switch client.(type) {
	case *redis.ClusterClient:
		return errors.New("redisstore: key secret: none given, and the built-in one is public; Redis Cluster needs WithKeySecret (the same random secret on every instance) so that clients cannot steer slots")
	case *redis.Ring:
		return errors.New("redisstore: key secret: none given, and the built-in one is public; a Redis Ring needs WithKeySecret (the same random secret on every instance) so that clients cannot steer shards")
	}
	if c.hashTag {
		return errors.New("redisstore: key secret: none given with WithHashTag, and the built-in one is public; Redis Cluster needs WithKeySecret (the same random secret on every instance) so that clients cannot steer slots")
	}
	return nil
}

// keyer makes stored keys. It is safe for concurrent use.
type keyer struct {
	prefix  string
	hashTag bool
	legacy  bool // version 1 keys, for tests of a rolling deploy
	macs    sync.Pool
}

// mac is one HMAC state and its buffers, reused through keyer.macs.
type mac struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newKeyer(prefix string, hashTag bool, secret []byte) *keyer {
	if secret == nil {
		secret = builtinSecret
	}
	k := &keyer{prefix: prefix, hashTag: hashTag}
	k.macs.New = func() any { return &mac{h: hmac.New(sha256.New, secret)} }
	return k
}

// hash writes the hex of the keyed hash of key+suffix to dst.
func (k *keyer) hash(dst *[hashLen]byte, key, suffix string) {
	m := k.macs.Get().(*mac)
	m.h.Reset()
	m.buf = append(append(m.buf[:0], key...), suffix...)
	m.h.Write(m.buf)
	sum := m.h.Sum(m.sum[:0])
	hex.Encode(dst[:], sum[:hashLen/2])
	k.macs.Put(m)
}

// key returns the stored key of key: prefix, "v2:" and the hash of key,
// the hash in braces with WithHashTag. It is a new string.
func (k *keyer) key(key string) string {
	var h [hashLen]byte
	k.hash(&h, key, "")
	return k.stored(&h, key)
}

// stored returns the stored key of key, whose hash is h.
func (k *keyer) stored(h *[hashLen]byte, key string) string {
	if k.legacy {
		if k.hashTag {
			return k.prefix + "{" + key + "}"
		}
		return k.prefix + key
	}
	var b strings.Builder
	b.Grow(len(k.prefix) + len(keyVersion) + hashLen + 2)
	b.WriteString(k.prefix)
	b.WriteString(keyVersion)
	if k.hashTag {
		b.WriteByte('{')
	}
	b.Write(h[:])
	if k.hashTag {
		b.WriteByte('}')
	}
	return b.String()
}

// boxKeys returns the stored keys of the penalty box of key (see
// storekit.BoxKeys): the box, prefix+"v2:{hash}", and its denials, the same
// with a "d" after the brace. Both are braced, with WithHashTag or not, so
// that they share a slot: one script reads and writes both.
func (k *keyer) boxKeys(key string) (box, denials string) {
	if k.legacy {
		return k.prefix + key + "\x00box", k.prefix + key + "\x00denials"
	}
	var h [hashLen]byte
	k.hash(&h, key, "\x00box")
	var b strings.Builder
	b.Grow(len(k.prefix) + len(keyVersion) + hashLen + 3)
	b.WriteString(k.prefix)
	b.WriteString(keyVersion)
	b.WriteByte('{')
	b.Write(h[:])
	b.WriteString("}d")
	denials = b.String()
	return denials[:len(denials)-1], denials
}

// slotPart is the part of a stored key that Redis Cluster hashes to find
// its slot (and a Ring its shard): the first {…} that is not empty, else
// the whole key. Keys with the same part share a slot.
func slotPart(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// StoredKey returns the Redis key under which the store keeps the state of
// key, a key as Take is given it (a core.Limiter passes its prefix and the
// client's key: lim.Prefix() + key). It is for operators and
// tools that look into Redis; the store never needs it from its callers.
func (s *Store) StoredKey(key string) string { return s.keys.key(key) }
