package keyfuncs

import (
	"net/netip"
	"strings"
)

// This file reads the proxy headers. A proxyList yields the entries of a
// header one at a time from the right, where the trusted proxies wrote, and
// parseNode turns one entry into an address; which entry to believe is
// decided in ip.go. An entry that carries no usable address is yielded as ""
// so that the walk meets it and fails, rather than silently skipping it and
// trusting whatever lies further left.
//
// The header is never split as a whole: its size is the client's choice (up
// to net/http's 1 MiB of header by default), while the entries a walk needs
// are the few on the right. So the lines are read last first, each from its
// end back to the separator before the entry, and the work is bounded by
// MaxProxyEntries elements of at most MaxProxyEntryLen bytes, whatever the
// header holds to their left.

// MaxProxyEntries is the most list elements of X-Forwarded-For or Forwarded
// that a resolver examines in one request, counted from the right, empty
// elements and empty lines included. A chain of trusted proxies longer than
// this is refused (the error wraps ErrNoKey), as is TrustHops with a larger
// count: real chains have a handful of hops, and a client must not buy CPU
// time with header bytes.
const MaxProxyEntries = 32

// MaxProxyEntryLen is the longest list element of X-Forwarded-For or
// Forwarded, whitespace and a Forwarded element's other parameters included,
// and the longest value of a TrustHeader header, in bytes. A longer one met
// by a walk refuses the request. An address with a port takes under 64
// bytes; a Forwarded element with by=, proto= and a host= name fits in 512.
const MaxProxyEntryLen = 512

// listStep says what proxyList.next found.
type listStep uint8

const (
	listEntry   listStep = iota // an entry ("" when its element has no usable address)
	listEnd                     // no entry is left
	listCapped                  // MaxProxyEntries elements examined, and the header goes on
	listTooLong                 // an element longer than MaxProxyEntryLen
	listBad                     // (from the cut functions only) an element that cannot be delimited
)

// proxyList yields the entries of a proxy header from the right, lines
// merged in order, without copying or allocating. Header.Get would read the
// first line only, and that line may be the client's own.
type proxyList struct {
	lines     []string // lines not yet begun, in order
	rest      string   // the unread, left part of the current line
	inLine    bool     // rest belongs to a line being read
	forwarded bool     // RFC 7239 Forwarded, not X-Forwarded-For
	elems     int      // list elements examined
}

// next returns the next entry from the right. Empty elements are skipped, as
// RFC 9110 section 5.6.1 asks of list recipients, but count towards
// MaxProxyEntries. A Forwarded element without exactly one well-formed for=
// parameter is the entry "". A Forwarded element whose quotes do not pair up
// is the entry "", and the rest of its line is not read: where it starts
// cannot be known.
func (l *proxyList) next() (string, listStep) {
	for {
		if !l.inLine {
			if len(l.lines) == 0 {
				return "", listEnd
			}
			l.rest, l.lines = l.lines[len(l.lines)-1], l.lines[:len(l.lines)-1]
			l.inLine = true
		}
		if l.elems == MaxProxyEntries {
			return "", listCapped
		}
		l.elems++
		var elem string
		st := listEntry
		if l.forwarded {
			l.rest, elem, l.inLine, st = cutLastForwarded(l.rest)
		} else {
			l.rest, elem, l.inLine, st = cutLastXFF(l.rest)
		}
		switch st {
		case listTooLong:
			l.inLine = false
			return "", listTooLong
		case listBad:
			l.inLine = false
			return "", listEntry
		}
		if elem = trimOWS(elem); elem == "" {
			continue
		}
		if l.forwarded {
			elem = forParam(elem)
		}
		return elem, listEntry
	}
}

// cutLastXFF slices an X-Forwarded-For line around its last comma. The
// element is looked for in the last MaxProxyEntryLen+1 bytes only.
func cutLastXFF(s string) (before, elem string, found bool, st listStep) {
	lo := max(0, len(s)-MaxProxyEntryLen-1)
	if i := strings.LastIndexByte(s[lo:], ','); i >= 0 {
		return s[:lo+i], s[lo+i+1:], true, listEntry
	}
	if len(s) > MaxProxyEntryLen {
		return "", "", false, listTooLong
	}
	return "", s, false, listEntry
}

// cutLastForwarded slices a Forwarded line around its last comma outside
// quoted-strings, reading from the right: a quote preceded by an odd number
// of backslashes is escaped, any other quote closes a quoted-string (or,
// inside one, opens it). For a well-formed line this is how a reading from
// the left delimits it; and the elements the trusted proxies appended are
// delimited alike whatever the client wrote to their left. An escaped quote
// outside a quoted-string, or a string still open at the start of the line,
// makes the element one that cannot be delimited (listBad). The element is
// looked for in the last MaxProxyEntryLen+1 bytes only.
func cutLastForwarded(s string) (before, elem string, found bool, st listStep) {
	lo := max(0, len(s)-MaxProxyEntryLen-1)
	quoted := false
	for i := len(s) - 1; i >= lo; i-- {
		switch c := s[i]; {
		case c == '"':
			j := i // s[j:i] are the backslashes before the quote
			for j > lo && s[j-1] == '\\' {
				j--
			}
			if (i-j)%2 == 1 { // an escaped quote
				if !quoted {
					return "", "", false, listBad
				}
				i = j
				continue
			}
			quoted = !quoted
		case !quoted && c == ',':
			return s[:i], s[i+1:], true, listEntry
		}
	}
	switch {
	case len(s) > MaxProxyEntryLen:
		return "", "", false, listTooLong
	case quoted:
		return "", "", false, listBad
	}
	return "", s, false, listEntry
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
