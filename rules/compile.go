package rules

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// FieldError is an invalid field of a Config. Path names the field as the
// YAML file does ("rules[2].limits[0].limit"); File and Line say where it
// is when the Config was read from a file. The zero FieldError is not
// meaningful: Load, Parse and New return FieldErrors they fill in.
type FieldError struct {
	File string
	Line int
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	msg := "invalid"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.File != "" {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Path + ": " + msg
	}
	return "rules: " + e.Path + ": " + msg
}

func (e *FieldError) Unwrap() error { return e.Err }

// maxName is the longest rule or policy name.
const maxName = 128

// maxErrors is the most field errors one check reports.
const maxErrors = 20

// compiled is a checked Config, ready to serve. It never changes: a reload
// makes another.
type compiled struct {
	mode     Mode
	rules    []crule
	allow    clist
	deny     clist
	resolver *keyfuncs.IPResolver
	nrules   int

	// always are the rules any path may match, in order; bySeg, for a
	// path's first segment ("/api/"), the rules it may match: always and
	// those whose path prefixes all begin with that segment, in order.
	always []int
	bySeg  map[string][]int

	cfg     Config                   // what made it, for Engine.Config
	byLimit map[string]*core.Limiter // the rate limits' limiters, by name
	byRule  map[string]int           // the rules, by name

	comboMu sync.Mutex
	combos  map[string]*httplimit.Gate // AllMatches: a gate per set of rules matched together; guarded by comboMu
	gateOpt []httplimit.Option
}

type crule struct {
	name     string
	m        matcher
	skip     bool
	specs    []*keySpec         // the limits' keys, as written
	keyFns   []keyfuncs.KeyFunc // the limits' keys, with the fallback if any
	route    bool               // a key func reads the route
	limiters []*core.Limiter
	tierOpts []httplimit.Option // WithTiers of its tiered limits
	// conc are its concurrency limits; concSpecs their keys. specs and
	// keyFns list the rate limits' keys first, then these, as the gate's
	// ServeKeysHold takes them; nrate counts the rate limits.
	conc      []*core.ConcurrencyLimiter
	concSpecs []*keySpec
	nrate     int
	gate      *httplimit.Gate
	missing   MissingAction
	status    int
	fallback  *keySpec
	penalty   *core.Penalty
	boxTakes  uint16 // the limits its box counts: those keyed as the first
	shadow    bool
}

type clist struct {
	cidrs []netip.Prefix
	keys  []keyList
}

type keyList struct {
	spec   *keySpec
	values map[string]struct{}
}

func (l *clist) empty() bool { return len(l.cidrs) == 0 && len(l.keys) == 0 }

func (l *clist) hit(q *request) bool {
	if len(l.cidrs) > 0 {
		if ip, err := q.clientIP(); err == nil && inAny(l.cidrs, ip) {
			return true
		}
	}
	for i := range l.keys {
		k, err := l.keys[i].spec.key(q)
		if err != nil {
			continue
		}
		if _, ok := l.keys[i].values[k]; ok {
			return true
		}
	}
	return false
}

// checker gathers the field errors of a Config.
type checker struct{ errs []error }

func (c *checker) fail(path string, err error) {
	if len(c.errs) < maxErrors {
		c.errs = append(c.errs, &FieldError{Path: path, Err: err})
	}
}

func (c *checker) failf(path, format string, args ...any) { c.fail(path, fmt.Errorf(format, args...)) }

func (c *checker) err() error { return errors.Join(c.errs...) }

