package core_test

import (
	"context"
	"fmt"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// At most 2 uploads of a client in flight: a third waits for one of them
// to give its slot back.
func ExampleNewConcurrencyLimiter() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := core.NewConcurrencyLimiter(store, 2, core.WithName("uploads"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	first, d, _ := l.Acquire(ctx, "client-1")
	fmt.Println("first:", d.Allowed, "slots left", d.Remaining)
	second, d, _ := l.Acquire(ctx, "client-1")
	fmt.Println("second:", d.Allowed, "slots left", d.Remaining)
	_, d, _ = l.Acquire(ctx, "client-1")
	fmt.Println("third:", d.Allowed, "retry after", d.RetryAfter)
	_ = first.Release() // the first upload is done, however it ended
	third, d, _ := l.Acquire(ctx, "client-1")
	fmt.Println("third again:", d.Allowed, "slots left", d.Remaining)
	_ = second.Release()
	_ = third.Release()
	// Output:
	// first: true slots left 1
	// second: true slots left 0
	// third: false retry after 1s
	// third again: true slots left 0
}
