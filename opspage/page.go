package opspage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/rules"
)

// Defaults of the options.
const (
	// DefaultTopClients is how many denied clients the page lists.
	DefaultTopClients = 20
	// MinHashSecretLen is the shortest secret WithHashSecret accepts.
	MinHashSecretLen = 16
)

// counterFactor is how many counters the page keeps per client it lists:
// the lower counters of Space-Saving are the least accurate, so the page
// tracks more than it shows.
const counterFactor = 4

// Page is an operator's page: an http.Handler showing the limits in force,
// the stores' state, the clients denied most and those in a penalty box,
// as HTML or JSON. It is safe for concurrent use. Make one with New; the
// zero Page is not usable.
type Page struct {
	authorize func(*http.Request) bool // nil: read-only
	raw       bool
	secret    []byte
	show      int
	clock     core.Clock
	cop       *http.CrossOriginProtection

	denied *topDenied
	boxed  *boxedTable

	mu       sync.Mutex // guards limiters, engine and stores
	limiters []*core.Limiter
	engine   *rules.Engine
	stores   []*StoreView
}

type config struct {
	authorize func(*http.Request) bool
	raw       bool
	secret    []byte
	show      int
	clock     core.Clock
}

// Option configures a Page. A nil Option is not allowed.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithAuthorize lets the requests fn approves change things: reset a
// client's quota under one policy, let a client out of a penalty box. fn
// sees every POST the page receives (a session cookie, a header set by an
// authenticating proxy, a client certificate: the application's call), and
// every GET, to decide whether to show the buttons. Default: none, and the
// page is read-only; a change is refused with 403 and changes nothing.
// Changes from another site (a form on another origin posting to the page
// in an operator's browser) are refused whatever fn says
// (http.CrossOriginProtection).
func WithAuthorize(fn func(*http.Request) bool) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("opspage: WithAuthorize: nil func")
		}
		c.authorize = fn
		return nil
	})
}

// WithRawKeys shows clients' keys as the limiters were given them. Default:
// a keyed hash ("h:" and 16 hex digits, see Page.Hash), since a key may be
// a credential (an API key) or personal data (an address), and a page is
// easily shared. Raw keys are escaped, never rendered as markup.
func WithRawKeys() Option {
	return optionFunc(func(c *config) error { c.raw = true; return nil })
}

// WithHashSecret sets the secret of the keyed hash (HMAC-SHA256) that
// stands for keys on the page, so that a client has the same hash on every
// instance and after a restart. At least MinHashSecretLen random bytes; the
// slice is copied. Default: a random secret per Page.
func WithHashSecret(secret []byte) Option {
	return optionFunc(func(c *config) error {
		if len(secret) < MinHashSecretLen {
			return fmt.Errorf("opspage: hash secret: %d bytes, want at least %d random bytes", len(secret), MinHashSecretLen)
		}
		c.secret = append([]byte(nil), secret...)
		return nil
	})
}

// WithTopClients sets how many of the clients denied most the page lists
// (1 to 1000). The page counts them in 4 times as many counters, whatever
// the traffic: memory stays bounded. Default DefaultTopClients.
func WithTopClients(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("opspage: top clients %d: want 1 to 1000", n)
		}
		c.show = n
		return nil
	})
}

// WithClock sets the clock that stamps denials and penalty boxes. Default
// core.SystemClock.
func WithClock(clock core.Clock) Option {
	return optionFunc(func(c *config) error {
		if clock == nil {
			return errors.New("opspage: WithClock: nil clock")
		}
		c.clock = clock
		return nil
	})
}

// New returns a Page. It shows nothing until given limiters (Limiters), a
// rules engine (Rules) and stores (Store), and counts denials only of the
// limiters made with a StoreView's options.
func New(opts ...Option) (*Page, error) {
	c := config{show: DefaultTopClients, clock: core.SystemClock}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("opspage: nil option")
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if c.secret == nil {
		c.secret = make([]byte, 32)
		if _, err := rand.Read(c.secret); err != nil {
			return nil, fmt.Errorf("opspage: hash secret: %w", err)
		}
	}
	return &Page{
		authorize: c.authorize, raw: c.raw, secret: c.secret, show: c.show, clock: c.clock,
		cop:    http.NewCrossOriginProtection(),
		denied: newTopDenied(counterFactor * c.show),
		boxed:  newBoxedTable(counterFactor * c.show),
	}, nil
}

// Hash returns the keyed hash that stands for key on the page: "h:" and the
// first 64 bits of HMAC-SHA256(secret, key) in hex. An operator who knows
// a client's key finds its row with it.
func (p *Page) Hash(key string) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(key))
	var sum [sha256.Size]byte
	var out [18]byte
	out[0], out[1] = 'h', ':'
	hex.Encode(out[2:], m.Sum(sum[:0])[:8])
	return string(out[:])
}

