package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tollgate-go/tollgate/core"
)

// Defaults of the options.
const (
	// DefaultResolution is the resolution of the clock a Store reads unless
	// WithClock gives another: see WithClock.
	DefaultResolution    = 500 * time.Microsecond
	DefaultShards        = 256
	DefaultMaxKeys       = 1 << 20
	DefaultSweepInterval = 30 * time.Second
)

// evictSample is how many keys a full shard looks at to make room.
const evictSample = 32

// Store is the in-memory core.Store. It is safe for concurrent use.
type Store struct {
	shards   []shard
	mask     uint64
	secret   hashSecret // clients cannot choose keys that collide
	perShard int

	clock     core.Clock
	nanoClock core.UnixNanoClock // clock, when it reads as nanoseconds
	coarse    *core.CoarseClock  // clock, when it is one (a direct call is cheaper)
	system    bool               // clock is core.SystemClock
	base      time.Time          // a reading of clock at New
	baseNs    int64              // base as Unix nanoseconds

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the sweeper has stopped; nil without one
}

var _ core.Store = (*Store)(nil)

type shard struct {
	mu sync.Mutex
	// Guarded by mu:
	hashes  []uint64           // open addressing, linear probing: each slot's key hash, 0 when empty; len a power of two (or 0)
	table   []slot             // the slots' states, beside hashes
	count   int                // occupied slots
	logs    map[string][]int64 // sliding-window-log rings, by key
	young   []uint64           // hashes of new keys in insertion order, oldest at youngAt: eviction candidates
	youngAt int                // index of the oldest in young
	now     int64              // latest instant seen: time never runs backwards here

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// slot is one key's state. Probes read only the hashes, eight to a cache
// line; a lookup then touches one slot and the key's bytes.
type slot struct {
	a, b, c int64
	expires int64 // instant from which the state equals a fresh key's
	key     string
	alg     core.Algorithm
	young   bool // used once only: the first to go when the shard is full
}

// minTable is a shard's first table size; a table doubles when it is 7/8 full.
const minTable = 8

type config struct {
	clock    core.Clock
	shards   int
	maxKeys  int
	interval time.Duration
}

// Option configures a Store.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithClock sets the clock the store reads once per decision.
//
// Default: a core.CoarseClock of DefaultResolution (500µs) shared by every
// Store in the process. Reading the system clock costs 20–40ns on a virtual
// machine, a quarter of a whole decision; the coarse clock costs one atomic
// load. Its readings come from the monotonic clock, so wall-clock jumps never
// admit extra requests, and they lag real time by at most about one
// resolution, which makes a limit slightly stricter, never looser: a refill
// or a new window comes up to 500µs late, and a RetryAfter may be that much
// longer than needed. Pass core.SystemClock for exact readings, as a limit of
// thousands of events per second per key may want.
func WithClock(c core.Clock) Option {
	return optionFunc(func(cfg *config) error {
		if c == nil {
			return errors.New("memstore: clock: nil")
		}
		cfg.clock = c
		return nil
	})
}

// WithShards sets the number of independently locked shards, rounded up to a
// power of two. Default 256.
func WithShards(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n < 1 || n > 1<<16 {
			return fmt.Errorf("memstore: shards %d: want 1 to 65536", n)
		}
		cfg.shards = 1 << bits.Len(uint(n-1))
		return nil
	})
}

// WithMaxKeys bounds the number of keys held, so that a flood of distinct keys
// cannot exhaust memory. The bound is kept per shard (MaxKeys/shards each,
// rounded up). Default 1<<20: about 170 MB at most for GCRA keys (161 bytes a key
// measured at a million keys; BenchmarkMemoryPerKey).
//
// When a shard is full, an insert makes room in this order: it drops the
// keys with expired state among up to 32 sampled; failing that, it evicts the
// oldest key that has been used only once; failing that, the sampled key
// whose state would expire soonest (the client with the least recorded use).
// An evicted client starts afresh, so the bound costs exactness only under a
// flood of distinct keys, and then the flood's own one-shot keys go first:
// clients that came back at least once keep their state.
func WithMaxKeys(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n < 1 {
			return fmt.Errorf("memstore: max keys %d: must be at least 1", n)
		}
		cfg.maxKeys = n
		return nil
	})
}

// WithSweepInterval sets how often a background goroutine drops expired state,
// one shard at a time so other shards are never stopped. Zero disables it
// (expired state is then dropped only when a shard is full, or by Sweep).
// Default 30s.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d < 0 {
			return fmt.Errorf("memstore: sweep interval %v: must not be negative", d)
		}
		cfg.interval = d
		return nil
	})
}

