package memstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
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
// The zero Store is not usable: build one with New, which starts its
// sweeper; Close stops it.
type Store struct {
	shards   []shard
	mask     uint64
	secret   hashSecret // clients cannot choose keys that collide
	perShard int

	clock     core.Clock
	nanoClock storekit.UnixNanoClock // clock, when it reads as nanoseconds
	coarse    *core.CoarseClock      // clock, when it is one (a direct call is cheaper)
	system    bool                   // clock is core.SystemClock
	base      time.Time              // a reading of clock at New
	baseNs    int64                  // base as Unix nanoseconds

	closed atomic.Bool
	sweep  *sweepStop // nil without a sweeper

	slots slotTable // concurrency slots (slots.go)
}

// sweepStop ends a store's sweeper. It lives apart from the Store so that
// the cleanup that runs when the store becomes unreachable can hold it
// without holding the store.
type sweepStop struct {
	once sync.Once
	stop chan struct{} // closed by halt
	done chan struct{} // closed when the sweeper has returned
}

func (c *sweepStop) halt() { c.once.Do(func() { close(c.stop) }) }

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

	// Eviction (see makeRoom). fullUntil is nonzero when a scan found every
	// key limited: none is unlimited before that instant unless a write
	// makes it so (save then lowers or clears it). spares are the best
	// unlimited keys the last scan found, best last.
	fullUntil int64
	spares    [maxSpares]spare
	nspares   int
	evicted   uint64 // keys dropped with unexpired state
	refused   uint64 // new keys refused: every key was limited

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// slot is one key's state. Probes read only the hashes, eight to a cache
// line; a lookup then touches one slot (56 bytes) and the key's bytes.
type slot struct {
	a, b, c int64
	expires int64 // instant from which the state equals a fresh key's
	key     string
	// limited is 0 when the last write left the key able to admit a
	// request of cost 1; else 1+packSpan(expires−free), free being the
	// instant from which it admits one again (see free).
	limited uint32
	used    share // of the burst, in use after the last write: the eviction rank
	alg     core.Algorithm
	young   bool // used once only: among unlimited keys, the first to go
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

// spare is an eviction candidate a scan found: a key's hash and rank.
type spare struct {
	h       uint64
	expires int64
	used    share
}

// maxSpares is how many candidates a scan keeps for the evictions after it.
const maxSpares = 8

// minTable is a shard's first table size; a table doubles when it is 7/8 full.
const minTable = 8

type config struct {
	clock    core.Clock
	shards   int
	maxKeys  int
	interval time.Duration
}

// Option configures a Store. A nil Option is not allowed.
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
// rounded up). Default 1<<20 (see BenchmarkMemoryPerKey for the bytes a key
// takes).
//
// The bound never hands a limited client a fresh quota. When a shard is full,
// a new key makes room by dropping, in this order:
//
//   - keys whose state has expired: their state equals a fresh key's, so
//     dropping them changes nothing;
//   - else, among the keys that are not limited (whose next request would be
//     admitted), the oldest key used only once, so that a flood of one-shot
//     keys goes before clients that came back; failing that, the key
//     closest to a whole quota. Its client may get back the part of its
//     burst it had used, but it was not being refused anything;
//   - never a key that is limited.
//
// When every key of the shard is limited, the new key is refused instead: its
// take is denied (ReasonLimited, with RetryAfter until the shard's first key
// stops being limited) and Stats counts it. Size the bound above the number
// of clients you expect to be limited at once: a flood that keeps every
// shard full of limited keys refuses new clients, never resets old ones.
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

// New returns an empty Store. Close it to stop its sweeper; a Store that is
// no longer referenced anywhere stops it too, once the garbage collector has
// reclaimed it (the sweeper holds the store only weakly), so a store nobody
// can close leaves no goroutine behind.
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
	}
	s.base = s.clock.Now()
	s.baseNs = s.base.UnixNano()
	s.nanoClock, _ = s.clock.(storekit.UnixNanoClock)
	s.coarse, _ = s.clock.(*core.CoarseClock)
	s.system = s.clock == core.SystemClock
	for i := range s.shards {
		s.shards[i].logs = make(map[string][]int64)
	}
	if cfg.interval > 0 {
		s.sweep = &sweepStop{stop: make(chan struct{}), done: make(chan struct{})}
		go sweeper(weak.Make(s), cfg.interval, s.sweep)
		runtime.AddCleanup(s, (*sweepStop).halt, s.sweep)
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

// TakePrefixed implements storekit.PrefixTaker: Take(ctx, prefix+key, l, cost),
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
	if err = storekit.CheckTake(key, l, cost); err != nil {
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
	var st storekit.State
	i, found := sh.load(h, key, l.Algorithm, now, &st)
	d = storekit.Apply(&st, now, l, cost)
	if d.Allowed && cost > 0 && !sh.save(i, found, h, key, now, &st, &d, s.perShard) {
		d = sh.refusal(l, now)
	}
	sh.mu.Unlock()
	return d, nil
}

// Settle implements storekit.Settler: storekit.Settle on key's state, in
// one step under the shard's lock.
func (s *Store) Settle(_ context.Context, key string, l core.Limit, delta int64) (d core.Decision, err error) {
	if err = storekit.CheckSettle(key, l, delta); err != nil {
		return core.Decision{}, err
	}
	if s.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	h := hashKey(&s.secret, key) | 1
	sh := &s.shards[h>>1&s.mask]
	now := s.nanotime()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now < sh.now {
		now = sh.now
	} else {
		sh.now = now
	}
	var st storekit.State
	i, found := sh.load(h, key, l.Algorithm, now, &st)
	if !found && delta < 0 {
		return storekit.Apply(&st, now, l, 0), nil // nothing to give back
	}
	d = storekit.Settle(&st, now, l, delta)
	if !sh.save(i, found, h, key, now, &st, &d, s.perShard) {
		// No room for a key that owes: every key in the shard is limited.
		// The debt cannot be kept; the caller hears of it.
		return d, errFull
	}
	return d, nil
}

// errFull is Settle's error for a charge with nowhere to be kept.
var errFull = errors.New("memstore: settling: no room for the key (every key in its shard is limited); the charge is lost")

var (
	_ storekit.Settler    = (*Store)(nil)
	_ storekit.MultiStore = (*Store)(nil)
	_ storekit.BoxStore   = (*Store)(nil)
)

// TakeMany implements storekit.MultiStore. It locks the shards of every key, in
// ascending order so that two TakeManys never wait on each other, decides
// every take at one instant, and writes state only if all are admitted.
func (s *Store) TakeMany(_ context.Context, takes []core.Take, ds []core.Decision) error {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return err
	}
	_, err := s.takeMany(takes, ds, nil)
	return err
}

