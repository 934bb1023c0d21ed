package rules

import (
	"strings"
	"testing"
)

// boxKey is the box key of the rule named name for the client key.
func boxKey(name, key string) string { return string(appendBoxKey(nil, name, key)) }

// Every (rule name, client key) pair short enough to list, over bytes that
// a naive join would confuse (the separator, digits, NUL), has a box key
// of its own, and none begins as a limiter's key does (a printable name).
// A join of the name and key with ':' fails at once: rule "a" keyed "b:c"
// and rule "a:b" keyed "c".
func TestBoxKeysAreDistinct(t *testing.T) {
	strs := []string{""}
	for n := 0; n < 3; n++ {
		for _, s := range strs {
			if len(s) == n {
				for _, c := range []string{"a", ":", "1", "\x00"} {
					strs = append(strs, s+c)
				}
			}
		}
	}
	seen := make(map[string][2]string)
	for _, name := range strs {
		for _, key := range strs {
			k := boxKey(name, key)
			if prev, dup := seen[k]; dup {
				t.Fatalf("rule %q key %q and rule %q key %q share box key %q", prev[0], prev[1], name, key, k)
			}
			seen[k] = [2]string{name, key}
			if k[0] != 0 {
				t.Fatalf("box key %q does not begin with NUL", k)
			}
		}
	}
	if len(seen) != len(strs)*len(strs) {
		t.Fatalf("%d box keys for %d pairs", len(seen), len(strs)*len(strs))
	}
}

// FuzzBoxKeys: no two distinct (rule name, client key) pairs map to one
// box key.
func FuzzBoxKeys(f *testing.F) {
	f.Add("api", "ip:203.0.113.5", "api:ip", "203.0.113.5")
	f.Add("a", "b:c", "a:b", "c")
	f.Add("1", "2:x", "1:2", "x")
	f.Add("login", "k|alice", "login", "f|alice")
	f.Add(strings.Repeat("n", 128), "10:x", "n", "x")
	f.Fuzz(func(t *testing.T, name1, key1, name2, key2 string) {
		if name1 == name2 && key1 == key2 {
			return
		}
		if k := boxKey(name1, key1); k == boxKey(name2, key2) {
			t.Fatalf("rule %q key %q and rule %q key %q share box key %q", name1, key1, name2, key2, k)
		}
	})
}
