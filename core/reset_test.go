package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// resetMap is a mapStore that can reset keys, recording which.
type resetMap struct {
	*mapStore
	reset []string
}

func (r *resetMap) Reset(_ context.Context, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.reset = append(r.reset, key)
	delete(r.states, key)
	return nil
}

// remoteReset is a remote store that resets keys, over a local store that
// does too.
type remoteReset struct {
	*resetMap
	local core.Store
}

func (r remoteReset) LocalStore() core.Store { return r.local }

func TestLimiterResetGivesTheKeyItsWholeBurst(t *testing.T) {
	ctx := context.Background()
	s := &resetMap{mapStore: newMapStore(core.NewManualClock(time.Unix(1e9, 0)))}
	lim := newLimiter(t, s, core.PerMinute(3), core.WithName("login"))
	other := newLimiter(t, s, core.PerMinute(3), core.WithName("api"))
	for i := 0; i < 3; i++ {
		lim.Take(ctx, "alice")
		other.Take(ctx, "alice")
	}
	if d, _ := lim.Take(ctx, "alice"); d.Allowed {
		t.Fatalf("the fourth of 3: %+v, want denied", d)
	}
	if err := lim.Reset(ctx, "alice"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if len(s.reset) != 1 || s.reset[0] != lim.Prefix()+"alice" {
		t.Fatalf("reset %q, want the prefixed key %q alone", s.reset, lim.Prefix()+"alice")
	}
	if d, _ := lim.Take(ctx, "alice"); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after the reset: %+v, want admitted with 2 left", d)
	}
	if d, _ := other.Peek(ctx, "alice"); d.Allowed {
		t.Fatalf("the same client under another limiter: %+v, want still denied", d)
	}
	tier, err := lim.Tier(core.PerMinute(10))
	if err != nil {
		t.Fatal(err)
	}
	if err := tier.Reset(ctx, "alice"); err != nil || s.reset[1] != lim.Prefix()+"alice" {
		t.Fatalf("a tier's reset: %v, reset %q; want the key all tiers share", err, s.reset)
	}
}

func TestLimiterResetRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	s := &resetMap{mapStore: newMapStore(core.SystemClock)}
	lim := newLimiter(t, s, core.PerMinute(3), core.WithName("login"))
	for _, c := range []struct {
		name   string
		lim    *core.Limiter
		key    string
		target error
	}{
		{"an empty key", lim, "", core.ErrInvalidKey},
		{"a key that fills MaxKeyLen with the prefix", lim, strings.Repeat("k", core.MaxKeyLen-len(lim.Prefix())), nil},
		{"a key one byte longer", lim, strings.Repeat("k", core.MaxKeyLen-len(lim.Prefix())+1), core.ErrInvalidKey},
		{"a store that cannot reset", newLimiter(t, newMapStore(core.SystemClock), core.PerMinute(3)), "k", core.ErrNoReset},
	} {
		err := c.lim.Reset(ctx, c.key)
		if c.target == nil && err != nil || c.target != nil && !errors.Is(err, c.target) {
			t.Errorf("%s: %v, want %v", c.name, err, c.target)
		}
	}
	if len(s.reset) != 1 {
		t.Errorf("the store reset %d keys, want 1 (bad input never reaches it)", len(s.reset))
	}
}

