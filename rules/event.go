package rules

import (
	"context"
	"encoding/hex"
	"hash/maphash"
	"log/slog"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/sloghook"
)

// Event is one decision of a rule, for the hook set with WithHook.
// A hook receives Events the Engine fills in; the zero value describes no
// decision.
type Event struct {
	// Rule is the rule's name.
	Rule string
	// Event is the limiter's decision: its Name (the limit's), Decision (allowed,
	// denied, shadow-denied, penalty), Err and store Latency. Its Key is a
	// keyed hash of the client's key ("h:" and 16 hex digits), the same for
	// the same key within one process, and never the key itself, which may
	// be a credential.
	core.Event
	// Answer is set for a request answered by the rules themselves, with no
	// decision of a limit: "deny-listed", or "no-key" for a request a rule
	// could not key and denied.
	Answer string
}

// Outcome names what became of the request: "allowed", "denied",
// "shadow-denied", "penalty", "error", or the Answer.
func (e Event) Outcome() string {
	if e.Answer != "" {
		return e.Answer
	}
	return e.Event.Outcome()
}

// keyHasher hashes keys for events, with a seed of its own.
type keyHasher struct{ seed maphash.Seed }

func newKeyHasher() *keyHasher { return &keyHasher{seed: maphash.MakeSeed()} }

func (h *keyHasher) hash(key string) string {
	if key == "" {
		return ""
	}
	sum := maphash.String(h.seed, key)
	var b [18]byte
	b[0], b[1] = 'h', ':'
	var raw [8]byte
	for i := range raw {
		raw[i] = byte(sum >> (56 - 8*i))
	}
	hex.Encode(b[2:], raw[:])
	return string(b[:])
}

// SlogHook returns a hook for WithHook that logs decisions with
// sloghook.New (which takes opts): one structured line per decision,
// rate-limited itself. Limit names are unique in a Config, so the limiter
// attribute names the limit, and so the rule; an answer of the rules is
// logged under the name "RULE/ANSWER". Allowed decisions are logged only
// with sloghook.WithAllowed.
func SlogHook(logger *slog.Logger, opts ...sloghook.Option) (func(context.Context, Event), error) {
	logs, err := sloghook.New(logger, opts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev Event) {
		if ev.Answer != "" {
			// No limiter decided: the rules answered. Shown as an error
			// decision of the rule, whose name says which answer.
			ev.Event.Name = ev.Rule + "/" + ev.Answer
		}
		logs(ctx, ev.Event)
	}, nil
}
