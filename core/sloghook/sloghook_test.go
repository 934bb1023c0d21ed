package sloghook_test

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
	"github.com/tollgate-go/tollgate/core/sloghook"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

var t0 = time.Unix(1e9, 0)

// failingStore is a Store that cannot decide, as a store that is down.
type failingStore struct{ err error }

func (f failingStore) Take(context.Context, string, core.Limit, int64) (core.Decision, error) {
	return core.Decision{}, f.err
}
func (failingStore) Close() error { return nil }

func newStore(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.WithClock(core.NewManualClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newLimiter(t *testing.T, s core.Store, l core.Limit, opts ...core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.NewLimiter(s, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

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

func TestHookLogsDenialsWithAHashedKeyAndAtABoundedRate(t *testing.T) {
	var buf bytes.Buffer
	clock := core.NewManualClock(t0)
	hook, err := sloghook.New(slog.New(slog.NewJSONHandler(&buf, nil)),
		sloghook.WithRate(core.Limit{Rate: 2, Period: time.Second}), sloghook.WithClock(clock), sloghook.WithKeySecret([]byte("s")))
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(t, newStore(t), core.PerMinute(1), core.WithName("login"), core.WithHook(hook))
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

func TestHookOutcomes(t *testing.T) {
	var buf bytes.Buffer
	hook, err := sloghook.New(slog.New(slog.NewJSONHandler(&buf, nil)), sloghook.WithAllowed())
	if err != nil {
		t.Fatal(err)
	}
	shadow := newLimiter(t, newStore(t), core.PerMinute(1), core.WithName("new"), core.WithShadow(), core.WithHook(hook))
	shadow.Take(context.Background(), "k")
	shadow.Take(context.Background(), "k")
	open := newLimiter(t, failingStore{errors.New("store down")}, core.PerMinute(1), core.WithName("open"), core.WithHook(hook))
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
}

// New refuses what would fail later, with an error naming the field.
func TestNewRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		name   string
		logger *slog.Logger
		opts   []sloghook.Option
		want   error // nil: any error
		msg    string
	}{
		{"nil logger", nil, nil, nil, "sloghook: nil logger"},
		{"invalid rate", slog.Default(), []sloghook.Option{sloghook.WithRate(core.Limit{})}, core.ErrInvalidLimit, "sloghook: rate: core: invalid limit: rate"},
		{"nil clock", slog.Default(), []sloghook.Option{sloghook.WithClock(nil)}, nil, "sloghook: clock: nil"},
	} {
		hook, err := sloghook.New(c.logger, c.opts...)
		if err == nil || hook != nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("%s: hook %v, error %v; want no hook and an error starting %q", c.name, hook != nil, err, c.msg)
		}
	}
}
