package core_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// FuzzParseLimit reads limit strings as a configuration file would give
// them: ParseLimit never panics; an error is a *LimitError wrapping
// ErrInvalidLimit; a limit it returns is valid, and written back with
// String it parses to the same limit (parse, String, parse round trip).
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{
		"100/m", "10/s burst 20", "5000/h", "300/5m fixed-window", "50/1m30s sliding-window-log",
		"1/d token_bucket", "7/2hours BURST=9", "3/1.5s", "1/1ns", "10/ms leaky-bucket",
		"", "/", "0/s", "-1/m", "1/0s", "9223372036854775807/ns", "1/9223372036854775807ns",
		"10/s burst", "10/s burst=0", "10/s burst 11 fixed-window", "10/s nope", "1/99999999999d",
		"1/1h0m0.000000001s", "10001/s sliding-window-log", "\xff/\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := core.ParseLimit(s)
		if err != nil {
			var le *core.LimitError
			if !errors.As(err, &le) || !errors.Is(err, core.ErrInvalidLimit) || !strings.HasPrefix(err.Error(), "core: invalid limit: ") {
				t.Fatalf("ParseLimit(%q) error %v (%T): want a *LimitError wrapping ErrInvalidLimit", s, err, err)
			}
			if l != (core.Limit{}) {
				t.Fatalf("ParseLimit(%q) = %+v with an error", s, l)
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseLimit(%q) = %+v, which does not validate: %v", s, l, err)
		}
		back, err := core.ParseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLimit(%q) = %+v, written %q, read back as %+v, %v", s, l, l.String(), back, err)
		}
	})
}

// FuzzLimitString writes limits built from any fields: a limit that
// validates is read back from its String as the same limit (with Burst 0
// meaning the rate), and String never panics on one that does not.
func FuzzLimitString(f *testing.F) {
	f.Add(int64(100), int64(time.Minute), int64(0), uint8(0))
	f.Add(int64(10), int64(time.Second), int64(20), uint8(1))
	f.Add(int64(3), int64(1500*time.Millisecond), int64(3), uint8(2))
	f.Add(int64(1), int64(1), int64(1), uint8(4))
	f.Add(int64(7), int64(90*time.Minute+1), int64(0), uint8(3))
	f.Fuzz(func(t *testing.T, rate, period, burst int64, alg uint8) {
		l := core.Limit{Rate: rate, Period: time.Duration(period), Burst: burst, Algorithm: core.Algorithm(alg)}
		s := l.String()
		if l.Validate() != nil {
			return
		}
		want := l
		if want.Burst == 0 {
			want.Burst = want.Rate
		}
		back, err := core.ParseLimit(s)
		if err != nil || back != want {
			t.Fatalf("%+v written %q, read back as %+v, %v", l, s, back, err)
		}
	})
}
