package memstore_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// TestMain fails the package's tests if a goroutine outlives them. The
// default clock's goroutine, shared by every store, stops by itself half a
// second after its last reading: the check waits for it rather than ignore
// it, so a clock that never stops is caught too.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := noGoroutinesLeft(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "memstore:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noGoroutinesLeft waits up to wait for every goroutine but the test
// harness's (and those in opts) to end, collecting garbage meanwhile so that
// unreachable stores are reclaimed; it returns goleak's report of those left.
func noGoroutinesLeft(wait time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		runtime.GC()
		err := goleak.Find(opts...) // retries for about 0.4s itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
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
	if err := noGoroutinesLeft(10*time.Second, before); err != nil {
		t.Fatalf("10s after the store became unreachable: %v", err)
	}
}