// A limiter over a remote store resets the key in its fallback too, also
// while the remote store fails (then the fallback decides).
func TestLimiterResetReachesTheFallback(t *testing.T) {
	ctx := context.Background()
	clock := core.NewManualClock(time.Unix(1e9, 0))
	local := &resetMap{mapStore: newMapStore(clock)}
	remote := remoteReset{&resetMap{mapStore: newMapStore(clock)}, local}
	lim := newLimiter(t, remote, core.PerMinute(2))
	down := errors.New("connection refused")
	remote.fail(down)
	for i := 0; i < 2; i++ {
		lim.Take(ctx, "bob")
	}
	if d, _ := lim.Take(ctx, "bob"); d.Allowed {
		t.Fatalf("the fallback's third of 2: %+v, want denied", d)
	}
	err := lim.Reset(ctx, "bob")
	if !errors.Is(err, core.ErrStore) || !errors.Is(err, down) {
		t.Fatalf("Reset with the remote store down: %v, want ErrStore wrapping its error", err)
	}
	if d, _ := lim.Take(ctx, "bob"); !d.Allowed {
		t.Fatalf("after the reset, still in fallback: %+v, want admitted (the fallback's key was reset)", d)
	}
	remote.fail(nil)
	if err := lim.Reset(ctx, "bob"); err != nil {
		t.Fatalf("Reset with both stores up: %v", err)
	}
	if want := lim.Prefix() + "bob"; len(remote.reset) != 1 || remote.reset[0] != want || len(local.reset) != 2 {
		t.Fatalf("remote reset %q, local %q; want %q once in the remote store and twice in the local one", remote.reset, local.reset, want)
	}
}

func TestReleaseBoxLetsTheClientOut(t *testing.T) {
	ctx := context.Background()
	clock := core.NewManualClock(time.Unix(1e9, 0))
	s, err := memstore.New(memstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lim := newLimiter(t, s, core.PerMinute(1), core.WithName("login"))
	box := core.Box{Key: "box:login:carol", Penalty: core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}}
	step := func() (core.Decision, time.Duration) {
		t.Helper()
		ds := make([]core.Decision, 1)
		left, err := core.TakeAllBoxed(ctx, []core.Box{box}, []*core.Limiter{lim}, []string{"carol"}, ds)
		if err != nil {
			t.Fatal(err)
		}
		return ds[0], left
	}
	for i := 0; i < 3; i++ {
		step()
	}
	if d, _ := step(); d.Reason != core.ReasonPenalty {
		t.Fatalf("after two denials: %+v, want in the box", d)
	}
	if err := core.ReleaseBox(ctx, s, box.Key); err != nil {
		t.Fatalf("ReleaseBox: %v", err)
	}
	if d, left := step(); d.Reason != core.ReasonLimited || left != 0 {
		t.Fatalf("after the release: %+v, box left %v; want the limit's own denial, no box", d, left)
	}
	for _, c := range []struct {
		name   string
		store  core.Store
		key    string
		target error
	}{
		{"an empty key", s, "", core.ErrInvalidKey},
		{"a key with no room for the store's suffixes", s, strings.Repeat("k", core.MaxKeyLen), core.ErrInvalidKey},
		{"a store that keeps no boxes", newMapStore(clock), "box:k", core.ErrNoReset},
	} {
		if err := core.ReleaseBox(ctx, c.store, c.key); !errors.Is(err, c.target) {
			t.Errorf("%s: %v, want %v", c.name, err, c.target)
		}
	}
}

// remoteMem is a memory store standing for a remote one, with a local store
// of its own.
type remoteMem struct {
	*memstore.Store
	local *memstore.Store
}

func (r remoteMem) LocalStore() core.Store { return r.local }

// A step boxed in a remote store's local store (taken there while the
// remote store failed) is released with the remote store's.
func TestReleaseBoxReachesTheLocalStore(t *testing.T) {
	ctx := context.Background()
	open := func() *memstore.Store {
		s, err := memstore.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	r := remoteMem{open(), open()}
	box := core.Box{Key: "box:dave", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}
	takes := []core.Take{{Key: "dave", Limit: core.PerHour(1), Cost: 1}}
	ds := make([]core.Decision, 1)
	for _, s := range []*memstore.Store{r.Store, r.local} {
		for i := 0; i < 2; i++ {
			if _, err := s.TakeBoxed(ctx, []core.Box{box}, takes, ds); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := core.ReleaseBox(ctx, r, box.Key); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*memstore.Store{"remote": r.Store, "local": r.local} {
		if _, err := s.TakeBoxed(ctx, []core.Box{box}, takes, ds); err != nil || ds[0].Reason == core.ReasonPenalty {
			t.Errorf("the %s store after the release: %+v, %v; want out of the box", name, ds[0], err)
		}
	}
}
