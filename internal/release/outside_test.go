package main

import (
	"os"
	"strings"
	"testing"
)

// What a command writes to standard error (the go command's "go:
// downloading …" lines on a cold module cache) is not part of its output:
// read as go list's, such a line once failed the release check on a clean
// clone.
func TestRunKeepsStandardErrorOutOfTheOutput(t *testing.T) {
	out, err := command(t.TempDir(), os.Environ(), "sh", "-c", "echo out; echo 'go: downloading example.com/m v1.0.0' >&2")
	if err != nil {
		t.Fatal(err)
	}
	if out != "out\n" {
		t.Fatalf("output %q, want only the standard output", out)
	}
	_, err = command(t.TempDir(), os.Environ(), "sh", "-c", "echo partial; echo 'the reason' >&2; exit 3")
	if err == nil {
		t.Fatal("a command that failed: no error")
	}
	for _, want := range []string{"exit status 3", "partial", "the reason"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
