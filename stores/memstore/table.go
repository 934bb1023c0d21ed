package memstore

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tollgate-go/tollgate/core"
)

// The table. A decision on a key that is not in the CPU's caches (one of
// many keys, or a key last written on another core) pays for every cache
// line it touches, one after the other where each address comes from the
// line before; on a virtual machine a line from memory costs a page walk
// too. So the table is laid out for the fewest lines per decision, and the
// fewest written lines shared between cores:
//
//   - a key's state, its lock and the key's bytes are one slot, one cache
//     line: one line serves the check of the key, the lock and the update.
//     The key is kept as the id of a registered prefix (a Limiter's, the
//     same for all its keys) and the rest, up to inlineKey bytes; longer
//     keys live in the shard's long table.
//   - slots live in one slab per store, handed out in the order keys arrive
//     and never moved, so keys that come together lie together.
//   - each shard finds its keys through an index of 8-byte entries (a tag of
//     the key's hash and the slot's number), open addressing with linear
//     probing, eight to a line: a small table, likely in cache.
//   - a decision on a key the shard holds takes only the slot's lock, not
//     the shard's: it reads the shard's first line (never written by it)
//     and the index, and writes the slot's line alone. The shard's lock
//     guards the shard's structure (which keys it holds) and is taken to
//     add or drop a key, and by steps over several keys.
//
// So a decision on a cold key with a short key reads the shard's first line
// (shared by the cores, since no decision writes it), one index line and the
// key's slot, and writes only the slot: two lines that may miss, where a
// shard lock, a table of hashes, a slab of states and the key's bytes kept
// apart would cost four or five, each waiting on the one before, with two of
// them written.
//
// Locking: the shard's lock, then slot locks. A decision on one key holds
// one slot's lock and takes no other lock meanwhile. Only the holder of a
// shard's lock takes a slot's lock while holding another: a step over
// several keys (TakeMany) holds its keys' slots until it ends, and making
// room for one of them looks at other slots of the shard (never one the
// step holds: see held). Whoever else holds a slot of that shard waits for
// nothing, so no lock waits in a cycle. Every read
// or write of a slot's fields is under the slot's lock; the index is written
// under the shard's lock with atomic stores and read with atomic loads, so a
// decision without the shard's lock may read it while it changes: it then
// misses a key (and takes the shard's lock to look again), or finds a slot
// that no longer holds its key (and checks the key under the slot's lock).

// slot is one key's state, its lock and its key, in one cache line. It holds
// no pointer, so the garbage collector never scans the slab.
type slot struct {
	a, b, c int64         // storekit.State's integers
	expires int64         // instant from which the state equals a fresh key's
	mu      atomic.Uint32 // the slot's lock: 1 when held
	// limited is 0 when the last write left the key able to admit a
	// request of cost 1; else 1+packSpan(expires−free), free being the
	// instant from which it admits one again (see free).
	limited uint32
	used    share // of the burst, in use after the last write: the eviction rank
	alg     core.Algorithm
	flags   uint8 // flagYoung, flagLong
	pid     uint8 // the registered prefix the key starts with, 0 for none
	klen    uint8 // bytes of key in use, the key after its prefix (inline keys)
	// key holds the key after its prefix, or for a long key (flagLong) its
	// index in shard.long, little-endian in the first 4 bytes.
	key [inlineKey]byte
}

// inlineKey is how many bytes of a key (after its registered prefix) a slot
// holds: what is left of its cache line. Every IPv4 address and most IPv6
// /64 prefixes fit, after the prefix of the Limiter that takes them.
const inlineKey = 18

const (
	flagYoung uint8 = 1 << iota // used once only: among unlimited keys, the first to go
	flagLong                    // the key lives in shard.long
)

// The layout the table depends on, checked when the package compiles: a
// slot is one cache line, a shard's first part is another.
var (
	_ [unsafe.Sizeof(slot{}) - 64]byte
	_ [64 - unsafe.Sizeof(slot{})]byte
	_ [64 - unsafe.Sizeof(shardHot{})]byte
)

