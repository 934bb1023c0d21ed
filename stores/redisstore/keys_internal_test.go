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

// Distinct keys are stored under distinct keys (a 128-bit keyed hash: a
// collision among these would be a broken hash), of one length, and a
// box's two keys are apart from every take's and share its slot.
func TestStoredKeysAreDistinctAndBounded(t *testing.T) {
	for _, hashTag := range []bool{false, true} {
		k := newKeyer("p:", hashTag, []byte("0123456789abcdef"))
		seen := map[string]string{}
		add := func(stored, from string) {
			if prev, ok := seen[stored]; ok {
				t.Fatalf("%q and %q are both stored as %q", prev, from, stored)
			}
			seen[stored] = from
		}
		for i := 0; i < 50_000; i++ {
			key := strings.Repeat("k", i%7) + itoa(i) + "{x}"
			s := k.key(key)
			if len(s) != len("p:v2:")+hashLen+2*b2i(hashTag) || slotPart(s) == "x" {
				t.Fatalf("key %q stored as %q", key, s)
			}
			add(s, "take "+key)
			box, denials := k.boxKeys(key)
			if slotPart(box) != slotPart(denials) || !strings.HasSuffix(denials, "}d") {
				t.Fatalf("box of %q: %q and %q do not share a slot", key, box, denials)
			}
			add(box, "box "+key)
			add(denials, "denials "+key)
		}
	}
	// The secret decides the hash: two secrets, two keys.
	a, b := newKeyer("p:", false, []byte("0123456789abcdef")), newKeyer("p:", false, []byte("fedcba9876543210"))
	if a.key("client") == b.key("client") {
		t.Fatal("two secrets store a key alike")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
