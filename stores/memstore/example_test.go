package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func ExampleNew() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()

	limit, _ := core.ParseLimit("3/m")
	lim, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		panic(err)
	}
	for i := 0; i < 4; i++ {
		d, _ := lim.Take(context.Background(), "192.0.2.1")
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", d.Allowed, d.Remaining, d.RetryAfter.Round(time.Second))
	}
	// Output:
	// allowed=true remaining=2 retry-after=0s
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=20s
}

// A fake clock makes the store deterministic in tests.
func ExampleWithClock() {
	clock := core.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store, _ := memstore.New(memstore.WithClock(clock))
	defer store.Close()

	limit := core.PerSecond(2).WithAlgorithm(core.FixedWindow)
	for _, step := range []time.Duration{0, 0, 0, 999 * time.Millisecond, time.Millisecond} {
		clock.Advance(step)
		d, _ := store.Take(context.Background(), "k", limit, 1)
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter)
	}
	// Output:
	// true 1 0s
	// true 0 0s
	// false 0 1s
	// false 0 1ms
	// true 1 0s
}
