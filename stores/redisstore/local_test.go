package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// The local store a Store names for deciding when Redis cannot: a memory
// store of its own, on the Store's clock, closed with it; the leased store
// names its base's.
func TestLocalStoreIsOwnedByTheStore(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	clock := core.NewManualClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := redisstore.New(client, redisstore.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	local := s.LocalStore()
	if local == nil || local == core.Store(s) {
		t.Fatalf("LocalStore = %v, want a store of its own", local)
	}
	other, err := redisstore.New(client)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.LocalStore() == local {
		t.Fatal("two stores share one local store")
	}
	l, err := redisstore.NewLeased(s, redisstore.LeaseConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if l.LocalStore() != local {
		t.Fatal("the leased store does not name its base's local store")
	}

	ctx := context.Background()
	lim := core.PerMinute(2)
	for i, want := range []bool{true, true, false} {
		d, err := local.Take(ctx, "k", lim, 1)
		if err != nil || d.Allowed != want {
			t.Fatalf("local take %d: %+v, %v; want allowed %v", i, d, err, want)
		}
	}
	clock.Advance(30 * time.Second) // the store's clock is the local store's
	if d, err := local.Take(ctx, "k", lim, 1); err != nil || !d.Allowed {
		t.Fatalf("after 30s on the store's clock: %+v, %v; want admitted", d, err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Take(ctx, "k", lim, 1); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("the local store after Close: %v, want core.ErrClosed", err)
	}
}
