package memstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
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

	slab     slab        // every key's slot (table.go)
	prefixes prefixTable // key prefixes the shards keep apart from keys (table.go)

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
		s.shards[i].slab, s.shards[i].pre = &s.slab, &s.prefixes
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

// Take implements core.Store. It never blocks on anything but a key's or a
// shard's lock, so it ignores ctx. On a key that already has state it does
// not allocate.
func (s *Store) Take(_ context.Context, key string, l core.Limit, cost int64) (d core.Decision, err error) {
	err = s.take(&d, key, 0, l, nil, cost)
	return d, err
}

// Keys joined from two parts are built on the stack: in shortKey bytes (a
// Limiter's prefix and an address), else in stackKey, else on the heap. A
// stack array is zeroed before use, so the short one saves that too.
const (
	shortKey = 48
	stackKey = 128
)

// TakePrefixed implements storekit.PrefixTaker: Take(ctx, prefix+key, l, cost),
// with the two parts joined on the stack rather than the heap.
func (s *Store) TakePrefixed(_ context.Context, prefix, key string, l core.Limit, cost int64) (d core.Decision, err error) {
	err = s.takeParts(&d, prefix, key, l, nil, cost)
	return d, err
}

var _ storekit.PreparedTaker = (*Store)(nil)

// PrepareLimit implements storekit.PreparedTaker: l validated, with what
// every decision under it computes from it alone computed once (a
// *storekit.Prepared).
func (s *Store) PrepareLimit(l core.Limit) (any, error) { return storekit.Prepare(l) }

// TakePrepared implements storekit.PreparedTaker: TakePrefixed under the
// limit prepared (by PrepareLimit), which it does not validate again.
func (s *Store) TakePrepared(_ context.Context, prepared any, prefix, key string, cost int64) (d core.Decision, err error) {
	p, ok := prepared.(*storekit.Prepared)
	if !ok || p == nil {
		return core.Decision{}, errNotPrepared
	}
	if n := len(prefix) + len(key); n <= shortKey {
		// takeParts' first case, here: a call less on the common path.
		var buf [shortKey]byte
		copy(buf[copy(buf[:], prefix):], key)
		err = s.take(&d, unsafe.String(&buf[0], n), len(prefix), p.Limit(), p, cost)
		return d, err
	}
	err = s.takeParts(&d, prefix, key, p.Limit(), p, cost)
	return d, err
}

// errNotPrepared is TakePrepared's error for a limit PrepareLimit did not
// make.
var errNotPrepared = fmt.Errorf("memstore: a prepared limit not made by PrepareLimit: %w", core.ErrInvalidLimit)

// takeParts is take of prefix+key, joined on the stack when it fits.
func (s *Store) takeParts(d *core.Decision, prefix, key string, l core.Limit, p *storekit.Prepared, cost int64) error {
	switch n := len(prefix) + len(key); {
	case n <= shortKey:
		var buf [shortKey]byte
		copy(buf[copy(buf[:], prefix):], key)
		return s.take(d, unsafe.String(&buf[0], n), len(prefix), l, p, cost)
	case n <= stackKey:
		var buf [stackKey]byte
		copy(buf[copy(buf[:], prefix):], key)
		return s.take(d, unsafe.String(&buf[0], n), len(prefix), l, p, cost)
	default:
		return s.take(d, prefix+key, len(prefix), l, p, cost)
	}
}

