package httplimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// concLimit is a concurrency limit an option adds, with its key func.
type concLimit struct {
	limiter *core.ConcurrencyLimiter
	key     keyfuncs.KeyFunc
}

// concRule is a Gate's concurrency limit, with its field values.
type concRule struct {
	l   *core.ConcurrencyLimiter
	key keyfuncs.KeyFunc // nil: the gate's key func
	id  string           // the policy id as a Structured Fields string
}

// WithConcurrency applies a concurrency limit to the same requests, keyed
// by key (nil: the key func of WithKeyFunc): at most l.Max() requests of a
// key in flight at once, such as 4 uploads per client. The request takes a
// slot before the handler runs and gives it back when the handler returns,
// however it returns: normally, by a panic (re-raised once the slot is
// given back), by http.ErrAbortHandler, or after its client went away.
//
// Concurrency limits are taken first, in order, then the rate limits
// together: a request a concurrency limit denies consumes no rate quota
// (the rate limits are not asked), and one a rate limit denies gives its
// slots back before it is answered, so it holds none. A request denied by a
// concurrency limit is answered as a rate-limited one (429 by default,
// WithDenyStatus), with Retry-After 1 (core.ConcurrencyRetryAfter says
// why); one whose store failed under fail-closed gets the error answer
// (503).
//
// The IETF fields list each concurrency limit in RateLimit-Policy with the
// draft's quota unit for it, "id";q=N;qu="concurrent-requests" (no window:
// a slot is not given back by time), and in RateLimit as "id";r=R, the
// slots left. The X-RateLimit fields describe the rate limits only.
//
// A Gate with concurrency limits must be served through ServeHold, which
// every adapter's middleware uses (Middleware.Handle): Serve cannot hold a
// slot past its return, so it answers every request with the error
// handler (503).
func WithConcurrency(l *core.ConcurrencyLimiter, key keyfuncs.KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("httplimit: WithConcurrency: nil limiter")
		}
		c.conc = append(c.conc, concLimit{l, key})
		return nil
	})
}

// NewConcurrency returns a Gate applying the concurrency limit l (and any
// limits added by WithLimit and WithConcurrency) to requests, keyed by the
// key func of WithKeyFunc, which it requires. Put it in front of handlers
// with an adapter's Wrap (chimw.Wrap, ginmw.Wrap, echomw.Wrap).
func NewConcurrency(l *core.ConcurrencyLimiter, opts ...Option) (*Gate, error) {
	if l == nil {
		return nil, errors.New("httplimit: nil concurrency limiter")
	}
	return newGate(nil, true, append([]Option{WithConcurrency(l, nil)}, opts...))
}

// addConc adds the gate's concurrency rules; seen holds the names taken.
func (g *Gate) addConc(cs []concLimit, seen map[string]bool) error {
	for _, c := range cs {
		name := c.limiter.Name()
		if seen[name] {
			return fmt.Errorf("httplimit: two limits named %q: name them apart with core.WithName, so headers and keys tell them apart", name)
		}
		seen[name] = true
		g.conc = append(g.conc, concRule{l: c.limiter, key: c.key, id: `"` + name + `"`})
	}
	return nil
}

// appendConcPolicy appends the concurrency limits to a RateLimit-Policy
// value that lists listed policies already.
func (g *Gate) appendConcPolicy(b []byte, listed int) []byte {
	for i := range g.conc {
		if listed++; listed > 1 {
			b = append(b, ", "...)
		}
		b = append(b, g.conc[i].id...)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, g.conc[i].l.Max(), 10)
		b = append(b, `;qu="concurrent-requests"`...)
	}
	return b
}

// Hold is what a request a Gate let through holds until its handler
// returns: the slots of its concurrency limits, and the reservations of
// its cost-after limits (WithCostAfter). Release settles the one and gives
// back the other; the zero Hold holds nothing.
type Hold struct {
	n      int
	slots  [MaxLimits]core.Slot
	settle *settlement
}

func (h *Hold) add(s core.Slot) {
	h.slots[h.n] = s
	h.n++
}

// Release settles the request's cost-after limits at the cost the handler
// reported (or the body's size), then gives back every slot h holds, the
// last taken first. A second Release does nothing.
func (h *Hold) Release() {
	if s := h.settle; s != nil {
		h.settle = nil
		s.run()
	}
	for ; h.n > 0; h.n-- {
		_ = h.slots[h.n-1].Release() // a store that fails lets the slot's lease lapse
	}
}

