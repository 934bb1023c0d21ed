package keyfuncs

import (
	"net/netip"
	"strings"
)

// This file parses the proxy headers. The parsers return the raw entries of
// a header, leftmost first, and parseNode turns one entry into an address;
// which entry to believe is decided in ip.go. An entry that carries no usable
// address is kept as "" so that the walk meets it and fails, rather than
// silently skipping it and trusting whatever lies further left.

// appendXFF appends the entries of one X-Forwarded-For line to dst. Empty
// list elements are dropped, as RFC 9110 §5.6.1 asks of list recipients.
func appendXFF(dst []string, line string) []string {
	for {
		elem, rest, more := strings.Cut(line, ",")
		if elem = trimOWS(elem); elem != "" {
			dst = append(dst, elem)
		}
		if !more {
			return dst
		}
		line = rest
	}
}

// appendForwardedFor appends the for= value of each element of one RFC 7239
// Forwarded line to dst: "" for an element without exactly one well-formed
// for= parameter. An unterminated quoted-string makes the rest of the line
// one "" entry: its extent cannot be known.
func appendForwardedFor(dst []string, line string) []string {
	for {
		elem, rest, more, ok := cutUnquoted(line, ',')
		if !ok {
			return append(dst, "")
		}
		if elem = trimOWS(elem); elem != "" {
			dst = append(dst, forParam(elem))
		}
		if !more {
			return dst
		}
		line = rest
	}
}

// forParam returns the unquoted value of the single for= pair of a
// Forwarded element (whose quotes are balanced), or "" if there is none,
// several (RFC 7239 §4 forbids repeating a parameter), or a malformed pair.
func forParam(elem string) string {
	val, found := "", false
	for {
		pair, rest, more, _ := cutUnquoted(elem, ';')
		if pair = trimOWS(pair); pair != "" {
			name, v, ok := strings.Cut(pair, "=")
			if !ok || !isToken(name) {
				return ""
			}
			if strings.EqualFold(name, "for") {
				if found {
					return ""
				}
				if val, ok = unquote(v); !ok {
					return ""
				}
				found = true
			}
		}
		if !more {
			return val
		}
		elem = rest
	}
}

// cutUnquoted slices s around the first sep outside quoted-strings. ok is
// false when a quoted-string is not terminated.
func cutUnquoted(s string, sep byte) (before, after string, found, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:], true, true
		}
	}
	return s, "", false, !quoted
}

// unquote returns the value of a token or quoted-string (RFC 9110 §5.6.4).
// Tokens are read leniently (any bytes but quotes and whitespace, so that
// the common unquoted for=[2001:db8::1] is understood); parseNode checks
// them anyway.
func unquote(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] != '"' {
		return v, !strings.ContainsAny(v, "\" \t\\")
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	if !strings.ContainsAny(body, "\"\\") {
		return body, true // the usual case: no copy
	}
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch c {
		case '"':
			return "", false // an unescaped quote ends the string early
		case '\\':
			if i++; i == len(body) {
				return "", false // the closing quote was escaped
			}
			c = body[i]
		}
		b = append(b, c)
	}
	return string(b), true
}

// parseNode parses one address as found in RemoteAddr, X-Forwarded-For or a
// Forwarded for= value: "1.2.3.4", "1.2.3.4:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:80". The result is unmapped and zone-free,
// so that one client has one form before any trust check or keying.
// "unknown", obfuscated identifiers and anything else fail.
func parseNode(s string) (netip.Addr, bool) {
	host := s
	v6 := false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return netip.Addr{}, false
		}
		host, v6 = s[1:end], true
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// One colon: IPv4 with a port (IPv6 has at least two).
		if !validPort(s[i+1:]) {
			return netip.Addr{}, false
		}
		host = s[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || v6 && !a.Is6() { // brackets hold IPv6 only
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// validPort reports whether p is a port number or an RFC 7239 obfuscated
// port ("_" then letters, digits, ".", "_" or "-"). The port is discarded;
// it is checked so that a malformed entry is refused, not half-read.
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// trimOWS trims the optional whitespace (spaces and tabs) around s.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}
