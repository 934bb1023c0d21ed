package sloghook_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/sloghook"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

func ExampleNew() {
	// A text handler without the time and the latency, so that the output
	// is the same on every run.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "latency" {
				return slog.Attr{}
			}
			return a
		},
	}))
	hook, err := sloghook.New(logger, sloghook.WithKeySecret([]byte("shared by every instance")))
	if err != nil {
		panic(err)
	}
	store, _ := memstore.New(memstore.WithClock(core.NewManualClock(t0)))
	defer store.Close()
	lim, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("login"), core.WithHook(hook))
	if err != nil {
		panic(err)
	}
	lim.Take(context.Background(), "203.0.113.9") // admitted: not logged
	lim.Take(context.Background(), "203.0.113.9") // denied: one line, the key hashed
	// Output:
	// level=INFO msg="tollgate decision" limiter=login key_hash=5a8bae0b86a1c861 outcome=denied remaining=0 retry_after=1m0s
}
