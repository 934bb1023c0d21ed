package opspage

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/storekit"
	"github.com/tollgate-go/tollgate/rules"
)

// snapshot is what the page shows, as its JSON form says it (see the
// package doc): the HTML renders the same value.
type snapshot struct {
	At            time.Time     `json:"at"`
	Writable      bool          `json:"writable"`
	RawKeys       bool          `json:"raw_keys"`
	Policies      []policyView  `json:"policies"`
	Rules         *rulesView    `json:"rules,omitempty"`
	Stores        []storeState  `json:"stores"`
	Denied        deniedView    `json:"denied"`
	Boxed         []boxedClient `json:"penalty_box"`
	Done          string        `json:"-"` // the HTML's note after a change
	BoxRules      []string      `json:"-"` // the rules with a penalty box, for the HTML's form
	ResetPolicies []string      `json:"-"` // the policies a key can be reset under
}

type policyView struct {
	Name          string            `json:"name"`
	Rule          string            `json:"rule,omitempty"`
	Limit         string            `json:"limit,omitempty"`
	Quota         string            `json:"-"` // Limit without its algorithm, which has a column of its own
	Algorithm     string            `json:"algorithm,omitempty"`
	Rate          int64             `json:"rate,omitempty"`
	PeriodSeconds float64           `json:"period_seconds,omitempty"`
	Burst         int64             `json:"burst,omitempty"`
	Concurrent    int64             `json:"concurrent,omitempty"`
	Key           string            `json:"key,omitempty"`
	Tiers         map[string]string `json:"tiers,omitempty"`
	TierKey       string            `json:"tier_key,omitempty"`
	DefaultTier   string            `json:"default_tier,omitempty"`
	Shadow        bool              `json:"shadow"`
	OnFailure     string            `json:"on_failure,omitempty"`
	Resettable    bool              `json:"resettable"`
}

type rulesView struct {
	Mode   string      `json:"mode"`
	Rules  []ruleView  `json:"rules"`
	Allow  listView    `json:"allow"`
	Deny   listView    `json:"deny"`
	Reload *reloadView `json:"reload,omitempty"`
}

type ruleView struct {
	Name    string   `json:"name"`
	Match   string   `json:"match"`
	Limits  []string `json:"limits,omitempty"`
	Penalty string   `json:"penalty,omitempty"`
	Missing string   `json:"missing,omitempty"`
	Skip    bool     `json:"skip"`
	Shadow  bool     `json:"shadow"`
}

// listView counts an allow or deny list: its values may be credentials.
type listView struct {
	CIDRs  int `json:"cidrs"`
	Values int `json:"values"`
}

type reloadView struct {
	Path  string    `json:"path"`
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
	Rules int       `json:"rules"`
}

type storeState struct {
	Name     string        `json:"name"`
	Reports  bool          `json:"reports"`
	Figures  *figuresView  `json:"figures,omitempty"`
	Fallback fallbackState `json:"fallback"`
}

type figuresView struct {
	Kind           string   `json:"kind"`
	Mode           string   `json:"mode"`
	Keys           int64    `json:"keys"`
	Evicted        uint64   `json:"evicted"`
	Refused        uint64   `json:"refused"`
	Breaker        bool     `json:"breaker"`
	BreakerOpen    bool     `json:"breaker_open"`
	BreakerOpened  uint64   `json:"breaker_opened"`
	Batches        uint64   `json:"batches"`
	BatchedCalls   uint64   `json:"batched_calls"`
	BatchSizes     []uint64 `json:"batch_sizes,omitempty"`
	LeaseGrants    uint64   `json:"lease_grants"`
	LeaseGranted   uint64   `json:"lease_granted"`
	LeaseGivenBack uint64   `json:"lease_given_back"`
	LeaseHot       int64    `json:"lease_hot"`
}

