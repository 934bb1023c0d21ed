package memstore_test

import (
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/internal/leakcheck"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// TestMain fails the package's tests if a goroutine outlives them. The
// default clock's goroutine, shared by every store, stops by itself half a
// second after its last reading: the check waits for it rather than ignore
// it, so a clock that never stops is caught too.
func TestMain(m *testing.M) {
	leakcheck.Exit(m.Run(), "memstore")
}

// A store nobody closes, once unreachable, leaves no goroutine behind: its
// sweeper ends when the garbage collector reclaims it.
func TestUnreachableStoreStopsItsSweeper(t *testing.T) {
	before := goleak.IgnoreCurrent()
	func() {
		s, err := memstore.New(memstore.WithSweepInterval(time.Millisecond), memstore.WithClock(core.NewManualClock(t0)))
		if err != nil {
			t.Fatal(err)
		}
		mustTake(t, s, "k", core.PerSecond(10), 1)
		if err := goleak.Find(before); err == nil {
			t.Fatal("no sweeper goroutine found while the store is in use: the check below would prove nothing")
		}
		runtime.KeepAlive(s) // in use until here: else the check above may see it collected
	}()
	if err := leakcheck.Wait(10*time.Second, before); err != nil {
		t.Fatalf("10s after the store became unreachable: %v", err)
	}
}
