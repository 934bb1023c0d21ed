package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tollgate-go/tollgate/core"
)

// This file is what an operator's tools read of an Engine: the rules in
// force, their limiters, the last reload; and what they do: let a client
// out of a rule's penalty box.

// ErrNoBox is returned by ReleaseBox for a rule that is not in force or has
// no penalty.
var ErrNoBox = errors.New("rules: no such penalty box")

// Config returns the rules in force, as the Config that made them: a copy,
// so changing it changes nothing (Replace applies a changed one). The
// allow and deny lists hold their values as given, which may be
// credentials (API keys): show them only to whom may see them.
func (e *Engine) Config() Config { return e.cur.Load().cfg.clone() }

// Limiter returns the limiter of the rate limit in force named name
// (NamedLimit.Name), for operators' tools: Limiter.Reset gives a client its
// quota back, the key as the limit's key spec reads it (the client IP for
// "ip"). It returns nil when no limit in force has that name, or when it is
// a concurrency limit. A reload makes new limiters (their counts, in the
// store, carry over): ask again rather than keep one.
func (e *Engine) Limiter(name string) *core.Limiter { return e.cur.Load().byLimit[name] }

// ReleaseBox lets the client key out of the penalty box of the rule in
// force named rule (see core.ReleaseBox): key is the client's key as the
// rule's first limit reads it, the one its box is keyed by. It returns an
// error wrapping ErrNoBox when no rule in force has that name and a
// penalty, and core.ReleaseBox's errors.
func (e *Engine) ReleaseBox(ctx context.Context, rule, key string) error {
	c := e.cur.Load()
	i, ok := c.byRule[rule]
	if !ok || c.rules[i].penalty == nil || c.rules[i].skip {
		return fmt.Errorf("%w: rule %q", ErrNoBox, rule)
	}
	if key == "" {
		return fmt.Errorf("rules: release from the box of rule %q: %w", rule, core.ErrInvalidKey)
	}
	return core.ReleaseBox(ctx, e.store, string(appendBoxKey(nil, rule, key)))
}

// LastReload returns the last read of the rules file: Load's, then each
// Reload's and each change the watcher (WithWatch) read, whether the file
// replaced the rules (Err nil) or was refused (the rules in force stay).
// It reports false for an Engine made by New, which reads no file.
func (e *Engine) LastReload() (ReloadEvent, bool) {
	ev := e.lastReload.Load()
	if ev == nil {
		return ReloadEvent{}, false
	}
	return *ev, true
}

// clone copies c deeply: the Engine keeps a Config no caller can change.
func (c *Config) clone() Config {
	out := *c
	out.Allow, out.Deny = c.Allow.clone(), c.Deny.clone()
	out.Rules = slices.Clone(c.Rules)
	for i := range out.Rules {
		r := &out.Rules[i]
		m := &r.Match
		m.Methods, m.PathPrefixes, m.Routes = slices.Clone(m.Methods), slices.Clone(m.PathPrefixes), slices.Clone(m.Routes)
		m.Headers, m.CIDRs = slices.Clone(m.Headers), slices.Clone(m.CIDRs)
		r.Limits = slices.Clone(r.Limits)
		for j := range r.Limits {
			r.Limits[j].Tiers = maps.Clone(r.Limits[j].Tiers)
		}
		if r.Penalty != nil {
			p := *r.Penalty
			r.Penalty = &p
		}
	}
	return out
}

func (l List) clone() List {
	out := List{CIDRs: slices.Clone(l.CIDRs), Keys: slices.Clone(l.Keys)}
	for i := range out.Keys {
		out.Keys[i].Values = slices.Clone(out.Keys[i].Values)
	}
	return out
}
