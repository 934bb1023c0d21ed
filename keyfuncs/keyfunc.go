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
// request it cannot place never lands in a bucket shared by everyone. An
// error saying the request carries no key wraps ErrNoKey; any other error
// (a lookup that failed) is the key func's own.
//
// KeyFunc is the one key type of tollgate: the adapters' and
// core/httplimit's options take it, and the rules module compiles its key
// specs to it. The zero value is nil, which no option accepts.
type KeyFunc func(r *http.Request) (string, error)

var (
	// ErrNoKey is wrapped by every error saying a request's key cannot be
	// determined (header missing, repeated or too long, address
	// unparsable, …), whether the key func, Compose, FirstOf, a limit's
	// gate (core/httplimit) or the rules module says so. Callers answer
	// such requests with a 4xx rather than limiting them together.
	ErrNoKey = errors.New("keyfuncs: no key")
	// ErrKeyTooLong is wrapped when a header value is longer than the cap
	// given to Header. It wraps ErrNoKey: a value too long to be a key is
	// no key, and it too calls for a 4xx.
	ErrKeyTooLong = fmt.Errorf("%w: too long", ErrNoKey)
)

// Header returns a KeyFunc whose key is the value of the request header name
// (an API key, a tenant id), at most maxLen bytes.
//
// The request is refused with an error wrapping ErrNoKey when the header is
// missing or empty, or when it is sent on several lines: the lines would be
// ambiguous, and a client could choose which one counts. A longer value is
// refused with ErrKeyTooLong (which wraps ErrNoKey), never truncated:
// truncation would put distinct clients in one bucket. Errors name the header but never quote its value,
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

// Compose returns a KeyFunc whose key joins the keys of fns, in order, as
// Join does: an IP and a path give "7:1.2.3.4|4:/api", and no choice of
// parts makes two joins equal. The first error of a part is returned,
// wrapped with its index; a part returning an empty key with a nil error
// (breaking the KeyFunc contract) is refused with ErrNoKey.
//
// Compose returns an error when fns is empty or holds a nil func.
func Compose(fns ...KeyFunc) (KeyFunc, error) {
	fns, err := checkFuncs("Compose", fns)
	if err != nil {
		return nil, err
	}
	return func(r *http.Request) (string, error) {
		var partsBuf [4]string
		parts := partsBuf[:0]
		for i, f := range fns {
			k, err := f(r)
			if err != nil {
				return "", fmt.Errorf("keyfuncs: Compose part %d: %w", i, err)
			}
			if k == "" {
				return "", fmt.Errorf("%w: Compose part %d returned an empty key", ErrNoKey, i)
			}
			parts = append(parts, k)
		}
		return Join(parts...), nil
	}, nil
}

// FirstOf returns a KeyFunc that tries fns in order and keys a request by
// the first that finds a key: per API key, say, and by client address for
// requests without one.
//
//	byKey, err := keyfuncs.Header("X-API-Key", 128)
//	key, err := keyfuncs.FirstOf(byKey, new(keyfuncs.IPResolver).Key)
//
// (The zero IPResolver keys by the connection's address; see NewIPResolver
// for one that trusts your proxies.)
//
// Keys are namespaced by the place of the func that found them: the key k
// found by fns[i] is Join(strconv.Itoa(i), k) ("1:0|6:k-8f2a", "1:1|9:192.0.2.1"),
// so an API key "192.0.2.1" and the client address 192.0.2.1 never share a
// bucket. Reordering fns therefore moves every client to a new bucket.
//
// A func whose error wraps ErrNoKey (or that returns an empty key) passes
// the request to the next. Any other error stops the walk and is returned,
// wrapped with the func's index: a failed lookup (an identity service that
// is down) is not an absent key, and falling back would key the client as
// someone it is not. When no func finds a key, the error wraps ErrNoKey and
// the last func's error.
//
// FirstOf returns an error when fns is empty or holds a nil func.
func FirstOf(fns ...KeyFunc) (KeyFunc, error) {
	fns, err := checkFuncs("FirstOf", fns)
	if err != nil {
		return nil, err
	}
	return func(r *http.Request) (string, error) {
		var last error
		for i, f := range fns {
			k, err := f(r)
			switch {
			case err == nil && k != "":
				var num [20]byte
				return Join(string(strconv.AppendInt(num[:0], int64(i), 10)), k), nil
			case err == nil:
				last = fmt.Errorf("%w: FirstOf func %d returned an empty key", ErrNoKey, i)
			case errors.Is(err, ErrNoKey):
				last = err
			default:
				return "", fmt.Errorf("keyfuncs: FirstOf func %d: %w", i, err)
			}
		}
		if len(fns) == 1 {
			return "", last
		}
		return "", fmt.Errorf("keyfuncs: FirstOf: none of %d key funcs found a key; the last: %w", len(fns), last)
	}, nil
}

// checkFuncs refuses an empty list or a nil func, and returns a copy the
// caller cannot change.
func checkFuncs(name string, fns []KeyFunc) ([]KeyFunc, error) {
	if len(fns) == 0 {
		return nil, fmt.Errorf("keyfuncs: %s: no key funcs", name)
	}
	for i, f := range fns {
		if f == nil {
			return nil, fmt.Errorf("keyfuncs: %s: key func %d is nil", name, i)
		}
	}
	return slices.Clone(fns), nil
}

// Join returns parts joined into one key that no other list of parts gives:
// each part is written as its length in bytes, a colon and the part, and
// parts are separated by "|" ("7:1.2.3.4|4:/api"). The lengths make the join
// unambiguous, so ("a|b", "c") and ("a", "b|c") never share a key whatever
// the parts contain. It is the one join of tollgate: Compose, FirstOf, the
// route key of core/httplimit and the rules module join keys with it.
func Join(parts ...string) string {
	var buf [128]byte // most keys fit: one allocation, the string's
	return string(AppendJoin(buf[:0], parts...))
}

// AppendJoin appends Join(parts...) to dst and returns the extended buffer,
// as append does: for a caller that builds keys in a buffer of its own.
func AppendJoin(dst []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			dst = append(dst, '|')
		}
		dst = strconv.AppendInt(dst, int64(len(p)), 10)
		dst = append(dst, ':')
		dst = append(dst, p...)
	}
	return dst
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
