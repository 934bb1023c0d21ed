package pacer

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds on what one response can make the pacer keep, or wait for.
const (
	// maxItems is how many limits one response can describe: of more, the
	// most restrictive are kept.
	maxItems = 64
	// maxNameLen is the longest policy name read; a limit with a longer one
	// is ignored.
	maxNameLen = 128
	// maxDelay is the longest delay read from a field: a longer one (a
	// Retry-After a year away, an epoch in the year 3000) is read as this.
	// Waits are bounded by the transport's maximum wait anyway; this bounds
	// how long the state says "exhausted" before the pacer tries again.
	maxDelay = 24 * time.Hour
	// maxRemaining is the largest remaining quota read.
	maxRemaining = 1 << 50
	// defaultDelay is the delay assumed when a field gives a remaining
	// quota but no time: with nothing left, the pacer tries one request
	// again after it.
	defaultDelay = time.Second
)

// The names of the policies that the conventions without policy names
// describe, as WaitError.Policy gives them.
const (
	policyRetryAfter = "Retry-After"
	policyDraft      = "RateLimit"   // draft -07's RateLimit Dictionary, and RateLimit-Remaining of -06 and before
	policyX          = "X-RateLimit" // X-RateLimit-* and X-Rate-Limit-*
)

// limitItem is what a response says of one policy: remaining requests, and
// the delay after which more quota comes.
type limitItem struct {
	name      string
	remaining int64
	delay     time.Duration
	hasDelay  bool
}

// moreRestrictive orders limits: fewer remaining first, then the longer
// delay.
func (a *limitItem) moreRestrictive(b *limitItem) bool {
	if a.remaining != b.remaining {
		return a.remaining < b.remaining
	}
	return a.delay > b.delay
}

// limits is what one response says: at most maxItems limits, the most
// restrictive of those it gave.
type limits struct {
	items [maxItems]limitItem
	n     int
	worst int // index of the least restrictive item kept, when n == maxItems
}

// add keeps it if there is room, or if it is more restrictive than the
// least restrictive item kept, which it then replaces. It returns where it
// keeps it, or -1.
func (l *limits) add(it limitItem) int {
	if l.n < maxItems {
		i := l.n
		l.items[i] = it
		l.n++
		if l.n == maxItems {
			l.findWorst()
		}
		return i
	}
	if !it.moreRestrictive(&l.items[l.worst]) {
		return -1
	}
	i := l.worst
	l.items[i] = it
	l.findWorst()
	return i
}

func (l *limits) findWorst() {
	l.worst = 0
	for i := 1; i < l.n; i++ {
		if l.items[l.worst].moreRestrictive(&l.items[i]) {
			l.worst = i
		}
	}
}

func (l *limits) all() []limitItem { return l.items[:l.n] }

// readLimits returns the limits h, the header of a response of status
// status received at now, describes. Of the families of rate-limit fields
// only the newest present is read, since servers that send several (as
// tollgate does) describe the same limits in each:
//
//  1. RateLimit as a List of named items, the syntax of
//     draft-ietf-httpapi-ratelimit-headers-08 to -11: "id";r=R;t=T, with
//     RateLimit-Policy's w as T where t is missing;
//  2. RateLimit as the -07 Dictionary: limit=L, remaining=R, reset=T;
//  3. RateLimit-Remaining and RateLimit-Reset, of -06 and before;
//  4. X-RateLimit-Remaining and X-RateLimit-Reset (or X-Rate-Limit-…),
//     whose reset is read as delay seconds, or as Unix time when at least
//     1e9 (Unix milliseconds when at least 1e12).
//
// On a 429 or 503, Retry-After (delay seconds or an HTTP-date) adds a
// policy "Retry-After" with nothing remaining.
//
// Absolute times (an HTTP-date, a Unix time) are read against the
// response's Date when it has a valid one, so a server's clock that
// differs from ours shifts nothing; else against now. Every delay is at
// least 0 and at most maxDelay; every remaining at least 0.
func readLimits(h http.Header, status int, now time.Time) limits {
	var out limits
	date := now
	if d := h.Get("Date"); d != "" {
		if t, err := http.ParseTime(d); err == nil {
			date = t
		}
	}
	switch {
	case readIETF(h, &out):
	case readDraft07(h, &out):
	case readDraft06(h, &out):
	default:
		readX(h, &out, date)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if d, ok := retryAfter(h.Get("Retry-After"), date); ok {
			out.add(limitItem{name: policyRetryAfter, delay: d, hasDelay: true})
		}
	}
	return out
}

