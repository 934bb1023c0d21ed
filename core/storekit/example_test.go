package storekit_test

import (
	"fmt"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// Apply is the pure transition every store runs: here, GCRA at 2/s, driven by
// hand.
func ExampleApply() {
	var s storekit.State
	l := core.PerSecond(2)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, at := range []time.Duration{0, 0, 0, 500 * time.Millisecond} {
		d := storekit.Apply(&s, now+int64(at), l, 1)
		fmt.Printf("at %v: allowed=%v remaining=%d retry=%v reset=%v\n", at, d.Allowed, d.Remaining, d.RetryAfter, d.ResetAfter)
	}
	// Output:
	// at 0s: allowed=true remaining=1 retry=0s reset=500ms
	// at 0s: allowed=true remaining=0 retry=0s reset=1s
	// at 0s: allowed=false remaining=0 retry=500ms reset=1s
	// at 500ms: allowed=true remaining=0 retry=0s reset=1s
}
