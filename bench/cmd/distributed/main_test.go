package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickRun runs the command's short form against a redis-server it
// starts: no case over-admits (run fails if one does), and the report has
// its headline and every case.
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
		"| even | 2 | consistent | 2000 / 2000 |",
		"| even | 2 | lease |",
		"| skewed 90/10 | 2 | batched |",
		"## Throughput (one instance)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q:\n%s", want, doc)
		}
	}
}
