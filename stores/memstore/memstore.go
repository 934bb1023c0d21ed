package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
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
	seed     maphash.Seed
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
	index   map[string]int32  // key → slot in entries
	entries []entry           // fixed-size state; free slots are zero
	keys    []string          // the key of each slot ("" when free), for eviction
	free    []int32           // free slots in entries
	logs    map[int32][]int64 // sliding-window-log rings, by slot
	young   []int32           // slots in insertion order, oldest at youngAt: eviction candidates
	youngAt int               // index of the oldest slot in young
	now     int64             // latest instant seen: time never runs backwards here

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// entry is one key's state: pointer-free, so the garbage collector never
// scans the slab however many keys it holds.
type entry struct {
	a, b, c int64
	expires int64 // instant from which the state equals a fresh key's
	alg     core.Algorithm
	young   bool // used once only: the first to go when the shard is full
}

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
// rounded up). Default 1<<20: about 150 MB at most for GCRA keys (139 bytes a key
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
		seed:     maphash.MakeSeed(),
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
		s.shards[i].index = make(map[string]int32)
		s.shards[i].logs = make(map[int32][]int64)
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
func (s *Store) take(key string, l core.Limit, cost int64) (core.Decision, error) {
	if err := core.CheckTake(key, l, cost); err != nil {
		return core.Decision{}, err
	}
	if s.closed.Load() {
		return core.Decision{}, core.ErrClosed
	}
	sh := &s.shards[maphash.String(s.seed, key)&s.mask]
	now := s.nanotime()

	sh.mu.Lock()
	if now < sh.now {
		now = sh.now
	} else {
		sh.now = now
	}
	slot, found := sh.index[key]
	var st core.State
	if found {
		e := &sh.entries[slot]
		// Any return, admitted or not, marks a client worth keeping.
		e.young = false
		if e.alg == l.Algorithm {
			st = core.State{A: e.a, B: e.b, C: e.c}
			if e.alg == core.SlidingWindowLog {
				st.Log = sh.logs[slot]
			}
		}
		// A key reused under another algorithm starts afresh: its state
		// means nothing to the new one.
	}
	d := core.Apply(&st, now, l, cost)
	if d.Allowed && cost > 0 {
		if !found {
			slot = sh.insert(key, now, s.perShard)
		}
		e := &sh.entries[slot]
		if e.alg == core.SlidingWindowLog && l.Algorithm != core.SlidingWindowLog {
			delete(sh.logs, slot)
		}
		// Field by field: a composite literal is built on the stack and
		// copied, which costs a measurable share of a decision.
		e.a, e.b, e.c = st.A, st.B, st.C
		e.expires = now + int64(d.ResetAfter)
		e.alg = l.Algorithm
		e.young = !found // a key stays young until it is seen a second time
		if l.Algorithm == core.SlidingWindowLog {
			sh.logs[slot] = st.Log
		}
	}
	sh.mu.Unlock()
	return d, nil
}

// insert gives key a slot, making room first if the shard is full.
func (sh *shard) insert(key string, now int64, limit int) int32 {
	if len(sh.index) >= limit {
		sh.makeRoom(now)
	}
	var slot int32
	if n := len(sh.free); n > 0 {
		slot, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		sh.entries = append(sh.entries, entry{})
		sh.keys = append(sh.keys, "")
		slot = int32(len(sh.entries) - 1)
	}
	// The caller's key may live in a reused buffer: keep a copy.
	k := strings.Clone(key)
	sh.index[k] = slot
	sh.keys[slot] = k
	sh.entries[slot].young = true
	sh.pushYoung(slot, limit)
	return slot
}

// pushYoung queues a new slot for eviction. The queue never holds more than
// the shard's capacity: past that its oldest place is dropped (that key
// stays, it is merely no longer first in line).
func (sh *shard) pushYoung(slot int32, limit int) {
	if len(sh.young)-sh.youngAt >= limit {
		sh.youngAt++
	}
	if sh.youngAt > 0 && sh.youngAt >= len(sh.young)/2 {
		sh.young = append(sh.young[:0], sh.young[sh.youngAt:]...)
		sh.youngAt = 0
	}
	sh.young = append(sh.young, slot)
}

// makeRoom frees at least one slot: expired keys among a sample (map
// iteration starts at a random place), else the oldest key used only once,
// else the sampled key expiring soonest.
func (sh *shard) makeRoom(now int64) {
	victim := int32(-1)
	soonest, seen, dropped := int64(0), 0, 0
	for _, slot := range sh.index {
		if exp := sh.entries[slot].expires; exp <= now {
			sh.remove(slot)
			dropped++
		} else if victim < 0 || exp < soonest {
			victim, soonest = slot, exp
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if dropped > 0 {
		return
	}
	for sh.youngAt < len(sh.young) {
		slot := sh.young[sh.youngAt]
		sh.youngAt++
		if sh.keys[slot] != "" && sh.entries[slot].young {
			sh.remove(slot)
			return
		}
	}
	if victim >= 0 {
		sh.remove(victim)
	}
}

func (sh *shard) remove(slot int32) {
	delete(sh.index, sh.keys[slot])
	if sh.entries[slot].alg == core.SlidingWindowLog {
		delete(sh.logs, slot)
	}
	sh.entries[slot] = entry{}
	sh.keys[slot] = ""
	sh.free = append(sh.free, slot)
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
		for _, slot := range sh.index {
			if sh.entries[slot].expires <= t {
				sh.remove(slot)
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
		n += len(sh.index)
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
