package pacer

import (
	"encoding/base64"
	"unicode/utf8"
)

// This file reads RFC 9651 Structured Fields: the Lists of the IETF
// RateLimit and RateLimit-Policy fields, and the Dictionary of the -07
// draft's RateLimit field. It follows the RFC's parsing algorithms (section
// 4.2) and fails a whole field where they fail, as section 4.2 asks, but it
// keeps nothing it is not asked for: a member is handed to a callback with
// its bare item and the few parameters this package reads, then forgotten,
// so a field of a million members costs time in proportion to its length
// and no memory.

// sfKind is the type of a bare item, as far as this package tells types
// apart.
type sfKind uint8

const (
	sfNone    sfKind = iota // no value (a parameter or member without "=")
	sfInteger               // an Integer; num holds it
	sfString                // a String; str holds its text between the quotes, escapes kept
	sfToken                 // a Token; str holds it
	sfOther                 // any other type: Decimal, Byte Sequence, Boolean, Date, Display String
)

// sfValue is a bare item.
type sfValue struct {
	kind sfKind
	num  int64
	str  string
	esc  bool // str holds a backslash escape
}

// text returns the value of a String (escapes removed) or a Token.
func (v sfValue) text() string {
	if !v.esc {
		return v.str
	}
	b := make([]byte, 0, len(v.str))
	for i := 0; i < len(v.str); i++ {
		if v.str[i] == '\\' {
			i++ // the parser let only \" and \\ through
		}
		b = append(b, v.str[i])
	}
	return string(b)
}

// is reports whether the value of a String or Token is name, without
// making it.
func (v sfValue) is(name string) bool {
	if !v.esc {
		return v.str == name
	}
	j := 0
	for i := 0; i < len(v.str); i++ {
		if v.str[i] == '\\' {
			i++
		}
		if j == len(name) || name[j] != v.str[i] {
			return false
		}
		j++
	}
	return j == len(name)
}

// sfParam names the parameters this package reads; a parameter's last
// occurrence wins (RFC 9651, section 4.2.3.2).
type sfParam uint8

const (
	paramR sfParam = iota // RateLimit: remaining quota
	paramT                // RateLimit: delay-seconds until more quota
	paramQ                // RateLimit-Policy: quota
	paramW                // RateLimit-Policy: window in seconds
	nParams
)

// sfMember is one member of a List or a Dictionary.
type sfMember struct {
	key    string // a Dictionary member's key; "" in a List
	inner  bool   // the member is an Inner List; val is unset
	val    sfValue
	params [nParams]sfValue // kind sfNone when absent
}

// sfParser reads one field value.
type sfParser struct {
	s string
	i int
}

// parseSFList reads s as a List, calling fn with each member. It reports
// whether s is a valid List; fn may have been called for members before a
// later one failed, so a caller keeps what fn saw only when it returns
// true. The empty string is the empty List.
func parseSFList(s string, fn func(*sfMember)) bool {
	p := sfParser{s: s}
	p.skipSP()
	var m sfMember
	for p.i < len(p.s) {
		m = sfMember{}
		if !p.member(&m) {
			return false
		}
		fn(&m)
		if end, ok := p.next(); end || !ok {
			return ok
		}
	}
	return true
}

// next reads what follows a List's or Dictionary's member: the end of the
// field (end, ok), or a comma and another member to come (ok); anything
// else, or a trailing comma, is malformed (!ok).
func (p *sfParser) next() (end, ok bool) {
	p.skipOWS()
	if p.i == len(p.s) {
		return true, true
	}
	if p.s[p.i] != ',' {
		return false, false
	}
	p.i++
	p.skipOWS()
	return false, p.i < len(p.s)
}

// parseSFDict reads s as a Dictionary, as parseSFList reads a List.
// Members with the same key are each handed to fn in order, so the last
// one fn sees wins, as section 4.2.2 asks.
func parseSFDict(s string, fn func(*sfMember)) bool {
	p := sfParser{s: s}
	p.skipSP()
	var m sfMember
	for p.i < len(p.s) {
		m = sfMember{}
		key, ok := p.key()
		if !ok {
			return false
		}
		m.key = key
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if !p.member(&m) {
				return false
			}
		} else {
			m.val = sfValue{kind: sfOther} // Boolean true
			if !p.params(&m) {
				return false
			}
		}
		fn(&m)
		if end, ok := p.next(); end || !ok {
			return ok
		}
	}
	return true
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// member reads an Item or an Inner List, with its parameters.
func (p *sfParser) member(m *sfMember) bool {
	if p.i < len(p.s) && p.s[p.i] == '(' {
		m.inner = true
		return p.innerList() && p.params(m)
	}
	v, ok := p.bareItem()
	if !ok {
		return false
	}
	m.val = v
	return p.params(m)
}

// innerList reads an Inner List, keeping nothing of it.
func (p *sfParser) innerList() bool {
	p.i++ // (
	var scratch sfMember
	for p.i < len(p.s) {
		p.skipSP()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			return true
		}
		if _, ok := p.bareItem(); !ok {
			return false
		}
		if !p.params(&scratch) {
			return false
		}
		if p.i == len(p.s) || (p.s[p.i] != ' ' && p.s[p.i] != ')') {
			return false
		}
	}
	return false
}

