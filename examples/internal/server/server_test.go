package server

import (
	"io"
	"net/http"
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

// Loopback serves the handler on loopback until stop, which ends it
// without error; afterwards the address refuses connections.
func TestLoopback(t *testing.T) {
	base, stop, err := Loopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hi")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base %q, want a loopback URL", base)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "hi" {
		t.Fatalf("body %q, %v; want hi", body, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if resp, err := client.Get(base + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("served after stop")
	}
}