// lock takes the slot's lock. A slot is held for a decision's arithmetic
// (or, by a step over several keys, for the step): a waiter spins, then
// yields, then sleeps. Between two looks at the lock it waits longer each
// time, so that on a key every core wants its looks do not keep taking the
// line from the holder while it writes.
func (e *slot) lock() {
	if !e.mu.CompareAndSwap(0, 1) {
		e.lockSlow()
	}
}

func (e *slot) lockSlow() {
	for spins := 0; ; spins++ {
		switch {
		case spins < 10:
			spinDelay(8 << spins)
		case spins < 40:
			runtime.Gosched()
		default:
			time.Sleep(time.Microsecond)
		}
		if e.mu.Load() == 0 && e.mu.CompareAndSwap(0, 1) {
			return
		}
	}
}

// spinDelay busies the core for about n cycles without touching memory.
//
//go:noinline
func spinDelay(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i ^ x
	}
	return x
}

func (e *slot) unlock() { e.mu.Store(0) }

// clear empties the slot, whose lock the caller holds (and keeps).
func (e *slot) clear() {
	e.a, e.b, e.c, e.expires = 0, 0, 0, 0
	e.limited, e.used, e.alg, e.flags, e.pid, e.klen = 0, 0, 0, 0, 0, 0
	e.key = [inlineKey]byte{}
}

// longIndex is where a long key lives in shard.long.
func (e *slot) longIndex() uint32 {
	return uint32(e.key[0]) | uint32(e.key[1])<<8 | uint32(e.key[2])<<16 | uint32(e.key[3])<<24
}