// params reads parameters, keeping the last value of each one m has a
// slot for.
func (p *sfParser) params(m *sfMember) bool {
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		key, ok := p.key()
		if !ok {
			return false
		}
		v := sfValue{kind: sfOther} // Boolean true
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if v, ok = p.bareItem(); !ok {
				return false
			}
		}
		if len(key) == 1 {
			switch key[0] {
			case 'r':
				m.params[paramR] = v
			case 't':
				m.params[paramT] = v
			case 'q':
				m.params[paramQ] = v
			case 'w':
				m.params[paramW] = v
			}
		}
	}
	return true
}

// key reads a key: lcalpha or "*", then lcalpha, DIGIT, "_", "-", "." or
// "*".
func (p *sfParser) key() (string, bool) {
	if p.i == len(p.s) || !(isLower(p.s[p.i]) || p.s[p.i] == '*') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLower(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

func (p *sfParser) bareItem() (sfValue, bool) {
	if p.i == len(p.s) {
		return sfValue{}, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.string()
	case c == '*' || isAlpha(c):
		return p.token(), true
	case c == ':':
		return sfValue{kind: sfOther}, p.binary()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return sfValue{kind: sfOther}, true
		}
		return sfValue{}, false
	case c == '@':
		p.i++
		v, ok := p.number()
		return sfValue{kind: sfOther}, ok && v.kind == sfInteger
	case c == '%':
		return sfValue{kind: sfOther}, p.displayString()
	}
	return sfValue{}, false
}

// number reads an Integer (at most 15 digits) or a Decimal (at most 12
// digits, ".", 1 to 3 digits).
func (p *sfParser) number() (sfValue, bool) {
	if p.i == len(p.s) {
		return sfValue{}, false // "@" at the end
	}
	neg := false
	if p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	if p.i == len(p.s) || !isDigit(p.s[p.i]) {
		return sfValue{}, false
	}
	start, dot := p.i, -1
	var n int64
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isDigit(c) {
			if dot < 0 {
				n = n*10 + int64(c-'0') // 15 digits never overflow
			}
			p.i++
			if size := p.i - start; (dot < 0 && size > 15) || size > 16 {
				return sfValue{}, false
			}
			continue
		}
		if dot < 0 && c == '.' {
			if p.i-start > 12 {
				return sfValue{}, false
			}
			dot = p.i
			p.i++
			continue
		}
		break
	}
	if dot < 0 {
		if neg {
			n = -n
		}
		return sfValue{kind: sfInteger, num: n}, true
	}
	if frac := p.i - dot - 1; frac < 1 || frac > 3 {
		return sfValue{}, false
	}
	return sfValue{kind: sfOther}, true
}

// string reads a String: printable ASCII between double quotes, with \"
// and \\ as the only escapes.
func (p *sfParser) string() (sfValue, bool) {
	p.i++ // "
	start, esc := p.i, false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			p.i++
			if p.i == len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return sfValue{}, false
			}
			esc = true
		case c == '"':
			v := sfValue{kind: sfString, str: p.s[start:p.i], esc: esc}
			p.i++
			return v, true
		case c < 0x20 || c > 0x7e:
			return sfValue{}, false
		}
		p.i++
	}
	return sfValue{}, false
}

// token reads a Token; its first character is ALPHA or "*".
func (p *sfParser) token() sfValue {
	start := p.i
	p.i++
	for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
		p.i++
	}
	return sfValue{kind: sfToken, str: p.s[start:p.i]}
}

// binary reads a Byte Sequence: base64 between colons. It decodes it in
// pieces into a buffer on the stack, so a long one costs no memory, and
// fails where a whole decoding with the standard alphabet and padding
// would.
func (p *sfParser) binary() bool {
	p.i++ // :
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ':' {
		c := p.s[p.i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return false
		}
		p.i++
	}
	if p.i == len(p.s) {
		return false
	}
	content := p.s[start:p.i]
	p.i++ // :
	var src [64]byte
	var dst [48]byte
	for len(content) > 0 {
		n := copy(src[:], content) // whole quanta of 4 characters, but for the last piece
		if _, err := base64.StdEncoding.Decode(dst[:], src[:n]); err != nil {
			return false
		}
		if n < len(content) && content[n-1] == '=' {
			return false // padding before the end
		}
		content = content[n:]
	}
	return true
}

// displayString reads a Display String: %" then printable ASCII but for
// %xx escapes of lowercase hex, the octets UTF-8, then ".
func (p *sfParser) displayString() bool {
	if p.i+1 >= len(p.s) || p.s[p.i+1] != '"' {
		return false
	}
	p.i += 2
	var pending [utf8.UTFMax]byte
	np := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return np == 0
		case c == '%':
			if p.i+1 >= len(p.s) {
				return false
			}
			hi, ok1 := unhexLower(p.s[p.i])
			lo, ok2 := unhexLower(p.s[p.i+1])
			if !ok1 || !ok2 {
				return false
			}
			p.i += 2
			c = hi<<4 | lo
		case c < 0x20 || c > 0x7e:
			return false
		}
		pending[np] = c
		np++
		if utf8.FullRune(pending[:np]) {
			if r, size := utf8.DecodeRune(pending[:np]); r == utf8.RuneError && size == 1 {
				return false
			}
			np = 0
		}
	}
	return false
}

func unhexLower(c byte) (byte, bool) {
	switch {
	case isDigit(c):
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool { return isLower(c) || ('A' <= c && c <= 'Z') }

// isTchar reports whether c is an RFC 9110 tchar.
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
