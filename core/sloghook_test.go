package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestSlogHookLogsDenialsWithAHashedKeyAndAtABoundedRate(t *testing.T) {
	var buf bytes.Buffer
	clock := core.NewManualClock(t0)
	hook, err := core.SlogHook(slog.New(slog.NewJSONHandler(&buf, nil)),
		core.WithLogRate(core.Limit{Rate: 2, Period: time.Second}), core.WithLogClock(clock), core.WithLogKeySecret([]byte("s")))
	if err != nil {
		t.Fatal(err)
	}
	s := newMapStore(core.NewManualClock(t0))
	l := newLimiter(t, s, core.PerMinute(1), core.WithName("login"), core.WithHook(hook))
	const key = "203.0.113.9"
	for i := 0; i < 6; i++ { // 1 admitted (not logged), then 5 denials
		l.Take(context.Background(), key)
	}
	lines := logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("%d lines for 5 denials at 2 a second, want 2:\n%s", len(lines), buf.String())
	}
	l0 := lines[0]
	if l0["limiter"] != "login" || l0["outcome"] != "denied" || l0["remaining"] != float64(0) || l0["retry_after"] == nil || l0["key_hash"] == "" {
		t.Fatalf("first line %v", l0)
	}
	if strings.Contains(buf.String(), key) {
		t.Fatalf("the raw key is in the log:\n%s", buf.String())
	}
	// A second later the hook may log again, and says what it dropped.
	clock.Advance(time.Second)
	l.Take(context.Background(), key)
	lines = logLines(t, &buf)
	if last := lines[len(lines)-1]; last["dropped"] != float64(3) {
		t.Fatalf("line after the drops: %v, want dropped 3", last)
	}
	// The same secret gives the same hash: instances can correlate.
	if lines[0]["key_hash"] != lines[1]["key_hash"] {
		t.Fatal("one key, two hashes")
	}
}

func TestSlogHookOutcomes(t *testing.T) {
	var buf bytes.Buffer
	hook, err := core.SlogHook(slog.New(slog.NewJSONHandler(&buf, nil)), core.WithLogAllowed())
	if err != nil {
		t.Fatal(err)
	}
	m := newMapStore(core.NewManualClock(t0))
	shadow := newLimiter(t, m, core.PerMinute(1), core.WithName("new"), core.WithShadow(), core.WithHook(hook))
	shadow.Take(context.Background(), "k")
	shadow.Take(context.Background(), "k")
	m.err = errors.New("store down")
	open := newLimiter(t, m, core.PerMinute(1), core.WithName("open"), core.WithHook(hook))
	open.Take(context.Background(), "k")
	var got []string
	for _, l := range logLines(t, &buf) {
		got = append(got, l["limiter"].(string)+":"+l["outcome"].(string))
	}
	want := []string{"new:allowed", "new:shadow-denied", "open:error"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if !strings.Contains(buf.String(), `"level":"WARN"`) || !strings.Contains(buf.String(), "store down") {
		t.Fatalf("the store failure is not a warning with its error:\n%s", buf.String())
	}
	if _, err := core.SlogHook(nil); err == nil {
		t.Fatal("a nil logger was accepted")
	}
	if _, err := core.SlogHook(slog.Default(), core.WithLogRate(core.Limit{})); !errors.Is(err, core.ErrInvalidLimit) {
		t.Fatalf("an invalid log rate: %v, want ErrInvalidLimit", err)
	}
}
