package rules_test

import (
	"testing"

	"github.com/tollgate-go/tollgate/internal/leakcheck"
)

// TestMain fails the package's tests if a goroutine outlives them (a
// watcher not stopped by Close, a store's sweeper), waiting for those that
// end by themselves (the memory store's default clock, half a second after
// its last reading).
func TestMain(m *testing.M) {
	leakcheck.Exit(m.Run(), "rules")
}
