package memstore

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// hashSecret is the store's hash key: three random words. They stand where
// wyhash has public constants, so that no key, however chosen, can cancel
// one of the multiplications below (a factor of zero would make every key
// with those bytes collide, on every seed).
type hashSecret [3]uint64

func newHashSecret() hashSecret {
	var s hashSecret
	for i := range s {
		s[i] = rand.Uint64() | 1 // math/rand/v2's global source is seeded from the OS
	}
	return s
}

// wymix is wyhash's 128-bit multiply, folded.
func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashKey hashes key under the store's secret: wyhash's construction (the
// one Go's runtime uses for map keys on machines without AES instructions)
// keyed by random words. On short keys it costs about a third of
// hash/maphash, whose calls around the runtime's AES hash cost more than the
// hash itself; like any hash keyed by a secret, it gives a client no way to
// choose keys that collide.
func hashKey(sec *hashSecret, key string) uint64 {
	n := len(key)
	p := unsafe.Slice(unsafe.StringData(key), n) // read only
	seed := sec[0]
	var a, b uint64
	switch {
	case n == 0:
	case n < 4:
		a = uint64(p[0])<<16 | uint64(p[n>>1])<<8 | uint64(p[n-1])
	case n <= 8:
		a = uint64(binary.LittleEndian.Uint32(p[:4]))
		b = uint64(binary.LittleEndian.Uint32(p[n-4:]))
	case n <= 16:
		a = binary.LittleEndian.Uint64(p[:8])
		b = binary.LittleEndian.Uint64(p[n-8:])
	default:
		for i := 0; n-i > 16; i += 16 {
			seed = wymix(binary.LittleEndian.Uint64(p[i:i+8])^sec[1], binary.LittleEndian.Uint64(p[i+8:i+16])^seed)
		}
		a = binary.LittleEndian.Uint64(p[n-16 : n-8])
		b = binary.LittleEndian.Uint64(p[n-8:])
	}
	return wymix(sec[1]^uint64(n), wymix(a^sec[1], b^seed^sec[2]))
}
