package opspage

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

// maxForm bounds the body of a change: a policy or rule name and a key.
const maxForm = 16 << 10

// actionTimeout bounds the store calls of a change.
const actionTimeout = 10 * time.Second

// httpError is an answer to a change that failed: its status and what to
// tell the operator (never a key's value, which may be a credential).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, msg string) error { return &httpError{status, msg} }

// act serves a POST: a reset of a client's quota under one policy
// (action=reset, policy, and key or hash) or a release from a rule's
// penalty box (action=release, rule, and key or hash). The key is given as
// the limiter takes it (key), or by the hash the page shows for a client
// it lists (hash).
func (p *Page) act(w http.ResponseWriter, r *http.Request) {
	// Refused before anything is read: a request that may not change
	// anything learns nothing either.
	if !p.writable(r) {
		p.answer(w, r, fail(http.StatusForbidden, "This page is read-only for you: no change was made."), "")
		return
	}
	if err := p.cop.Check(r); err != nil {
		p.answer(w, r, fail(http.StatusForbidden, "A change from another site is refused: no change was made."), "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.answer(w, r, fail(http.StatusBadRequest, "The form could not be read."), "")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	var err error
	switch action := r.PostForm.Get("action"); action {
	case "reset":
		err = p.reset(ctx, r.PostForm.Get("policy"), r.PostForm.Get("key"), r.PostForm.Get("hash"))
	case "release":
		err = p.release(ctx, r.PostForm.Get("rule"), r.PostForm.Get("key"), r.PostForm.Get("hash"))
	default:
		err = fail(http.StatusBadRequest, "Unknown action: want reset or release.")
	}
	p.answer(w, r, err, r.PostForm.Get("action"))
}

// reset gives a client its quota back under the policy named policy.
func (p *Page) reset(ctx context.Context, policy, key, hash string) error {
	l, err := p.limiter(policy)
	if err != nil {
		return err
	}
	if key, err = p.keyOf(key, hash, func(h string) (string, bool) { return p.denied.find(policy, h, p.Hash) }); err != nil {
		return err
	}
	if err := l.Reset(ctx, key); err != nil {
		return storeError(err)
	}
	return nil
}

// limiter returns the limiter of the policy named name: one given to
// Limiters, else a rate limit of the rules in force.
func (p *Page) limiter(name string) (*core.Limiter, error) {
	if name == "" {
		return nil, fail(http.StatusBadRequest, "No policy named: say which policy to reset the key under.")
	}
	p.mu.Lock()
	engine := p.engine
	for _, l := range p.limiters {
		if l.Name() == name {
			p.mu.Unlock()
			return l, nil
		}
	}
	p.mu.Unlock()
	if engine != nil {
		if l := engine.Limiter(name); l != nil {
			return l, nil
		}
	}
	return nil, fail(http.StatusBadRequest, "Unknown policy: no limit in force has that name (a concurrency limit has no quota to reset).")
}

// release lets a client out of the penalty box of the rule named rule.
func (p *Page) release(ctx context.Context, rule, key, hash string) error {
	p.mu.Lock()
	engine := p.engine
	p.mu.Unlock()
	if rule == "" {
		return fail(http.StatusBadRequest, "No rule named: say which rule's penalty box to release the key from.")
	}
	if engine == nil {
		return fail(http.StatusBadRequest, "Unknown rule: the page shows no rules.")
	}
	cfg := engine.Config()
	first, ok := boxFirstOf(&cfg, rule)
	if !ok {
		return fail(http.StatusBadRequest, "Unknown rule: no rule in force with a penalty box has that name.")
	}
	key, err := p.keyOf(key, hash, func(h string) (string, bool) { return p.boxedKey(first, h) })
	if err != nil {
		return err
	}
	if err := engine.ReleaseBox(ctx, rule, key); err != nil {
		if errors.Is(err, rules.ErrNoBox) {
			return fail(http.StatusBadRequest, "Unknown rule: no rule in force with a penalty box has that name.")
		}
		return storeError(err)
	}
	p.boxed.remove(first, key)
	return nil
}

// boxFirstOf returns the policy whose key the box of the rule named rule
// is keyed by, if that rule is in force with a box.
func boxFirstOf(cfg *rules.Config, rule string) (string, bool) {
	for policy, r := range boxFirsts(cfg) {
		if r == rule {
			return policy, true
		}
	}
	return "", false
}

// boxedKey finds the key of policy in the boxed table by its hash.
func (p *Page) boxedKey(policy, h string) (string, bool) {
	for _, b := range p.boxed.open(p.clock.Now()) {
		if b.policy == policy && p.Hash(b.key) == h {
			return b.key, true
		}
	}
	return "", false
}

// keyOf returns the key a change names: key itself, or the client the page
// lists whose hash is hash (found by find). Exactly one must be given.
func (p *Page) keyOf(key, hash string, find func(string) (string, bool)) (string, error) {
	switch {
	case key != "" && hash != "":
		return "", fail(http.StatusBadRequest, "Malformed key: give a key or a hash, not both.")
	case key != "":
		if len(key) > core.MaxKeyLen {
			return "", fail(http.StatusBadRequest, "Malformed key: longer than a key can be.")
		}
		return key, nil
	case hash == "":
		return "", fail(http.StatusBadRequest, "Malformed key: none given (a key, or the hash the page shows).")
	case !validHash(hash):
		return "", fail(http.StatusBadRequest, "Malformed key: a hash is h: and 16 hex digits.")
	}
	k, ok := find(hash)
	if !ok {
		return "", fail(http.StatusNotFound, "No client with that hash is listed under that name any more: give its key.")
	}
	return k, nil
}

func validHash(h string) bool {
	if len(h) != 18 || !strings.HasPrefix(h, "h:") {
		return false
	}
	for i := 2; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// storeError is the answer to a reset or release the store could not do.
func storeError(err error) error {
	switch {
	case errors.Is(err, core.ErrInvalidKey):
		return fail(http.StatusBadRequest, "Malformed key: "+err.Error())
	case errors.Is(err, core.ErrNoReset):
		return fail(http.StatusNotImplemented, "The store cannot reset keys.")
	}
	return fail(http.StatusServiceUnavailable, "The store failed: "+err.Error())
}
