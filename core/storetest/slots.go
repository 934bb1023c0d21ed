package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// slots runs the scenarios of a storekit.SlotStore (concurrency limits),
// and skips a store that is not one.
func (h *harness) slots(t *testing.T) {
	probe, _ := h.open(t)
	if _, ok := probe.(storekit.SlotStore); !ok {
		t.Skipf("%T holds no concurrency slots", probe)
	}
	open := func(t *testing.T) storekit.SlotStore {
		s, _ := h.open(t)
		return s.(storekit.SlotStore)
	}
	t.Run("max slots are held, then denied until one is released", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		var ids []uint64
		for i := int64(0); i < 3; i++ {
			id, d, err := s.Acquire(ctx, "k", 3)
			if err != nil || !d.Allowed || d.Reason != core.ReasonOK || d.Remaining != 2-i || id == 0 {
				t.Fatalf("acquire %d: id %d, %+v, %v; want admitted, Remaining %d, a non-zero id", i+1, id, d, err, 2-i)
			}
			ids = append(ids, id)
		}
		id, d, err := s.Acquire(ctx, "k", 3)
		if err != nil || d.Allowed || d.Reason != core.ReasonLimited || d.Remaining != 0 || id != 0 {
			t.Fatalf("acquire 4 of 3: id %d, %+v, %v; want denied (limited, Remaining 0, id 0)", id, d, err)
		}
		if err := s.Release(ctx, "k", ids[1]); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if id, d, err := s.Acquire(ctx, "k", 3); err != nil || !d.Allowed || d.Remaining != 0 {
			t.Fatalf("acquire after a release: id %d, %+v, %v; want admitted with Remaining 0", id, d, err)
		}
		if _, d, _ := s.Acquire(ctx, "k", 3); d.Allowed {
			t.Fatal("acquire 4 of 3 after the released slot was taken again: admitted")
		}
	})
	t.Run("keys hold their slots apart", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		if _, d, _ := s.Acquire(ctx, "a", 1); !d.Allowed {
			t.Fatal("a: denied")
		}
		if _, d, _ := s.Acquire(ctx, "b", 1); !d.Allowed {
			t.Fatal("b, after a took its only slot: denied")
		}
		if _, d, _ := s.Acquire(ctx, "a", 1); d.Allowed {
			t.Fatal("a's second slot of 1: admitted")
		}
	})
	t.Run("64 goroutines on one key never hold more than max", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		const max = 4
		var cur, peak, admitted atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					id, d, err := s.Acquire(ctx, "hot", max)
					if err != nil {
						errs <- err
						return
					}
					if !d.Allowed {
						continue
					}
					admitted.Add(1)
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					cur.Add(-1)
					if err := s.Release(ctx, "hot", id); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("unexpected error: %v", err)
		}
		if p := peak.Load(); p > max {
			t.Fatalf("%d slots held at once, want at most %d", p, max)
		}
		if admitted.Load() < max {
			t.Fatalf("%d admitted in all, want at least %d", admitted.Load(), max)
		}
		// Every slot was released: max more are admitted, and no more.
		for i := 0; i < max; i++ {
			if _, d, _ := s.Acquire(ctx, "hot", max); !d.Allowed {
				t.Fatalf("after every slot was released, acquire %d of %d: denied", i+1, max)
			}
		}
		if _, d, _ := s.Acquire(ctx, "hot", max); d.Allowed {
			t.Fatalf("acquire %d of %d: admitted", max+1, max)
		}
	})
	t.Run("bad input is an error, never a slot", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		for _, c := range []struct {
			name string
			key  string
			max  int64
			want error
		}{
			{"empty key", "", 1, core.ErrInvalidKey},
			{"key too long", strings.Repeat("x", core.MaxKeyLen+1), 1, core.ErrInvalidKey},
			{"max 0", "k", 0, core.ErrInvalidConcurrency},
			{"max -1", "k", -1, core.ErrInvalidConcurrency},
		} {
			id, d, err := s.Acquire(ctx, c.key, c.max)
			if !errors.Is(err, c.want) || d.Allowed || id != 0 {
				t.Errorf("%s: id %d, %+v, %v; want denied with an error wrapping %v", c.name, id, d, err, c.want)
			}
		}
	})
	t.Run("acquire after close fails", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_ = s.Close()
		if _, d, err := s.Acquire(context.Background(), "k", 1); err == nil || d.Allowed {
			t.Fatalf("Acquire after Close: %+v, %v; want an error", d, err)
		}
	})
}
