package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// BenchmarkStoredKey is what the keyed hash adds to a decision (one Redis
// round trip, tens of microseconds): a stored key built with HMAC-SHA256,
// beside the version 1 key (a concatenation) and a plain SHA-256 of the
// secret and the key, the cheapest keyed construction at hand.
func BenchmarkStoredKey(b *testing.B) {
	for _, n := range []int{16, 64, 1024} {
		key := strings.Repeat("k", n)
		b.Run("hmac-sha256/"+itoa(n), func(b *testing.B) {
			k := newKeyer("tollgate:", false, nil)
			b.ReportAllocs()
			for b.Loop() {
				_ = k.key(key)
			}
		})
		b.Run("concatenation/"+itoa(n), func(b *testing.B) {
			k := newKeyer("tollgate:", false, nil)
			k.legacy = true
			b.ReportAllocs()
			for b.Loop() {
				_ = k.key(key)
			}
		})
		b.Run("sha256-prefix/"+itoa(n), func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			for b.Loop() {
				buf = append(append(buf[:0], builtinSecret...), key...)
				sum := sha256.Sum256(buf)
				_ = "tollgate:" + "v2:" + hex.EncodeToString(sum[:16])
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestSlotPart(t *testing.T) {
	for _, c := range []struct{ key, part string }{
		{"p:v2:abc", "p:v2:abc"},
		{"p:v2:{abc}", "abc"},
		{"p:v2:{abc}d", "abc"},
		{"{app}:v2:{abc}", "app"},
		{"p{}:v2:{abc}", "p{}:v2:{abc}"}, // an empty tag: the whole key
		{"p{:v2:abc", "p{:v2:abc"},
		{"p}{x}", "x"},
	} {
		if got := slotPart(c.key); got != c.part {
			t.Errorf("slotPart(%q) = %q, want %q", c.key, got, c.part)
		}
	}
}