// sharedClock is the default clock of every Store: one ticking goroutine for
// the process, which stops by itself when no store has read it for 1000
// ticks (half a second) and starts again on the next reading.
var sharedClock = sync.OnceValue(func() *core.CoarseClock {
	c, err := core.NewCoarseClock(DefaultResolution)
	if err != nil {
		panic("memstore: " + err.Error()) // DefaultResolution is in range
	}
	return c
})

func defaultClock() core.Clock { return sharedClock() }

// New returns an empty Store. Close it to stop its sweeper.
func New(opts ...Option) (*Store, error) {
	cfg := config{clock: defaultClock(), shards: DefaultShards, maxKeys: DefaultMaxKeys, interval: DefaultSweepInterval}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{
		shards:   make([]shard, cfg.shards),
		mask:     uint64(cfg.shards - 1),
		secret:   newHashSecret(),
		perShard: (cfg.maxKeys + cfg.shards - 1) / cfg.shards,
		clock:    cfg.clock,
		stop:     make(chan struct{}),
	}
	s.base = s.clock.Now()
	s.baseNs = s.base.UnixNano()
	s.nanoClock, _ = s.clock.(core.UnixNanoClock)
	s.coarse, _ = s.clock.(*core.CoarseClock)
	s.system = s.clock == core.SystemClock
	for i := range s.shards {
		s.shards[i].logs = make(map[string][]int64)
	}
	if cfg.interval > 0 {
		s.done = make(chan struct{})
		go s.sweeper(cfg.interval)
	}
	return s, nil
}

// nanotime returns the clock's reading as Unix nanoseconds. The system clock
// is read as an offset from New's reading: time.Since then reads only the
// monotonic clock, which is both immune to wall-clock steps and half the
// cost of time.Now.
func (s *Store) nanotime() int64 {
	switch {
	case s.coarse != nil:
		return s.coarse.UnixNano()
	case s.system:
		return s.baseNs + int64(time.Since(s.base))
	case s.nanoClock != nil:
		return s.nanoClock.UnixNano()
	}
	return s.baseNs + int64(s.clock.Now().Sub(s.base))
}

// Take implements core.Store. It never blocks on anything but a shard lock,
// so it ignores ctx. On a key that already has state it does not allocate.
func (s *Store) Take(_ context.Context, key string, l core.Limit, cost int64) (core.Decision, error) {
	return s.take(key, l, cost)
}

// stackKey is the longest joined key TakePrefixed builds on its stack.
const stackKey = 128

// TakePrefixed implements core.PrefixTaker: Take(ctx, prefix+key, l, cost),
// with the two parts joined on the stack rather than the heap.
func (s *Store) TakePrefixed(_ context.Context, prefix, key string, l core.Limit, cost int64) (core.Decision, error) {
	n := len(prefix) + len(key)
	if n > stackKey {
		return s.take(prefix+key, l, cost)
	}
	var buf [stackKey]byte
	copy(buf[copy(buf[:], prefix):], key)
	return s.take(unsafe.String(&buf[0], n), l, cost)
}

// take is Take. key may live on the caller's stack: take keeps only copies
// of it, and its errors do not refer to it.
func (s *Store) take(key string, l core.Limit, cost int64) (d core.Decision, err error) {
	if err = core.CheckTake(key, l, cost); err != nil {
		return core.Decision{}, err
	}
	if s.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	h := hashKey(&s.secret, key) | 1 // never 0, the empty mark
	sh := &s.shards[h>>1&s.mask]
	now := s.nanotime()

	sh.mu.Lock()
	if now < sh.now {
		now = sh.now
	} else {
		sh.now = now
	}
	var st core.State
	i, found := sh.load(h, key, l.Algorithm, &st)
	d = core.Apply(&st, now, l, cost)
	if d.Allowed && cost > 0 {
		sh.save(i, found, h, key, now, l.Algorithm, &st, d.ResetAfter, s.perShard)
	}
	sh.mu.Unlock()
	return d, nil
}

var (
	_ core.MultiStore = (*Store)(nil)
	_ core.BoxStore   = (*Store)(nil)
)

// TakeMany implements core.MultiStore. It locks the shards of every key, in
// ascending order so that two TakeManys never wait on each other, decides
// every take at one instant, and writes state only if all are admitted.
func (s *Store) TakeMany(_ context.Context, takes []core.Take, ds []core.Decision) error {
	if err := core.CheckTakeMany(takes, ds); err != nil {
		return err
	}
	_, err := s.takeMany(takes, ds, nil)
	return err
}