// take is Take, writing the decision into *d (whole, when the error is
// nil; left alone otherwise). key may live on the caller's stack: take
// keeps only copies of it, and its errors do not refer to it. Its first
// split bytes are a prefix the caller keeps for many keys (0: none known),
// which a new key is stored after (see placeKey). p is l prepared, or nil:
// l is then validated here.
func (s *Store) take(d *core.Decision, key string, split int, l core.Limit, p *storekit.Prepared, cost int64) error {
	if p == nil {
		if err := storekit.CheckTake(key, l, cost); err != nil {
			return err
		}
	} else if len(key) == 0 || len(key) > core.MaxKeyLen || cost < 0 {
		return storekit.CheckPrepared(key, cost) // its error, without a call on the common path
	}
	if s.closed.Load() {
		return core.ErrClosed
	}
	h := hashKey(&s.secret, key)
	sh, tag := s.shardOf(h), tagOf(h)
	now := sh.advance(s.nanotime())

	// A key the shard holds inline, under a limit with no log: the slot's
	// lock alone (see the table's notes in table.go).
	if l.Algorithm != core.SlidingWindowLog {
		if e := sh.lookup(tag, key); e != nil {
			var st storekit.State
			sh.read(e, l.Algorithm, now, &st)
			if p != nil {
				p.ApplyTo(d, &st, now, cost)
			} else {
				*d = storekit.Apply(&st, now, l, cost)
			}
			if d.Allowed && cost > 0 {
				sh.write(e, &st, d, now)
			}
			e.unlock()
			return nil
		}
	}

	sh.mu.Lock()
	var st storekit.State
	e := sh.load(tag, key, l.Algorithm, now, &st, nil)
	*d = storekit.Apply(&st, now, l, cost)
	if d.Allowed && cost > 0 {
		if e == nil {
			e = sh.insert(tag, key, split, now, s.perShard, nil)
		}
		if e == nil {
			*d = sh.refusal(l, now)
		} else {
			sh.save(e, key, &st, d, now)
		}
	}
	if e != nil {
		e.unlock()
	}
	sh.mu.Unlock()
	return nil
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
	h := hashKey(&s.secret, key)
	sh, tag := s.shardOf(h), tagOf(h)
	now := sh.advance(s.nanotime())

	sh.mu.Lock()
	defer sh.mu.Unlock()
	var st storekit.State
	e := sh.load(tag, key, l.Algorithm, now, &st, nil)
	if e == nil && delta < 0 {
		return storekit.Apply(&st, now, l, 0), nil // nothing to give back
	}
	d = storekit.Settle(&st, now, l, delta)
	if e == nil {
		if e = sh.insert(tag, key, 0, now, s.perShard, nil); e == nil {
			// No room for a key that owes: every key in the shard is
			// limited. The debt cannot be kept; the caller hears of it.
			return d, errFull
		}
	}
	sh.save(e, key, &st, &d, now)
	e.unlock()
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
		hs[i] = hashKey(&s.secret, takes[i].Key)
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
			hs[n+j] = hashKey(&s.secret, bk[j])
		}
	}
	all := n + 2*len(boxes)
	var locked [stepKeys]int // the shards to lock, ascending, once each
	m := 0
	for i := 0; i < all; i++ {
		k := int(hs[i] & s.mask)
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
		now = s.shards[k].advance(now)
	}
	for _, k := range locked[:m] {
		s.shards[k].advance(now)
	}
	var h held
	left := s.decideMany(takes, ds, boxes, now, &hs, &bk, &h)
	h.unlockAll(s.slab.at)
	for j := m - 1; j >= 0; j-- {
		s.shards[locked[j]].mu.Unlock()
	}
	return left, nil
}

