package storekit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

// A greedy client whose requests are reserved at 1 and settled at a random
// real cost up to the burst: over a run of periods it is charged its quota
// of them, give or take two bursts (the first one, and the debt left at the
// end), on every algorithm. Without the debt it would get up to the burst
// times its quota; with debt forgiven, well under it.
func TestSettleChargesTheQuotaOverARun(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const periods = 40
	for _, alg := range storekit.Algorithms() {
		for trial := 0; trial < 30; trial++ {
			rate := int64(5 + rng.IntN(40))
			l := core.Limit{Rate: rate, Period: time.Second, Algorithm: alg}
			if alg == core.GCRA || alg == core.TokenBucket {
				l.Burst = rate + int64(rng.IntN(int(rate)))
			}
			burst := l.EffectiveBurst()
			var s storekit.State
			now := int64(1_700_000_000) * int64(time.Second)
			end := now + periods*int64(time.Second)
			var charged int64
			step := int64(l.Period) / (4 * rate)
			for now += step; now < end; now += 1 + rng.Int64N(2*step) {
				if d := storekit.Apply(&s, now, l, 1); !d.Allowed {
					continue
				}
				real := 1 + rng.Int64N(burst)
				storekit.Settle(&s, now, l, real-1)
				charged += real
				// The debt ceiling: a key owes at most one burst, so it is
				// never shut out for much more than two periods.
				if d := storekit.Apply(&s, now, l, 0); d.RetryAfter > 2*l.Period+l.Interval() {
					t.Fatalf("%v: after a settlement the key waits %v, more than two periods", l, d.RetryAfter)
				}
			}
			quota := periods * rate
			if charged > quota+2*burst {
				t.Errorf("%v: charged %d over %d periods, want at most %d (the quota and two bursts)", l, charged, periods, quota+2*burst)
			}
			// The sliding counter's estimate rounds up, so it admits a
			// little less than its quota: a third burst of slack.
			least := quota - 2*burst
			if alg == core.SlidingWindowCounter {
				least -= burst
			}
			if charged < least {
				t.Errorf("%v: charged %d over %d periods, want at least %d: debt within the ceiling is paid, not forgiven", l, charged, periods, least)
			}
		}
	}
}

// A refund never leaves a key with more room than a fresh key, and a
// reservation refunded in full leaves the key as it was before it.
func TestSettleRefundsWhatWasReserved(t *testing.T) {
	for _, alg := range storekit.Algorithms() {
		l := core.PerSecond(10).WithAlgorithm(alg)
		now := int64(1_700_000_000) * int64(time.Second)
		var s storekit.State
		storekit.Apply(&s, now, l, 3)
		before := storekit.Apply(&s, now, l, 0)
		storekit.Apply(&s, now, l, 4)
		if d := storekit.Settle(&s, now, l, -4); d != before {
			t.Errorf("%v: reserved 4 and refunded it all: %+v, want the state before, %+v", alg, d, before)
		}
		if d := storekit.Settle(&s, now, l, -10); d.Remaining != 10 {
			t.Errorf("%v: refunded more than taken: %d left, want 10, no more", alg, d.Remaining)
		}
		if d := storekit.Apply(&s, now, l, 10); !d.Allowed {
			t.Errorf("%v: after the refunds a take of the burst was denied", alg)
		}
		if d := storekit.Apply(&s, now, l, 1); d.Allowed {
			t.Errorf("%v: a refund left credit: an 11th admitted", alg)
		}
	}
}

// Per algorithm, what an overdraft of one burst past a full key leaves: how
// long the key waits, which is how the debt is paid (the table in
// Settle's doc).
func TestSettleOverdraftTable(t *testing.T) {
	now := int64(1_700_000_000)*int64(time.Second) + int64(500*time.Millisecond)
	cases := []struct {
		alg  core.Algorithm
		wait time.Duration // from now, for a request of cost 1
	}{
		// 10 used of 10 and 10 owed: 20 intervals of 100ms, less the 900ms
		// a full bucket already allows.
		{core.GCRA, 1100 * time.Millisecond},
		{core.TokenBucket, 1100 * time.Millisecond},
		// The window ends at +500ms; the next one starts with all 10 owed,
		// so the one after, at +1.5s.
		{core.FixedWindow, 1500 * time.Millisecond},
		// The next window starts with the 10 owed counted (and this one's
		// 10 weighing on it), so it admits nothing; in the one after, the
		// 10 owed weigh until 10×(1−e) ≤ 9, 100ms into it: +1.6s.
		{core.SlidingWindowCounter, 1600 * time.Millisecond},
		// The ten entries of now are renewed to +1s, when their slots
		// free, and count for a period from then: the first frees at +2s.
		{core.SlidingWindowLog, 2000 * time.Millisecond},
	}
	for _, c := range cases {
		l := core.PerSecond(10).WithAlgorithm(c.alg)
		var s storekit.State
		storekit.Apply(&s, now, l, 10)
		storekit.Settle(&s, now, l, 10)
		d := storekit.Apply(&s, now, l, 0)
		if d.Allowed || d.RetryAfter != c.wait {
			t.Errorf("%v: after 10 owed past a full key: allowed %v, wait %v, want denied for %v", c.alg, d.Allowed, d.RetryAfter, c.wait)
		}
		// Nothing more is kept past the ceiling.
		storekit.Settle(&s, now, l, 10)
		if d2 := storekit.Apply(&s, now, l, 0); d2.RetryAfter != d.RetryAfter {
			t.Errorf("%v: a second overdraft past the ceiling moved the wait from %v to %v", c.alg, d.RetryAfter, d2.RetryAfter)
		}
	}
}