// TakeBoxed implements core.BoxStore: TakeMany with the box's two keys
// locked with the takes', so the box is read, the step decided and a
// denial counted in one step.
func (s *Store) TakeBoxed(_ context.Context, boxes []core.Box, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	if err := core.CheckTakeMany(takes, ds); err != nil {
		return 0, err
	}
	if err := core.CheckBoxes(boxes, len(takes)); err != nil {
		return 0, err
	}
	// Placeholder for the Box API change: the memory store's several boxes
	// and masks come from the helper that owns this file.
	if len(boxes) != 1 || boxes[0].Takes != 0 {
		return 0, errors.New("memstore: several boxes, or a box's Takes: not implemented in this branch")
	}
	box := boxes[0]
	return s.takeMany(takes, ds, &box)
}

// takeMany is TakeMany, under box when it is not nil; it returns the time
// left in the box.
func (s *Store) takeMany(takes []core.Take, ds []core.Decision, box *core.Box) (time.Duration, error) {
	if s.closed.Load() {
		return 0, core.ErrClosed
	}
	// hs holds the hashes of the takes' keys, then of the box's two.
	var hs [core.MaxTakes + 2]uint64
	n := len(takes)
	for i := range takes {
		hs[i] = hashKey(&s.secret, takes[i].Key) | 1
	}
	var boxKey, logKey string
	all := n
	if box != nil {
		boxKey, logKey = core.BoxKeys(box.Key)
		hs[n], hs[n+1] = hashKey(&s.secret, boxKey)|1, hashKey(&s.secret, logKey)|1
		all = n + 2
	}
	var locked [core.MaxTakes + 2]int // the shards to lock, ascending, once each
	m := 0
	for i := 0; i < all; i++ {
		k := int(hs[i] >> 1 & s.mask)
		j := m
		for j > 0 && locked[j-1] > k {
			j--
		}
		if j > 0 && locked[j-1] == k {
			continue
		}
		copy(locked[j+1:m+1], locked[j:m])
		locked[j] = k
		m++
	}
	now := s.nanotime()
	for _, k := range locked[:m] {
		s.shards[k].mu.Lock()
		now = max(now, s.shards[k].now)
	}
	for _, k := range locked[:m] {
		s.shards[k].now = now
	}
	left := s.decideMany(takes, ds, box, now, &hs, boxKey, logKey)
	for j := m - 1; j >= 0; j-- {
		s.shards[locked[j]].mu.Unlock()
	}
	return left, nil
}

// decideMany is takeMany's step, under the locks of every shard it
// touches: hs are the hashes of the takes' keys and then of the box's
// (boxKey and logKey).
func (s *Store) decideMany(takes []core.Take, ds []core.Decision, box *core.Box, now int64, hs *[core.MaxTakes + 2]uint64, boxKey, logKey string) time.Duration {
	n := len(takes)

	var boxLimit core.Limit
	var boxState core.State
	var boxSlot int
	var boxFound bool
	if box != nil {
		boxLimit = box.Penalty.BoxLimit()
		boxSlot, boxFound = s.shardOf(hs[n]).load(hs[n], boxKey, boxLimit.Algorithm, &boxState)
		if d := core.Apply(&boxState, now, boxLimit, 0); !d.Allowed {
			core.Boxed(takes, ds, d.RetryAfter)
			return d.RetryAfter
		}
	}

	var sts [core.MaxTakes]core.State
	var slots [core.MaxTakes]int
	var found [core.MaxTakes]bool
	admitted := true
	for i := range takes {
		t := &takes[i]
		slots[i], found[i] = s.shardOf(hs[i]).load(hs[i], t.Key, t.Limit.Algorithm, &sts[i])
		if t.Limit.Algorithm == core.SlidingWindowLog {
			// Apply may reuse the ring's array; the state must stay as it
			// is if another take is denied.
			sts[i].Log = append([]int64(nil), sts[i].Log...)
		}
		ds[i] = core.Apply(&sts[i], now, t.Limit, t.Cost)
		admitted = admitted && ds[i].Allowed
	}
	if admitted {
		for i := range takes {
			t := &takes[i]
			if t.Cost == 0 {
				continue
			}
			sh := s.shardOf(hs[i])
			// An insert may have moved slots (backward-shift deletion when
			// a full shard makes room): find the key again.
			slots[i], found[i] = sh.find(hs[i], t.Key)
			sh.save(slots[i], found[i], hs[i], t.Key, now, t.Limit.Algorithm, &sts[i], ds[i].ResetAfter, s.perShard)
		}
		return 0
	}
	// Nothing is consumed: the admitted takes report their keys as they
	// stay, as a peek does.
	for i := range takes {
		t := &takes[i]
		if !ds[i].Allowed || t.Cost == 0 {
			continue
		}
		var st core.State
		s.shardOf(hs[i]).load(hs[i], t.Key, t.Limit.Algorithm, &st)
		ds[i] = core.Apply(&st, now, t.Limit, 0)
	}
	if box == nil {
		return 0
	}
	// Count the denial; the one that fills the log closes the box.
	dl := box.Penalty.DenialLimit()
	var logState core.State
	dsh := s.shardOf(hs[n+1])
	dslot, dfound := dsh.load(hs[n+1], logKey, dl.Algorithm, &logState)
	dd := core.Apply(&logState, now, dl, 1)
	if dd.Allowed && dd.Remaining > 0 {
		dsh.save(dslot, dfound, hs[n+1], logKey, now, dl.Algorithm, &logState, dd.ResetAfter, s.perShard)
		return 0
	}
	if dfound {
		// The denials that closed the box are forgotten: the state of a
		// fresh key, which the sweeper drops.
		dsh.save(dslot, true, hs[n+1], logKey, now, dl.Algorithm, &core.State{}, 0, s.perShard)
	}
	bsh := s.shardOf(hs[n])
	boxSlot, boxFound = bsh.find(hs[n], boxKey)
	bd := core.Apply(&boxState, now, boxLimit, 1)
	bsh.save(boxSlot, boxFound, hs[n], boxKey, now, boxLimit.Algorithm, &boxState, bd.ResetAfter, s.perShard)
	return box.Penalty.For
}

