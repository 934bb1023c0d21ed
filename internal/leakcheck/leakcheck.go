// Package leakcheck is the goroutine-leak check that ends the tests of
// every module in this repository that uses go.uber.org/goleak: one copy,
// imported by each module's TestMain (an internal package of the root
// module, which every other module requires at the same release).
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"go.uber.org/goleak"
)

// Settle is how long Exit waits for goroutines that end by themselves: the
// memory store's default clock stops half a second after its last reading,
// and a store nobody closed stops once the garbage collector has found it.
const Settle = 10 * time.Second

// Exit ends a TestMain: when the tests passed (code 0) but a goroutine
// outlives them by Settle, it prints goleak's report, prefixed with pkg,
// and exits 1; otherwise it exits with code.
func Exit(code int, pkg string) {
	if code == 0 {
		if err := Wait(Settle); err != nil {
			fmt.Fprintln(os.Stderr, pkg+":", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Wait waits up to wait for every goroutine but the test harness's (and
// those opts ignore) to end, collecting garbage meanwhile, so that stores
// dropped without Close are reclaimed; it returns goleak's report of those
// left, nil when none is.
func Wait(wait time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		runtime.GC()
		err := goleak.Find(opts...) // retries for about 0.4s itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
