package rules_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

// TestHookEvent: an event names the rule and policy, carries a hash of the
// key (never the key, here an API key), the decision's remaining quota and
// the store call's latency.
func TestHookEvent(t *testing.T) {
	s, _ := store(t)
	var evs events
	e, err := rules.New(s, rules.Config{Rules: []rules.Rule{{Name: "api", Match: rules.Match{PathPrefixes: []string{"/"}},
		Limits: []rules.NamedLimit{{Name: "per-key", Limit: core.PerMinute(10), Key: "header:X-Api-Key"}}}}}, rules.WithHook(evs.hook))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	get(t, srv, "GET", "/x", "X-Api-Key", "secret-key-1")
	get(t, srv, "GET", "/x", "X-Api-Key", "secret-key-1")
	get(t, srv, "GET", "/x", "X-Api-Key", "secret-key-2")
	ev := evs.take()
	if len(ev) != 3 {
		t.Fatalf("%d events, want 3", len(ev))
	}
	for _, x := range ev {
		if x.Rule != "api" || x.Name != "per-key" || x.Outcome() != "allowed" || x.Latency <= 0 {
			t.Errorf("event %+v: want rule api, policy per-key, allowed, a latency", x)
		}
		if strings.Contains(x.Key, "secret") || !strings.HasPrefix(x.Key, "h:") || len(x.Key) != 18 {
			t.Errorf("event key %q: want h: and 16 hex digits, not the key", x.Key)
		}
	}
	if ev[0].Key != ev[1].Key || ev[0].Key == ev[2].Key {
		t.Errorf("keys %q %q %q: want one hash per key", ev[0].Key, ev[1].Key, ev[2].Key)
	}
	if ev[0].Decision.Remaining != 9 || ev[1].Decision.Remaining != 8 {
		t.Errorf("remaining %d, %d; want 9, 8", ev[0].Decision.Remaining, ev[1].Decision.Remaining)
	}
}

// TestSlogHook: decisions and the rules' own answers as log lines, without
// the key.
func TestSlogHook(t *testing.T) {
	s, _ := store(t)
	var buf bytes.Buffer
	logs, err := rules.SlogHook(slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rules.Config{
		Deny: rules.List{Keys: []rules.KeyValues{{Key: "header:X-Api-Key", Values: []string{"revoked"}}}},
		Rules: []rules.Rule{{Name: "api", Match: rules.Match{PathPrefixes: []string{"/"}},
			Limits: []rules.NamedLimit{{Name: "per-key", Limit: core.PerMinute(1), Key: "header:X-Api-Key"}}}},
	}
	e, err := rules.New(s, cfg, rules.WithHook(logs))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, e)
	get(t, srv, "GET", "/x", "X-Api-Key", "secret-key")
	get(t, srv, "GET", "/x", "X-Api-Key", "secret-key")
	get(t, srv, "GET", "/x", "X-Api-Key", "revoked")
	get(t, srv, "GET", "/x")
	out := buf.String()
	for _, want := range []string{"limiter=per-key", "outcome=denied", "limiter=deny-list/deny-listed", "limiter=api/no-key"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-key") {
		t.Errorf("the log holds a key:\n%s", out)
	}
	if strings.Contains(out, "outcome=allowed") {
		t.Errorf("allowed decisions logged without sloghook.WithAllowed:\n%s", out)
	}
}
