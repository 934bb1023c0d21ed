package rules

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// errMissing is wrapped by every error saying a request's key is missing.
var errMissing = errors.New("rules: request has no key")

type partKind uint8

const (
	partIP partKind = iota
	partHeader
	partRoute
	partPath
	partMethod
)

type keyPart struct {
	kind   partKind
	header string // canonical, for partHeader
}

// keySpec is a compiled NamedLimit.Key.
type keySpec struct {
	text  string
	parts []keyPart
	max   int // the cap on a header value
}

// parseKey compiles a key spec.
func parseKey(spec string, maxHeader int) (*keySpec, error) {
	if spec == "" {
		return nil, errors.New("empty: want ip, header:NAME, route, path or method, joined by +")
	}
	k := &keySpec{text: spec, max: maxHeader}
	for _, p := range strings.Split(spec, "+") {
		p = strings.TrimSpace(p)
		name, arg, hasArg := strings.Cut(p, ":")
		var part keyPart
		switch strings.ToLower(name) {
		case "ip":
			part.kind = partIP
		case "header":
			if !hasArg || !validHeaderName(arg) {
				return nil, fmt.Errorf("%q: want header:NAME with a valid header name", p)
			}
			part = keyPart{kind: partHeader, header: http.CanonicalHeaderKey(arg)}
			hasArg = false
		case "route":
			part.kind = partRoute
		case "path":
			part.kind = partPath
		case "method":
			part.kind = partMethod
		default:
			return nil, fmt.Errorf("%q: unknown key source (want ip, header:NAME, route, path or method)", p)
		}
		if hasArg {
			return nil, fmt.Errorf("%q: %s takes no argument", p, name)
		}
		k.parts = append(k.parts, part)
	}
	if len(k.parts) > 4 {
		return nil, fmt.Errorf("%d sources: at most 4", len(k.parts))
	}
	return k, nil
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

func (k *keySpec) uses(kind partKind) bool {
	for _, p := range k.parts {
		if p.kind == kind {
			return true
		}
	}
	return false
}

// request is what a request's rules read more than once: its client IP,
// resolved when first needed.
type request struct {
	r       *http.Request
	route   string
	res     *keyfuncs.IPResolver
	ipDone  bool
	ip      netip.Addr
	ipErr   error
	keyDone bool
	ipKey   string
	keyErr  error
}

func (q *request) clientIP() (netip.Addr, error) {
	if !q.ipDone {
		q.ip, q.ipErr = q.res.ClientIP(q.r)
		q.ipDone = true
	}
	return q.ip, q.ipErr
}

func (q *request) ipKeyOf() (string, error) {
	if !q.keyDone {
		q.ipKey, q.keyErr = q.res.Key(q.r)
		q.keyDone = true
	}
	return q.ipKey, q.keyErr
}

// part reads one source of a request's key.
func (k *keySpec) part(q *request, p keyPart) (string, error) {
	switch p.kind {
	case partIP:
		return q.ipKeyOf()
	case partHeader:
		vs := q.r.Header[p.header]
		switch {
		case len(vs) == 0 || len(vs) == 1 && vs[0] == "":
			return "", fmt.Errorf("%w: header %s missing or empty", errMissing, p.header)
		case len(vs) > 1:
			return "", fmt.Errorf("%w: header %s sent on %d lines", errMissing, p.header, len(vs))
		case len(vs[0]) > k.max:
			return "", fmt.Errorf("%w: header %s is %d bytes, more than %d", errMissing, p.header, len(vs[0]), k.max)
		}
		return vs[0], nil
	case partRoute:
		if q.route == "" {
			return "", fmt.Errorf("%w: no route matched", errMissing)
		}
		return q.route, nil
	case partPath:
		if q.r.URL == nil || q.r.URL.Path == "" {
			return "/", nil
		}
		return q.r.URL.Path, nil
	default:
		if q.r.Method == "" {
			return http.MethodGet, nil
		}
		return q.r.Method, nil
	}
}

// key reads the request's key. One source is its value as it stands; more
// are joined as keyfuncs.Compose joins them ("len:part|len:part"), which no
// choice of parts can make ambiguous. The key is at most core.MaxKeyLen/2
// bytes, leaving room for any prefix.
func (k *keySpec) key(q *request) (string, error) {
	if len(k.parts) == 1 {
		s, err := k.part(q, k.parts[0])
		if err == nil && len(s) > core.MaxKeyLen/2 {
			return "", fmt.Errorf("%w: key of %d bytes", errMissing, len(s))
		}
		return s, err
	}
	var parts [4]string
	size := 0
	for i, p := range k.parts {
		s, err := k.part(q, p)
		if err != nil {
			return "", err
		}
		parts[i] = s
		size += len(s) + 22
	}
	if size > core.MaxKeyLen/2 {
		return "", fmt.Errorf("%w: key of about %d bytes", errMissing, size)
	}
	b := make([]byte, 0, size)
	for i := range k.parts {
		if i > 0 {
			b = append(b, '|')
		}
		b = strconv.AppendInt(b, int64(len(parts[i])), 10)
		b = append(b, ':')
		b = append(b, parts[i]...)
	}
	return string(b), nil
}
