package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func TestTierSharesTheKeyAndReportsItsLimit(t *testing.T) {
	ctx := context.Background()
	s := newMapStore(core.NewManualClock(time.Unix(1e9, 0)))
	free := newLimiter(t, s, core.PerMinute(10).WithAlgorithm(core.FixedWindow), core.WithName("api"))
	pro, err := free.Tier(core.PerMinute(100).WithAlgorithm(core.FixedWindow))
	if err != nil {
		t.Fatal(err)
	}
	if pro.Name() != "api" || pro.Prefix() != free.Prefix() || pro.FailurePolicy() != free.FailurePolicy() {
		t.Fatalf("tier: name %q prefix %q policy %v; want the limiter's %q %q %v", pro.Name(), pro.Prefix(), pro.FailurePolicy(), free.Name(), free.Prefix(), free.FailurePolicy())
	}
	for i := 0; i < 8; i++ {
		if d, _ := free.Take(ctx, "alice"); !d.Allowed {
			t.Fatalf("free take %d denied", i+1)
		}
	}
	// alice upgrades: the 8 she spent count under pro too.
	d, err := pro.Take(ctx, "alice")
	if err != nil || !d.Allowed || d.Remaining != 91 || d.Limit != pro.Limit() || d.Name != "api" {
		t.Fatalf("pro take: %+v, %v; want admitted, 91 left of pro's 100, named api", d, err)
	}
	// ... and back: 9 spent is all but one of free's 10.
	if d, _ := free.Take(ctx, "alice"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("free again: %+v; want the last of 10", d)
	}
	if d, _ := free.Take(ctx, "alice"); d.Allowed {
		t.Fatalf("free again: %+v; want denied: 10 of 10 spent", d)
	}
	if got := len(s.states); got != 1 {
		t.Fatalf("%d stored keys, want 1: tiers share the key", got)
	}
}

func TestTierRejectsWhatNewLimiterRejects(t *testing.T) {
	s := newMapStore(core.SystemClock)
	base := newLimiter(t, pickyStore{s}, core.PerSecond(10), core.WithCost(5))
	for _, tc := range []struct {
		name  string
		limit core.Limit
		want  string
	}{
		{"an invalid limit, naming the field", core.Limit{Rate: 0, Period: time.Second}, "rate"},
		{"a limit the store cannot keep", core.PerHour(10), "period"},
		{"a burst below the limiter's cost", core.PerSecond(4), "cost 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tier, err := base.Tier(tc.limit)
			if err == nil || tier != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Tier(%+v) = %v, %v; want an error naming %q", tc.limit, tier, err, tc.want)
			}
		})
	}
}

func TestTierFallbackDividesTheTiersLimit(t *testing.T) {
	ctx := context.Background()
	clock := core.NewManualClock(time.Unix(1e9, 0))
	primary, local := newMapStore(clock), newMapStore(clock)
	base := newLimiter(t, primary, core.PerSecond(8), core.WithFallback(local, 4))
	pro, err := base.Tier(core.PerSecond(100))
	if err != nil {
		t.Fatal(err)
	}
	primary.fail(errors.New("down"))
	admitted := 0
	for i := 0; i < 100; i++ {
		if d, _ := pro.Take(ctx, "k"); d.Allowed {
			admitted++
		}
	}
	if admitted != 25 {
		t.Fatalf("pro admitted %d in fallback, want 100/4 = 25", admitted)
	}
}

func TestTiersShareTheFailoverHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary, local := newMapStore(core.SystemClock), newMapStore(core.SystemClock)
		log := newSwitchLog()
		base := newLimiter(t, primary, core.PerSecond(100), core.WithFallback(local, 1), core.WithFailoverHook(log.hook))
		pro, err := base.Tier(core.PerSecond(1000))
		if err != nil {
			t.Fatal(err)
		}
		primary.fail(errors.New("down"))
		base.Take(ctx, "a")
		pro.Take(ctx, "b")
		primary.fail(nil)
		pro.Take(ctx, "b")
		base.Take(ctx, "a")
		if got := []switchEv{log.next(t), log.next(t)}; !got[0].failing || got[1].failing {
			t.Fatalf("switches %+v, want failing then recovered", got)
		}
		log.none(t) // one outage, seen once across the tiers
	})
}
