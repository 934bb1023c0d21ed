package memstore

import (
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func TestCloseStopsTheSweeper(t *testing.T) {
	s, err := New(WithSweepInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned with the sweeper still running")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// The default clock is one coarse clock of DefaultResolution, shared by
// every store; WithClock replaces it.
func TestDefaultClockIsTheSharedCoarseClock(t *testing.T) {
	a, _ := New(WithSweepInterval(0))
	b, _ := New(WithSweepInterval(0))
	defer a.Close()
	defer b.Close()
	if a.coarse == nil || a.coarse != b.coarse {
		t.Fatalf("default clocks %p and %p: want one shared *core.CoarseClock", a.coarse, b.coarse)
	}
	if got := a.coarse.Resolution(); got != DefaultResolution {
		t.Fatalf("default clock resolution %v, want %v", got, DefaultResolution)
	}
	c, _ := New(WithSweepInterval(0), WithClock(core.SystemClock))
	defer c.Close()
	if c.coarse != nil || !c.system {
		t.Fatal("WithClock(core.SystemClock) still reads the coarse clock")
	}
}