// Holder is a Server that can hold concurrency slots for a request it lets
// through, until the handler returns: a Gate is one. An adapter's
// middleware (Middleware.Handle) serves a Holder with ServeHold.
type Holder interface {
	Server
	// ServeHold is Serve, whose Proceed comes with the slots the request
	// holds: the caller runs the handler, then releases them (defer
	// h.Release()). On any other outcome h holds nothing.
	ServeHold(w http.ResponseWriter, r *http.Request, route string) (Outcome, Hold)
}

var _ Holder = (*Gate)(nil)

// ServeHold is Serve for a caller that runs the handler itself and gives
// the request's concurrency slots back when it returns. See Holder.
func (g *Gate) ServeHold(w http.ResponseWriter, r *http.Request, route string) (Outcome, Hold) {
	var h Hold
	out := g.serve(w, r, route, &h)
	return out, h
}

// ServeKeysHold is ServeKeys for a caller that runs the handler itself
// and gives the request's concurrency slots back when it returns (package
// rules does): keys holds the keys of the gate's rate limits, in order,
// then those of its concurrency limits (WithConcurrency), in order. The
// slots are taken first; a rate denial gives them back. On Proceed the
// caller runs the handler, then calls h.Release (deferred, so that a panic
// releases them too); on any other outcome h holds nothing.
func (g *Gate) ServeKeysHold(w http.ResponseWriter, r *http.Request, keys []string, boxes []core.Box) (Outcome, Hold) {
	var h Hold
	out := g.serveKeys(w, r, keys, boxes, &h)
	return out, h
}

// holdsNothing reports whether the requests g lets through hold nothing
// until their handler returns: g has neither concurrency nor cost-after
// limits, so ServeHold's Hold is always empty.
func (g *Gate) holdsNothing() bool { return len(g.conc) == 0 && g.costAfter == 0 }

// limitID is the policy id of the gate's i-th limit: its rate limits, then
// its concurrency limits.
func (g *Gate) limitID(i int) string {
	if i < len(g.rules) {
		return g.rules[i].id
	}
	return g.conc[i-len(g.rules)].id
}

// Conc is the number of concurrency limits the gate applies.
func (g *Gate) Conc() int { return len(g.conc) }

// errServeHold is the error of a Gate with concurrency limits served by
// Serve.
var errServeHold = errors.New("httplimit: a Gate with concurrency limits must be served with ServeHold, which holds the slots while the handler runs")

// defaultKey is the gate's default key of a request, computed once.
type defaultKey struct {
	key  string
	err  error
	done bool
}

// serveConc takes the concurrency limits of a request, then its rate
// limits (keyed keys), and answers. The slots are held in h when the
// request proceeds; otherwise they are given back before it is answered.
func (g *Gate) serveConc(w http.ResponseWriter, r *http.Request, route string, keys []string, def *defaultKey, h *Hold) Outcome {
	var ckeys [MaxLimits]string
	for i := range g.conc {
		var key string
		var err error
		if fn := g.conc[i].key; fn != nil {
			key, err = callKey(fn, r)
		} else {
			if !def.done {
				def.key, def.err = callKey(g.key, r)
				def.done = true
			}
			key, err = def.key, def.err
		}
		if err != nil {
			g.onError(w, r, err)
			return Failed
		}
		if g.route {
			key = routeKey(route, key)
		}
		ckeys[i] = key
	}
	return g.holdConc(w, r, keys, ckeys[:len(g.conc)], nil, h)
}