func (s *Store) shardOf(h uint64) *shard { return &s.shards[h>>1&s.mask] }

// load finds key and reads its state into st, if it has state for alg (a
// key reused under another algorithm starts afresh: its state means nothing
// to the new one). It returns the key's slot and whether it was found.
func (sh *shard) load(h uint64, key string, alg core.Algorithm, st *core.State) (int, bool) {
	i, found := sh.find(h, key)
	if found {
		e := &sh.table[i]
		// Any return, admitted or not, marks a client worth keeping.
		e.young = false
		if e.alg == alg {
			st.A, st.B, st.C = e.a, e.b, e.c
			if alg == core.SlidingWindowLog {
				st.Log = sh.logs[e.key]
			}
		}
	}
	return i, found
}

// save writes st as key's state, giving the key a slot first if it has
// none (i and found are load's answer, unless the table changed since).
func (sh *shard) save(i int, found bool, h uint64, key string, now int64, alg core.Algorithm, st *core.State, reset time.Duration, perShard int) {
	if !found {
		i = sh.insert(h, key, now, perShard)
	}
	e := &sh.table[i]
	if e.alg == core.SlidingWindowLog && alg != core.SlidingWindowLog {
		delete(sh.logs, e.key)
	}
	// Field by field: a composite literal is built on the stack and
	// copied, which costs a measurable share of a decision.
	e.a, e.b, e.c = st.A, st.B, st.C
	e.expires = now + int64(reset)
	e.alg = alg
	if alg == core.SlidingWindowLog {
		sh.logs[e.key] = st.Log
	}
}

// home is the slot at which a hash's probe starts. The shard was chosen by
// the hash's low bits, so the table uses the high ones.
func (sh *shard) home(h uint64) int { return int(h>>32) & (len(sh.table) - 1) }

// find returns the slot holding key, or the empty slot where its probe
// ended (only meaningful if the table has room; -1 when it has no slots).
func (sh *shard) find(h uint64, key string) (int, bool) {
	if len(sh.hashes) == 0 {
		return -1, false
	}
	mask := len(sh.hashes) - 1
	for i := sh.home(h); ; i = (i + 1) & mask {
		switch sh.hashes[i] {
		case h:
			if sh.table[i].key == key {
				return i, true
			}
		case 0:
			return i, false
		}
	}
}

// insert gives key a slot, making room first if the shard is full, and
// returns the slot's index. The slot is young (a key seen once).
func (sh *shard) insert(h uint64, key string, now int64, limit int) int {
	if sh.count >= limit {
		sh.makeRoom(now)
	}
	if (sh.count+1)*8 > len(sh.table)*7 {
		sh.grow()
	}
	i, _ := sh.find(h, key)
	// The caller's key may live in a reused buffer or on its stack: keep a
	// copy.
	sh.hashes[i] = h
	sh.table[i] = slot{key: strings.Clone(key), young: true}
	sh.count++
	sh.pushYoung(h, limit)
	return i
}