// TakeBoxed implements storekit.BoxStore: TakeMany with every box's two keys
// locked with the takes', in one ascending order, so the boxes are read,
// the step decided and a denial counted in one step.
func (s *Store) TakeBoxed(_ context.Context, boxes []core.Box, takes []core.Take, ds []core.Decision) (time.Duration, error) {
	if err := storekit.CheckTakeMany(takes, ds); err != nil {
		return 0, err
	}
	if err := storekit.CheckBoxes(boxes, len(takes)); err != nil {
		return 0, err
	}
	return s.takeMany(takes, ds, boxes)
}

// stepKeys is the most keys one step locks: its takes' and two per box.
const stepKeys = core.MaxTakes + 2*core.MaxBoxes

// boxSuffix and logSuffix end the keys of a box and of its denials' log
// (storekit.BoxKeys).
var boxSuffix, logSuffix = storekit.BoxKeys("")

// stackBoxKeys is the most bytes of box keys takeMany builds on its stack.
const stackBoxKeys = 4 * stackKey

// takeMany is TakeMany, under boxes when there are any; it returns the
// longest time left in a box.
func (s *Store) takeMany(takes []core.Take, ds []core.Decision, boxes []core.Box) (time.Duration, error) {
	if s.closed.Load() {
		return 0, core.ErrClosed
	}
	// hs holds the hashes of the takes' keys, then of each box's two.
	var hs [stepKeys]uint64
	n := len(takes)
	for i := range takes {
		hs[i] = hashKey(&s.secret, takes[i].Key) | 1
	}
	// The boxes' keys, box then log for each, joined on the stack when
	// they fit: the shards keep copies only.
	var bk [2 * core.MaxBoxes]string
	if len(boxes) > 0 {
		size := 0
		for i := range boxes {
			size += 2*len(boxes[i].Key) + len(boxSuffix) + len(logSuffix)
		}
		var stack [stackBoxKeys]byte
		buf := stack[:0]
		if size > len(stack) {
			buf = make([]byte, 0, size)
		}
		for i := range boxes {
			at := len(buf)
			buf = append(append(buf, boxes[i].Key...), boxSuffix...)
			bk[2*i] = unsafe.String(&buf[at], len(buf)-at)
			at = len(buf)
			buf = append(append(buf, boxes[i].Key...), logSuffix...)
			bk[2*i+1] = unsafe.String(&buf[at], len(buf)-at)
		}
		for j := range 2 * len(boxes) {
			hs[n+j] = hashKey(&s.secret, bk[j]) | 1
		}
	}
	all := n + 2*len(boxes)
	var locked [stepKeys]int // the shards to lock, ascending, once each
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
	left := s.decideMany(takes, ds, boxes, now, &hs, &bk)
	for j := m - 1; j >= 0; j-- {
		s.shards[locked[j]].mu.Unlock()
	}
	return left, nil
}