// fieldValue returns the field lines of name joined as RFC 9651 section
// 4.2 joins them, and whether there was one.
func fieldValue(h http.Header, name string) (string, bool) {
	vs := h[name]
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], true
	}
	return strings.Join(vs, ", "), true
}

// readIETF reads RateLimit as a List of named items (drafts -08 to -11)
// into out, reporting whether it found one.
func readIETF(h http.Header, out *limits) bool {
	v, ok := fieldValue(h, "Ratelimit")
	if !ok {
		return false
	}
	var got limits
	missing := false
	valid := parseSFList(v, func(m *sfMember) {
		if m.inner || (m.val.kind != sfString && m.val.kind != sfToken) || len(m.val.str) > maxNameLen {
			return
		}
		r := m.params[paramR]
		if r.kind != sfInteger {
			return // r is required
		}
		it := limitItem{name: m.val.str, remaining: clampRemaining(r.num)}
		if t := m.params[paramT]; t.kind == sfInteger {
			it.delay, it.hasDelay = seconds(t.num), true
		} else {
			missing = true
		}
		if i := got.add(it); i >= 0 && m.val.esc {
			got.items[i].name = m.val.text() // only for the kept: no memory per member
		}
	})
	if !valid || got.n == 0 {
		return false
	}
	if missing {
		windows(h, &got)
	}
	for _, it := range got.all() {
		if !it.hasDelay {
			it.delay, it.hasDelay = defaultDelay, true
		}
		out.add(it)
	}
	return true
}

// windows sets the delay of each item of got that has none to its
// policy's window, from RateLimit-Policy.
func windows(h http.Header, got *limits) {
	v, ok := fieldValue(h, "Ratelimit-Policy")
	if !ok {
		return
	}
	var found [maxItems]time.Duration
	valid := parseSFList(v, func(m *sfMember) {
		w := m.params[paramW]
		if m.inner || (m.val.kind != sfString && m.val.kind != sfToken) || w.kind != sfInteger || w.num < 1 {
			return
		}
		for i, it := range got.all() {
			if !it.hasDelay && m.val.is(it.name) {
				found[i] = seconds(w.num)
			}
		}
	})
	if !valid {
		return
	}
	for i := range got.all() {
		if found[i] > 0 {
			got.items[i].delay, got.items[i].hasDelay = found[i], true
		}
	}
}

// readDraft07 reads RateLimit as the Dictionary of draft -07
// (limit=L, remaining=R, reset=T) into out.
func readDraft07(h http.Header, out *limits) bool {
	v, ok := fieldValue(h, "Ratelimit")
	if !ok {
		return false
	}
	var remaining, reset sfValue
	if !parseSFDict(v, func(m *sfMember) {
		switch m.key {
		case "remaining":
			remaining = m.val
		case "reset":
			reset = m.val
		}
	}) || remaining.kind != sfInteger {
		return false
	}
	it := limitItem{name: policyDraft, remaining: clampRemaining(remaining.num), delay: defaultDelay, hasDelay: true}
	if reset.kind == sfInteger {
		it.delay = seconds(reset.num)
	}
	out.add(it)
	return true
}

