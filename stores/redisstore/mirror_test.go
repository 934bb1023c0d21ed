package redisstore_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// TestScriptsMirrorApply replays random histories against each script and
// against storekit.Apply, which the scripts mirror in microseconds: Apply given
// the limit with its period in microseconds and the time in microseconds must
// make exactly the decisions the script makes, with its durations read as
// microseconds. The limits include ones whose products pass 2^53, where Lua's
// doubles stop being exact and the scripts must not rely on them.
func TestScriptsMirrorApply(t *testing.T) {
	client := redistest.Shared(t).Client(t, nil)
	day := 24 * time.Hour
	limits := []core.Limit{
		core.PerSecond(10),
		{Rate: 3, Period: time.Second},
		{Rate: 7, Period: 1337 * time.Microsecond, Burst: 2},
		{Rate: 4, Period: 7 * time.Microsecond}, // tiny numbers: every rounding shows
		{Rate: 5, Period: 700 * time.Millisecond, Burst: 3},
		{Rate: 1_000_000, Period: day},                                        // GCRA burst × interval: 8.64e10 µs
		{Rate: 7, Period: day, Burst: 10_000},                                 // token bucket: 1e4 × 8.64e10
		{Rate: 100_000, Period: day},                                          // sliding counter: 1e5 × 8.64e10 > 2^53
		{Rate: 1 << 40, Period: 1 << 49 * time.Microsecond},                   // near the caps
		{Rate: core.MaxLogRate, Period: time.Hour},                            // the longest log
		{Rate: 999_983, Period: 999_979 * 1000 * time.Microsecond, Burst: 13}, // primes: nothing divides
	}
	for _, alg := range storekit.Algorithms() {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(alg), 7))
			for li, base := range limits {
				l := base.WithAlgorithm(alg)
				if alg != core.GCRA && alg != core.TokenBucket {
					l.Burst = 0
				}
				if alg == core.SlidingWindowLog && l.Rate > core.MaxLogRate {
					l.Rate = core.MaxLogRate
				}
				if err := l.Validate(); err != nil {
					if alg == core.TokenBucket && strings.Contains(err.Error(), "burst × period overflows") {
						continue // core's token bucket keeps burst × period in ns: 100,000 days do not fit
					}
					t.Fatalf("limit %d: %v", li, err)
				}
				micro := l
				micro.Period = l.Period / time.Microsecond
				clock := core.NewManualClock(time.Date(2031, 5, 17, 3, 0, 0, 0, time.UTC))
				s, err := redisstore.New(client, redisstore.WithClock(clock), redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithTimeout(patience))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				var st storekit.State
				burst := l.EffectiveBurst()
				// Steps of at most ~11 days keep 150 of them within a few years
				// of now: the scripts are exact while the time in microseconds
				// plus twice the longest span stays below 2^53 (the year 2180).
				period := min(int64(micro.Period), 1e12)
				for step := 0; step < 150; step++ {
					// Mostly small steps, some of a period's size, a few backwards.
					var dt int64
					switch r := rng.IntN(10); {
					case r < 5:
						dt = rng.Int64N(max(period/max(l.Rate, 1), 1) * 2)
					case r < 8:
						dt = rng.Int64N(period + 1)
					case r < 9:
						dt = -rng.Int64N(period/4 + 1)
					}
					clock.Advance(time.Duration(dt) * time.Microsecond)
					var cost int64
					switch r := rng.IntN(10); {
					case r < 6:
						cost = 1
					case r < 7:
						cost = 0
					case r < 9:
						cost = 1 + rng.Int64N(burst)
					default:
						cost = burst + 1 + rng.Int64N(3)
					}
					if alg == core.SlidingWindowLog {
						cost = min(cost, 600) // keep the log's lists small enough to replay fast
					}
					nowMicro := clock.Now().UnixNano() / 1000
					want := storekit.Apply(&st, nowMicro, micro, cost)
					want.Limit = l
					want.ResetAfter *= time.Microsecond
					if want.RetryAfter != core.Never {
						want.RetryAfter *= time.Microsecond
					}
					got, err := s.Take(context.Background(), "k", l, cost)
					if err != nil {
						t.Fatalf("limit %v, step %d: %v", l, step, err)
					}
					if got != want {
						t.Fatalf("limit %v, step %d (at %dµs, cost %d):\n script %+v\n Apply  %+v", l, step, nowMicro, cost, got, want)
					}
				}
			}
		})
	}
}