// decideMany is takeMany's step, under the locks of every shard it
// touches: hs are the hashes of the takes' keys and then of the boxes'
// keys bk (box, log, box, log...).
func (s *Store) decideMany(takes []core.Take, ds []core.Decision, boxes []core.Box, now int64, hs *[stepKeys]uint64, bk *[2 * core.MaxBoxes]string) time.Duration {
	n := len(takes)

	// A client in any box is refused, with the longest time left.
	var boxStates [core.MaxBoxes]storekit.State
	var boxed time.Duration
	in := false
	for j := range boxes {
		bl := storekit.BoxLimit(boxes[j].Penalty)
		h := hs[n+2*j]
		s.shardOf(h).load(h, bk[2*j], bl.Algorithm, now, &boxStates[j])
		if d := storekit.Apply(&boxStates[j], now, bl, 0); !d.Allowed {
			in = true
			boxed = max(boxed, d.RetryAfter)
		}
	}
	if in {
		storekit.Boxed(takes, ds, boxed)
		return boxed
	}

	var sts [core.MaxTakes]storekit.State
	var slots [core.MaxTakes]int
	var found [core.MaxTakes]bool
	admitted := true
	for i := range takes {
		t := &takes[i]
		slots[i], found[i] = s.shardOf(hs[i]).load(hs[i], t.Key, t.Limit.Algorithm, now, &sts[i])
		if t.Limit.Algorithm == core.SlidingWindowLog {
			// Apply may reuse the ring's array; the state must stay as it
			// is if another take is denied.
			sts[i].Log = append([]int64(nil), sts[i].Log...)
		}
		ds[i] = storekit.Apply(&sts[i], now, t.Limit, t.Cost)
		admitted = admitted && ds[i].Allowed
	}
	if admitted {
		admitted = s.placeNew(takes, ds, found[:n], now, hs[:n])
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
			sh.save(slots[i], found[i], hs[i], t.Key, now, &sts[i], &ds[i], s.perShard)
		}
		return 0
	}
	// Which takes denied, before the admitted ones are reported as peeks.
	var denied uint16
	for i := range takes {
		if !ds[i].Allowed {
			denied |= 1 << i
		}
	}
	// Nothing is consumed: the admitted takes report their keys as they
	// stay, as a peek does.
	for i := range takes {
		t := &takes[i]
		if !ds[i].Allowed || t.Cost == 0 {
			continue
		}
		var st storekit.State
		s.shardOf(hs[i]).load(hs[i], t.Key, t.Limit.Algorithm, now, &st)
		ds[i] = storekit.Apply(&st, now, t.Limit, 0)
	}
	// The denial counts towards each box that selects a take that denied;
	// the one that fills a box's log closes it.
	var left time.Duration
	for j := range boxes {
		b := &boxes[j]
		if b.Takes != 0 && b.Takes&denied == 0 {
			continue
		}
		if s.countDenial(b.Penalty, now, hs[n+2*j], bk[2*j], hs[n+2*j+1], bk[2*j+1], &boxStates[j]) {
			left = max(left, b.Penalty.For)
		}
	}
	return left
}

