package httplimit

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// WithTiers chooses the limit of l, one of the gate's limiters (New's,
// NewGroup's or one added by WithLimit), per request: selector reads the
// request's tier name (keyfuncs.Header("X-Plan"), or a func reading a plan
// from an API-key table) and the request is taken under tiers[name]. A
// request whose selector fails (no such header) or names no tier is taken
// under defaultTier, which must be one of tiers: an unknown plan gets the
// default plan's limit, never a denial nor no limit at all. The selector is
// not a key: a client that can set it chooses its plan, so read it from
// what a client cannot forge (a header your gateway sets, the API key's
// record).
//
// Every tier counts under l's name and key (core.Limiter.Tier): a client
// moving between plans keeps its count, and from the move on is admitted no
// more than a client new to its plan (core/storekit says what each
// algorithm carries over). The rate-limit fields report the tier's limit.
// Each tier is validated when the gate is built, with an error naming it.
// l's own limit is not applied while tiers are: every request has a tier.
func WithTiers(l *core.Limiter, selector keyfuncs.KeyFunc, tiers map[string]core.Limit, defaultTier string) Option {
	return optionFunc(func(c *config) error {
		switch {
		case l == nil:
			return errors.New("httplimit: WithTiers: nil limiter")
		case selector == nil:
			return errors.New("httplimit: WithTiers: nil selector")
		case len(tiers) == 0:
			return errors.New("httplimit: WithTiers: no tiers")
		}
		if _, ok := tiers[defaultTier]; !ok {
			return fmt.Errorf("httplimit: WithTiers: default tier %q is not one of the tiers", defaultTier)
		}
		named := make(map[string]core.Limit, len(tiers))
		for name, lim := range tiers {
			if name == "" {
				return errors.New("httplimit: WithTiers: a tier with an empty name")
			}
			named[name] = lim
		}
		c.tiers = append(c.tiers, tierSpec{l: l, selector: selector, named: named, def: defaultTier})
		return nil
	})
}

// WithLimitFunc chooses the limit of l, one of the gate's limiters, per
// request: fn returns the request's limit (a plan's, read from the request's
// context or an API-key table). Counting is as WithTiers counts: under l's
// name and key whatever the limit, and the fields report the request's
// limit.
//
// When fn returns an error the request is not taken and the handler does
// not run: the error handler answers it, 400 by default when the error
// wraps keyfuncs.ErrNoKey (an unknown API key, say), else 503 with
// Retry-After 1 (the plan table is down). An invalid limit (core.Limit's
// Validate, the store's limits, a burst below l's cost) is answered 500 by
// default, the error wrapping core.ErrInvalidLimit; nothing is taken.
//
// Each distinct limit is validated once and its fields made once: the gate
// keeps up to 64 of them, after which a limit not yet seen costs a few
// allocations per request (a limiter and its fields). Plans are few; a
// limit computed per client is not what this is for.
func WithLimitFunc(l *core.Limiter, fn func(r *http.Request) (core.Limit, error)) Option {
	return optionFunc(func(c *config) error {
		switch {
		case l == nil:
			return errors.New("httplimit: WithLimitFunc: nil limiter")
		case fn == nil:
			return errors.New("httplimit: WithLimitFunc: nil func")
		}
		c.tiers = append(c.tiers, tierSpec{l: l, fn: fn})
		return nil
	})
}

// ErrLimitFunc wraps the error of a WithLimitFunc func, for the error
// handler.
var ErrLimitFunc = errors.New("httplimit: limit func failed")

// tierSpec is a WithTiers or WithLimitFunc option, resolved by buildGate.
type tierSpec struct {
	l        *core.Limiter
	selector keyfuncs.KeyFunc
	named    map[string]core.Limit
	def      string
	fn       func(*http.Request) (core.Limit, error)
}

// fields are a limit's precomputed field values.
type fields struct {
	q      int64  // the limit as a quota of q per window of w whole seconds
	quota  string // q, as X-RateLimit-Limit sends it
	window int64  // w
	// quotaField is quota as a field value, shared by every response
	// (see writeAdmitted).
	quotaField []string
}

func fieldsOf(l core.Limit) fields {
	q, w := quotaWindow(l)
	quota := strconv.FormatInt(q, 10)
	return fields{q: q, quota: quota, window: w, quotaField: []string{quota}}
}

// tier is one limit a tiered rule applies: its limiter (a Tier of the
// rule's), its fields and the gate's RateLimit-Policy value when this rule
// is at this tier and every other at its default (a field value of one
// element, shared by every response, as Gate.policy).
type tier struct {
	l *core.Limiter
	fields
	policy []string
}

// maxCachedLimits bounds the limits a WithLimitFunc gate keeps.
const maxCachedLimits = 64

