package rules_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them (a
// watcher not stopped by Close, a store's sweeper), waiting for those that
// end by themselves (the memory store's default clock, half a second after
// its last reading).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := noGoroutinesLeft(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "rules:", err)
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
