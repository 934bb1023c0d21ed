package memstore

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"testing"
)

// Every byte of a key, at every length the hash treats apart, reaches the
// hash: flipping one bit changes about half of the hash's bits, and a
// different seed gives a different hash.
func TestHashKeyMixesEveryByte(t *testing.T) {
	sec := &hashSecret{0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb}
	other := &hashSecret{sec[0] + 2, sec[1], sec[2]}
	for n := 1; n <= 40; n++ {
		key := []byte(strings.Repeat("k", n))
		base := hashKey(sec, string(key))
		if hashKey(other, string(key)) == base {
			t.Fatalf("length %d: the seed does not reach the hash", n)
		}
		for i := 0; i < n; i++ {
			for bit := 0; bit < 8; bit++ {
				key[i] ^= 1 << bit
				diff := bits.OnesCount64(base ^ hashKey(sec, string(key)))
				key[i] ^= 1 << bit
				if diff < 12 || diff > 52 {
					t.Fatalf("length %d, byte %d, bit %d: %d of 64 hash bits changed, want about 32", n, i, bit, diff)
				}
			}
		}
	}
	if hashKey(sec, "") == hashKey(sec, "\x00") {
		t.Fatal("the empty key and a zero byte hash alike")
	}
}

// wyhash's public constants let a key cancel a multiplication: with them,
// every 16-byte key whose first 8 bytes equal one constant hashed alike
// whatever its other bytes. Under a random secret such keys spread.
func TestHashKeyHasNoFixedZeroFactor(t *testing.T) {
	sec := newHashSecret()
	seen := map[uint64]bool{}
	for _, a := range []uint64{0xe7037ed1a0b428db, 0xa0761d6478bd642f, 0x8ebc6af09c88c6e3, 0} {
		for b := uint64(0); b < 64; b++ {
			var k [16]byte
			binary.LittleEndian.PutUint64(k[:8], a)
			binary.LittleEndian.PutUint64(k[8:], b*0x9e3779b97f4a7c15)
			seen[hashKey(&sec, string(k[:]))] = true
		}
	}
	if len(seen) != 4*64 {
		t.Fatalf("256 distinct keys gave %d distinct hashes", len(seen))
	}
}
