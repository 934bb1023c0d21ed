package redisstore_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// TestMain runs the tests, stops the servers they shared, and fails if a
// goroutine outlives them (a batch sender, a lease refill, a call left
// behind at its deadline), waiting for those that end by themselves (the
// memory store's default clock, half a second after its last reading).
func TestMain(m *testing.M) {
	if spec := os.Getenv(slotChildEnv); spec != "" {
		runSlotChild(spec) // never returns
	}
	code := m.Run()
	redistest.StopAll()
	if code == 0 {
		if err := noGoroutinesLeft(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "redisstore:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noGoroutinesLeft waits up to wait for every goroutine but the test
// harness's to end, collecting garbage meanwhile; it returns goleak's report
// of those left.
func noGoroutinesLeft(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		runtime.GC()
		err := goleak.Find() // retries for about 0.4s itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