// countDenial counts a denial in the log (logKey, hash lh) of the box
// (boxKey, hash bh, read as boxState) and reports whether it closed the box:
// the denial that fills the log closes the box for p.For and empties the
// log.
func (s *Store) countDenial(p core.Penalty, now int64, bh uint64, boxKey string, lh uint64, logKey string, boxState *storekit.State) bool {
	dl := storekit.DenialLimit(p)
	var logState storekit.State
	dsh := s.shardOf(lh)
	dslot, dfound := dsh.load(lh, logKey, dl.Algorithm, now, &logState)
	dd := storekit.Apply(&logState, now, dl, 1)
	if dd.Allowed && dd.Remaining > 0 {
		dsh.save(dslot, dfound, lh, logKey, now, &logState, &dd, s.perShard)
		return false
	}
	if dfound {
		// The denials that closed the box are forgotten: the state of a
		// fresh key, which the sweeper drops.
		dsh.save(dslot, true, lh, logKey, now, &storekit.State{}, &core.Decision{Limit: dl, Remaining: dl.Rate}, s.perShard)
	}
	bl := storekit.BoxLimit(p)
	bsh := s.shardOf(bh)
	slot, found := bsh.find(bh, boxKey)
	bd := storekit.Apply(boxState, now, bl, 1)
	bsh.save(slot, found, bh, boxKey, now, boxState, &bd, s.perShard)
	return true
}

func (s *Store) shardOf(h uint64) *shard { return &s.shards[h>>1&s.mask] }

// load finds key and reads its state into st, if it has state for alg (a
// key reused under another algorithm starts afresh: its state means nothing
// to the new one) that has not expired at now. Under the limit that wrote
// it, expired state is a fresh key's anyway; under another (a key moving
// between tiers) it lapses then too, as a Redis key's expiry makes it lapse,
// so what a key carries to a new limit never outlives the old limit's
// ResetAfter. It returns the key's slot and whether it was found.
func (sh *shard) load(h uint64, key string, alg core.Algorithm, now int64, st *storekit.State) (int, bool) {
	i, found := sh.find(h, key)
	if found {
		e := &sh.table[i]
		// Any return, admitted or not, marks a client worth keeping.
		e.young = false
		if e.alg == alg {
			if now < e.expires {
				st.A, st.B, st.C = e.a, e.b, e.c
			}
			if alg == core.SlidingWindowLog {
				st.Log = sh.logs[e.key]
			}
		}
	}
	return i, found
}

// placeNew gives a slot to the key of every take of an admitted step that
// has none, before any state is written; hs are the takes' hashes, found
// load's answers. A key that finds no room (its shard holds only limited
// keys) refuses the step: its decision becomes the refusal and placeNew
// returns false. The step's own keys are never evicted to make room for one
// another. Slots given to the keys of a refused step hold a fresh state,
// which changes nothing and is the first dropped.
func (s *Store) placeNew(takes []core.Take, ds []core.Decision, found []bool, now int64, hs []uint64) bool {
	for i := range takes {
		if takes[i].Cost == 0 || found[i] {
			continue
		}
		sh := s.shardOf(hs[i])
		if _, ok := sh.insert(hs[i], takes[i].Key, now, s.perShard, hs); !ok {
			ds[i] = sh.refusal(takes[i].Limit, now)
			return false
		}
	}
	return true
}

// save writes st, the state after the admitted decision d, as key's state,
// giving the key a slot first if it has none (i and found are load's
// answer, unless the table changed since). It reports false, having written
// nothing, when the key has no slot and the shard no room (every key in it
// limited).
func (sh *shard) save(i int, found bool, h uint64, key string, now int64, st *storekit.State, d *core.Decision, perShard int) bool {
	if !found {
		var ok bool
		if i, ok = sh.insert(h, key, now, perShard, nil); !ok {
			return false
		}
	}
	alg := d.Limit.Algorithm
	e := &sh.table[i]
	if e.alg == core.SlidingWindowLog && alg != core.SlidingWindowLog {
		delete(sh.logs, e.key)
	}
	// Field by field: a composite literal is built on the stack and
	// copied, which costs a measurable share of a decision.
	e.a, e.b, e.c = st.A, st.B, st.C
	e.expires = now + int64(d.ResetAfter)
	e.alg = alg
	if alg == core.SlidingWindowLog {
		sh.logs[e.key] = st.Log
	}
	// The eviction rank: how much of its burst the key uses, and whether it
	// is limited. Remaining counts the requests of cost 1 admitted at this
	// instant, so Remaining > 0 is "not limited", and a limited key stays so
	// until a peek of cost 1 would pass.
	burst := d.Limit.EffectiveBurst()
	e.used = shareOf(burst-d.Remaining, burst)
	if d.Remaining > 0 {
		e.limited = 0
		sh.fullUntil = 0
		return true
	}
	free := min(freeAt(st, now, d.Limit), e.expires) // whole again, a key admits
	e.limited = 1 + packSpan(e.expires-free)
	if free = e.free(); free < sh.fullUntil {
		sh.fullUntil = free
	}
	return true
}

