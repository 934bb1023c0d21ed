//go:build !race

package memstore_test

import (
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The reproduction at the default bound: about 1.8 million
// two-request keys on another limit of the same store. 3.6 million takes
// cost about 4s of CPU, ten times that under the race detector, so this runs
// only in builds without it (go test without -race); TestFloodNeverResets-
// ALimitedKey runs the same attacks at a smaller bound everywhere.
func TestFloodNeverResetsALimitedKeyAtDefaultSize(t *testing.T) {
	if testing.Short() {
		t.Skip("1.8 million keys; run without -short")
	}
	clock := core.NewManualClock(t0.Add(10 * time.Second))
	s := newStore(t, memstore.WithClock(clock), memstore.WithSweepInterval(0))
	start := time.Now()
	runFloodAttack(t, s, clock, core.PerMinute(3), core.PerHour(10), 0, 1_800_000)
	if n := s.Len(); n > memstore.DefaultMaxKeys {
		t.Fatalf("store holds %d keys, bound %d", n, memstore.DefaultMaxKeys)
	}
	t.Logf("%v for 3.6 million takes; %+v", time.Since(start), s.Stats())
}
