package opspage

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// The top denied clients are counted by Space-Saving (Metwally, Agrawal
// and El Abbadi, "Efficient computation of frequent and top-k elements in
// data streams", 2005) over a fixed number of counters m:
//
//   - a client already counted has its count raised by one;
//   - a new client, while a counter is free, takes it with count 1;
//   - otherwise it takes the counter with the smallest count c, evicting
//     that client, with count c+1 and overcount c (it may have been seen
//     up to c times before, unseen).
//
// So memory is m counters whatever the traffic, every count is at most
// its overcount above the client's true count, never below it, and a
// client denied more than N/m times of N denials always holds a counter.
// The counters sit in a min-heap by count (each knows its place), so an
// update costs O(log m); the clients are found through a map.

// pair is a client under a policy: the key as the limiter was given it.
type pair struct{ policy, key string }

type counter struct {
	pair
	count, over uint64
	last        time.Time
	at          int // index in the heap
}

// topDenied counts denials per (policy, key) in m counters. It is safe for
// concurrent use.
type topDenied struct {
	mu    sync.Mutex // guards the fields below
	m     int
	index map[pair]*counter
	heap  []*counter // a min-heap by count
	total uint64     // denials counted
}

func newTopDenied(m int) *topDenied {
	return &topDenied{m: m, index: make(map[pair]*counter, m)}
}

// add counts one denial of key under policy at now. The strings are copied
// when kept: a hook's event may hold keys in buffers its caller reuses.
func (t *topDenied) add(policy, key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if c, ok := t.index[pair{policy, key}]; ok {
		c.count++
		c.last = now
		t.down(c.at)
		return
	}
	p := pair{strings.Clone(policy), strings.Clone(key)}
	if len(t.heap) < t.m {
		c := &counter{pair: p, count: 1, last: now, at: len(t.heap)}
		t.heap = append(t.heap, c)
		t.index[p] = c
		t.up(c.at)
		return
	}
	c := t.heap[0]
	delete(t.index, c.pair)
	c.pair, c.over, c.last = p, c.count, now
	c.count++
	t.index[p] = c
	t.down(0)
}

func (t *topDenied) less(i, j int) bool { return t.heap[i].count < t.heap[j].count }

func (t *topDenied) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].at, t.heap[j].at = i, j
}

func (t *topDenied) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topDenied) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && t.less(r, l) {
			j = r
		}
		if !t.less(j, i) {
			return
		}
		t.swap(i, j)
		i = j
	}
}

// top returns up to n counters, the highest counts first (then the latest
// denied), as copies; and the denials counted in all.
func (t *topDenied) top(n int) ([]counter, uint64) {
	t.mu.Lock()
	out := make([]counter, len(t.heap))
	for i, c := range t.heap {
		out[i] = *c
	}
	total := t.total
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].count != out[j].count {
			return out[i].count > out[j].count
		}
		return out[i].last.After(out[j].last)
	})
	return out[:min(n, len(out))], total
}

// find returns the key of policy whose hash (by hash) is h among the
// counted clients.
func (t *topDenied) find(policy, h string, hash func(string) string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.index {
		if p.policy == policy && hash(p.key) == h {
			return p.key, true
		}
	}
	return "", false
}

// boxedTable remembers the clients answered from a penalty box, and until
// when, in at most m entries: when full, a new client replaces one whose
// box has opened, or else the one whose box opens first. It is safe for
// concurrent use.
type boxedTable struct {
	mu sync.Mutex // guards until
	m  int
	// until is when each client's box opens, as the last answer from it
	// said (now + RetryAfter).
	until map[pair]time.Time
}

func newBoxedTable(m int) *boxedTable {
	return &boxedTable{m: m, until: make(map[pair]time.Time, m)}
}

func (b *boxedTable) add(policy, key string, until, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := pair{policy, key}
	if _, ok := b.until[p]; ok {
		b.until[p] = until
		return
	}
	if len(b.until) >= b.m {
		var first pair
		var at time.Time
		for q, u := range b.until {
			if !u.After(now) {
				delete(b.until, q)
				continue
			}
			if at.IsZero() || u.Before(at) {
				first, at = q, u
			}
		}
		if len(b.until) >= b.m {
			if !until.After(at) {
				return // every client kept leaves its box later
			}
			delete(b.until, first)
		}
	}
	b.until[pair{strings.Clone(policy), strings.Clone(key)}] = until
}

// remove forgets key's box under policy (released).
func (b *boxedTable) remove(policy, key string) {
	b.mu.Lock()
	delete(b.until, pair{policy, key})
	b.mu.Unlock()
}

type boxedEntry struct {
	pair
	until time.Time
}

// open returns the clients whose box is still closed at now, the longest
// boxed first, dropping the others.
func (b *boxedTable) open(now time.Time) []boxedEntry {
	b.mu.Lock()
	out := make([]boxedEntry, 0, len(b.until))
	for p, u := range b.until {
		if !u.After(now) {
			delete(b.until, p)
			continue
		}
		out = append(out, boxedEntry{p, u})
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].until.Equal(out[j].until) {
			return out[i].until.After(out[j].until)
		}
		return out[i].policy+"\x00"+out[i].key < out[j].policy+"\x00"+out[j].key
	})
	return out
}
