package memstore

import (
	"math/bits"
	"strings"
	"testing"
)

// Every byte of a key, at every length the hash treats apart, reaches the
// hash: flipping one bit changes about half of the hash's bits, and a
// different seed gives a different hash.
func TestHashKeyMixesEveryByte(t *testing.T) {
	const seed = 0x9e3779b97f4a7c15
	for n := 1; n <= 40; n++ {
		key := []byte(strings.Repeat("k", n))
		base := hashKey(seed, string(key))
		if hashKey(seed+1, string(key)) == base {
			t.Fatalf("length %d: the seed does not reach the hash", n)
		}
		for i := 0; i < n; i++ {
			for bit := 0; bit < 8; bit++ {
				key[i] ^= 1 << bit
				diff := bits.OnesCount64(base ^ hashKey(seed, string(key)))
				key[i] ^= 1 << bit
				if diff < 12 || diff > 52 {
					t.Fatalf("length %d, byte %d, bit %d: %d of 64 hash bits changed, want about 32", n, i, bit, diff)
				}
			}
		}
	}
	if hashKey(seed, "") == hashKey(seed, "\x00") {
		t.Fatal("the empty key and a zero byte hash alike")
	}
}