type fallbackState struct {
	Active    bool       `json:"active"`
	Failing   int        `json:"failing"`
	Switches  uint64     `json:"switches"`
	Since     *time.Time `json:"since,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

type deniedView struct {
	Total    uint64   `json:"total"`
	Counters int      `json:"counters"`
	Top      []client `json:"top"`
}

type client struct {
	Policy    string    `json:"policy"`
	Key       string    `json:"key"`
	Hash      string    `json:"-"`
	Count     uint64    `json:"count"`
	Overcount uint64    `json:"overcount"`
	Last      time.Time `json:"last"`
	CanReset  bool      `json:"-"`
}

type boxedClient struct {
	Rule        string    `json:"rule,omitempty"`
	Policy      string    `json:"policy"`
	Key         string    `json:"key"`
	Hash        string    `json:"-"`
	Until       time.Time `json:"until"`
	LeftSeconds float64   `json:"left_seconds"`
	Releasable  bool      `json:"releasable"`
}

// view gathers what the page shows, for the request r.
func (p *Page) view(r *http.Request) snapshot {
	p.mu.Lock()
	limiters := append([]*core.Limiter(nil), p.limiters...)
	engine := p.engine
	stores := append([]*StoreView(nil), p.stores...)
	p.mu.Unlock()

	now := p.clock.Now()
	s := snapshot{At: now, Writable: p.writable(r), RawKeys: p.raw, Policies: []policyView{}, Stores: []storeState{}, Boxed: []boxedClient{}}
	for _, l := range limiters {
		s.Policies = append(s.Policies, limiterView(l))
	}
	var cfg rules.Config
	if engine != nil {
		cfg = engine.Config()
		s.Rules = p.rulesOf(engine, &cfg, &s)
	}
	resettable := make(map[string]bool)
	for _, pv := range s.Policies {
		if pv.Resettable && !resettable[pv.Name] {
			resettable[pv.Name] = true
			s.ResetPolicies = append(s.ResetPolicies, pv.Name)
		}
	}
	for _, v := range stores {
		s.Stores = append(s.Stores, v.state())
	}

	top, total := p.denied.top(p.show)
	s.Denied = deniedView{Total: total, Counters: p.denied.m, Top: []client{}}
	for _, c := range top {
		s.Denied.Top = append(s.Denied.Top, client{
			Policy: c.policy, Key: p.shown(c.key), Hash: p.Hash(c.key),
			Count: c.count, Overcount: c.over, Last: c.last, CanReset: resettable[c.policy],
		})
	}

	// A rule's box is keyed by its first rate limit's key: a penalty
	// answer of that limit says who is boxed. The rule's other limits
	// answer from the same box under other keys (a tenant's), which say
	// nothing of whose box it is.
	firsts := boxFirsts(&cfg)
	for _, b := range p.boxed.open(now) {
		rule, ruled := firsts[b.policy]
		if !ruled && isRulePolicy(&cfg, b.policy) {
			continue
		}
		s.Boxed = append(s.Boxed, boxedClient{
			Rule: rule, Policy: b.policy, Key: p.shown(b.key), Hash: p.Hash(b.key),
			Until: b.until, LeftSeconds: b.until.Sub(now).Seconds(), Releasable: ruled,
		})
	}
	return s
}

// writable reports whether r may change things.
func (p *Page) writable(r *http.Request) bool {
	return p.authorize != nil && p.authorize(r)
}

// shown is a key as the page shows it: its hash, or with WithRawKeys the
// key itself, quoted when it is not printable text.
func (p *Page) shown(key string) string {
	if !p.raw {
		return p.Hash(key)
	}
	if !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(key)
	}
	return key
}

func limiterView(l *core.Limiter) policyView {
	v := limitView(l.Limit())
	v.Name, v.Shadow, v.OnFailure, v.Resettable = l.Name(), l.Shadow(), l.FailurePolicy().String(), true
	return v
}

func limitView(lim core.Limit) policyView {
	quota := lim
	quota.Algorithm = core.GCRA // printed without its name
	return policyView{
		Limit: lim.String(), Quota: quota.String(), Algorithm: lim.Algorithm.String(), Rate: lim.Rate,
		PeriodSeconds: lim.Period.Seconds(), Burst: lim.EffectiveBurst(),
	}
}

// rulesOf describes the rules in force and adds their limits to s's
// policies.
func (p *Page) rulesOf(e *rules.Engine, cfg *rules.Config, s *snapshot) *rulesView {
	rv := &rulesView{Mode: cfg.Mode.String(), Rules: []ruleView{}, Allow: countList(&cfg.Allow), Deny: countList(&cfg.Deny)}
	if ev, ok := e.LastReload(); ok {
		rv.Reload = &reloadView{Path: ev.Path, At: ev.At, OK: ev.Err == nil, Rules: ev.Rules}
		if ev.Err != nil {
			rv.Reload.Error = ev.Err.Error()
		}
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		v := ruleView{Name: r.Name, Match: matchText(&r.Match), Skip: r.Skip, Shadow: r.Shadow || cfg.Shadow}
		if r.Penalty != nil {
			v.Penalty = r.Penalty.String()
			if !v.Shadow && !r.Skip {
				s.BoxRules = append(s.BoxRules, r.Name)
			}
		}
		if !r.Skip {
			v.Missing = r.Missing.Action.String()
			if r.Missing.Action == rules.MissingFallback {
				v.Missing += " to " + r.Missing.Fallback
			}
		}
		for j := range r.Limits {
			nl := &r.Limits[j]
			v.Limits = append(v.Limits, nl.Name)
			pv := limitView(nl.Limit)
			if nl.Concurrent != 0 {
				pv = policyView{Concurrent: nl.Concurrent}
			}
			pv.Name, pv.Rule, pv.Key, pv.Shadow = nl.Name, r.Name, nl.Key, v.Shadow
			if len(nl.Tiers) > 0 {
				pv = limitView(nl.Tiers[nl.DefaultTier])
				pv.Name, pv.Rule, pv.Key, pv.Shadow = nl.Name, r.Name, nl.Key, v.Shadow
				pv.TierKey, pv.DefaultTier = nl.TierKey, nl.DefaultTier
				pv.Tiers = make(map[string]string, len(nl.Tiers))
				for name, lim := range nl.Tiers {
					pv.Tiers[name] = lim.String()
				}
			}
			if l := e.Limiter(nl.Name); l != nil {
				pv.OnFailure, pv.Resettable = l.FailurePolicy().String(), true
			}
			s.Policies = append(s.Policies, pv)
		}
		rv.Rules = append(rv.Rules, v)
	}
	return rv
}

func countList(l *rules.List) listView {
	v := listView{CIDRs: len(l.CIDRs)}
	for _, k := range l.Keys {
		v.Values += len(k.Values)
	}
	return v
}

// matchText sums up a match. A header's expected value is not shown: it
// may be a shared secret.
func matchText(m *rules.Match) string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, " | "))
		}
	}
	add("method", m.Methods)
	add("path", m.PathPrefixes)
	if m.PathRegex != "" {
		parts = append(parts, "path ~ "+m.PathRegex)
	}
	add("route", m.Routes)
	var hs []string
	for _, h := range m.Headers {
		if h.Equals != "" {
			hs = append(hs, h.Name+" = …")
		} else {
			hs = append(hs, h.Name)
		}
	}
	add("header", hs)
	add("ip", m.CIDRs)
	return strings.Join(parts, ", ")
}

// boxFirsts maps the first rate limit of each enforced rule with a penalty
// to the rule: the limit whose key the rule's box is keyed by.
func boxFirsts(cfg *rules.Config) map[string]string {
	out := make(map[string]string)
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Penalty == nil || r.Skip || r.Shadow || cfg.Shadow {
			continue
		}
		for _, nl := range r.Limits {
			if nl.Concurrent == 0 {
				out[nl.Name] = r.Name
				break
			}
		}
	}
	return out
}

func isRulePolicy(cfg *rules.Config, name string) bool {
	for i := range cfg.Rules {
		for _, nl := range cfg.Rules[i].Limits {
			if nl.Name == name {
				return true
			}
		}
	}
	return false
}

// state reads the store's figures and its limiters' fallback.
func (v *StoreView) state() storeState {
	st := storeState{Name: v.name}
	if r, ok := v.store.(storekit.Reporter); ok {
		f := r.Figures()
		st.Reports = true
		st.Figures = &figuresView{
			Kind: f.Kind, Mode: f.Mode, Keys: f.Keys, Evicted: f.Evicted, Refused: f.Refused,
			Breaker: f.Breaker, BreakerOpen: f.BreakerOpen, BreakerOpened: f.BreakerOpened,
			Batches: f.Batches, BatchedCalls: f.BatchedCalls,
			LeaseGrants: f.LeaseGrants, LeaseGranted: f.LeaseGranted, LeaseGivenBack: f.LeaseGivenBack, LeaseHot: f.LeaseHot,
		}
		if f.Batches > 0 {
			st.Figures.BatchSizes = f.BatchSizes[:]
		}
	}
	v.mu.Lock()
	st.Fallback = fallbackState{Active: v.failing > 0, Failing: v.failing, Switches: v.switches, LastError: v.lastErr}
	if v.switches > 0 {
		since := v.since
		st.Fallback.Since = &since
	}
	v.mu.Unlock()
	return st
}