// compile checks cfg whole and builds what serves it: the limiters (in
// store, with e's options) and each rule's gate. Any error leaves nothing
// built.
func (e *Engine) compile(cfg *Config) (*compiled, error) {
	var c checker
	out := &compiled{mode: cfg.Mode, resolver: e.o.resolver, gateOpt: e.o.gate, nrules: len(cfg.Rules)}
	if cfg.Mode > AllMatches {
		c.failf("mode", "%d: want first or all", cfg.Mode)
	}
	if len(cfg.Rules) > MaxRules {
		c.failf("rules", "%d rules, more than %d", len(cfg.Rules), MaxRules)
		return nil, c.err()
	}
	out.allow = e.compileList(&c, "allow", &cfg.Allow)
	out.deny = e.compileList(&c, "deny", &cfg.Deny)
	n := names{rules: make(map[string]int, len(cfg.Rules)), policies: make(map[string]string)}
	total, boxed := 0, 0
	out.rules = make([]crule, len(cfg.Rules))
	for i := range cfg.Rules {
		r, cr := &cfg.Rules[i], &out.rules[i]
		e.compileRule(&c, &n, i, r, cfg.Shadow || r.Shadow, cr)
		total += len(r.Limits)
		if cr.penalty != nil && !cr.shadow && !cr.skip {
			boxed++
		}
	}
	if cfg.Mode == AllMatches && total > httplimit.MaxLimits {
		c.failf("mode", "all: the rules have %d limits in all, and a request matching every rule would be under more than %d", total, httplimit.MaxLimits)
	}
	if cfg.Mode == AllMatches && boxed > core.MaxBoxes {
		c.failf("mode", "all: %d enforced rules have a penalty, and a request matching every rule would be under more than %d penalty boxes", boxed, core.MaxBoxes)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	if cfg.Mode == AllMatches {
		out.combos = make(map[string]*httplimit.Gate)
	}
	out.index()
	out.cfg = cfg.clone()
	out.byLimit = make(map[string]*core.Limiter)
	out.byRule = make(map[string]int, len(out.rules))
	for i := range out.rules {
		out.byRule[out.rules[i].name] = i
		for _, l := range out.rules[i].limiters {
			out.byLimit[l.Name()] = l
		}
	}
	return out, nil
}

// names are the rule and limit names a Config has used so far, each unique
// across the whole Config.
type names struct {
	rules    map[string]int    // a rule's name: its index
	policies map[string]string // a limit's name: its path
}

// compileRule checks the i-th rule, r, and builds cr: its matcher, its
// limiters and their keys, its answer to a missing key, its penalty and
// its gate. The gate is built only while the Config has no error.
func (e *Engine) compileRule(c *checker, n *names, i int, r *Rule, shadow bool, cr *crule) {
	path := "rules[" + strconv.Itoa(i) + "]"
	cr.name, cr.skip, cr.shadow = r.Name, r.Skip, shadow
	switch j, dup := n.rules[r.Name]; {
	case r.Name == "":
		c.fail(path+".name", errors.New("empty: every rule has a name"))
	case len(r.Name) > maxName:
		c.failf(path+".name", "%d bytes, more than %d", len(r.Name), maxName)
	case dup:
		c.failf(path+".name", "%q: also the name of rules[%d]", r.Name, j)
	default:
		n.rules[r.Name] = i
	}
	if r.Match.empty() {
		c.fail(path+".match", errors.New("empty: say what the rule matches (path_prefix: / matches every request)"))
	}
	cr.m = compileMatch(c, path+".match", &r.Match)
	switch {
	case r.Skip && len(r.Limits) > 0:
		c.fail(path+".limits", errors.New("a skip rule has no limits"))
	case r.Skip && r.Penalty != nil:
		c.fail(path+".penalty", errors.New("a skip rule has no penalty"))
	case !r.Skip && len(r.Limits) == 0:
		c.fail(path+".limits", errors.New("none: a rule has 1 or more limits, or skip: true"))
	case len(r.Limits) > httplimit.MaxLimits:
		c.failf(path+".limits", "%d limits, more than %d", len(r.Limits), httplimit.MaxLimits)
	}
	for j := range r.Limits {
		e.compileLimit(c, n, path+".limits["+strconv.Itoa(j)+"]", &r.Limits[j], r.Name, cr)
	}
	cr.nrate = len(cr.specs)
	cr.specs = append(cr.specs, cr.concSpecs...)
	e.compileMissing(c, path, &r.Missing, cr)
	for _, spec := range cr.specs {
		fn, route := orElse(spec, cr.fallback)
		cr.keyFns = append(cr.keyFns, fn)
		cr.route = cr.route || route
	}
	if r.Penalty != nil {
		if err := r.Penalty.Validate(); err != nil {
			c.fail(path+".penalty", err)
		}
		pen := *r.Penalty
		cr.penalty = &pen
		if cr.nrate == 0 && len(cr.conc) > 0 {
			c.fail(path+".penalty", errors.New("a rule with concurrency limits only has no penalty: a box counts denials of rate limits"))
		} else if cr.nrate > 0 {
			cr.boxTakes = sameKey(cr.specs[:cr.nrate])
		}
	}
	if len(c.errs) > 0 || r.Skip {
		return
	}
	if cr.penalty != nil && !shadow {
		if err := core.CanBox(cr.limiters); err != nil {
			c.fail(path+".penalty", err)
			return
		}
	}
	g, err := e.gate(cr.limiters, cr.conc, cr.tierOpts)
	if err != nil {
		c.fail(path+".limits", err)
		return
	}
	cr.gate = g
}

// compileLimit checks the limit p, at path, of the rule named rule, and
// adds its key and limiter to cr.
func (e *Engine) compileLimit(c *checker, n *names, path string, p *NamedLimit, rule string, cr *crule) {
	switch at, dup := n.policies[p.Name]; {
	case p.Name == "":
		c.fail(path+".name", errors.New("empty: every limit has a name"))
		return
	case len(p.Name) > maxName:
		c.failf(path+".name", "%d bytes, more than %d", len(p.Name), maxName)
		return
	case dup:
		c.failf(path+".name", "%q: also the name of %s", p.Name, at)
		return
	}
	n.policies[p.Name] = path
	spec, err := parseKey(p.Key, e.o.maxHeader, e.o.resolver)
	if err != nil {
		c.fail(path+".key", err)
		return
	}
	if p.Concurrent != 0 {
		e.compileConc(c, path, p, spec, rule, cr)
		return
	}
	cr.specs = append(cr.specs, spec)
	lopts := append([]core.Option{core.WithName(p.Name)}, e.o.limiter...)
	if cr.shadow {
		lopts = append(lopts, core.WithShadow())
	}
	if e.o.hook != nil {
		lopts = append(lopts, core.WithHook(e.limiterHook(rule)))
	}
	limit := p.Limit
	var sel *keySpec
	if len(p.Tiers) > 0 || p.TierKey != "" || p.DefaultTier != "" {
		if sel = e.compileTiers(c, path, p); sel == nil {
			return
		}
		limit = p.Tiers[p.DefaultTier]
	}
	l, err := core.NewLimiter(e.store, limit, lopts...)
	if err != nil {
		field := ".limit"
		switch {
		case sel != nil:
			field = ".tiers." + p.DefaultTier
		case !errors.Is(err, core.ErrInvalidLimit):
			field = ".name"
		}
		c.fail(path+field, err)
		return
	}
	if sel != nil {
		for _, name := range sortedTiers(p.Tiers) {
			if _, err := l.Tier(p.Tiers[name]); err != nil {
				c.fail(path+".tiers."+name, err)
				return
			}
		}
		cr.tierOpts = append(cr.tierOpts, httplimit.WithTiers(l, sel.fn, p.Tiers, p.DefaultTier))
	}
	cr.limiters = append(cr.limiters, l)
}

// compileConc checks p, the concurrency limit at path of the rule named
// rule, keyed by spec, and adds it to cr.
func (e *Engine) compileConc(c *checker, path string, p *NamedLimit, spec *keySpec, rule string, cr *crule) {
	switch {
	case p.Concurrent < 0:
		c.failf(path+".concurrent", "%d: at least 1 request in flight", p.Concurrent)
		return
	case p.Limit != (core.Limit{}):
		c.fail(path+".limit", errors.New("set with concurrent: a limit is a quota or a concurrency limit, not both (give each a limit of its own)"))
		return
	case len(p.Tiers) > 0 || p.TierKey != "" || p.DefaultTier != "":
		c.fail(path+".tiers", errors.New("set with concurrent: a concurrency limit has no tiers"))
		return
	case cr.shadow:
		c.fail(path+".concurrent", errors.New("in a shadow rule: a concurrency limit cannot be decided without holding a slot, so it is not shadowed"))
		return
	}
	opts := append([]core.Option{core.WithName(p.Name)}, e.o.limiter...)
	if e.o.hook != nil {
		opts = append(opts, core.WithHook(e.limiterHook(rule)))
	}
	l, err := core.NewConcurrencyLimiter(e.store, p.Concurrent, opts...)
	if err != nil {
		c.fail(path+".concurrent", err)
		return
	}
	cr.concSpecs = append(cr.concSpecs, spec)
	cr.conc = append(cr.conc, l)
}

// compileTiers checks the tiers of p, the limit at path, and returns the
// key spec of its tier key, or nil having failed.
func (e *Engine) compileTiers(c *checker, path string, p *NamedLimit) *keySpec {
	switch {
	case len(p.Tiers) == 0:
		c.fail(path+".tiers", errors.New("none: tier_key and default_tier choose among tiers"))
		return nil
	case p.Limit != (core.Limit{}):
		c.fail(path+".limit", errors.New("set with tiers: a tiered limit's quotas are its tiers"))
		return nil
	case p.TierKey == "":
		c.fail(path+".tier_key", errors.New("empty: say which key names the tier (header:X-Plan)"))
		return nil
	case p.DefaultTier == "":
		c.fail(path+".default_tier", errors.New("empty: name the tier of a request that names none (or an unknown one)"))
		return nil
	}
	names := sortedTiers(p.Tiers)
	if _, ok := p.Tiers[p.DefaultTier]; !ok {
		c.failf(path+".default_tier", "%q: not one of the tiers (%s)", p.DefaultTier, strings.Join(names, ", "))
		return nil
	}
	for _, name := range names {
		if name == "" {
			c.fail(path+".tiers", errors.New("a tier with an empty name"))
			return nil
		}
		if err := p.Tiers[name].Validate(); err != nil {
			c.fail(path+".tiers."+name, err)
			return nil
		}
	}
	sel, err := parseKey(p.TierKey, e.o.maxHeader, e.o.resolver)
	if err == nil && sel.route {
		err = errors.New("route: a tier is the client's, not the route's (give routes rules of their own)")
	}
	if err != nil {
		c.fail(path+".tier_key", err)
		return nil
	}
	return sel
}

func sortedTiers(tiers map[string]core.Limit) []string {
	names := make([]string, 0, len(tiers))
	for name := range tiers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// compileMissing checks m, the Missing of the rule at path, and sets cr's
// answer to a request without a key.
func (e *Engine) compileMissing(c *checker, path string, m *Missing, cr *crule) {
	cr.missing, cr.status = m.Action, m.Status
	switch m.Action {
	case MissingDeny:
		if cr.status == 0 {
			cr.status = DefaultMissingStatus
		} else if cr.status < 400 || cr.status > 599 {
			c.failf(path+".missing.status", "%d: not a 4xx or 5xx status", cr.status)
		}
		if m.Fallback != "" {
			c.fail(path+".missing.key", errors.New("a fallback key needs action: fallback"))
		}
	case MissingSkip:
		if m.Fallback != "" || m.Status != 0 {
			c.fail(path+".missing", errors.New("action skip takes no key and no status"))
		}
	case MissingFallback:
		spec, err := parseKey(m.Fallback, e.o.maxHeader, e.o.resolver)
		if err != nil {
			c.fail(path+".missing.key", err)
		}
		cr.fallback = spec
		if m.Status != 0 {
			c.fail(path+".missing.status", errors.New("action fallback takes no status"))
		}
		// A request whose fallback key cannot be read either is
		// denied as under MissingDeny.
		cr.status = DefaultMissingStatus
	default:
		c.failf(path+".missing.action", "%d: want deny, skip or fallback", m.Action)
	}
}

// boxTag begins every box key: a NUL byte, which no limiter's key begins
// with (a limit's name is printable).
const boxTag = "\x00penalty|"

// appendBoxKey appends the box key of the rule named name for the client
// key: boxTag, then the two joined by keyfuncs.Join, so that no two (rule,
// client key) pairs share a box key, whatever bytes names and keys hold.
func appendBoxKey(dst []byte, name, key string) []byte {
	return keyfuncs.AppendJoin(append(dst, boxTag...), name, key)
}

// sameKey returns the limits, as a core.Box's Takes, keyed by the same
// sources as the first (specs[0]): the limits of the client a rule's box
// is keyed by, whose denials alone count towards it.
func sameKey(specs []*keySpec) uint16 {
	var sel uint16
	for i, k := range specs {
		if k.canon == specs[0].canon {
			sel |= 1 << i
		}
	}
	return sel
}

// index sorts the rules by the first path segment they can match, so that
// a request is matched against the rules its path may meet, not all.
func (c *compiled) index() {
	segs := make([][]string, len(c.rules))
	for i := range c.rules {
		segs[i] = guard(c.rules[i].m.prefixes)
	}
	c.bySeg = map[string][]int{}
	for i, ss := range segs {
		if ss == nil {
			c.always = append(c.always, i)
			continue
		}
		for _, seg := range ss {
			c.bySeg[seg] = nil
		}
	}
	for seg := range c.bySeg {
		var list []int
		for i, ss := range segs {
			if ss == nil || contains(ss, seg) {
				list = append(list, i)
			}
		}
		c.bySeg[seg] = list
	}
}

// guard returns the first segments ("/api/") a path must begin with to
// meet one of prefixes, or nil when some prefix does not name a whole first
// segment ("/", "/ap"): any path may then match.
func guard(prefixes []string) []string {
	if len(prefixes) == 0 {
		return nil
	}
	var out []string
	for _, p := range prefixes {
		j := strings.IndexByte(p[1:], '/')
		if j < 0 {
			return nil
		}
		if seg := p[:j+2]; !contains(out, seg) {
			out = append(out, seg)
		}
	}
	return out
}

// candidates returns the rules, in order, that a request for path may
// match.
func (c *compiled) candidates(path string) []int {
	if len(c.bySeg) == 0 {
		return c.always
	}
	if len(path) > 1 && path[0] == '/' {
		if j := strings.IndexByte(path[1:], '/'); j >= 0 {
			if list, ok := c.bySeg[path[:j+2]]; ok {
				return list
			}
		}
	}
	return c.always
}

// gate makes the HTTP answer of a set of limiters.
func (e *Engine) gate(ls []*core.Limiter, conc []*core.ConcurrencyLimiter, tiers []httplimit.Option) (*httplimit.Gate, error) {
	opts := append(tiers[:len(tiers):len(tiers)], e.o.gate...)
	for _, l := range conc {
		opts = append(opts, httplimit.WithConcurrency(l, nil)) // keyed by ServeKeysHold
	}
	g, err := httplimit.NewGroup(ls, opts...)
	if err != nil {
		return nil, err
	}
	if g.Len() != len(ls) || g.Conc() != len(conc) {
		return nil, errors.New("rules: httplimit.WithLimit in WithGateOptions: the rules name every limit")
	}
	return g, nil
}

func (e *Engine) compileList(c *checker, path string, l *List) clist {
	out := clist{cidrs: compileCIDRs(c, path, l.CIDRs)}
	for i := range l.Keys {
		kv := &l.Keys[i]
		kp := path + ".keys[" + strconv.Itoa(i) + "]"
		spec, err := parseKey(kv.Key, e.o.maxHeader, e.o.resolver)
		if err != nil {
			c.fail(kp+".key", err)
			continue
		}
		if len(kv.Values) == 0 {
			c.fail(kp+".values", errors.New("none"))
			continue
		}
		set := make(map[string]struct{}, len(kv.Values))
		for _, v := range kv.Values {
			set[v] = struct{}{}
		}
		out.keys = append(out.keys, keyList{spec: spec, values: set})
	}
	return out
}

func compileMatch(c *checker, path string, m *Match) matcher {
	var out matcher
	for i, meth := range m.Methods {
		if !validHeaderName(meth) {
			c.failf(path+".method["+strconv.Itoa(i)+"]", "%q: not a method", meth)
			continue
		}
		out.methods = append(out.methods, strings.ToUpper(meth))
	}
	for i, p := range m.PathPrefixes {
		if !strings.HasPrefix(p, "/") {
			c.failf(path+".path_prefix["+strconv.Itoa(i)+"]", "%q: a path prefix starts with /", p)
			continue
		}
		out.prefixes = append(out.prefixes, p)
	}
	if m.PathRegex != "" {
		re, err := regexp.Compile(m.PathRegex)
		if err != nil {
			c.fail(path+".path_regex", err)
		}
		out.regex = re
	}
	for i, r := range m.Routes {
		if r == "" {
			c.fail(path+".route["+strconv.Itoa(i)+"]", errors.New("empty"))
			continue
		}
		out.routes = append(out.routes, r)
	}
	for i, h := range m.Headers {
		if !validHeaderName(h.Name) {
			c.failf(path+".header["+strconv.Itoa(i)+"].name", "%q: not a header name", h.Name)
			continue
		}
		out.headers = append(out.headers, headerCond{name: http.CanonicalHeaderKey(h.Name), equals: h.Equals})
	}
	out.cidrs = compileCIDRs(c, path, m.CIDRs)
	return out
}

// compileCIDRs reads the ranges of path.cidr.
func compileCIDRs(c *checker, path string, cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range cidrs {
		p, err := parsePrefix(s)
		if err != nil {
			c.failf(path+".cidr["+strconv.Itoa(i)+"]", "%q: not an address or CIDR range", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// limiterHook reports a limiter's decisions as rule's events, the key
// hashed.
func (e *Engine) limiterHook(rule string) func(context.Context, core.Event) {
	hook, h := e.o.hook, e.hasher
	return func(ctx context.Context, ev core.Event) {
		ev.Key = h.hash(ev.Key)
		hook(ctx, Event{Rule: rule, Event: ev})
	}
}

// combo returns the gate of the rules at idx, matched together.
func (e *Engine) combo(c *compiled, idx []int) *httplimit.Gate {
	var kb [2 * httplimit.MaxLimits]byte
	k := kb[:0]
	for _, i := range idx {
		k = append(k, byte(i>>8), byte(i))
	}
	c.comboMu.Lock()
	g := c.combos[string(k)]
	c.comboMu.Unlock()
	if g != nil {
		return g
	}
	var ls []*core.Limiter
	var conc []*core.ConcurrencyLimiter
	var tiers []httplimit.Option
	for _, i := range idx {
		ls = append(ls, c.rules[i].limiters...)
		conc = append(conc, c.rules[i].conc...)
		tiers = append(tiers, c.rules[i].tierOpts...)
	}
	g, err := e.gate(ls, conc, tiers)
	if err != nil {
		return nil // cannot happen: compile checked names and numbers
	}
	c.comboMu.Lock()
	if len(c.combos) < 4096 {
		c.combos[string(k)] = g
	}
	c.comboMu.Unlock()
	return g
}
