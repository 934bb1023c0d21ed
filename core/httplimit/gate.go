package httplimit

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/internal/keycheck"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Outcome is what Serve did with a request. The zero value is Proceed.
type Outcome uint8

const (
	// Proceed: every limit allowed the request (or it was skipped, or a
	// fail-open store failed); the rate-limit fields are set. Call the next
	// handler.
	Proceed Outcome = iota
	// Denied: a limit denied the request and the deny answer (429) is
	// written. Do not call the next handler.
	Denied
	// Failed: the request could not be decided (no key, or the store failed
	// under fail-closed) and the error answer (400 or 503) is written. Do
	// not call the next handler.
	Failed
)

var outcomeNames = [...]string{"proceed", "denied", "failed"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(?)"
}

// Gate is the HTTP behaviour every adapter shares: it keys a request, asks
// its limiters, sets the response fields and writes the deny or error
// answer. Adapters translate their framework's types and call Serve. A Gate
// is safe for concurrent use. The zero Gate applies no limit: every request
// proceeds, with no rate-limit fields. Build one with New or NewGroup.
type Gate struct {
	config
	rules []rule
	// policy is the RateLimit-Policy value, the same on every response: a
	// field value of one element, which responses share (see
	// writeAdmitted).
	policy []string
	// limiters are the rules' limiters, in order, for core.TakeAll.
	limiters []*core.Limiter
	// denyDefault: no deny handler was given, so a denial is written with
	// the spare slots of the fields' arena.
	denyDefault bool
	// conc are the concurrency limits (WithConcurrency), taken before the
	// rules' limits (concurrency.go).
	conc []concRule
	// single: the gate applies one enforced limit, its own (no tiers), and
	// holds nothing for the handler (no concurrency or cost-after
	// limits): decideOne decides its requests.
	single bool
}

// rule is one limiter with its key func and its precomputed field values.
type rule struct {
	l      *core.Limiter
	key    keyfuncs.KeyFunc // nil: the gate's key func, called once per request
	fields                  // l's limit's (with named tiers, the default tier's)
	id     string           // the policy id as a Structured Fields string, quotes included
	// tiers, when set, chooses the limit per request (WithTiers,
	// WithLimitFunc).
	tiers *tiering
}

// New returns a Gate applying l (and any limits added by WithLimit) to
// requests. It returns an error naming the problem when an option is
// invalid, no key func is set, or two limits share a name.
func New(l *core.Limiter, opts ...Option) (*Gate, error) {
	if l == nil {
		return nil, errors.New("httplimit: nil limiter")
	}
	return newGate([]*core.Limiter{l}, true, opts)
}

// NewGroup returns a Gate for callers that key requests themselves (package
// rules does): ServeKeys applies ls, in order, to the keys it is given. The
// limits added by WithLimit follow ls. Serve keys every limit with the key
// func of WithKeyFunc, and fails every request without one.
//
// A group may also have concurrency limits (WithConcurrency), taken after
// ServeKeysHold's rate keys, or only those, when ls is empty.
func NewGroup(ls []*core.Limiter, opts ...Option) (*Gate, error) {
	for _, l := range ls {
		if l == nil {
			return nil, errors.New("httplimit: NewGroup: nil limiter")
		}
	}
	g, err := newGate(ls, false, opts)
	if err == nil && len(g.rules)+len(g.conc) == 0 {
		return nil, errors.New("httplimit: NewGroup: no limiters")
	}
	return g, err
}

