package memstore

import (
	"testing"
	"time"
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
