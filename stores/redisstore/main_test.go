package redisstore_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/tollgate-go/tollgate/internal/leakcheck"
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
	leakcheck.Exit(code, "redisstore")
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