// decideMany is takeMany's step, under the locks of every shard it
// touches: hs are the hashes of the takes' keys and then of the boxes'
// keys bk (box, log, box, log...). The slots of the step's keys are locked
// as they are found or placed, into h, and stay so until the step ends.
func (s *Store) decideMany(takes []core.Take, ds []core.Decision, boxes []core.Box, now int64, hs *[stepKeys]uint64, bk *[2 * core.MaxBoxes]string, h *held) time.Duration {
	n := len(takes)

	// A client in any box is refused, with the longest time left.
	var boxStates [core.MaxBoxes]storekit.State
	var boxSlots [core.MaxBoxes]*slot
	var boxed time.Duration
	in := false
	for j := range boxes {
		bl := storekit.BoxLimit(boxes[j].Penalty)
		bh := hs[n+2*j]
		boxSlots[j] = s.shardOf(bh).load(tagOf(bh), bk[2*j], bl.Algorithm, now, &boxStates[j], h)
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
	var slots [core.MaxTakes]*slot
	admitted := true
	for i := range takes {
		t := &takes[i]
		slots[i] = s.shardOf(hs[i]).load(tagOf(hs[i]), t.Key, t.Limit.Algorithm, now, &sts[i], h)
		if t.Limit.Algorithm == core.SlidingWindowLog {
			// Apply may reuse the ring's array; the state must stay as it
			// is if another take is denied.
			sts[i].Log = append([]int64(nil), sts[i].Log...)
		}
		ds[i] = storekit.Apply(&sts[i], now, t.Limit, t.Cost)
		admitted = admitted && ds[i].Allowed
	}
	if admitted {
		admitted = s.placeNew(takes, ds, slots[:n], now, hs[:n], h)
	}
	if admitted {
		for i := range takes {
			if takes[i].Cost != 0 {
				s.shardOf(hs[i]).save(slots[i], takes[i].Key, &sts[i], &ds[i], now)
			}
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
		s.shardOf(hs[i]).load(tagOf(hs[i]), t.Key, t.Limit.Algorithm, now, &st, h)
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
		if s.countDenial(b.Penalty, now, hs[n+2*j], bk[2*j], hs[n+2*j+1], bk[2*j+1], &boxStates[j], boxSlots[j], h) {
			left = max(left, b.Penalty.For)
		}
	}
	return left
}

// countDenial counts a denial in the log (logKey, hash lh) of the box
// (boxKey, hash bh, read as boxState from its slot, nil if it has none)
// and reports whether it closed the box: the denial that fills the log
// closes the box for p.For and empties the log.
func (s *Store) countDenial(p core.Penalty, now int64, bh uint64, boxKey string, lh uint64, logKey string, boxState *storekit.State, box *slot, h *held) bool {
	dl := storekit.DenialLimit(p)
	var logState storekit.State
	dsh := s.shardOf(lh)
	log := dsh.load(tagOf(lh), logKey, dl.Algorithm, now, &logState, h)
	dd := storekit.Apply(&logState, now, dl, 1)
	if dd.Allowed && dd.Remaining > 0 {
		if log == nil {
			log = dsh.insert(tagOf(lh), logKey, 0, now, s.perShard, h)
		}
		if log != nil {
			dsh.save(log, logKey, &logState, &dd, now)
		}
		return false
	}
	if log != nil {
		// The denials that closed the box are forgotten: the state of a
		// fresh key, which the sweeper drops.
		dsh.save(log, logKey, &storekit.State{}, &core.Decision{Limit: dl, Remaining: dl.Rate}, now)
	}
	bl := storekit.BoxLimit(p)
	bsh := s.shardOf(bh)
	bd := storekit.Apply(boxState, now, bl, 1)
	if box == nil {
		box = bsh.insert(tagOf(bh), boxKey, 0, now, s.perShard, h)
	}
	if box != nil {
		bsh.save(box, boxKey, boxState, &bd, now)
	}
	return true
}

// shardOf returns the shard of a key whose hash is h: its low bits pick it
// (tagOf takes the high ones).
func (s *Store) shardOf(h uint64) *shard { return &s.shards[h&s.mask] }

// locate returns key's shard and tag.
func (s *Store) locate(key string) (*shard, uint32) {
	h := hashKey(&s.secret, key)
	return s.shardOf(h), tagOf(h)
}

// load finds key and reads its state into st (see read). It returns the
// key's slot, locked (into h, if h is not nil, unless h held it already),
// or nil when the shard does not hold key. The shard's lock is held.
func (sh *shard) load(tag uint32, key string, alg core.Algorithm, now int64, st *storekit.State, h *held) *slot {
	v, _ := sh.find(tag, key, h)
	if v == 0 {
		return nil
	}
	e := sh.acquire(entrySlot(v), h)
	sh.read(e, alg, now, st)
	if alg == core.SlidingWindowLog && e.alg == alg {
		st.Log = sh.long[e.longIndex()].log
	}
	return e
}

// read reads the state of slot e, whose lock is held, into st, if it is
// state for alg (a key reused under another algorithm starts afresh: its
// state means nothing to the new one) that has not expired at now. Under
// the limit that wrote it, expired state is a fresh key's anyway; under
// another (a key moving between tiers) it lapses then too, as a Redis key's
// expiry makes it lapse, so what a key carries to a new limit never
// outlives the old limit's ResetAfter. A key's log is read by load.
func (sh *shard) read(e *slot, alg core.Algorithm, now int64, st *storekit.State) {
	// Any return, admitted or not, marks a client worth keeping.
	e.flags &^= flagYoung
	if e.alg == alg && now < e.expires {
		st.A, st.B, st.C = e.a, e.b, e.c
	}
}

// placeNew gives a slot to the key of every take of an admitted step that
// has none (slots[i] nil), before any state is written; hs are the takes'
// hashes. A key that finds no room (its shard holds only limited keys)
// refuses the step: its decision becomes the refusal and placeNew returns
// false. The step's own keys are never evicted to make room for one
// another: their slots are in h. Slots given to the keys of a refused step
// hold a fresh state, which changes nothing and is the first dropped.
func (s *Store) placeNew(takes []core.Take, ds []core.Decision, slots []*slot, now int64, hs []uint64, h *held) bool {
	for i := range takes {
		if takes[i].Cost == 0 || slots[i] != nil {
			continue
		}
		sh := s.shardOf(hs[i])
		if slots[i] = sh.insert(tagOf(hs[i]), takes[i].Key, 0, now, s.perShard, h); slots[i] == nil {
			ds[i] = sh.refusal(takes[i].Limit, now)
			return false
		}
	}
	return true
}

// save writes st, the state after the admitted decision d, as the state
// of key in its slot e, whose lock is held: write, and the sliding window
// log's ring, kept with the key in the long table. The shard's lock is
// held.
func (sh *shard) save(e *slot, key string, st *storekit.State, d *core.Decision, now int64) {
	alg := d.Limit.Algorithm
	if e.alg == core.SlidingWindowLog && alg != core.SlidingWindowLog {
		sh.long[e.longIndex()].log = nil
	}
	if alg == core.SlidingWindowLog {
		if e.flags&flagLong == 0 {
			sh.makeLong(e, key)
		}
		sh.long[e.longIndex()].log = st.Log
	}
	sh.write(e, st, d, now)
}

// write writes st's integers, the state after the admitted decision d,
// into slot e, whose lock is held, with its eviction rank, and keeps the
// shard's fullUntil true (see makeRoom).
func (sh *shard) write(e *slot, st *storekit.State, d *core.Decision, now int64) {
	// Field by field: a composite literal is built on the stack and
	// copied, which costs a measurable share of a decision.
	e.a, e.b, e.c = st.A, st.B, st.C
	e.expires = now + int64(d.ResetAfter)
	e.alg = d.Limit.Algorithm
	// The eviction rank: how much of its burst the key uses, and whether it
	// is limited. Remaining counts the requests of cost 1 admitted at this
	// instant, so Remaining > 0 is "not limited", and a limited key stays so
	// until a peek of cost 1 would pass.
	burst := d.Limit.EffectiveBurst()
	e.used = shareOf(burst-d.Remaining, burst)
	if d.Remaining > 0 {
		e.limited = 0
		if sh.fullUntil.Load() != 0 {
			sh.fullUntil.Store(0)
		}
		return
	}
	free := min(freeAt(st, now, d.Limit), e.expires) // whole again, a key admits
	e.limited = 1 + packSpan(e.expires-free)
	free = e.free()
	for {
		v := sh.fullUntil.Load()
		if v <= 0 || free >= v || sh.fullUntil.CompareAndSwap(v, free) {
			return
		}
	}
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
	if f := sh.fullUntil.Load(); f > now && f < math.MaxInt64 {
		wait = time.Duration(f - now)
	} else if f <= now {
		// Only the step's own keys could have made room.
		wait = time.Nanosecond
	}
	return core.Decision{Limit: l, Reason: core.ReasonLimited, RetryAfter: wait}
}

// Sweep drops every key whose state has expired, one shard at a time. The
// background sweeper calls it every sweep interval; tests and callers with
// their own schedule may call it directly.
func (s *Store) Sweep() {
	now := s.nanotime()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t := sh.advance(now)
		if x := sh.idx.Load(); x != nil {
			for i := 0; i < len(x.e); {
				v := x.e[i].Load()
				if v == 0 {
					i++
					continue
				}
				e := sh.slab.at(entrySlot(v))
				e.lock()
				if e.expires <= t {
					sh.removeAt(x, i, e) // a later entry may have moved into i
					e.unlock()
					continue
				}
				e.unlock()
				i++
			}
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