// tiering chooses a rule's tier per request.
type tiering struct {
	base     *core.Limiter
	selector keyfuncs.KeyFunc
	named    map[string]*tier
	def      *tier
	fn       func(*http.Request) (core.Limit, error)
	// cache holds fn's limits seen so far, copied on write: a request
	// reads it with one atomic load. mu serializes the writers.
	cache atomic.Pointer[map[core.Limit]*tier]
	mu    sync.Mutex
	// make builds a tier of a limit (the gate's policy included).
	make func(core.Limit) (*tier, error)
}

// limitFuncError is a WithLimitFunc failure that is not keyfuncs.ErrNoKey.
type limitFuncError struct{ err error }

func (e *limitFuncError) Error() string { return ErrLimitFunc.Error() + ": " + e.err.Error() }
func (e *limitFuncError) Unwrap() []error {
	return []error{ErrLimitFunc, e.err}
}

// choose returns r's tier.
func (t *tiering) choose(r *http.Request) (*tier, error) {
	if t.fn == nil {
		name, err := t.selector(r)
		if err != nil {
			return t.def, nil
		}
		if x, ok := t.named[name]; ok {
			return x, nil
		}
		return t.def, nil
	}
	lim, err := t.fn(r)
	if err != nil {
		if errors.Is(err, keyfuncs.ErrNoKey) {
			return nil, err
		}
		return nil, &limitFuncError{err}
	}
	if m := t.cache.Load(); m != nil {
		if x, ok := (*m)[lim]; ok {
			return x, nil
		}
	}
	x, err := t.make(lim)
	if err != nil {
		return nil, &invalidLimitError{err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cache.Load()
	if old != nil && len(*old) >= maxCachedLimits {
		return x, nil
	}
	m := make(map[core.Limit]*tier, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[lim] = x
	t.cache.Store(&m)
	return x, nil
}

func lenOf(m *map[core.Limit]*tier) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// invalidLimitError is a WithLimitFunc limit that a tier refuses: it wraps
// core.ErrInvalidLimit whatever the reason (a cost above the burst too).
type invalidLimitError struct{ err error }

func (e *invalidLimitError) Error() string { return "httplimit: limit func: " + e.err.Error() }
func (e *invalidLimitError) Unwrap() []error {
	return []error{core.ErrInvalidLimit, e.err}
}

// resolveTiers gives each tiered rule of g its tiering, and checks that
// every spec names one of g's limiters, once. It runs before the gate's
// policy is made: a rule with named tiers reports its default tier there.
func (g *Gate) resolveTiers(specs []tierSpec) error {
	at := make([]int, len(specs))
	for j, sp := range specs {
		at[j] = -1
		for i := range g.rules {
			if g.rules[i].l == sp.l {
				at[j] = i
			}
		}
		what := "WithTiers"
		if sp.fn != nil {
			what = "WithLimitFunc"
		}
		if at[j] < 0 {
			return fmt.Errorf("httplimit: %s: limiter %q is not one of the gate's limits", what, sp.l.Name())
		}
		ru := &g.rules[at[j]]
		if ru.tiers != nil {
			return fmt.Errorf("httplimit: %s: limiter %q already has its limit chosen per request", what, sp.l.Name())
		}
		ru.tiers = &tiering{base: sp.l, selector: sp.selector, fn: sp.fn}
		if sp.named != nil {
			if err := sp.named[sp.def].Validate(); err != nil {
				return fmt.Errorf("httplimit: WithTiers: tier %q: %w", sp.def, err)
			}
			ru.fields = fieldsOf(sp.named[sp.def])
		}
	}
	// Every rule's default fields are known: make the tiers and their
	// policies.
	for j, sp := range specs {
		i := at[j]
		t := g.rules[i].tiers
		t.make = func(lim core.Limit) (*tier, error) {
			tl, err := t.base.Tier(lim)
			if err != nil {
				return nil, err
			}
			x := &tier{l: tl, fields: fieldsOf(lim)}
			var st decided
			st.tiers[i] = x
			x.policy = []string{string(g.appendPolicy(nil, &st))}
			return x, nil
		}
		if sp.named != nil {
			t.named = make(map[string]*tier, len(sp.named))
			for name, lim := range sp.named {
				x, err := t.make(lim)
				if err != nil {
					return fmt.Errorf("httplimit: WithTiers: tier %q: %w", name, err)
				}
				t.named[name] = x
			}
			t.def = t.named[sp.def]
		}
	}
	return nil
}

// chooseTiers picks the tier of every tiered rule whose limit is taken
// (keys[i] != ""), into st. When a limit func fails, it answers the request
// and returns false: nothing has been taken.
func (g *Gate) chooseTiers(w http.ResponseWriter, r *http.Request, st *decided, keys []string) bool {
	for i := range g.rules {
		t := g.rules[i].tiers
		if t == nil || keys[i] == "" {
			continue
		}
		x, err := t.choose(r)
		if err != nil {
			var lfe *limitFuncError
			if errors.As(err, &lfe) {
				w.Header()["Retry-After"] = []string{"1"}
			}
			g.onError(w, r, err)
			return false
		}
		st.tiers[i] = x
		st.ntiered++
		st.lastTiered = i
	}
	return true
}