// Limiters shows ls on the page as policies, which an authorised operator
// can reset a client's quota under. Names must be unique among the
// limiters shown. Give them the options of a StoreView (Options) for the
// page to count their denials and see their fallbacks.
func (p *Page) Limiters(ls ...*core.Limiter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[string]bool, len(p.limiters)+len(ls))
	for _, l := range p.limiters {
		seen[l.Name()] = true
	}
	for _, l := range ls {
		if l == nil {
			return errors.New("opspage: Limiters: nil limiter")
		}
		if seen[l.Name()] {
			return fmt.Errorf("opspage: Limiters: two limiters named %q", l.Name())
		}
		seen[l.Name()] = true
	}
	p.limiters = append(p.limiters, ls...)
	return nil
}

// Rules shows the rules e has in force, the last read of its file and its
// limits as policies; an authorised operator can reset a client's quota
// under them and let a client out of a rule's penalty box. Give e's
// limiters a StoreView's hooks (rules.WithLimiterOptions(view.Hooks()...))
// for the page to count their denials and boxes. A later call replaces e.
func (p *Page) Rules(e *rules.Engine) error {
	if e == nil {
		return errors.New("opspage: Rules: nil engine")
	}
	p.mu.Lock()
	p.engine = e
	p.mu.Unlock()
	return nil
}

// Store names a store for the page, which shows its figures (when it is a
// storekit.Reporter: keys, evictions, breaker, batches, leases, read at
// each view) and whether limiters over it are deciding on their fallback.
// Names are unique and printable.
func (p *Page) Store(name string, s core.Store) (*StoreView, error) {
	if name == "" || len(name) > 64 {
		return nil, fmt.Errorf("opspage: store name %q: want 1 to 64 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e {
			return nil, fmt.Errorf("opspage: store name %q: byte %d is not printable ASCII", name, i)
		}
	}
	if s == nil {
		return nil, errors.New("opspage: Store: nil store")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.stores {
		if v.name == name {
			return nil, fmt.Errorf("opspage: two stores named %q", name)
		}
	}
	v := &StoreView{p: p, name: name, store: s}
	p.stores = append(p.stores, v)
	return v, nil
}

// StoreView is a store as the page shows it, and the options that report
// a limiter's decisions over it to the page. Make one with Page.Store.
type StoreView struct {
	p     *Page
	name  string
	store core.Store

	mu       sync.Mutex // guards the fields below
	failing  int        // limiters deciding on their failure policy now
	switches uint64     // switches to and from it
	since    time.Time  // when the last switch was
	lastErr  string     // the error of the last switch to it
}

// Options returns core.WithName(name) and Hooks: the options of a limiter
// over the store that the page shows.
func (v *StoreView) Options(name string) []core.Option {
	return append([]core.Option{core.WithName(name)}, v.Hooks()...)
}

// Hooks returns the options that report a limiter's decisions to the page
// (a core.WithHook counting denials and penalty boxes) and its switches to
// and from its failure policy (a core.WithFailoverHook), without a name:
// for rules.WithLimiterOptions, whose limits are named by the rules. A
// limiter with any hook leaves its fastest path (core times each decision
// for its hooks); the page's own work is a lock and a map lookup per
// denial, and a comparison per admission.
func (v *StoreView) Hooks() []core.Option {
	return []core.Option{core.WithHook(v.p.hook), core.WithFailoverHook(v.switched)}
}

// hook counts a limiter's refusals: its denials among the top denied, a
// penalty box's answers among the boxed. Peeks and settlements are no
// requests.
func (p *Page) hook(_ context.Context, ev core.Event) {
	if ev.Settled || ev.Cost == 0 || ev.Decision.Allowed {
		return
	}
	switch ev.Outcome() {
	case "denied":
		p.denied.add(ev.Name, ev.Key, p.clock.Now())
	case "penalty":
		now := p.clock.Now()
		p.denied.add(ev.Name, ev.Key, now)
		p.boxed.add(ev.Name, ev.Key, now.Add(ev.Decision.RetryAfter), now)
	}
}

// maxErrLen bounds the store error the page keeps.
const maxErrLen = 300

// switched follows the limiters over the store that decide on their
// failure policy: each switch to it counts one more, each switch back one
// fewer (a limiter's switches alternate).
func (v *StoreView) switched(failing bool, err error) {
	now := v.p.clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.switches++
	v.since = now
	if failing {
		v.failing++
		if err != nil {
			v.lastErr = err.Error()
			if len(v.lastErr) > maxErrLen {
				v.lastErr = strings.ToValidUTF8(v.lastErr[:maxErrLen], "") + "…"
			}
		}
		return
	}
	v.failing = max(v.failing-1, 0)
}
