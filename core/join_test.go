package core_test

import (
	"testing"

	"github.com/tollgate-go/tollgate/core"
)

// storedKey is the key a limiter named name stores key under by default.
func storedKey(name, key string) string { return core.DefaultPrefix(name) + key }

// Two limiters whose names differ never share a stored key, whatever the
// names and the keys hold: "api" keyed by a header and "api:ip" keyed by an
// address once shared "api:ip:203.0.113.5".
func TestDefaultPrefixKeepsLimitersApart(t *testing.T) {
	for _, c := range [][4]string{
		{"api", "ip:203.0.113.5", "api:ip", "203.0.113.5"},
		{"a", "1:b:c", "1:a", "b:c"},
		{"10/s", "x", "1", "0/s:x"},
		{"", "3:abc:k", "abc", "k"},
	} {
		if storedKey(c[0], c[1]) == storedKey(c[2], c[3]) {
			t.Errorf("(%q, %q) and (%q, %q) share the stored key %q", c[0], c[1], c[2], c[3], storedKey(c[0], c[1]))
		}
	}
}

// FuzzDefaultPrefixJoin checks the property itself: distinct (name, key)
// pairs give distinct stored keys.
func FuzzDefaultPrefixJoin(f *testing.F) {
	f.Add("api", "ip:203.0.113.5", "api:ip", "203.0.113.5")
	f.Add("a", "1:b", "1:a", "b")
	f.Add("9", "x", "", "1:9:x")
	f.Fuzz(func(t *testing.T, n1, k1, n2, k2 string) {
		if n1 == n2 && k1 == k2 {
			return
		}
		if storedKey(n1, k1) == storedKey(n2, k2) {
			t.Fatalf("(%q, %q) and (%q, %q) share the stored key %q", n1, k1, n2, k2, storedKey(n1, k1))
		}
	})
}