func (e *slot) setLongIndex(i uint32) {
	e.key[0], e.key[1], e.key[2], e.key[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
}

// free returns the instant from which the key admits a request of cost 1
// (math.MinInt64 when it did at its last write): before it, the key is
// limited. The stored span is rounded down, so free is never earlier than
// the exact instant.
func (e *slot) free() int64 {
	if e.limited == 0 {
		return math.MinInt64
	}
	return e.expires - unpackSpan(e.limited-1)
}

// packSpan stores a span of nanoseconds d ≥ 0 in 31 bits, rounded down: a
// 26-bit mantissa m and a 5-bit exponent x standing for m<<x. Below 2^26ns
// (67ms) it is exact; above, the error is under 2^-26 of d (1.3ms in a day).
// Spans beyond (2^26−1)<<31ns (4.5 years) are stored as that.
func packSpan(d int64) uint32 {
	x := max(bits.Len64(uint64(d))-26, 0)
	if x > 31 {
		return 31<<26 | (1<<26 - 1)
	}
	return uint32(x)<<26 | uint32(d>>x)
}

func unpackSpan(p uint32) int64 { return int64(p&(1<<26-1)) << (p >> 26) }

// share is a fraction used/burst of a burst (0 ≤ used ≤ burst, burst ≥ 1)
// in 16 bits, made without a division, which would cost a sixth of a
// decision: both numbers shifted right by the bits burst has past 8, used in
// the high byte, burst in the low. Exact for bursts below 256, within 1/128
// above.
type share uint16

func shareOf(used, burst int64) share {
	x := max(bits.Len64(uint64(burst))-8, 0)
	return share(used>>x)<<8 | share(burst>>x)
}

// less reports whether a is the smaller fraction: u/b < v/c as u·c < v·b.
func (a share) less(o share) bool {
	return uint32(a>>8)*uint32(o&0xff) < uint32(o>>8)*uint32(a&0xff)
}

// tagOf is the tag of a key whose hash is h: its high half, never 0. The
// shard is chosen by the low half (Store.shardOf), so the two are
// independent.
func tagOf(h uint64) uint32 { return uint32(h>>32) | 1 }

// entry is an index entry: a key's tag and its slot's number (plus one, so
// that 0 is an empty entry).
func entry(tag uint32, slot uint32) uint64 { return uint64(tag)<<32 | uint64(slot) + 1 }

func entryTag(v uint64) uint32  { return uint32(v >> 32) }
func entrySlot(v uint64) uint32 { return uint32(v) - 1 }

// index is a shard's map from tags to slots. Its length is a power of two,
// at most 7/8 full. It is replaced, never grown in place, so a decision
// that read it without the shard's lock reads a whole table.
type index struct {
	e []atomic.Uint64
}

// home is the entry at which a tag's probe starts.
func (x *index) home(tag uint32) int { return int(uint64(tag) * uint64(len(x.e)) >> 32) }

// minIndex is a shard's first index size.
const minIndex = 8

// slab holds every slot of a store, in chunks that never move. Slots are
// handed out in the order keys arrive; a shard keeps the slots of the keys
// it dropped for its next keys, so every slot belongs to one shard for
// good and the slab never holds more slots than the shards' bounds add up
// to.
type slab struct {
	mu   sync.Mutex // guards next and the growth of dir
	next uint32     // slots handed out
	dir  atomic.Pointer[[]atomic.Pointer[chunk]]
}

const (
	chunkShift = 8
	chunkSlots = 1 << chunkShift
)

type chunk [chunkSlots]slot

// at returns slot i, which was handed out.
func (sl *slab) at(i uint32) *slot {
	return &(*sl.dir.Load())[i>>chunkShift].Load()[i&(chunkSlots-1)]
}

// alloc hands out a new slot; false when the slab has given out all the
// numbers an entry can hold.
func (sl *slab) alloc() (uint32, bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	i := sl.next
	if i == math.MaxUint32-1 {
		return 0, false
	}
	k := int(i >> chunkShift)
	var dir []atomic.Pointer[chunk]
	if d := sl.dir.Load(); d != nil {
		dir = *d
	}
	if k == len(dir) {
		// A new directory, published whole: a reader of the old one never
		// needs the new chunk, which no slot it knows of is in.
		grown := make([]atomic.Pointer[chunk], max(16, 2*len(dir)))
		for j := range dir {
			grown[j].Store(dir[j].Load())
		}
		grown[k].Store(new(chunk))
		sl.dir.Store(&grown)
	} else if dir[k].Load() == nil {
		dir[k].Store(new(chunk))
	}
	sl.next++
	return i, true
}

// shard is one lock's part of the store.
type shard struct {
	shardHot
	_ [64 - unsafe.Sizeof(shardHot{})]byte
	shardCold
	_ [(64 - unsafe.Sizeof(shardCold{})%64) % 64]byte // the next shard's first line is its own
}

// shardHot is a shard's first cache line: what a decision reads. A decision
// on a key the shard holds writes none of it, except now once per reading
// of a coarse clock.
type shardHot struct {
	mu        sync.Mutex            // guards the shard's structure: idx's entries, count, shardCold
	now       atomic.Int64          // latest instant seen: time never runs backwards here
	fullUntil atomic.Int64          // see makeRoom
	idx       atomic.Pointer[index] // nil until the first key
	count     int                   // keys held; guarded by mu
	slab      *slab
	pre       *prefixTable
}

// shardCold is the rest of a shard, guarded by its lock, read only when a
// key comes or goes.
type shardCold struct {
	long     []longKey // keys too long for a slot, by slot.longIndex
	freeLong []uint32  // unused indices of long
	free     []uint32  // the shard's slots that hold no key
	young    []uint64  // entries of new keys in insertion order, oldest at youngAt: eviction candidates
	youngAt  int       // index of the oldest in young

	// Eviction (see makeRoom): spares are the best unlimited keys the last
	// scan found, best last.
	spares  [maxSpares]spare
	nspares int
	evicted uint64 // keys dropped with unexpired state
	refused uint64 // new keys refused: every key was limited
}

// longKey is a key kept outside its slot: one too long for it, or one under
// the sliding window log, whose ring is kept beside it.
type longKey struct {
	key string
	log []int64 // the sliding-window-log ring, when the key's state is one
}

// spare is an eviction candidate a scan found: a key's index entry and rank.
type spare struct {
	entry   uint64
	used    share
	expires int64
}

// maxSpares is how many candidates a scan keeps for the evictions after it.
const maxSpares = 8

// scanning is fullUntil while a scan runs: a write that leaves a key
// unlimited clears it, so that the scan does not then record that every
// key is limited.
const scanning = -1

// advance returns t, or the latest instant the shard has seen if that is
// later, and records t as the latest.
func (sh *shard) advance(t int64) int64 {
	for {
		n := sh.now.Load()
		if t <= n {
			return n
		}
		if sh.now.CompareAndSwap(n, t) {
			return t
		}
	}
}

// prefixTable holds the key prefixes a store keeps apart from its keys:
// a slot holds a prefix's id (1 to 255) and the rest of the key. Prefixes
// are added, never removed, so a reader that found an id in a slot reads
// its prefix without a lock: the prefix was written before the slot was
// (under the slot's lock, which the reader holds).
type prefixTable struct {
	mu sync.Mutex    // serializes additions
	n  atomic.Uint32 // prefixes registered: p[1] to p[n]
	p  [256]string   // p[0] is the empty prefix
}

// maxPrefix is the longest prefix registered: prefixes are kept for good,
// so a table full of long ones would cost memory no key uses.
const maxPrefix = 64

// id returns prefix's id, registering it when it is new and there is room;
// 0 when it has none.
func (t *prefixTable) id(prefix string) uint8 {
	if prefix == "" || len(prefix) > maxPrefix {
		return 0
	}
	n := t.n.Load()
	for i := uint32(1); i <= n; i++ {
		if t.p[i] == prefix {
			return uint8(i)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := n + 1; i <= t.n.Load(); i++ { // added meanwhile
		if t.p[i] == prefix {
			return uint8(i)
		}
	}
	n = t.n.Load()
	if n == uint32(len(t.p)-1) {
		return 0
	}
	t.p[n+1] = strings.Clone(prefix)
	t.n.Store(n + 1)
	return uint8(n + 1)
}

// match returns the id and length of the longest registered prefix of key
// that is at least least bytes long; 0, 0 when there is none.
func (t *prefixTable) match(key string, least int) (uint8, int) {
	best, bestLen := uint8(0), 0
	n := t.n.Load()
	for i := uint32(1); i <= n; i++ {
		if p := t.p[i]; len(p) >= least && len(p) > bestLen && strings.HasPrefix(key, p) {
			best, bestLen = uint8(i), len(p)
		}
	}
	return best, bestLen
}

// keyInline reports whether the slot e, whose key is not long, holds key.
func (sh *shard) keyInline(e *slot, key string) bool {
	p := sh.pre.p[e.pid]
	n := len(p)
	return n+int(e.klen) == len(key) && key[:n] == p && sameBytes(key[n:], &e.key)
}

// sameBytes reports whether rest, at most inlineKey bytes, equals the
// first len(rest) bytes of k. Words read from both ends, which overlap,
// cover any length from 8 to 16 without a loop or a call (what a string
// comparison costs here is mostly the call).
func sameBytes(rest string, k *[inlineKey]byte) bool {
	n := len(rest)
	if n < 8 || n > 16 {
		return rest == string(k[:n])
	}
	r := unsafe.Slice(unsafe.StringData(rest), n) // read only
	return binary.LittleEndian.Uint64(r) == binary.LittleEndian.Uint64(k[:8]) &&
		binary.LittleEndian.Uint64(r[n-8:]) == binary.LittleEndian.Uint64(k[n-8:n])
}

// keyIs reports whether slot e holds key. The shard's lock is held (a long
// key is read in shardCold), and e's.
func (sh *shard) keyIs(e *slot, key string) bool {
	if e.flags&flagLong != 0 {
		return sh.long[e.longIndex()].key == key
	}
	return sh.keyInline(e, key)
}

// keyOf returns the key slot e holds, as a new string. The shard's lock is
// held, and e's.
func (sh *shard) keyOf(e *slot) string {
	if e.flags&flagLong != 0 {
		return sh.long[e.longIndex()].key
	}
	return sh.pre.p[e.pid] + string(e.key[:e.klen])
}

// lookup returns key's slot, locked, when the shard holds key inline: the
// path of a decision on a known key, without the shard's lock. It returns
// nil when it finds no such slot (a new key, a long one, or an index that
// was changing): the shard's lock then settles it.
func (sh *shard) lookup(tag uint32, key string) *slot {
	x := sh.idx.Load()
	if x == nil {
		return nil
	}
	mask := len(x.e) - 1
	for i, n := x.home(tag), 0; n <= mask; i, n = (i+1)&mask, n+1 {
		v := x.e[i].Load()
		if v == 0 {
			return nil
		}
		if entryTag(v) != tag {
			continue
		}
		e := sh.slab.at(entrySlot(v))
		e.lock()
		if e.flags&flagLong == 0 && sh.keyInline(e, key) {
			return e
		}
		long := e.flags&flagLong != 0
		e.unlock()
		if long {
			return nil
		}
	}
	return nil
}

// find returns the index entry of key, whose tag is tag, and its position,
// or 0 and the empty position where its probe ended (-1 when the shard has
// no index). The shard's lock is held; the slots it looks at are locked
// and unlocked unless h holds them.
func (sh *shard) find(tag uint32, key string, h *held) (uint64, int) {
	x := sh.idx.Load()
	if x == nil {
		return 0, -1
	}
	mask := len(x.e) - 1
	for i := x.home(tag); ; i = (i + 1) & mask {
		v := x.e[i].Load()
		if v == 0 {
			return 0, i
		}
		if entryTag(v) != tag {
			continue
		}
		e := sh.slab.at(entrySlot(v))
		mine := h.has(entrySlot(v))
		if !mine {
			e.lock()
		}
		is := sh.keyIs(e, key)
		if !mine {
			e.unlock()
		}
		if is {
			return v, i
		}
	}
}

// held is the set of slots a step holds locked: its keys', which making
// room for another of its keys never drops. A nil *held holds none.
type held struct {
	n    int
	slot [stepKeys]uint32
}

func (h *held) has(i uint32) bool {
	if h == nil {
		return false
	}
	for _, s := range h.slot[:h.n] {
		if s == i {
			return true
		}
	}
	return false
}

// add records that the step holds slot i, locked.
func (h *held) add(i uint32) { h.slot[h.n] = i; h.n++ }

// unlockAll releases every slot the step holds.
func (h *held) unlockAll(sl func(uint32) *slot) {
	for _, s := range h.slot[:h.n] {
		sl(s).unlock()
	}
	h.n = 0
}

// acquire returns slot i locked: locked now, or already held by h (then it
// stays h's to unlock). Locked now, it is added to h if h is not nil.
func (sh *shard) acquire(i uint32, h *held) *slot {
	e := sh.slab.at(i)
	if h.has(i) {
		return e
	}
	e.lock()
	if h != nil {
		h.add(i)
	}
	return e
}

// insert gives key a slot holding a fresh state, making room first if the
// shard is full, and returns it locked (added to h, if not nil); nil when
// the shard is full and every key in it is limited. The slots h holds are
// not dropped to make room. The slot is young (a key seen once). split is
// the length of a prefix the key was given with (TakePrefixed), 0 if none.
// The shard's lock is held.
func (sh *shard) insert(tag uint32, key string, split int, now int64, limit int, h *held) *slot {
	if sh.count >= limit && !sh.makeRoom(now, h) {
		return nil
	}
	var i uint32
	if n := len(sh.free); n > 0 {
		i = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		var ok bool
		if i, ok = sh.slab.alloc(); !ok {
			return nil
		}
	}
	x := sh.idx.Load()
	if x == nil || (sh.count+1)*8 > len(x.e)*7 {
		x = sh.grow(x)
	}
	e := sh.slab.at(i)
	e.lock()
	if h != nil {
		h.add(i)
	}
	e.flags = flagYoung
	sh.placeKey(e, key, split)
	v := entry(tag, i)
	mask := len(x.e) - 1
	p := x.home(tag)
	for x.e[p].Load() != 0 {
		p = (p + 1) & mask
	}
	x.e[p].Store(v)
	sh.count++
	sh.pushYoung(v, limit)
	return e
}

// placeKey writes key into the empty slot e: inline when it fits, after a
// registered prefix if one makes it fit (the one it was given with, or any
// the store knows), else in the shard's long table. TakePrefixed and
// TakeMany pass keys joined in scratch buffers: nothing here keeps key.
func (sh *shard) placeKey(e *slot, key string, split int) {
	if len(key) > inlineKey {
		var id uint8
		n := 0
		if split > 0 && len(key)-split <= inlineKey {
			if id = sh.pre.id(key[:split]); id != 0 {
				n = split
			}
		}
		if id == 0 {
			id, n = sh.pre.match(key, len(key)-inlineKey)
		}
		if id == 0 {
			sh.makeLong(e, key)
			return
		}
		e.pid, key = id, key[n:]
	}
	e.klen = uint8(copy(e.key[:], key))
}

// makeLong moves the key of slot e, key, into the long table.
func (sh *shard) makeLong(e *slot, key string) {
	var i uint32
	if n := len(sh.freeLong); n > 0 {
		i = sh.freeLong[n-1]
		sh.freeLong = sh.freeLong[:n-1]
	} else {
		i = uint32(len(sh.long))
		sh.long = append(sh.long, longKey{})
	}
	sh.long[i] = longKey{key: strings.Clone(key)}
	e.flags |= flagLong
	e.pid, e.klen = 0, 0
	e.key = [inlineKey]byte{}
	e.setLongIndex(i)
}

// pushYoung queues a new key's entry for eviction. The queue never holds
// more than the shard's capacity: past that its oldest place is dropped
// (that key stays, it is merely no longer first in line).
func (sh *shard) pushYoung(v uint64, limit int) {
	if len(sh.young)-sh.youngAt >= limit {
		sh.youngAt++
	}
	if sh.youngAt > 0 && sh.youngAt >= len(sh.young)/2 {
		sh.young = append(sh.young[:0], sh.young[sh.youngAt:]...)
		sh.youngAt = 0
	}
	sh.young = append(sh.young, v)
}

// grow replaces the index x by one twice its size (or makes the first one)
// and returns it. The shard's lock is held.
func (sh *shard) grow(x *index) *index {
	n := minIndex
	if x != nil {
		n = 2 * len(x.e)
	}
	y := &index{e: make([]atomic.Uint64, n)}
	if x != nil {
		mask := n - 1
		for k := range x.e {
			v := x.e[k].Load()
			if v == 0 {
				continue
			}
			i := y.home(entryTag(v))
			for y.e[i].Load() != 0 {
				i = (i + 1) & mask
			}
			y.e[i].Store(v)
		}
	}
	sh.idx.Store(y)
	return y
}

// Eviction. Dropping a key's state makes its client start afresh; what that
// costs depends on the state, at the instant t of the insert that needs room:
//
//   - t ≥ expires: nothing. The state equals a fresh key's (storekit.State), so
//     dropping it is exact.
//   - free ≤ t < expires, "unlimited": its next request would be admitted
//     anyway. The client gets back at most the share of its burst in use,
//     used (as of its last write; refills since only lower it), over at most
//     expires − t. No refusal was being enforced.
//   - t < free, "limited": the client is being refused until free; a fresh
//     state would admit it at once, up to a whole burst. This is the one
//     loss that breaks the limit, and the store never takes it.
//
// So a full shard frees a slot by dropping, in this order: expired keys (all
// it sees, at no cost); else an unlimited key: the oldest used only once (the
// young queue: a flood of one-shot keys goes before clients that came back),
// else the one of least used, then soonest expires: the one closest to a
// whole quota; else none, and the new key is refused (Stats.Refused).
//
// Refusing is the choice that keeps the guarantee whole: every key's state
// holds every request it was admitted, so no client is admitted past its
// limit, however many keys arrive; and the refused client was not admitted
// either. The alternatives lose it or cost more: evicting the limited key
// that frees soonest hands that client a fresh quota; admitting new keys
// uncounted hands the flood one; counting them in a bucket shared per limit
// needs new keys to start from it and would merge the penalty boxes of
// unrelated clients. What a flood that fills a shard with limited keys costs
// is availability for new clients of that shard, until its first limited key
// frees (fullUntil), which is then the next to go.
//
// Finding the victim: a sample of evictSample keys from a random place in
// the index, which under a flood of new keys almost always holds expired or
// unlimited ones, then the young queue. When neither gives one, a scan of the
// whole shard keeps "never a limited key while an unlimited one exists" exact:
// it drops every expired key, evicts the best unlimited one and keeps the
// next maxSpares best for the evictions after it; finding none, it records in
// fullUntil the instant the first limited key frees, and until then a new key
// is refused without a scan (a write that leaves a key unlimited clears
// fullUntil; one that leaves it limited may lower it). So a scan, one pass
// over the shard, happens only when there is an unlimited key for it to find
// (one that a write left so, or that freed with time), or when a step's own
// keys are the only ones: never once per refusal of a full shard.
//
// Decisions on known keys run beside all this, under their slots' locks
// only. A key is judged under its slot's lock, and judged again under it
// when it is dropped, so a key that a decision left limited meanwhile is
// never dropped. A write leaves a key's free instant no earlier than the
// instant it decided at, so a scan's fullUntil needs no lowering from writes
// that ran beside it; one that leaves a key unlimited clears fullUntil, even
// while a scan runs (scanning), and the scan then records nothing.
//
// makeRoom frees at least one slot, never one that h holds, and reports
// whether it did. The shard's lock is held.
func (sh *shard) makeRoom(now int64, h *held) bool {
	if sh.count == 0 {
		return true
	}
	if sh.fullUntil.Load() > now {
		return false
	}
	x := sh.idx.Load()
	n := len(x.e)
	victim, seen, dropped := uint64(0), 0, 0
	var vUsed share
	var vExpires int64
	i := int(rand.Uint64N(uint64(n)))
	// steps counts moves to the next entry, not visits: after a removal a
	// later entry may have moved into i, and is looked at in place.
	for steps := 0; steps < n && seen < evictSample; {
		if v := x.e[i].Load(); v != 0 && !h.has(entrySlot(v)) {
			seen++
			e := sh.slab.at(entrySlot(v))
			e.lock()
			switch {
			case e.expires <= now:
				sh.removeAt(x, i, e)
				e.unlock()
				dropped++
				continue
			case e.free() <= now && (victim == 0 || e.used.less(vUsed) || (!vUsed.less(e.used) && e.expires < vExpires)):
				victim, vUsed, vExpires = v, e.used, e.expires
			}
			e.unlock()
		}
		i = (i + 1) & (n - 1)
		steps++
	}
	if dropped > 0 {
		return true
	}
	for sh.youngAt < len(sh.young) {
		v := sh.young[sh.youngAt]
		sh.youngAt++
		if sh.evictIfFree(v, now, true, h) {
			return true
		}
	}
	if victim != 0 && sh.evictIfFree(victim, now, false, h) {
		return true
	}
	for sh.nspares > 0 {
		sh.nspares--
		if sh.evictIfFree(sh.spares[sh.nspares].entry, now, false, h) {
			return true
		}
	}
	return sh.scan(now, h)
}

// evictIfFree drops the key of index entry v if it is still in the index,
// not held by h, unlimited at now (and young, if young is set), and
// reports whether it did.
func (sh *shard) evictIfFree(v uint64, now int64, young bool, h *held) bool {
	if h.has(entrySlot(v)) {
		return false
	}
	x := sh.idx.Load()
	mask := len(x.e) - 1
	for i := x.home(entryTag(v)); ; i = (i + 1) & mask {
		switch x.e[i].Load() {
		case 0:
			return false
		case v:
			e := sh.slab.at(entrySlot(v))
			e.lock()
			ok := e.free() <= now && (!young || e.flags&flagYoung != 0)
			if ok {
				if e.expires > now {
					sh.evicted++
				}
				sh.removeAt(x, i, e)
			}
			e.unlock()
			return ok
		}
	}
}

// scan is makeRoom's pass over the whole shard; see makeRoom.
func (sh *shard) scan(now int64, h *held) bool {
	dropped, unlimited := 0, false
	firstFree := int64(math.MaxInt64)
	sh.nspares = 0
	sh.fullUntil.Store(scanning)
	x := sh.idx.Load()
	for i := 0; i < len(x.e); {
		v := x.e[i].Load()
		if v == 0 {
			i++
			continue
		}
		e, mine := sh.slab.at(entrySlot(v)), h.has(entrySlot(v))
		if !mine {
			e.lock()
		}
		free := e.free()
		switch {
		case mine:
			if free > now {
				firstFree = min(firstFree, free)
			} else {
				unlimited = true
			}
		case e.expires <= now:
			sh.removeAt(x, i, e) // a later entry may have moved into i
			e.unlock()
			dropped++
			continue
		case free > now:
			firstFree = min(firstFree, free)
		default:
			unlimited = true
			sh.offerSpare(spare{entry: v, used: e.used, expires: e.expires})
		}
		if !mine {
			e.unlock()
		}
		i++
	}
	if dropped > 0 || unlimited {
		sh.fullUntil.CompareAndSwap(scanning, 0)
	} else {
		sh.fullUntil.CompareAndSwap(scanning, firstFree)
	}
	if dropped > 0 {
		return true
	}
	for sh.nspares > 0 {
		sh.nspares--
		if sh.evictIfFree(sh.spares[sh.nspares].entry, now, false, h) {
			return true
		}
	}
	return false
}

// offerSpare keeps the unlimited key c among the maxSpares best victims,
// ordered best last.
func (sh *shard) offerSpare(c spare) {
	better := func(a, b *spare) bool { return a.used.less(b.used) || (!b.used.less(a.used) && a.expires < b.expires) }
	n := sh.nspares
	if n == maxSpares {
		if !better(&c, &sh.spares[0]) {
			return
		}
		copy(sh.spares[:], sh.spares[1:])
		n--
	}
	j := n
	for j > 0 && better(&sh.spares[j-1], &c) {
		sh.spares[j] = sh.spares[j-1]
		j--
	}
	sh.spares[j] = c
	sh.nspares = n + 1
}

// removeAt drops the key of index x's entry i, whose slot e the caller
// holds locked (and keeps), and, so that no probe is cut short, moves back
// each later entry of its run that may live nearer its home (backward-shift
// deletion: no tombstones). The shard's lock is held.
func (sh *shard) removeAt(x *index, i int, e *slot) {
	if e.flags&flagLong != 0 {
		k := e.longIndex()
		sh.long[k] = longKey{}
		sh.freeLong = append(sh.freeLong, k)
	}
	e.clear()
	sh.free = append(sh.free, entrySlot(x.e[i].Load()))
	mask := len(x.e) - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		v := x.e[j].Load()
		if v == 0 {
			break
		}
		home := x.home(entryTag(v))
		// Entry j stays when its home lies cyclically in (i, j].
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		x.e[i].Store(v)
		i = j
	}
	x.e[i].Store(0)
	sh.count--
}
