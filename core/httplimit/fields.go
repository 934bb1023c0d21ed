package httplimit

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"
)

// Header names in canonical form, so the map writes below match what
// http.Header.Get looks up.
const (
	hLimit      = "X-Ratelimit-Limit"
	hRemaining  = "X-Ratelimit-Remaining"
	hReset      = "X-Ratelimit-Reset"
	hPolicy     = "Ratelimit-Policy"
	hRateLimit  = "Ratelimit"
	hRetryAfter = "Retry-After"
)

// fieldArena holds every value slice and value byte of one response's
// rate-limit fields, so writing them costs one allocation rather than two per
// field. Its last two values are left for the default denial's
// Content-Type and X-Content-Type-Options.
type fieldArena struct {
	vals [8]string
	buf  [64]byte // 192 bytes in all, one size class
}

// spare returns two unused value slots of a, or nil.
func (a *fieldArena) spare(used int) []string {
	if a == nil || used+2 > len(a.vals) {
		return nil
	}
	return a.vals[used : used+2 : used+2]
}

// fieldWriter appends field values to an arena's buffer and sets each on h
// as soon as it is complete. A value's string points at the bytes just
// appended; append never writes below len(b), and after it has moved b to a
// larger heap array (a long RateLimit list) it writes only there, so a
// string made earlier never changes.
type fieldWriter struct {
	h    http.Header
	a    *fieldArena
	b    []byte
	n    int
	mark int
}

func (fw *fieldWriter) set(name, v string) {
	fw.a.vals[fw.n] = v
	fw.h[name] = fw.a.vals[fw.n : fw.n+1 : fw.n+1]
	fw.n++
}

// end sets name to the bytes appended since the last end or set.
func (fw *fieldWriter) end(name string) {
	v := unsafe.String(unsafe.SliceData(fw.b[fw.mark:]), len(fw.b)-fw.mark)
	fw.mark = len(fw.b)
	fw.set(name, v)
}

// writeFields sets the rate-limit fields describing st on h: the X- fields
// for the decision closest to denying, RateLimit-Policy with every limit,
// RateLimit with every limit decided, and Retry-After on a denial. The IETF
// fields are those of draft-ietf-httpapi-ratelimit-headers-11: each limit
// "id";q=Q;w=W in RateLimit-Policy (sections 3.1.1, 3.1.3) and "id";r=R;t=T
// in RateLimit (4.1.1 available quota, 4.1.2 effective window). It
// returns the arena it wrote the values in (nil if none) and how many of its
// value slots it used.
func (g *Gate) writeFields(h http.Header, st *decided) (*fieldArena, int) {
	if st.n == 0 {
		return nil, 0 // every store failed open: there is no state to describe
	}
	e := st.closest()
	if g.headers == HeadersNone && e.allowed {
		return nil, 0
	}
	a := new(fieldArena)
	fw := fieldWriter{h: h, a: a, b: a.buf[:0]}
	fs := st.fields(g, e.rule)
	if g.headers&HeadersX != 0 {
		if e.fallback {
			q, _ := quotaWindow(e.limit)
			fw.b = strconv.AppendInt(fw.b, q, 10)
			fw.end(hLimit)
		} else {
			fw.set(hLimit, fs.quota)
		}
		fw.b = strconv.AppendInt(fw.b, e.remaining, 10)
		fw.end(hRemaining)
		if g.resetUnix {
			fw.b = strconv.AppendInt(fw.b, unixCeil(g.clock.Now().UnixNano(), e.resetAfter), 10)
		} else {
			fw.b = strconv.AppendInt(fw.b, ceilSeconds(e.resetAfter), 10)
		}
		fw.end(hReset)
	}
	if g.headers&HeadersIETF != 0 {
		switch {
		case st.fallback() || st.ntiered > 1:
			fw.b = g.appendPolicy(fw.b, st)
			fw.end(hPolicy)
		case st.ntiered == 1:
			fw.set(hPolicy, st.tiers[st.lastTiered].policy)
		default:
			fw.set(hPolicy, g.policy[0])
		}
		for i := 0; i < st.n; i++ {
			x := &st.entries[i]
			xr := &g.rules[x.rule]
			xf := st.fields(g, x.rule)
			if i > 0 {
				fw.b = append(fw.b, ", "...)
			}
			fw.b = append(fw.b, xr.id...)
			fw.b = append(fw.b, ";r="...)
			fw.b = strconv.AppendInt(fw.b, x.remaining, 10)
			fw.b = append(fw.b, ";t="...)
			if x.allowed {
				fw.b = strconv.AppendInt(fw.b, ceilSeconds(x.resetAfter), 10)
			} else {
				fw.b = strconv.AppendInt(fw.b, retrySeconds(x.retryAfter, xf.window), 10)
			}
		}
		fw.end(hRateLimit)
	}
	if !e.allowed {
		fw.b = strconv.AppendInt(fw.b, retrySeconds(e.retryAfter, fs.window), 10)
		fw.end(hRetryAfter)
	}
	return a, fw.n
}

// appendPolicy appends the RateLimit-Policy value: every limit at its tier
// in st, and those a fallback enforced in st as they were, divided among
// the instances.
func (g *Gate) appendPolicy(b []byte, st *decided) []byte {
	listed := 0
	for i := range g.rules {
		ru := &g.rules[i]
		if ru.l.Shadow() {
			continue // a shadow limit is not the client's business
		}
		fs := st.fields(g, i)
		q, w := fs.q, fs.window
		for j := 0; j < st.n; j++ {
			if x := &st.entries[j]; x.rule == i && x.fallback {
				q, w = quotaWindow(x.limit)
			}
		}
		if listed++; listed > 1 {
			b = append(b, ", "...)
		}
		b = append(b, ru.id...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, q, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, w, 10)
		if g.costAfter == CostBodyBytes {
			b = append(b, `;qu="content-bytes"`...)
		}
	}
	return g.appendConcPolicy(b, listed)
}

// unixCeil is the Unix time in whole seconds, rounded up, d after nowNano.
func unixCeil(nowNano int64, d time.Duration) int64 {
	t := nowNano + int64(d)
	sec := t / int64(time.Second)
	if t%int64(time.Second) > 0 {
		sec++
	}
	return sec
}