// holdConc takes the concurrency limits on ckeys, in order, then the rate
// limits on keys (under boxes), and answers. The slots are held in h when
// the request proceeds; otherwise they are given back before it is
// answered. A nil h (Serve, ServeKeys) fails the request: no one would
// give the slots back.
func (g *Gate) holdConc(w http.ResponseWriter, r *http.Request, keys, ckeys []string, boxes []core.Box, h *Hold) Outcome {
	if h == nil {
		g.onError(w, r, errServeHold)
		return Failed
	}
	var ds [MaxLimits]core.Decision
	ctx := r.Context()
	for i := range g.conc {
		slot, d, err := g.conc[i].l.Acquire(ctx, ckeys[i])
		ds[i] = d
		switch {
		case d.Reason == core.ReasonInvalid: // a key longer than a store takes
			h.Release()
			g.onError(w, r, fmt.Errorf("%w: %w", keyfuncs.ErrNoKey, err))
			return Failed
		case d.Reason == core.ReasonFailClosed:
			h.Release()
			w.Header()[hRetryAfter] = []string{strconv.FormatInt(retrySeconds(d.RetryAfter, 1), 10)}
			g.onError(w, r, err)
			return Failed
		case !d.Allowed:
			h.Release()
			hd := w.Header()
			g.writeConcFields(hd, ds[:i+1])
			hd[hRetryAfter] = []string{strconv.FormatInt(retrySeconds(d.RetryAfter, 1), 10)}
			g.deny(w, r, d)
			return Denied
		}
		h.add(slot) // the zero Slot when a fail-open store admitted it
	}
	if len(g.rules) > 0 {
		if out := g.decide(w, r, keys, boxes, h); out != Proceed {
			h.Release()
			return out
		}
	}
	g.writeConcFields(w.Header(), ds[:len(g.conc)])
	return Proceed
}

// writeConcFields adds the concurrency decisions ds to the IETF fields
// (after the rate limits' RateLimit entries, if any): RateLimit-Policy
// when no rate limit set it, and "id";r=R per decision in RateLimit. A
// fail-open decision has no state to describe.
func (g *Gate) writeConcFields(h http.Header, ds []core.Decision) {
	if g.headers&HeadersIETF == 0 {
		return
	}
	if _, ok := h[hPolicy]; !ok {
		// The gate's own value, shared: its capacity is its length, so a
		// handler's Add copies it rather than writing into it.
		h[hPolicy] = g.policy[:1:1]
	}
	var buf [160]byte // most values fit: no growth on the heap
	b := buf[:0]
	if v := h[hRateLimit]; len(v) == 1 {
		b = append(b, v[0]...)
	}
	for i := range ds {
		if ds[i].Reason == core.ReasonFailOpen {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, g.conc[i].id...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, ds[i].Remaining, 10)
	}
	if len(b) > 0 {
		h[hRateLimit] = []string{string(b)}
	}
}

// Handle runs one request through the middleware and, when it proceeds,
// through next, the rest of the chain: Serve, then next(c) while the
// request holds the slots of its concurrency limits (when the Server is a
// Holder), given back when next returns or panics (the panic goes on once
// they are). It returns the outcome, and the error of a native deny or
// error hook, or next's. Adapters call Handle (or Serve, for a Server that
// holds nothing) once per request.
func (m *Middleware[C]) Handle(c C, w http.ResponseWriter, r *http.Request, next func(C) error) (Outcome, error) {
	hs, ok := m.s.(Holder)
	if !ok || m.light {
		out, err := m.Serve(c, w, r)
		if out != Proceed {
			return out, err
		}
		return out, next(c)
	}
	if m.skip != nil && m.skip(c) {
		return Proceed, next(c)
	}
	var route string
	if m.route != nil {
		route = m.route(c)
	}
	var out Outcome
	var h Hold
	var err error
	if m.carriers == nil {
		out, h = hs.ServeHold(w, r, route)
	} else {
		cw := m.carriers.Get().(*carrier[C])
		cw.ResponseWriter, cw.c = w, c
		out, h = hs.ServeHold(cw, r, route)
		err = cw.err
		*cw = carrier[C]{} // hold no request while pooled
		m.carriers.Put(cw)
	}
	if out != Proceed {
		return out, err
	}
	defer h.Release()
	if s := h.settle; s != nil {
		c = m.passOn(c, w, r, s)
	}
	return out, next(c)
}

// passOn gives the handlers after the middleware a request under cost-after
// limits: one whose context carries s, for ReportCost, and a way to count
// its body (the framework's count, or a counting writer for Writer).
func (m *Middleware[C]) passOn(c C, w http.ResponseWriter, r *http.Request, s *settlement) C {
	if m.request == nil {
		return c
	}
	c = m.request(c, r.WithContext(context.WithValue(r.Context(), settlementKey{}, s)))
	if s.src == CostBodyBytes {
		if m.written != nil {
			written := m.written
			s.written = func() int64 { return written(c) }
		} else {
			s.cw.ResponseWriter = w
		}
	}
	return c
}
