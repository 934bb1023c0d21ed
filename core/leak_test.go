package core

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package's tests if a goroutine started by tollgate code
// outlives them (the coarse clock's, here).
//
// Unlike internal/leakcheck (goleak's check, which the other modules' tests
// end with), this check counts only our goroutines: a goroutine is ours if
// its stack, creation included, names a function of this module.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := ourGoroutines(10 * time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "core: %d goroutines outlived the tests:\n\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// ourGoroutines returns the stacks of the goroutines that run or were
// created by this module's code, other than the caller's and the test
// harness's (running a test or TestMain), once none is left or wait has
// passed, whichever is first.
func ourGoroutines(wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		var left []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		// The first stack is the caller's.
		for _, g := range strings.Split(string(buf), "\n\n")[1:] {
			harness := strings.Contains(g, "\ntesting.tRunner(") || strings.Contains(g, "\ntesting.(*M).Run(")
			if !harness && strings.Contains(g, "github.com/tollgate-go/tollgate/") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(pause)
	}
}

// clockGoroutines keeps, of stacks, those of a CoarseClock's goroutine:
// other tests' goroutines may still be on their way out.
func clockGoroutines(stacks []string) []string {
	var clocks []string
	for _, g := range stacks {
		if strings.Contains(g, "core.(*CoarseClock)") {
			clocks = append(clocks, g)
		}
	}
	return clocks
}

// The leak check above would pass an empty process: show it finds a ticking
// clock, and that Stop returns only once the goroutine has ended.
func TestCoarseClockStopWaitsForItsGoroutine(t *testing.T) {
	c, err := NewCoarseClock(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c.UnixNano()
	if left := clockGoroutines(ourGoroutines(0)); len(left) != 1 {
		t.Fatalf("a ticking clock: found %d clock goroutines, want its one:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	c.Stop()
	// Stop returns once the goroutine has closed its done channel, its
	// last act; the runtime may list it a moment longer, while it returns.
	deadline := time.Now().Add(5 * time.Second)
	for left := clockGoroutines(ourGoroutines(0)); len(left) != 0; left = clockGoroutines(ourGoroutines(0)) {
		if time.Now().After(deadline) {
			t.Fatalf("5s after Stop returned its goroutine is still there:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
	if c.running.Load() {
		t.Fatal("Stop returned but the clock says it runs")
	}
}

// An unused clock's goroutine ends by itself: no Stop needed.
func TestIdleCoarseClockLeavesNoGoroutine(t *testing.T) {
	c, err := NewCoarseClock(100 * time.Microsecond) // idle after 100ms
	if err != nil {
		t.Fatal(err)
	}
	c.UnixNano()
	deadline := time.Now().Add(10 * time.Second)
	for len(clockGoroutines(ourGoroutines(0))) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("10s after its last reading the clock still runs:\n%s", strings.Join(clockGoroutines(ourGoroutines(0)), "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
	if c.running.Load() {
		t.Fatal("the goroutine is gone but the clock says it runs")
	}
}
