package core_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func ExampleParseLimit() {
	for _, s := range []string{"100/m", "10/s burst 20", "300/5m fixed-window", "ten per minute"} {
		l, err := core.ParseLimit(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-20s rate=%d period=%v burst=%d %v\n", l, l.Rate, l.Period, l.Burst, l.Algorithm)
	}
	// Output:
	// 100/m                rate=100 period=1m0s burst=100 gcra
	// 10/s burst 20        rate=10 period=1s burst=20 gcra
	// 300/5m fixed-window  rate=300 period=5m0s burst=300 fixed-window
	// core: invalid limit: limit "ten per minute": want RATE/PERIOD, as in 100/m
}

func ExampleLimit_Validate() {
	err := core.Limit{Rate: 10, Period: time.Second, Burst: -1}.Validate()
	var le *core.LimitError
	fmt.Println(errors.Is(err, core.ErrInvalidLimit), errors.As(err, &le), le.Field)
	// Output: true true burst
}

// Apply is the pure transition every store runs: here, GCRA at 2/s, driven by
// hand.
func ExampleApply() {
	var s core.State
	l := core.PerSecond(2)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, at := range []time.Duration{0, 0, 0, 500 * time.Millisecond} {
		d := core.Apply(&s, now+int64(at), l, 1)
		fmt.Printf("at %v: allowed=%v remaining=%d retry=%v reset=%v\n", at, d.Allowed, d.Remaining, d.RetryAfter, d.ResetAfter)
	}
	// Output:
	// at 0s: allowed=true remaining=1 retry=0s reset=500ms
	// at 0s: allowed=true remaining=0 retry=0s reset=1s
	// at 0s: allowed=false remaining=0 retry=500ms reset=1s
	// at 500ms: allowed=true remaining=0 retry=0s reset=1s
}
