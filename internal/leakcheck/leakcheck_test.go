package leakcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/internal/leakcheck"
)

func parked(stop <-chan struct{}) { <-stop }

// Wait reports a goroutine that does not end, naming it, and nothing once
// it has ended.
func TestWaitFindsAGoroutineLeftRunning(t *testing.T) {
	stop := make(chan struct{})
	go parked(stop)
	err := leakcheck.Wait(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "leakcheck_test.parked") {
		t.Fatalf("a parked goroutine: Wait = %v, want a report naming it", err)
	}
	close(stop)
	if err := leakcheck.Wait(5 * time.Second); err != nil {
		t.Fatalf("after it ended: %v", err)
	}
}

// Wait waits for a goroutine that ends by itself within the wait.
func TestWaitWaitsForAGoroutineEnding(t *testing.T) {
	go time.Sleep(700 * time.Millisecond) // longer than goleak's own retries
	if err := leakcheck.Wait(10 * time.Second); err != nil {
		t.Fatalf("a goroutine ending after 0.7s: %v", err)
	}
}

func TestMain(m *testing.M) { leakcheck.Exit(m.Run(), "leakcheck") }