// readDraft06 reads RateLimit-Remaining and RateLimit-Reset, the fields of
// draft -06 and before, into out.
func readDraft06(h http.Header, out *limits) bool {
	remaining, ok := firstInteger(h, "Ratelimit-Remaining")
	if !ok {
		return false
	}
	it := limitItem{name: policyDraft, remaining: clampRemaining(remaining), delay: defaultDelay, hasDelay: true}
	if reset, ok := firstInteger(h, "Ratelimit-Reset"); ok {
		it.delay = seconds(reset)
	}
	out.add(it)
	return true
}

// firstInteger returns the first member of the List name, if it is an
// Integer.
func firstInteger(h http.Header, name string) (int64, bool) {
	v, ok := fieldValue(h, name)
	if !ok {
		return 0, false
	}
	var first sfValue
	n := 0
	if !parseSFList(v, func(m *sfMember) {
		if n == 0 && !m.inner {
			first = m.val
		}
		n++
	}) || first.kind != sfInteger {
		return 0, false
	}
	return first.num, true
}

// readX reads X-RateLimit-Remaining and X-RateLimit-Reset (or the
// X-Rate-Limit- forms) into out.
func readX(h http.Header, out *limits, date time.Time) {
	for _, names := range [...]struct{ remaining, reset string }{
		{"X-Ratelimit-Remaining", "X-Ratelimit-Reset"},
		{"X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"},
	} {
		rv := firstValue(h.Get(names.remaining))
		if rv == "" {
			continue
		}
		remaining, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange || rv[0] == '-' {
				continue // not a number; a huge one is read as plenty
			}
			remaining = maxRemaining
		}
		it := limitItem{name: policyX, remaining: clampRemaining(remaining), delay: defaultDelay, hasDelay: true}
		if d, ok := xReset(firstValue(h.Get(names.reset)), date); ok {
			it.delay = d
		}
		out.add(it)
		return
	}
}

// firstValue returns v up to its first comma, without surrounding white
// space: a field sent twice and joined reads as its first line.
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// Unix times are told from delays by size: no delay is 31 years long, and
// no Unix time in seconds since 2001-09-09 is below 1e9; Unix times in
// milliseconds are at least 1e12 since then too.
const (
	unixSeconds      = 1e9
	unixMilliseconds = 1e12
)

// xReset reads an X-RateLimit-Reset value: delay seconds below 1e9, Unix
// seconds from 1e9, Unix milliseconds from 1e12; decimals allowed.
func xReset(v string, date time.Time) (time.Duration, bool) {
	if v == "" || !(isDigit(v[0]) || v[0] == '.') {
		return 0, false // no sign, no "Inf" or "NaN"
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	switch {
	case f >= unixMilliseconds:
		return until(unixTime(f/1000), date), true
	case f >= unixSeconds:
		return until(unixTime(f), date), true
	case f*float64(time.Second) >= float64(maxDelay):
		return maxDelay, true
	}
	return time.Duration(f * float64(time.Second)), true
}

// unixTime returns the instant sec seconds after the Unix epoch, at most
// a year past the year 9999, which no delay reaches.
func unixTime(sec float64) time.Time {
	const limit = 253402300799 + 365*24*3600 // 9999-12-31T23:59:59Z plus a year
	if sec > limit {
		sec = limit
	}
	whole := int64(sec)
	return time.Unix(whole, int64((sec-float64(whole))*1e9))
}

// retryAfter reads a Retry-After value: delay seconds or an HTTP-date.
func retryAfter(v string, date time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if allDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return maxDelay, true // more digits than an int64: a long time
		}
		return seconds(n), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return until(t, date), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// seconds returns n seconds as a delay, within [0, maxDelay].
func seconds(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if n >= int64(maxDelay/time.Second) {
		return maxDelay
	}
	return time.Duration(n) * time.Second
}

// until returns the delay from date to t, within [0, maxDelay].
func until(t, date time.Time) time.Duration {
	if !t.After(date) {
		return 0
	}
	if t.After(date.Add(maxDelay)) {
		return maxDelay
	}
	return t.Sub(date)
}

func clampRemaining(n int64) int64 {
	return max(0, min(n, maxRemaining))
}
