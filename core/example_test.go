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
