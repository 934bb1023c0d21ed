package redisstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

var _ storekit.SlotStore = (*Store)(nil)

// DefaultSlotLease is how long a concurrency slot stays held in Redis
// without its holder renewing it (WithSlotLease).
const DefaultSlotLease = 15 * time.Second

var (
	//go:embed lua/slotacquire.lua
	slotAcquireLua string
	//go:embed lua/slotrefresh.lua
	slotRefreshLua string

	slotAcquireScript = newScript(slotAcquireLua)
	slotRefreshScript = redis.NewScript(slotRefreshLua)
)

func newScript(src string) script {
	return script{src: src, sha: redis.NewScript(src).Hash()}
}

// WithSlotLease sets the lease of a concurrency slot (core.ConcurrencyLimiter):
// a slot is held in Redis until its lease ends, and the store renews the
// leases of the slots it holds every lease/3, for as long as they are held,
// so a request open for hours (a websocket, a long poll) keeps its slot,
// while the slots of an instance that dies (a crash, a SIGKILL, a partition)
// free themselves within one lease. Default DefaultSlotLease (or three
// times the store's timeout, if longer): after a crash, the crashed
// instance's clients may wait up to that long for their slots. It must be
// at least three times the store's timeout (WithTimeout), so that a
// renewal that takes the whole timeout still lands in time.
func WithSlotLease(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 3*time.Millisecond || d%time.Millisecond != 0 {
			return fmt.Errorf("redisstore: slot lease %v: want a whole number of milliseconds, at least 3", d)
		}
		c.slotLease = d
		return nil
	})
}

// slotHolder keeps the slots a Store holds and renews their leases.
type slotHolder struct {
	s     *Store
	lease time.Duration
	owner string // this holder's part of every slot id: 16 random bytes in hex

	mu      sync.Mutex                     // guards the fields below
	held    map[string]map[uint64]struct{} // stored key → slot numbers
	next    uint64                         // the last slot number given
	running bool                           // the renewer runs
	closed  bool
	stop    chan struct{} // closed by close
	done    chan struct{} // closed when the renewer returns
}

func newSlotHolder(s *Store, lease time.Duration) *slotHolder {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &slotHolder{s: s, lease: lease, owner: hex.EncodeToString(b[:]) + ":", held: map[string]map[uint64]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// member is the slot id in Redis of this holder's slot number n.
func (h *slotHolder) member(n uint64) string { return h.owner + strconv.FormatUint(n, 10) }

// slotKey is the stored key of key's slots: prefix, "v2:" and the hash of
// key and a suffix of its own, so that it is apart from the key's rate
// state (braced with WithHashTag).
func (k *keyer) slotKey(key string) string {
	if k.legacy {
		return k.prefix + key + "\x00slots"
	}
	var h [hashLen]byte
	k.hash(&h, key, "\x00slots")
	return k.stored(&h, key)
}

// Acquire implements storekit.SlotStore: one script takes a slot of key
// if fewer than max are held, under a lease the store renews until
// Release. A slot whose script ran but whose answer was lost (a missed
// deadline) is held by no one here: its lease, not renewed, ends by itself.
func (s *Store) Acquire(ctx context.Context, key string, max int64) (uint64, core.Decision, error) {
	if err := storekit.CheckAcquire(key, max); err != nil {
		return 0, core.Decision{Reason: core.ReasonInvalid}, err
	}
	if s.closed.Load() {
		return 0, core.Decision{}, core.ErrClosed
	}
	h := s.slots
	stored := s.keys.slotKey(key)
	h.mu.Lock()
	h.next++
	n := h.next
	h.mu.Unlock()
	args := []any{"evalsha", slotAcquireScript.sha, "1", stored, max, h.lease.Milliseconds(), h.member(n)}
	cmd, err := s.call(ctx, &slotAcquireScript, args)
	if err != nil {
		return 0, core.Decision{}, s.callError(err, "slot")
	}
	vals, err := cmd.Int64Slice()
	if err != nil || len(vals) != 2 {
		return 0, core.Decision{}, fmt.Errorf("redisstore: unexpected slot reply %v (%v)", cmd.Val(), err)
	}
	if vals[0] != 1 {
		return 0, core.Decision{Reason: core.ReasonLimited}, nil
	}
	if err := h.hold(stored, n); err != nil {
		// Closed meanwhile: give the slot back at once.
		_ = s.releaseStored(context.Background(), stored, n)
		return 0, core.Decision{}, err
	}
	return n, core.Decision{Allowed: true, Remaining: max - vals[1]}, nil
}

// hold records slot n of stored, starting the renewer with the first.
func (h *slotHolder) hold(stored string, n uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return core.ErrClosed
	}
	ns := h.held[stored]
	if ns == nil {
		ns = map[uint64]struct{}{}
		h.held[stored] = ns
	}
	ns[n] = struct{}{}
	if !h.running {
		h.running = true
		go h.renew()
	}
	return nil
}

// Release implements storekit.SlotStore: it stops renewing slot id of key
// and removes it from Redis. When Redis cannot be told, the slot's lease
// ends by itself within WithSlotLease. It works after Close, as long as
// the client does.
func (s *Store) Release(ctx context.Context, key string, id uint64) error {
	if id == 0 {
		return nil
	}
	return s.releaseStored(ctx, s.keys.slotKey(key), id)
}

func (s *Store) releaseStored(ctx context.Context, stored string, n uint64) error {
	h := s.slots
	h.mu.Lock()
	if ns := h.held[stored]; ns != nil {
		delete(ns, n)
		if len(ns) == 0 {
			delete(h.held, stored)
		}
	}
	h.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := s.client.ZRem(cctx, stored, h.member(n)).Err(); err != nil {
		return fmt.Errorf("redisstore: slot release: %w", err)
	}
	return nil
}

// renew renews the leases of every slot held, every lease/3, until close.
func (h *slotHolder) renew() {
	defer close(h.done)
	t := time.NewTicker(h.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.renewOnce()
		}
	}
}

// renewOnce renews every slot held, one script per key, in one pipeline
// (which a Cluster client splits by node).
func (h *slotHolder) renewOnce() {
	h.mu.Lock()
	batch := make(map[string][]any, len(h.held))
	for stored, ns := range h.held {
		args := make([]any, 0, len(ns)+1)
		args = append(args, h.lease.Milliseconds())
		for n := range ns {
			args = append(args, h.member(n))
		}
		batch[stored] = args
	}
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.lease/3)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		pipe := h.s.client.Pipeline()
		for stored, args := range batch {
			slotRefreshScript.EvalSha(ctx, pipe, []string{stored}, args...)
		}
		_, err := pipe.Exec(ctx)
		if err == nil || !strings.Contains(err.Error(), "NOSCRIPT") {
			return // a failure is retried at the next tick, within the lease
		}
		if err := slotRefreshScript.Load(ctx, h.s.client).Err(); err != nil {
			return
		}
	}
}

// close stops the renewer, waiting for it to return. The slots still held
// are left to their leases.
func (h *slotHolder) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	running := h.running
	close(h.stop)
	h.mu.Unlock()
	if running {
		<-h.done
	}
}

// HeldSlots returns how many concurrency slots of key (as Acquire is given
// it) are held in Redis with a lease that has not ended, by any instance,
// for operators and tests.
func (s *Store) HeldSlots(ctx context.Context, key string) (int64, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	t, err := s.client.Time(cctx).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: held slots: %w", err)
	}
	n, err := s.client.ZCount(cctx, s.keys.slotKey(key), "("+strconv.FormatInt(t.UnixMilli(), 10), "+inf").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redisstore: held slots: %w", err)
	}
	return n, nil
}
