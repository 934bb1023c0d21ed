package redisstore

// WithLegacyKeys makes the store write version 1 keys, the given key after
// the prefix (in braces with WithHashTag), as stores did before the key
// format carried a version: the tests run an old instance beside a new one.
func WithLegacyKeys() Option {
	return optionFunc(func(c *config) error { c.legacyKeys = true; return nil })
}

// BuiltinSecret is the key secret of a store given none.
var BuiltinSecret = builtinSecret