// freeAt returns the instant from which a key in state st, drained at now,
// admits a request of cost 1 again. A denied Apply changes nothing, so the
// peek works on a copy of st's integers and reads its log.
func freeAt(st *storekit.State, now int64, l core.Limit) int64 {
	peek := *st
	d := storekit.Apply(&peek, now, l, 1)
	if d.Allowed {
		return now
	}
	if d.RetryAfter >= time.Duration(math.MaxInt64-now) {
		return math.MaxInt64
	}
	return now + int64(d.RetryAfter)
}

// refusal is the decision for a new key that found no room: denied until
// the shard's first limited key stops being limited, when a slot may free.
func (sh *shard) refusal(l core.Limit, now int64) core.Decision {
	sh.refused++
	wait := core.Never
	if sh.fullUntil > now && sh.fullUntil < math.MaxInt64 {
		wait = time.Duration(sh.fullUntil - now)
	} else if sh.fullUntil <= now {
		// Only the step's own keys could have made room.
		wait = time.Nanosecond
	}
	return core.Decision{Limit: l, Reason: core.ReasonLimited, RetryAfter: wait}
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

// insert gives key a slot holding a fresh state, making room first if the
// shard is full, and returns the slot's index; false when the shard is full
// and every key in it is limited. The keys whose hashes are in pinned are
// not dropped to make room. The slot is young (a key seen once).
func (sh *shard) insert(h uint64, key string, now int64, limit int, pinned []uint64) (int, bool) {
	if sh.count >= limit && !sh.makeRoom(now, pinned) {
		return -1, false
	}
	if (sh.count+1)*8 > len(sh.table)*7 {
		sh.grow()
	}
	i, _ := sh.find(h, key)
	// TakePrefixed and TakeMany pass keys joined in scratch buffers: keep
	// a copy.
	sh.hashes[i] = h
	sh.table[i] = slot{key: strings.Clone(key), young: true}
	sh.count++
	sh.pushYoung(h, limit)
	return i, true
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
// the table, which under a flood of new keys almost always holds expired or
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
// makeRoom frees at least one slot, never one whose hash is in pinned, and
// reports whether it did.
func (sh *shard) makeRoom(now int64, pinned []uint64) bool {
	if sh.count == 0 {
		return true
	}
	if sh.fullUntil > now {
		return false
	}
	mask := len(sh.table) - 1
	victim, seen, dropped := -1, 0, 0
	i := int(rand.Uint64()) & mask
	// steps counts moves to the next slot, not visits: after a removal a
	// later slot may have moved into i, and is looked at in place.
	for steps := 0; steps < len(sh.table) && seen < evictSample; {
		if h := sh.hashes[i]; h != 0 {
			seen++
			e := &sh.table[i]
			switch {
			case isPinned(h, pinned):
			case e.expires <= now:
				sh.removeAt(i)
				dropped++
				continue
			case e.free() <= now && (victim < 0 || e.before(&sh.table[victim])):
				victim = i
			}
		}
		i = (i + 1) & mask
		steps++
	}
	if dropped > 0 {
		return true
	}
	for sh.youngAt < len(sh.young) {
		h := sh.young[sh.youngAt]
		sh.youngAt++
		if j := sh.findYoung(h); j >= 0 && sh.table[j].free() <= now && !isPinned(h, pinned) {
			sh.evict(j, now)
			return true
		}
	}
	if victim >= 0 {
		sh.evict(victim, now)
		return true
	}
	for sh.nspares > 0 {
		sh.nspares--
		if j := sh.findHash(sh.spares[sh.nspares].h); j >= 0 && sh.table[j].free() <= now && !isPinned(sh.hashes[j], pinned) {
			sh.evict(j, now)
			return true
		}
	}
	return sh.scan(now, pinned)
}

// scan is makeRoom's pass over the whole shard; see makeRoom.
func (sh *shard) scan(now int64, pinned []uint64) bool {
	dropped, unlimited := 0, false
	firstFree := int64(math.MaxInt64)
	sh.nspares = 0
	for i := 0; i < len(sh.table); {
		h := sh.hashes[i]
		if h == 0 {
			i++
			continue
		}
		e := &sh.table[i]
		free := e.free()
		switch {
		case isPinned(h, pinned):
			if free > now {
				firstFree = min(firstFree, free)
			} else {
				unlimited = true
			}
		case e.expires <= now:
			sh.removeAt(i) // a later slot may have moved into i
			dropped++
			continue
		case free > now:
			firstFree = min(firstFree, free)
		default:
			unlimited = true
			sh.offerSpare(h, e)
		}
		i++
	}
	if dropped > 0 {
		return true
	}
	if sh.nspares > 0 {
		sh.nspares--
		sh.evict(sh.findHash(sh.spares[sh.nspares].h), now)
		return true
	}
	if !unlimited {
		sh.fullUntil = firstFree
	}
	return false
}

// before reports whether e is a better victim than o: less of its burst in
// use, then sooner whole.
func (e *slot) before(o *slot) bool {
	return e.used.less(o.used) || (!o.used.less(e.used) && e.expires < o.expires)
}

// offerSpare keeps the unlimited key h among the maxSpares best victims,
// ordered best last.
func (sh *shard) offerSpare(h uint64, e *slot) {
	c := spare{h: h, used: e.used, expires: e.expires}
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

// evict drops slot i, whose state has not expired.
func (sh *shard) evict(i int, now int64) {
	if sh.table[i].expires > now {
		sh.evicted++
	}
	sh.removeAt(i)
}

func isPinned(h uint64, pinned []uint64) bool {
	for _, p := range pinned {
		if p == h {
			return true
		}
	}
	return false
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

// findHash returns a slot with hash h, or -1.
func (sh *shard) findHash(h uint64) int {
	mask := len(sh.table) - 1
	for i := sh.home(h); sh.hashes[i] != 0; i = (i + 1) & mask {
		if sh.hashes[i] == h {
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

// Stats says what the bound on keys (WithMaxKeys) has cost since New.
// The zero Stats is an empty store that has evicted and refused nothing.
type Stats struct {
	// Keys is the number of keys holding state, as Len.
	Keys int
	// Evicted counts keys dropped to make room before their state had
	// expired. None was limited: each client could have sent its next
	// request anyway, and got back at most the part of its burst it had
	// used.
	Evicted uint64
	// Refused counts takes of new keys denied because their shard was full
	// and every key in it limited. Nonzero means the bound is too small for
	// the clients being limited at once, or a flood is filling it.
	Refused uint64
}

var _ storekit.Reporter = (*Store)(nil)

// Figures implements storekit.Reporter: Kind "memory", Mode "direct", and
// Stats' counts.
func (s *Store) Figures() storekit.Figures {
	st := s.Stats()
	return storekit.Figures{Kind: "memory", Mode: "direct", Keys: int64(st.Keys), Evicted: st.Evicted, Refused: st.Refused}
}

// Stats returns the store's counts. It locks one shard at a time, so under
// load the sum is not one instant's.
func (s *Store) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Keys += sh.count
		st.Evicted += sh.evicted
		st.Refused += sh.refused
		sh.mu.Unlock()
	}
	return st
}

// sweeper sweeps the store w points to every interval, until c is halted
// (by Close, or by the cleanup that runs once the store is unreachable) or
// the store is gone. Between sweeps it holds no reference to the store, so
// that the store can become unreachable.
func sweeper(w weak.Pointer[Store], every time.Duration, c *sweepStop) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if !sweepOnce(w) {
				return
			}
		}
	}
}

// sweepOnce sweeps the store w points to and reports whether there was one.
func sweepOnce(w weak.Pointer[Store]) bool {
	s := w.Value()
	if s == nil {
		return false
	}
	s.Sweep()
	return true
}

// Close stops the sweeper, waiting until it has returned, and makes later
// Takes return core.ErrClosed. It is safe to call more than once.
func (s *Store) Close() error {
	s.closed.Store(true)
	if s.sweep != nil {
		s.sweep.halt()
		<-s.sweep.done
	}
	return nil
}
