package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestQuickRun runs the command's short form against a redis-server it
// starts: no case over-admits (run fails if one does), and the report has
// its headline and every case. Consistent and batched mode decide every
// request in Redis, so each admits exactly what was asked of it, up to the
// quota: all of the quota when the instances demanded more, all of the
// demand when a busy machine could not send that much (admitted 1,765 of a
// demand of 1,765 is as exact as 2,000 of 4,000). Lease mode may leave
// tokens unused, never more than the quota.
func TestQuickRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "DISTRIBUTED.md")
	var log bytes.Buffer
	if err := run(context.Background(), &log, config{quick: true, out: out}); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, want := range []string{
		"| no over-admission, any mode | 0 requests over the quota in 6 cases | ✅ |",
		"## Throughput (one instance)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
	row := regexp.MustCompile(`(?m)^\| (even|skewed 90/10) \| 2 \| (consistent|batched|lease) \| (\d+) / 2000 \| (\d+) \| ([0-9.]+)% \|`)
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		shape, mode, over, under := m[1], m[2], m[4], m[5]
		seen[shape+"/"+mode] = true
		if over != "0" {
			t.Errorf("%s, %s: %s over the quota", shape, mode, over)
		}
		if mode != "lease" && under != "0.0" {
			t.Errorf("%s, %s: admitted %s of 2,000, %s%% under what was demanded; a mode that decides every request in Redis admits all of it", shape, mode, m[3], under)
		}
	}
	for _, shape := range []string{"even", "skewed 90/10"} {
		for _, mode := range []string{"consistent", "batched", "lease"} {
			if !seen[shape+"/"+mode] {
				t.Errorf("report lacks the case %s, N=2, %s:\n%s", shape, mode, doc)
			}
		}
	}
}