func newGate(ls []*core.Limiter, needKey bool, opts []Option) (*Gate, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if name := c.hooks.name(); name != "" {
		return nil, fmt.Errorf("httplimit: %s is an adapter's option: give it to the adapter's New (chimw, ginmw, echomw), not to a Gate", name)
	}
	return buildGate(c, ls, needKey)
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{status: http.StatusTooManyRequests, headers: HeadersAll, clock: core.SystemClock}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("httplimit: nil option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// buildGate returns the Gate of ls under c.
func buildGate(c config, ls []*core.Limiter, needKey bool) (*Gate, error) {
	if c.key == nil {
		if needKey {
			return nil, errors.New("httplimit: no key func (WithKeyFunc)")
		}
		c.key = noKey
	}
	if len(c.extra)+len(ls)+len(c.conc) > MaxLimits {
		return nil, fmt.Errorf("httplimit: %d limits on one gate, more than %d", len(c.extra)+len(ls)+len(c.conc), MaxLimits)
	}
	g := &Gate{config: c}
	limits := make([]extraLimit, 0, len(ls)+len(c.extra))
	for _, l := range ls {
		limits = append(limits, extraLimit{l, nil})
	}
	limits = append(limits, c.extra...)
	seen := make(map[string]bool, len(limits))
	for _, e := range limits {
		name := e.limiter.Name()
		if seen[name] {
			return nil, fmt.Errorf("httplimit: two limits named %q: name them apart with core.WithName, so headers and keys tell them apart", name)
		}
		seen[name] = true
		g.rules = append(g.rules, rule{l: e.limiter, key: e.key, fields: fieldsOf(e.limiter.Limit()), id: `"` + name + `"`})
	}
	if err := g.resolveTiers(c.tiers); err != nil {
		return nil, err
	}
	for i := range g.rules {
		g.limiters = append(g.limiters, g.rules[i].l)
	}
	if err := g.addConc(c.conc, seen); err != nil {
		return nil, err
	}
	if err := g.checkCostAfter(); err != nil {
		return nil, err
	}
	policy := g.appendPolicy(nil, &decided{})
	g.policy = []string{string(policy)}
	g.single = len(g.rules) == 1 && !g.rules[0].l.Shadow() && g.rules[0].tiers == nil && len(g.conc) == 0 && g.costAfter == 0
	if g.deny == nil {
		g.deny = g.defaultDeny
		g.denyDefault = true
	}
	if g.onError == nil {
		g.onError = defaultError
	}
	return g, nil
}

var errNoKeyFunc = errors.New("the gate has no key func")

func noKey(*http.Request) (string, error) { return "", errNoKeyFunc }

// QuotaWindow returns the q and w that RateLimit-Policy sends for l: its
// quota per window of whole seconds (see quotaWindow). Package grpclimit
// sends the same values in gRPC metadata.
func QuotaWindow(l core.Limit) (q, w int64) { return quotaWindow(l) }

// RetrySeconds returns the Retry-After value of a denial whose wait is d
// under a limit whose window is window seconds (QuotaWindow's w): d in whole
// seconds, rounded up and at least 1, or window when no wait admits the
// request (core.Never). It is also the t of the denying limit's RateLimit
// entry. Package grpclimit sends the same value in gRPC metadata.
func RetrySeconds(d time.Duration, window int64) int64 { return retrySeconds(d, window) }

// quotaWindow states a limit as the draft's quota policy: q units per window
// of w whole seconds. A period of whole seconds is sent as it is (100/m is
// q=100;w=60); another period is rounded up to whole seconds and the quota
// scaled to match, rounding down (10/100ms is q=100;w=1). The burst has no
// place in the policy: a limit whose burst exceeds its rate may report a
// remaining r above q.
func quotaWindow(l core.Limit) (q, w int64) {
	p := uint64(l.Period)
	w = int64((p + uint64(time.Second) - 1) / uint64(time.Second))
	if l.Period%time.Second == 0 {
		return l.Rate, w
	}
	hi, lo := bits.Mul64(uint64(l.Rate), uint64(w)*uint64(time.Second))
	if hi >= p {
		return math.MaxInt64, w
	}
	quo, _ := bits.Div64(hi, lo, p)
	if quo > math.MaxInt64 {
		return math.MaxInt64, w
	}
	return max(int64(quo), 1), w
}

// Len is the number of limits the gate applies.
func (g *Gate) Len() int { return len(g.rules) }

// UsesRoute reports whether Serve reads its route argument (WithRouteKey),
// so adapters whose routers make the pattern at a cost can skip it.
func (g *Gate) UsesRoute() bool { return g.route }

// Serve decides r, whose route pattern (as the adapter's router knows it;
// "" when none matched) is route, and writes to w what the outcome calls
// for: the rate-limit fields on every decided request, and the whole answer
// when the request is denied or failed. The route is read only under
// WithRouteKey.
func (g *Gate) Serve(w http.ResponseWriter, r *http.Request, route string) Outcome {
	return g.serve(w, r, route, nil)
}

// serve is Serve, holding the concurrency slots a request takes in h (nil:
// the caller cannot hold them; see ServeHold).
func (g *Gate) serve(w http.ResponseWriter, r *http.Request, route string, h *Hold) Outcome {
	if g.skip != nil && g.skip(r) {
		return Proceed
	}
	if h == nil && g.costAfter != 0 {
		g.onError(w, r, errNoSettleServe)
		return Failed
	}
	if g.single {
		fn := g.rules[0].key
		if fn == nil {
			fn = g.key
		}
		key, err := callKey(fn, r)
		if err != nil {
			g.onError(w, r, err)
			return Failed
		}
		if g.route {
			key = routeKey(route, key)
		}
		return g.decideOne(w, r, key)
	}
	var (
		defKey  string
		defErr  error
		defDone bool
	)
	var keys [MaxLimits]string
	for i := range g.rules {
		ru := &g.rules[i]
		var key string
		var err error
		if ru.key == nil {
			if !defDone {
				defKey, defErr = callKey(g.key, r)
				defDone = true
			}
			key, err = defKey, defErr
		} else {
			key, err = callKey(ru.key, r)
		}
		if err != nil {
			if ru.l.Shadow() {
				keys[i] = "" // a shadow limit never fails a request: it sits this one out
				continue
			}
			g.onError(w, r, err)
			return Failed
		}
		if g.route {
			key = routeKey(route, key)
		}
		keys[i] = key
	}
	if len(g.conc) > 0 { // concurrency.go
		return g.serveConc(w, r, route, keys[:len(g.rules)], &defaultKey{defKey, defErr, defDone}, h)
	}
	return g.decide(w, r, keys[:len(g.rules)], nil, h)
}

// ServeKeys is Serve for a caller that has keyed the request itself:
// keys[i] is the key of the gate's i-th limit ("" sits a shadow limit out;
// an enforced limit must have a key). Under boxes (at most core.MaxBoxes;
// none is a plain step) the limits are taken with core.TakeAllBoxed, each
// box's Takes selecting the gate's limits by their place (bit i: the i-th
// limit, as keys[i]): a client in any box is denied with Retry-After the
// longest time left in one, without a decision of the limits, and a denial
// that closes a box is answered with the box's time.
//
// A gate with concurrency limits must be served with ServeKeysHold:
// ServeKeys answers every request with the error handler (503).
func (g *Gate) ServeKeys(w http.ResponseWriter, r *http.Request, keys []string, boxes []core.Box) Outcome {
	return g.serveKeys(w, r, keys, boxes, nil)
}

// serveKeys is ServeKeys, holding the concurrency slots in h (nil: the
// caller cannot hold them). keys holds the rate limits' keys, then the
// concurrency limits'.
func (g *Gate) serveKeys(w http.ResponseWriter, r *http.Request, keys []string, boxes []core.Box, h *Hold) Outcome {
	if h == nil && g.costAfter != 0 {
		g.onError(w, r, errNoSettleServe)
		return Failed
	}
	if len(keys) != len(g.rules)+len(g.conc) {
		g.onError(w, r, fmt.Errorf("%w: %d keys for %d limits", keyfuncs.ErrNoKey, len(keys), len(g.rules)))
		return Failed
	}
	for i, k := range keys {
		if k == "" && (i >= len(g.rules) || !g.rules[i].l.Shadow()) {
			g.onError(w, r, fmt.Errorf("%w: limit %s: %w", keyfuncs.ErrNoKey, g.limitID(i), keycheck.ErrEmpty))
			return Failed
		}
	}
	if len(g.conc) > 0 { // concurrency.go
		return g.holdConc(w, r, keys[:len(g.rules)], keys[len(g.rules):], boxes, h)
	}
	return g.decide(w, r, keys, boxes, h)
}

// decide takes every limit on its key, under boxes if any, and answers. A
// request admitted under cost-after limits has their reservations recorded
// in h, to be settled when h is released.
func (g *Gate) decide(w http.ResponseWriter, r *http.Request, keys []string, boxes []core.Box, h *Hold) Outcome {
	if g.single && len(boxes) == 0 {
		return g.decideOne(w, r, keys[0])
	}
	// Every limit is decided before any is answered: with several, in one
	// step (core.TakeAll), so a request one limit denies takes nothing
	// from the others.
	var st decided
	if len(g.tiers) > 0 && !g.chooseTiers(w, r, &st, keys) {
		return Failed
	}
	ctx := r.Context()
	n := len(g.rules)
	if n == 1 && len(boxes) == 0 {
		if keys[0] == "" { // a shadow limit without a key sits the request out
			return Proceed
		}
		d, err := st.limiter(g, 0).Take(ctx, keys[0])
		out := g.answer(w, r, &st, unsafe.Slice(&d, 1), err)
		if out == Proceed && g.costAfter != 0 {
			g.reserve(h, r, &st, keys, unsafe.Slice(&d, 1))
		}
		return out
	}
	ds := decisionBufs.Get().(*[MaxLimits]core.Decision)
	defer decisionBufs.Put(ds)
	ls, ks := g.limiters, keys[:n]
	var part [MaxLimits]*core.Limiter
	var partKeys [MaxLimits]string
	var at [MaxLimits]int
	m := 0
	for i := 0; i < n; i++ {
		if keys[i] != "" {
			part[m], partKeys[m], at[m] = st.limiter(g, i), keys[i], i
			m++
		}
	}
	if st.ntiered > 0 {
		ls, ks = part[:m], partKeys[:m]
	}
	var sel [core.MaxBoxes]core.Box
	if m < n { // a shadow limit without a key sits the request out
		ls, ks = part[:m], partKeys[:m]
		if len(boxes) <= core.MaxBoxes { // more: core.TakeAllBoxed refuses them
			var nb int
			sel, nb = selectTaken(boxes, at[:m])
			boxes = sel[:nb]
		}
	}
	var err error
	var left time.Duration
	switch {
	case m > 0 && len(boxes) > 0:
		left, err = core.TakeAllBoxed(ctx, boxes, ls, ks, ds[:m])
	case m > 0:
		err = core.TakeAll(ctx, ls, ks, ds[:m])
	}
	if left > 0 {
		// The client is in the penalty box: it waits for the box to open.
		for i := 0; i < m; i++ {
			if d := &ds[i]; !d.Allowed {
				d.RetryAfter = max(d.RetryAfter, left)
				d.ResetAfter = max(d.ResetAfter, left)
			}
		}
	}
	if m < n {
		for j := m - 1; j >= 0; j-- {
			ds[at[j]] = ds[j]
		}
		for i := 0; i < n; i++ {
			if keys[i] == "" {
				// No decision: answer skips it as it skips an uncounted one.
				ds[i] = core.Decision{Allowed: true, Reason: core.ReasonFailOpen}
			}
		}
	}
	out := g.answer(w, r, &st, ds[:n], err)
	if out == Proceed && g.costAfter != 0 {
		g.reserve(h, r, &st, keys, ds[:n])
	}
	return out
}

// decideOne is decide for a single gate (g.single) on the key of its
// limit, without boxes. An admission, what most requests get, is answered
// here, without the bookkeeping of several decisions; anything else is
// answered by answer, as decide answers it.
func (g *Gate) decideOne(w http.ResponseWriter, r *http.Request, key string) Outcome {
	ru := &g.rules[0]
	d, err := ru.l.Take(r.Context(), key)
	if err == nil && d.Allowed && d.Reason == core.ReasonOK {
		if g.headers != HeadersNone {
			g.writeAdmitted(w.Header(), &ru.fields, ru.id, g.policy, d.Remaining, d.ResetAfter)
		}
		return Proceed
	}
	return g.answerOne(w, r, &d, err)
}

// answerOne is answer for the one decision d of a single gate. (A function
// of its own: decideOne's frame does not hold a decided.)
func (g *Gate) answerOne(w http.ResponseWriter, r *http.Request, d *core.Decision, err error) Outcome {
	var st decided
	return g.answer(w, r, &st, unsafe.Slice(d, 1), err)
}

// selectTaken returns the boxes of a step that takes only the limits at
// (ascending), each box's Takes renumbered to select them by their place
// among those taken. A box that selects none of them is left out: the
// limits it selects sat the request out, and cannot count. (Returned in an
// array, so that the boxes' keys, which may live on a caller's stack, stay
// there.)
func selectTaken(boxes []core.Box, at []int) (sel [core.MaxBoxes]core.Box, n int) {
	for _, b := range boxes {
		if b.Takes != 0 {
			var t uint16
			for j, i := range at {
				if b.Takes&(1<<i) != 0 {
					t |= 1 << j
				}
			}
			if t == 0 {
				continue
			}
			b.Takes = t
		}
		sel[n] = b
		n++
	}
	return sel, n
}

// decisionBufs holds the decisions of several limits: handed to a store
// through an interface, they would otherwise be allocated per request.
var decisionBufs = sync.Pool{New: func() any { return new([MaxLimits]core.Decision) }}

// answer writes what the decisions ds (one per rule, with the step's error)
// call for and returns the outcome.
func (g *Gate) answer(w http.ResponseWriter, r *http.Request, st *decided, ds []core.Decision, err error) Outcome {
	n := len(ds)
	var denied *core.Decision
	for i := 0; i < n; i++ {
		ru, d, fs := &g.rules[i], ds[i], st.fields(g, i)
		switch d.Reason {
		case core.ReasonInvalid: // the key is longer than a store takes
			g.onError(w, r, fmt.Errorf("%w: %w", keyfuncs.ErrNoKey, err))
			return Failed
		case core.ReasonFailClosed: // the store (and any fallback) failed
			w.Header()["Retry-After"] = []string{strconv.FormatInt(retrySeconds(d.RetryAfter, fs.window), 10)}
			g.onError(w, r, err)
			return Failed
		case core.ReasonFailOpen: // admitted uncounted: no state to describe
			continue
		}
		if ru.l.Shadow() {
			continue // decided and reported to the limiter's hook; no fields
		}
		// A decision, the store's or (when it failed) the fallback's, which
		// decides under a divided limit.
		st.add(i, err != nil && d.Limit != st.limiter(g, i).Limit(), d)
		// The request waits for the last of its denials.
		if !d.Allowed && (denied == nil || d.RetryAfter > denied.RetryAfter) {
			denied = &ds[i]
		}
	}
	if denied != nil {
		a, used := g.writeFields(w.Header(), st)
		if g.denyDefault {
			g.writeDenial(w, r, *denied, a.spare(used))
		} else {
			g.deny(w, r, *denied)
		}
		return Denied
	}
	g.writeFields(w.Header(), st)
	return Proceed
}

// callKey calls a key func. Every failure wraps keyfuncs.ErrNoKey, which
// the default error handler answers 400: the request is not keyed, whatever
// the reason (internal/keycheck, shared with grpclimit).
func callKey(fn keyfuncs.KeyFunc, r *http.Request) (string, error) {
	return keycheck.Result(fn(r))
}

// routeKey joins a route and a client key with keyfuncs.Join, which no
// choice of route and key makes ambiguous.
func routeKey(route, key string) string {
	return keyfuncs.Join(route, key)
}

// retrySeconds is a wait in whole seconds, rounded up and at least 1; Never
// (a cost no wait admits) is reported as the policy window.
func retrySeconds(d time.Duration, window int64) int64 {
	if d >= core.Never/2 {
		return window
	}
	return max(ceilSeconds(d), 1)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// decided holds the decisions of one request, on the stack, and the tiers
// chosen for it.
type decided struct {
	n       int
	entries [MaxLimits]entry
	// tiers[i] is rule i's tier for this request (nil: the rule's own
	// limit); ntiered counts them, and lastTiered is the last one's rule.
	tiers      [MaxLimits]*tier
	ntiered    int
	lastTiered int
}

// limiter returns the limiter that takes rule i of g for this request.
func (s *decided) limiter(g *Gate, i int) *core.Limiter {
	if t := s.tiers[i]; t != nil {
		return t.l
	}
	return g.rules[i].l
}

// fields returns the field values of rule i of g for this request.
func (s *decided) fields(g *Gate, i int) *fields {
	if t := s.tiers[i]; t != nil {
		return &t.fields
	}
	return &g.rules[i].fields
}

type entry struct {
	rule       int
	fallback   bool // decided by the limiter's fallback, under a divided limit
	limit      core.Limit
	allowed    bool
	remaining  int64
	resetAfter time.Duration
	retryAfter time.Duration
}

func (s *decided) add(rule int, fallback bool, d core.Decision) {
	s.entries[s.n] = entry{rule, fallback, d.Limit, d.Allowed, d.Remaining, d.ResetAfter, d.RetryAfter}
	s.n++
}

// fallback reports whether a fallback made any of the decisions.
func (s *decided) fallback() bool {
	for i := 0; i < s.n; i++ {
		if s.entries[i].fallback {
			return true
		}
	}
	return false
}

// closest returns the entry the X- fields describe: the denial with the
// longest wait (the request waits for the last of them), else the decision
// with the fewest remaining (the longest reset among equals).
func (s *decided) closest() *entry {
	best := &s.entries[0]
	for i := 1; i < s.n; i++ {
		e := &s.entries[i]
		switch {
		case e.allowed != best.allowed:
			if !e.allowed {
				best = e
			}
		case !e.allowed:
			if e.retryAfter > best.retryAfter {
				best = e
			}
		case e.remaining < best.remaining, e.remaining == best.remaining && e.resetAfter > best.resetAfter:
			best = e
		}
	}
	return best
}
