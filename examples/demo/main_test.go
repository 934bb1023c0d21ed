package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRunPrintsTheCountsOfEveryRouter(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\n%s", err, buf.String())
	}
	out := buf.String()
	for _, router := range []string{"chi", "gin", "echo v4", "echo v5"} {
		row := regexp.MustCompile(`(?m)^` + router + `\s+8\s+5\s+3$`)
		if !row.MatchString(out) {
			t.Errorf("no row %q sent 8, 200 5, 429 3 in\n%s", router, out)
		}
	}
	if !bytes.Contains(buf.Bytes(), []byte("all 4 routers answered identically: yes\n")) {
		t.Errorf("routers did not answer identically:\n%s", out)
	}
}

func TestEveryRouterDeniesTheBurstAlike(t *testing.T) {
	results, err := burstAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("got %d results, want 4", len(results))
	}
	// 5/m is GCRA with a burst of 5: the burst spends it at once, and the
	// next request is admitted one emission interval (60s/5 = 12s) after
	// the burst began, less the milliseconds it took, rounded up.
	want := map[string]string{
		"X-RateLimit-Limit":     "5",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "60",
		"RateLimit-Policy":      `"per-ip";q=5;w=60`,
		"RateLimit":             `"per-ip";r=0;t=12`,
		"Retry-After":           "12",
	}
	for _, r := range results {
		if r.sent != 8 || r.ok != 5 || r.denied != 3 {
			t.Errorf("%s: sent %d, 200 %d, 429 %d; want 8, 5, 3", r.router, r.sent, r.ok, r.denied)
		}
		for _, name := range fieldNames {
			if got := r.firstDenial.Get(name); got != want[name] {
				t.Errorf("%s: first 429 has %s %q, want %q", r.router, name, got, want[name])
			}
		}
	}
	if !identical(results) {
		t.Error("identical(results) = false, want true")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		results []result
		wantErr string
	}{
		{"five admitted and three denied pass", []result{{router: "chi", sent: 8, ok: 5, denied: 3}}, ""},
		{"a sixth admission fails", []result{{router: "gin", sent: 8, ok: 6, denied: 2}},
			"gin: 8 sent, 6 admitted, 2 denied; want 8, 5, 3"},
		{"another status fails", []result{{router: "echo", sent: 8, ok: 5, denied: 2}},
			"echo: 8 sent, 5 admitted, 2 denied; want 8, 5, 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.results)
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
