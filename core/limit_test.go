package core_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want core.Limit
	}{
		{"100/m", core.Limit{Rate: 100, Period: time.Minute, Burst: 100}},
		{"10/s", core.Limit{Rate: 10, Period: time.Second, Burst: 10}},
		{"5000/h", core.Limit{Rate: 5000, Period: time.Hour, Burst: 5000}},
		{"10/s burst 20", core.Limit{Rate: 10, Period: time.Second, Burst: 20}},
		{"10/S BURST=20 token_bucket", core.Limit{Rate: 10, Period: time.Second, Burst: 20, Algorithm: core.TokenBucket}},
		{"300/5m fixed-window", core.Limit{Rate: 300, Period: 5 * time.Minute, Burst: 300, Algorithm: core.FixedWindow}},
		{"50/1m30s sliding-window-log", core.Limit{Rate: 50, Period: 90 * time.Second, Burst: 50, Algorithm: core.SlidingWindowLog}},
		{"7/500ms sliding-window", core.Limit{Rate: 7, Period: 500 * time.Millisecond, Burst: 7, Algorithm: core.SlidingWindowCounter}},
		{"1/day leaky-bucket", core.Limit{Rate: 1, Period: 24 * time.Hour, Burst: 1}},
		{"  60/minute  ", core.Limit{Rate: 60, Period: time.Minute, Burst: 60}},
		{"3/2hours", core.Limit{Rate: 3, Period: 2 * time.Hour, Burst: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := core.ParseLimit(tt.in)
			if err != nil {
				t.Fatalf("ParseLimit(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseLimit(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			back, err := core.ParseLimit(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseLimit(%q.String() = %q) = %+v, %v; want the same limit", tt.in, got.String(), back, err)
			}
		})
	}
}

func TestParseLimitRejectsBadInputNamingTheField(t *testing.T) {
	tests := []struct {
		in, field string
	}{
		{"", "limit"},
		{"100", "limit"},
		{"ten/m", "rate"},
		{"99999999999999999999/s", "rate"},
		{"0/s", "rate"},
		{"-1/s", "rate"},
		{"10/fortnight", "period"},
		{"10/0s", "period"},
		{"10/-1s", "period"},
		{"5/1000000000h", "period"},
		{"5/9999999999999999999999s", "period"},
		{"10/s burst 0", "burst"},
		{"10/s burst -3", "burst"},
		{"10/s burst", "burst"},
		{"10/s burst=x", "burst"},
		{"10/s frobnicate", "algorithm"},
		{"10/s burst 20 fixed-window", "burst"},
		{"20000/s sliding-window-log", "rate"},
		{"2000000000/s", "rate"},
		{"1/h burst 9000000", "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := core.ParseLimit(tt.in)
			if !errors.Is(err, core.ErrInvalidLimit) {
				t.Fatalf("ParseLimit(%q) error = %v, want one matching ErrInvalidLimit", tt.in, err)
			}
			var le *core.LimitError
			if !errors.As(err, &le) || le.Field != tt.field {
				t.Fatalf("ParseLimit(%q) error = %v, want it to name the field %q", tt.in, err, tt.field)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := []core.Limit{
		core.PerSecond(1), core.PerMinute(100), core.PerHour(5000),
		{Rate: 10, Period: time.Second},                              // zero burst means rate
		{Rate: 10, Period: time.Second, Algorithm: core.FixedWindow}, // and is allowed for windows
		core.PerSecond(1_000_000_000),                                // one per nanosecond
		{Rate: core.MaxLogRate, Period: time.Second, Algorithm: core.SlidingWindowLog},
		{Rate: 1_000_000, Period: 24 * time.Hour}, // GCRA keeps burst × interval: 86.4 s
	}
	for _, l := range valid {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v, want nil", l, err)
		}
	}
	// The token bucket keeps burst × period: a million days' worth of
	// nanoseconds does not fit in 63 bits.
	tb := core.Limit{Rate: 1_000_000, Period: 24 * time.Hour, Algorithm: core.TokenBucket}
	if err := tb.Validate(); !errors.Is(err, core.ErrInvalidLimit) || !strings.Contains(err.Error(), "burst") {
		t.Errorf("%v.Validate() = %v, want an error naming the burst", tb, err)
	}
	if got := (core.Limit{Rate: 10, Period: time.Second}).EffectiveBurst(); got != 10 {
		t.Errorf("EffectiveBurst of a zero burst = %d, want the rate, 10", got)
	}
	if got := (core.Limit{Rate: 3, Period: time.Second}).Interval(); got != 333333334 {
		t.Errorf("Interval of 3/s = %d, want 333333334 (rounded up, never over-admitting)", got)
	}
}

func TestAlgorithmNames(t *testing.T) {
	for _, a := range storekit.Algorithms() {
		got, err := core.ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	if _, err := core.ParseAlgorithm("quantum"); !errors.Is(err, core.ErrInvalidLimit) {
		t.Errorf("ParseAlgorithm(quantum) error = %v, want ErrInvalidLimit", err)
	}
}
