package httplimit

import (
	"net/http"
	"strconv"
	"sync/atomic"
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
// under WithResetUnix that change from response to response (the RateLimit
// value, X-RateLimit-Remaining and X-RateLimit-Reset) and their bytes, in
// one allocation of a size class (80 and 112 bytes).
type admittedArena32 struct {
	vals [3]string
	buf  [32]byte
}

type admittedArena64 struct {
	vals [3]string
	buf  [64]byte
}

// admitted holds the values of an admission's fields that depend on its
// numbers: the RateLimit value of policy id id, remaining and reset
// ("id";r=R;t=T), then R and T, which are strings within it. It does not
// change once made: responses share it.
type admitted struct {
	id               string
	remaining, reset int64
	vals             [3]string
}

// admitted32 and admitted64 are an admitted and its bytes, in one
// allocation of a size class (112 and 144 bytes).
type admitted32 struct {
	admitted
	buf [32]byte
}

type admitted64 struct {
	admitted
	buf [64]byte
}

// admittedCache holds recent admissions' values, so that a response whose
// numbers and policy id were sent lately shares their strings rather than
// formatting and allocating them again. Numbers repeat: a client under a
// limit of burst B sees B remainings at most, each with one or two resets
// (GCRA and the token bucket), so under limits of bursts up to a few
// thousand nearly every admission whose numbers were seen once is
// answered without an allocation; under others, those that repeat one of
// the last few thousand. A slot holds the latest admission of the (id,
// remaining, reset) it is found by, a remaining's neighbours in the next
// slots, so a run of consecutive remainings does not collide. An entry
// never changes once stored (a new admission replaces the pointer), so
// readers need no lock; at worst two writers replace each other's entry,
// which costs a later response an allocation, never a wrong value. 32 KiB
// of pointers, and 4096 entries (of 112 bytes for most ids) at most, for
// the whole process.
var admittedCache [1 << 12]atomic.Pointer[admitted]

// admittedValues returns the admitted of id, remaining and reset: the
// cache's, or a new one, which it caches.
func admittedValues(id string, remaining, reset int64) *admitted {
	// Policy ids are strings the gates made once: their address tells
	// the limits apart at no cost (and a wrong guess is only a miss).
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(id)))) * 0x9e3779b97f4a7c15
	slot := &admittedCache[((h>>52)+uint64(remaining)+uint64(reset)*0x9e3779b1)&(uint64(len(admittedCache))-1)]
	if e := slot.Load(); e != nil && e.remaining == remaining && e.reset == reset && e.id == id {
		return e
	}
	var tmp [256]byte
	b := append(tmp[:0], id...)
	b = append(b, ";r="...)
	r0 := len(b)
	b = strconv.AppendInt(b, remaining, 10)
	r1 := len(b)
	b = append(b, ";t="...)
	t0 := len(b)
	b = strconv.AppendInt(b, reset, 10)
	var e *admitted
	var buf []byte
	switch n := len(b); {
	case n <= 32:
		a := new(admitted32)
		e, buf = &a.admitted, a.buf[:n]
	case n <= 64:
		a := new(admitted64)
		e, buf = &a.admitted, a.buf[:n]
	default: // a policy id of more than about 40 bytes
		e, buf = new(admitted), make([]byte, n)
	}
	copy(buf, b)
	v := unsafe.String(unsafe.SliceData(buf), len(buf))
	*e = admitted{id: id, remaining: remaining, reset: reset, vals: [3]string{v, v[r0:r1], v[t0:]}}
	slot.Store(e)
	return e
}

// writeAdmitted sets the fields of a request admitted by the one limit
// decided, whose fields are fs and policy id id, under the RateLimit-Policy
// value policy: what writeFields writes for that decision (remaining and
// resetAfter its Remaining and ResetAfter), at less cost, since it is what
// most responses carry.
//
// The values are slices of one element shared by every response that
// sends them: their capacity is their length, so a handler's Header.Add
// copies them rather than writing into them (the policy's, as
// writeConcFields shares it). X-RateLimit-Limit and RateLimit-Policy are
// the gate's own; the others come from admittedCache, or are made once
// (one allocation), each number formatted once: the X- fields' values are
// the digits inside the RateLimit value. Under WithResetUnix, whose
// X-RateLimit-Reset changes every second, they are the response's own, in
// one allocation of 80 bytes (112 for a policy id longer than about 10
// bytes).
func (g *Gate) writeAdmitted(h http.Header, fs *fields, id string, policy []string, remaining int64, resetAfter time.Duration) {
	ietf, x := g.headers&HeadersIETF != 0, g.headers&HeadersX != 0
	if !g.resetUnix {
		e := admittedValues(id, remaining, ceilSeconds(resetAfter))
		if ietf {
			h[hPolicy] = policy[:1:1]
			h[hRateLimit] = e.vals[0:1:1]
		}
		if x {
			h[hLimit] = fs.quotaField[:1:1]
			h[hRemaining] = e.vals[1:2:2]
			h[hReset] = e.vals[2:3:3]
		}
		return
	}
	// The values are built here, then copied into an arena of their size.
	var tmp [256]byte
	b := tmp[:0]
	var r0, r1, t0 int // remaining is b[r0:r1], the X- reset b[t0:]
	if ietf {
		b = append(b, id...)
		b = append(b, ";r="...)
		r0 = len(b)
		b = strconv.AppendInt(b, remaining, 10)
		r1 = len(b)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, ceilSeconds(resetAfter), 10)
	}
	end := len(b) // the RateLimit value is b[:end]
	if x {
		if !ietf {
			b = strconv.AppendInt(b, remaining, 10)
			r1 = len(b)
		}
		t0 = len(b)
		b = strconv.AppendInt(b, unixCeil(g.clock.Now().UnixNano(), resetAfter), 10)
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
