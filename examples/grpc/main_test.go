package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunShowsDenialsAndAClientThatWaits(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []*regexp.Regexp{
		// Part 1: the fifth admitted, the sixth refused with a 12s wait.
		regexp.MustCompile(`(?m)^5\s+OK\s+-\s+-\s+"per-ip";r=0;t=60$`),
		regexp.MustCompile(`(?m)^6\s+ResourceExhausted\s+12s\s+12\s+"per-ip";r=0;t=12$`),
		regexp.MustCompile(`(?m)^admitted 5, refused 3$`),
		// Part 2: every call admitted.
		regexp.MustCompile(`(?m)^admitted 4 of 4 in `),
		// Part 3: returned at once, then held.
		regexp.MustCompile(`(?m)^returned at once: ResourceExhausted, wait [\d.]+s: quota exceeded; retry after \d+ seconds$`),
		regexp.MustCompile(`(?m)^the next call: ResourceExhausted, held by the client after a denial; sent to the server: false$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("no line matching %s in\n%s", want, out)
		}
	}
}

func TestCheck(t *testing.T) {
	good := report{admitted: 5, refused: 3, pacedOK: 4, pacedTook: 1600 * time.Millisecond, wait: 10 * time.Second}
	for _, c := range []struct {
		name string
		edit func(*report)
		want string
	}{
		{"what the limits call for passes", func(*report) {}, ""},
		{"a sixth admission fails", func(r *report) { r.admitted, r.refused = 6, 2 }, "part 1: 6 admitted, 2 refused; want 5, 3"},
		{"a paced call refused fails", func(r *report) { r.pacedOK = 3 }, "part 2: 3 of 4 admitted"},
		{"paced calls too fast fail", func(r *report) { r.pacedTook = time.Second }, "in at least 1.5s"},
		{"a wait within the budget fails", func(r *report) { r.wait = time.Second }, "part 3: a wait of 1s"},
		{"a held call sent fails", func(r *report) { r.heldSent = true }, "the held call reached the server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good
			c.edit(&r)
			err := check(r)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("check = %v, want %q", err, c.want)
			}
		})
	}
}