// grow doubles the table (or makes the first one) and re-places every slot.
func (sh *shard) grow() {
	oldHashes, old := sh.hashes, sh.table
	n := max(minTable, 2*len(old))
	sh.hashes, sh.table = make([]uint64, n), make([]slot, n)
	mask := n - 1
	for k, h := range oldHashes {
		if h == 0 {
			continue
		}
		i := sh.home(h)
		for sh.hashes[i] != 0 {
			i = (i + 1) & mask
		}
		sh.hashes[i], sh.table[i] = h, old[k]
	}
}

// pushYoung queues a new key's hash for eviction. The queue never holds
// more than the shard's capacity: past that its oldest place is dropped
// (that key stays, it is merely no longer first in line).
func (sh *shard) pushYoung(h uint64, limit int) {
	if len(sh.young)-sh.youngAt >= limit {
		sh.youngAt++
	}
	if sh.youngAt > 0 && sh.youngAt >= len(sh.young)/2 {
		sh.young = append(sh.young[:0], sh.young[sh.youngAt:]...)
		sh.youngAt = 0
	}
	sh.young = append(sh.young, h)
}

// makeRoom frees at least one slot: expired keys among a sample of 32
// (taken from a random place in the table), else the oldest key used only
// once, else the sampled key expiring soonest.
func (sh *shard) makeRoom(now int64) {
	if sh.count == 0 {
		return
	}
	mask := len(sh.table) - 1
	victim, soonest, seen, dropped := -1, int64(0), 0, 0
	i := int(rand.Uint64()) & mask
	// steps counts moves to the next slot, not visits: after a removal a
	// later slot may have moved into i, and is looked at in place.
	for steps := 0; steps < len(sh.table) && seen < evictSample; {
		e := &sh.table[i]
		if sh.hashes[i] != 0 {
			seen++
			if e.expires <= now {
				sh.removeAt(i)
				dropped++
				continue
			}
			if victim < 0 || e.expires < soonest {
				victim, soonest = i, e.expires
			}
		}
		i = (i + 1) & mask
		steps++
	}
	if dropped > 0 {
		return
	}
	for sh.youngAt < len(sh.young) {
		h := sh.young[sh.youngAt]
		sh.youngAt++
		if j := sh.findYoung(h); j >= 0 {
			sh.removeAt(j)
			return
		}
	}
	if victim >= 0 {
		sh.removeAt(victim)
	}
}

// findYoung returns a slot with hash h that is still young, or -1.
func (sh *shard) findYoung(h uint64) int {
	mask := len(sh.table) - 1
	for i := sh.home(h); sh.hashes[i] != 0; i = (i + 1) & mask {
		if sh.hashes[i] == h && sh.table[i].young {
			return i
		}
	}
	return -1
}

// removeAt empties slot i and, so that no probe is cut short, moves back
// each later slot of its run that may live nearer its home (backward-shift
// deletion: no tombstones).
func (sh *shard) removeAt(i int) {
	if sh.table[i].alg == core.SlidingWindowLog {
		delete(sh.logs, sh.table[i].key)
	}
	mask := len(sh.table) - 1
	for j := (i + 1) & mask; sh.hashes[j] != 0; j = (j + 1) & mask {
		home := sh.home(sh.hashes[j])
		// Slot j stays when its home lies cyclically in (i, j].
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		sh.hashes[i], sh.table[i] = sh.hashes[j], sh.table[j]
		i = j
	}
	sh.hashes[i], sh.table[i] = 0, slot{}
	sh.count--
}

// Sweep drops every key whose state has expired, one shard at a time. The
// background sweeper calls it every sweep interval; tests and callers with
// their own schedule may call it directly.
func (s *Store) Sweep() {
	now := s.nanotime()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t := max(now, sh.now)
		for i := 0; i < len(sh.table); {
			if sh.hashes[i] != 0 && sh.table[i].expires <= t {
				sh.removeAt(i) // a later slot may have moved into i
				continue
			}
			i++
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of keys holding state.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.count
		sh.mu.Unlock()
	}
	return n
}

func (s *Store) sweeper(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Close stops the sweeper and makes later Takes return core.ErrClosed. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		if s.done != nil {
			<-s.done
		}
	})
	return nil
}
