package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRunPrintsTheRefusalsWithAndWithoutPacing(t *testing.T) {
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, workload{goroutines: 8, requests: 3}); err != nil {
		t.Fatalf("run: %v\n%s", err, buf.String())
	}
	out := buf.String()
	t.Logf("\n%s", out)
	// The plain client: 24 sent, some refused; the paced one: all 24
	// admitted, none refused.
	if !regexp.MustCompile(`(?m)^plain http\.Transport\s+24\s+\d+\s+[1-9]\d*\s`).MatchString(out) {
		t.Errorf("no row of the plain client with refusals in\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^pacer\.Transport\s+24\s+24\s+0\s`).MatchString(out) {
		t.Errorf("no row of the paced client with 24 admitted, 0 refused in\n%s", out)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		plain   result
		paced   result
		wantErr string
	}{
		{"refusals without pacing, none with it pass",
			result{client: "plain", sent: 24, ok: 10, denied: 14}, result{client: "paced", sent: 24, ok: 24}, ""},
		{"a refusal of the paced client fails",
			result{client: "plain", sent: 24, ok: 10, denied: 14}, result{client: "paced", sent: 24, ok: 23, denied: 1},
			"paced: 24 sent, 23 admitted, 1 refused; want every one admitted"},
		{"a workload the limits do not bind fails",
			result{client: "plain", sent: 5, ok: 5}, result{client: "paced", sent: 5, ok: 5},
			"plain: none of 5 refused: the workload does not reach the limits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check([]result{tt.plain, tt.paced})
			var got string
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("check = %q, want %q", got, tt.wantErr)
			}
		})
	}
}
