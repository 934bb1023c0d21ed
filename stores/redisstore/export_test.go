package redisstore

// WithLegacyKeys makes the store write version 1 keys, the given key after
// the prefix (in braces with WithHashTag), as stores did before the key
// format carried a version: the tests run an old instance beside a new one.
func WithLegacyKeys() Option {
	return optionFunc(func(c *config) error { c.legacyKeys = true; return nil })
}

// BuiltinSecret is the key secret of a store given none.
var BuiltinSecret = builtinSecret

// HoldBatching counts a call under way in s's batcher until release is
// called, so that the calls made meanwhile are batched, not sent alone.
func HoldBatching(s *Store) (release func()) {
	s.batch.busy.Add(1)
	return func() { s.batch.busy.Add(-1) }
}
