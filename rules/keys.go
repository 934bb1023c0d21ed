package rules

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// This file reads the key specs of a rules file ("ip", "header:NAME",
// "route", "path", "method", joined by "+"): the YAML vocabulary of the
// keyfuncs funcs. Each source is a keyfuncs func, several are joined by
// keyfuncs.Compose, and a rule's fallback key is a keyfuncs.FirstOf, so a
// key read here is the key the same funcs give in Go.

// maxKey is the longest key a spec gives, and the longest value of each of
// its sources: half of core.MaxKeyLen, leaving room for any prefix. A longer
// one is a missing key (the rule's Missing says what follows), never cut
// into another client's bucket.
const maxKey = core.MaxKeyLen / 2

// keySpec is a compiled NamedLimit.Key.
type keySpec struct {
	text  string           // as written
	canon string           // the sources, canonical: specs with one canon key alike
	fn    keyfuncs.KeyFunc // reads the key
	route bool             // a source is the route
}

// parseKey compiles a key spec: ip keys through res, a header's value is
// at most maxHeader bytes.
func parseKey(spec string, maxHeader int, res *keyfuncs.IPResolver) (*keySpec, error) {
	if spec == "" {
		return nil, errors.New("empty: want ip, header:NAME, route, path or method, joined by +")
	}
	k := &keySpec{text: spec}
	var fns []keyfuncs.KeyFunc
	var canon []string
	for _, p := range strings.Split(spec, "+") {
		p = strings.TrimSpace(p)
		name, arg, hasArg := strings.Cut(p, ":")
		var fn keyfuncs.KeyFunc
		switch name = strings.ToLower(name); name {
		case "ip":
			fn = res.Key
		case "header":
			var err error
			if fn, err = keyfuncs.Header(arg, maxHeader); !hasArg || err != nil {
				return nil, fmt.Errorf("%q: want header:NAME with a valid header name", p)
			}
			name, hasArg = "header:"+http.CanonicalHeaderKey(arg), false
		case "route":
			fn, k.route = keyfuncs.Pattern(), true
		case "path":
			fn = keyfuncs.Path()
		case "method":
			fn = keyfuncs.Method()
		default:
			return nil, fmt.Errorf("%q: unknown key source (want ip, header:NAME, route, path or method)", p)
		}
		if hasArg {
			return nil, fmt.Errorf("%q: %s takes no argument", p, name)
		}
		fns = append(fns, capped(fn))
		canon = append(canon, name)
	}
	if len(fns) > 4 {
		return nil, fmt.Errorf("%d sources: at most 4", len(fns))
	}
	k.canon = strings.Join(canon, "+")
	if len(fns) == 1 {
		k.fn = fns[0] // one source is its value as it stands
		return k, nil
	}
	fn, err := keyfuncs.Compose(fns...)
	if err != nil {
		return nil, err // not reached: fns holds 2 to 4 funcs
	}
	k.fn = capped(fn)
	return k, nil
}

// capped refuses the keys of fn longer than maxKey, with an error wrapping
// keyfuncs.ErrNoKey.
func capped(fn keyfuncs.KeyFunc) keyfuncs.KeyFunc {
	return func(r *http.Request) (string, error) {
		k, err := fn(r)
		if err == nil && len(k) > maxKey {
			return "", fmt.Errorf("%w: rules: a key of %d bytes, more than %d", keyfuncs.ErrNoKey, len(k), maxKey)
		}
		return k, err
	}
}

// orElse returns the key func of spec, falling back to the fallback spec
// (if any) when spec finds no key: keyfuncs.FirstOf, so that the two never
// share a bucket, whatever a client sends.
func orElse(spec, fallback *keySpec) (keyfuncs.KeyFunc, bool) {
	if fallback == nil {
		return spec.fn, spec.route
	}
	fn, err := keyfuncs.FirstOf(spec.fn, fallback.fn)
	if err != nil {
		return spec.fn, spec.route // not reached: both funcs are set
	}
	return fn, spec.route || fallback.route
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// request is what a request's rules read more than once: its client IP,
// resolved when first needed, and the request its keys are read from.
type request struct {
	r      *http.Request
	route  string
	res    *keyfuncs.IPResolver
	ipDone bool
	ip     netip.Addr
	ipErr  error
	routed *http.Request // r with Pattern set to route, made when first needed
}

func (q *request) clientIP() (netip.Addr, error) {
	if !q.ipDone {
		q.ip, q.ipErr = q.res.ClientIP(q.r)
		q.ipDone = true
	}
	return q.ip, q.ipErr
}

// keyed returns the request a key func reads: r itself, or, for a func
// that reads the route (keyfuncs.Pattern reads Request.Pattern) when the
// adapter's router is not a ServeMux, a shallow copy of r whose Pattern is
// the route the adapter passed.
func (q *request) keyed(route bool) *http.Request {
	if !route || q.r.Pattern == q.route {
		return q.r
	}
	if q.routed == nil {
		r := *q.r
		r.Pattern = q.route
		q.routed = &r
	}
	return q.routed
}

// key reads the key of spec.
func (k *keySpec) key(q *request) (string, error) {
	return k.fn(q.keyed(k.route))
}
