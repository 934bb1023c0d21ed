package opspage

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Space-Saving over 80 counters, fed 100,000 clients denied once each and 5
// denied 5,000 times each, shuffled: the memory is the 80 counters, every
// heavy client holds one (each was denied more than N/m times), its count
// is never below its true count nor more than its overcount above it, and
// the five lead the list.
func TestTopDeniedIsBoundedAndFindsTheHeavyHitters(t *testing.T) {
	const m, distinct, heavy, each = 80, 100_000, 5, 5_000
	var stream []string
	for i := 0; i < distinct; i++ {
		stream = append(stream, fmt.Sprintf("client-%d", i))
	}
	for h := 0; h < heavy; h++ {
		for i := 0; i < each; i++ {
			stream = append(stream, fmt.Sprintf("heavy-%d", h))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	td := newTopDenied(m)
	now := time.Unix(1e9, 0)
	for i, k := range stream {
		td.add("api", k, now)
		if i%10_007 == 0 {
			checkHeap(t, td)
		}
	}
	checkHeap(t, td)
	if len(td.index) != m || len(td.heap) != m {
		t.Fatalf("%d clients indexed in %d counters, want %d", len(td.index), len(td.heap), m)
	}
	top, total := td.top(heavy)
	if total != uint64(len(stream)) {
		t.Fatalf("total %d, want %d", total, len(stream))
	}
	for i, c := range top {
		if c.policy != "api" || len(c.key) < 6 || c.key[:6] != "heavy-" {
			t.Fatalf("top %d: %s %q, want the heavy clients first", i, c.policy, c.key)
		}
		if c.count < each || c.count-c.over > each {
			t.Errorf("%s: count %d, overcount %d; want count ≥ %d ≥ count − overcount", c.key, c.count, c.over, each)
		}
	}
	// The sum of the counts is the stream's length: every denial counted
	// once, in some counter.
	var sum uint64
	for _, c := range td.heap {
		sum += c.count
	}
	if sum != uint64(len(stream)) {
		t.Fatalf("counts sum to %d, want %d", sum, len(stream))
	}
}

func checkHeap(t *testing.T, td *topDenied) {
	t.Helper()
	for i, c := range td.heap {
		if c.at != i {
			t.Fatalf("counter %q at %d thinks it is at %d", c.key, i, c.at)
		}
		if i > 0 && td.heap[(i-1)/2].count > c.count {
			t.Fatalf("heap order broken at %d", i)
		}
		if td.index[c.pair] != c {
			t.Fatalf("counter %q not indexed", c.key)
		}
	}
}

// The boxed table keeps at most m clients: a new one replaces a client whose
// box has opened, or the one leaving first, or is dropped if it leaves
// first itself.
func TestBoxedTableIsBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := newBoxedTable(3)
	b.add("p", "a", now.Add(time.Minute), now)
	b.add("p", "b", now.Add(2*time.Minute), now)
	b.add("p", "c", now.Add(3*time.Minute), now)
	b.add("p", "d", now.Add(30*time.Second), now) // leaves before all: dropped
	b.add("p", "e", now.Add(time.Hour), now)      // replaces a
	keys := func(at time.Time) (out []string) {
		for _, e := range b.open(at) {
			out = append(out, e.key)
		}
		return out
	}
	if got := fmt.Sprint(keys(now)); got != "[e c b]" {
		t.Fatalf("boxed %s, want [e c b], the longest boxed first", got)
	}
	if got := fmt.Sprint(keys(now.Add(150 * time.Second))); got != "[e c]" {
		t.Fatalf("after b's box opened: %s, want [e c]", got)
	}
	b.remove("p", "c")
	if got := fmt.Sprint(keys(now)); got != "[e]" {
		t.Fatalf("after c's release: %s, want [e]", got)
	}
}
