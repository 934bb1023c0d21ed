package server

import (
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantAddr  string
		wantLimit core.Limit
		wantErr   string // a substring of the error; "" for none
	}{
		{"no flags give the defaults", nil, "127.0.0.1:8080", core.PerMinute(10), ""},
		{"-addr and -limit are read", []string{"-addr", ":9000", "-limit", "2/m"}, ":9000", core.PerMinute(2), ""},
		{"a burst is read with the limit", []string{"-limit", "5/s burst 10"}, "127.0.0.1:8080", core.PerSecond(5).WithBurst(10), ""},
		{"a limit without a period is rejected", []string{"-limit", "10"}, "", core.Limit{},
			`invalid value "10" for flag -limit: core: invalid limit`},
		{"a zero rate is rejected", []string{"-limit", "0/m"}, "", core.Limit{},
			`invalid value "0/m" for flag -limit: core: invalid limit: rate "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			addr, limit, err := ParseFlags("example", tt.args, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFlags(%q) error %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				if !strings.Contains(out.String(), tt.wantErr) {
					t.Errorf("ParseFlags(%q) printed %q, want the error", tt.args, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFlags(%q): %v", tt.args, err)
			}
			if addr != tt.wantAddr || limit != tt.wantLimit {
				t.Errorf("ParseFlags(%q) = %q, %v; want %q, %v", tt.args, addr, limit, tt.wantAddr, tt.wantLimit)
			}
		})
	}
}
