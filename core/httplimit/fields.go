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
	fs := st.fields(g, e.rule)
	if st.n == 1 && e.allowed && !e.fallback && st.ntiered <= 1 {
		// One limit decided, and it admitted the request: the common
		// response.
		policy := g.policy
		if st.ntiered == 1 {
			policy = st.tiers[st.lastTiered].policy
		}
		g.writeAdmitted(h, fs, g.rules[e.rule].id, policy, e.remaining, e.resetAfter)
		return nil, 0
	}
	a := new(fieldArena)
	fw := fieldWriter{h: h, a: a, b: a.buf[:0]}
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
			fw.set(hPolicy, st.tiers[st.lastTiered].policy[0])
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

// admittedArena32 and admittedArena64 hold the values writeAdmitted sets
// that change from response to response: the strings (the RateLimit value,
// X-RateLimit-Remaining and X-RateLimit-Reset), and their bytes. Each is
// one allocation of a size class (80 and 112 bytes).
type admittedArena32 struct {
	vals [3]string
	buf  [32]byte
}

type admittedArena64 struct {
	vals [3]string
	buf  [64]byte
}

// writeAdmitted sets the fields of a request admitted by the one limit
// decided, whose fields are fs and policy id id, under the RateLimit-Policy
// value policy: what writeFields writes for that decision (remaining and
// resetAfter its Remaining and ResetAfter), at less cost, since it is what
// most responses carry. The constant values, X-RateLimit-Limit and
// RateLimit-Policy, are the gate's own slices, shared by every response:
// their capacity is their length, so a handler's Header.Add copies them
// rather than writing into them. Each number is formatted once, and the
// X- fields' values are the digits inside the RateLimit value ("id";r=R;t=T)
// rather than copies of them; the three values and their bytes take one
// allocation of 80 bytes (112 for a policy id longer than about 10 bytes).
func (g *Gate) writeAdmitted(h http.Header, fs *fields, id string, policy []string, remaining int64, resetAfter time.Duration) {
	// The values are built here, then copied into an arena of their size.
	var tmp [256]byte
	b := tmp[:0]
	var r0, r1, t0 int // remaining is b[r0:r1], the X- reset b[t0:]
	ietf, x := g.headers&HeadersIETF != 0, g.headers&HeadersX != 0
	if ietf {
		b = append(b, id...)
		b = append(b, ";r="...)
		r0 = len(b)
		b = strconv.AppendInt(b, remaining, 10)
		r1 = len(b)
		b = append(b, ";t="...)
		t0 = len(b)
		b = strconv.AppendInt(b, ceilSeconds(resetAfter), 10)
	}
	end := len(b) // the RateLimit value is b[:end]
	if x {
		if !ietf {
			b = strconv.AppendInt(b, remaining, 10)
			r1 = len(b)
		}
		if g.resetUnix {
			t0 = len(b)
			b = strconv.AppendInt(b, unixCeil(g.clock.Now().UnixNano(), resetAfter), 10)
		} else if !ietf {
			t0 = len(b)
			b = strconv.AppendInt(b, ceilSeconds(resetAfter), 10)
		}
	}
	var vals *[3]string
	var buf []byte
	switch n := len(b); {
	case n <= 32:
		a := new(admittedArena32)
		vals, buf = &a.vals, a.buf[:n]
	case n <= 64:
		a := new(admittedArena64)
		vals, buf = &a.vals, a.buf[:n]
	default: // a policy id of more than about 40 bytes
		vals, buf = new([3]string), make([]byte, n)
	}
	copy(buf, b)
	v := unsafe.String(unsafe.SliceData(buf), len(buf))
	if ietf {
		vals[0] = v[:end]
		h[hPolicy] = policy[:1:1]
		h[hRateLimit] = vals[0:1:1]
	}
	if x {
		vals[1], vals[2] = v[r0:r1], v[t0:]
		h[hLimit] = fs.quotaField[:1:1]
		h[hRemaining] = vals[1:2:2]
		h[hReset] = vals[2:3:3]
	}
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
