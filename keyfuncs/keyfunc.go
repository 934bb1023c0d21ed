package keyfuncs

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// KeyFunc returns the rate-limit key of a request, or an error when the key
// cannot be determined. It never returns an empty key with a nil error, so a
// request it cannot place never lands in a bucket shared by everyone.
type KeyFunc func(r *http.Request) (string, error)

var (
	// ErrNoKey is wrapped by every error saying a request's key cannot be
	// determined (header missing or repeated, address unparsable, …).
	// Callers answer such requests with a 4xx rather than limiting them
	// together.
	ErrNoKey = errors.New("keyfuncs: no key")
	// ErrKeyTooLong is wrapped when a header value is longer than the cap
	// given to Header. It too calls for a 4xx.
	ErrKeyTooLong = errors.New("keyfuncs: key too long")
)

// Header returns a KeyFunc whose key is the value of the request header name
// (an API key, a tenant id), at most maxLen bytes.
//
// The request is refused with an error wrapping ErrNoKey when the header is
// missing or empty, or when it is sent on several lines: the lines would be
// ambiguous, and a client could choose which one counts. A longer value is
// refused with ErrKeyTooLong, never truncated: truncation would put distinct
// clients in one bucket. Errors name the header but never quote its value,
// which may be a secret.
//
// Choose maxLen as the longest legitimate value: 64 to 256 bytes fits API
// keys, tenant ids and UUIDs. Stores cap whole keys (the core module's
// MaxKeyLen is 4096 bytes, prefix included). Header returns an error for an
// empty or invalid header name or a maxLen below 1.
//
// The value is the client's own text: key only by headers that an
// authentication step has checked, or every forged value is a fresh bucket.
// Where that step finds a principal (a user, an account, an OAuth client),
// key by the principal rather than by the credential: write a KeyFunc that
// reads the identity your authentication middleware stored in the request's
// context. A credential is a poor key: one principal holds several (tokens
// are reissued, and an Authorization field the authentication layer accepts
// can be written more than one way, such as the scheme's case), each a
// bucket of its own, and the key is then a secret that the store keeps.
func Header(name string, maxLen int) (KeyFunc, error) {
	if !isToken(name) {
		return nil, fmt.Errorf("keyfuncs: Header(%q): not a valid header name", name)
	}
	if maxLen < 1 {
		return nil, fmt.Errorf("keyfuncs: Header(%q, %d): maxLen must be at least 1", name, maxLen)
	}
	key := http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		if r == nil {
			return "", fmt.Errorf("%w: nil request", ErrNoKey)
		}
		vs := r.Header[key]
		switch {
		case len(vs) == 0 || len(vs) == 1 && vs[0] == "":
			return "", fmt.Errorf("%w: header %s missing or empty", ErrNoKey, key)
		case len(vs) > 1:
			return "", fmt.Errorf("%w: header %s sent on %d lines", ErrNoKey, key, len(vs))
		case len(vs[0]) > maxLen:
			return "", fmt.Errorf("%w: header %s is %d bytes, more than %d", ErrKeyTooLong, key, len(vs[0]), maxLen)
		}
		return vs[0], nil
	}, nil
}

// Path returns a KeyFunc whose key is the request's URL path ("/" when
// empty), decoded as net/http decodes it.
//
// Every distinct path is a bucket, and clients choose paths: key by Path only
// in combination with a client identity (see Compose), or prefer Pattern,
// whose keys are the routes you wrote.
func Path() KeyFunc {
	return func(r *http.Request) (string, error) {
		if r == nil || r.URL == nil {
			return "", fmt.Errorf("%w: request has no URL", ErrNoKey)
		}
		if r.URL.Path == "" {
			return "/", nil
		}
		return r.URL.Path, nil
	}
}

// Pattern returns a KeyFunc whose key is the http.ServeMux pattern that
// matched the request (Request.Pattern, such as "GET /users/{id}"), so that
// every user id shares one bucket.
//
// ServeMux sets the pattern just before calling the matched handler, so the
// limiting middleware must wrap that handler (mux.Handle(pattern,
// mw(handler))), not the mux. A request without a pattern is refused with an
// error wrapping ErrNoKey. Other routers' patterns are read by their
// adapters.
func Pattern() KeyFunc {
	return func(r *http.Request) (string, error) {
		if r == nil || r.Pattern == "" {
			return "", fmt.Errorf("%w: request has no ServeMux pattern (is the middleware inside the mux?)", ErrNoKey)
		}
		return r.Pattern, nil
	}
}

// Method returns a KeyFunc whose key is the request method ("GET" when
// empty, as net/http reads an empty method).
func Method() KeyFunc {
	return func(r *http.Request) (string, error) {
		if r == nil {
			return "", fmt.Errorf("%w: nil request", ErrNoKey)
		}
		if r.Method == "" {
			return http.MethodGet, nil
		}
		return r.Method, nil
	}
}

// Compose returns a KeyFunc whose key joins the keys of fns, in order.
//
// Each part is written as its length in bytes, a colon and the part, and
// parts are separated by "|": an IP and a path give "7:1.2.3.4|4:/api". The
// lengths make the join unambiguous, so ("a|b", "c") and ("a", "b|c") never
// share a key whatever the parts contain. The first error of a part is
// returned, wrapped with its index; a part returning an empty key with a nil
// error (breaking the KeyFunc contract) is refused with ErrNoKey.
//
// Compose returns an error when fns is empty or holds a nil func.
func Compose(fns ...KeyFunc) (KeyFunc, error) {
	if len(fns) == 0 {
		return nil, errors.New("keyfuncs: Compose: no key funcs")
	}
	for i, f := range fns {
		if f == nil {
			return nil, fmt.Errorf("keyfuncs: Compose: key func %d is nil", i)
		}
	}
	fns = slices.Clone(fns) // the caller may reuse its slice
	return func(r *http.Request) (string, error) {
		var partsBuf [4]string
		parts := partsBuf[:0]
		size := 0
		for i, f := range fns {
			k, err := f(r)
			if err != nil {
				return "", fmt.Errorf("keyfuncs: Compose part %d: %w", i, err)
			}
			if k == "" {
				return "", fmt.Errorf("%w: Compose part %d returned an empty key", ErrNoKey, i)
			}
			parts = append(parts, k)
			size += len(k) + 22 // "|", ":" and at most 20 digits
		}
		var b strings.Builder
		b.Grow(size)
		var num [20]byte
		for i, k := range parts {
			if i > 0 {
				b.WriteByte('|')
			}
			b.Write(strconv.AppendInt(num[:0], int64(len(k)), 10))
			b.WriteByte(':')
			b.WriteString(k)
		}
		return b.String(), nil
	}, nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the syntax
// of a header name. A name outside it could never match a parsed header.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
