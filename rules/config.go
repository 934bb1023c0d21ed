package rules

import (
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// Mode says which of the rules that match a request apply to it.
// The zero value is FirstMatch.
type Mode uint8

const (
	// FirstMatch applies the first rule, in order, that matches: rules read
	// like a router's or a firewall's, a specific rule placed before a
	// general one overrides it, and a request is decided by one rule's
	// limits. It is the default.
	FirstMatch Mode = iota
	// AllMatches applies every rule that matches, their limits taken
	// together in one step (at most httplimit.MaxLimits in all).
	AllMatches
)

func (m Mode) String() string {
	if m == AllMatches {
		return "all"
	}
	return "first"
}

// Config is a whole set of rules, as a file holds it. The zero value of
// each field is its default.
type Config struct {
	// Mode chooses the rules that apply. Default FirstMatch.
	Mode Mode
	// Shadow puts every rule in shadow mode: decided, counted and reported,
	// never enforced.
	Shadow bool
	// Allow lets requests through with no limit; Deny refuses them (403 by
	// default). Deny is checked first.
	Allow, Deny List
	// Rules, in order. At most MaxRules.
	Rules []Rule
}

// MaxRules is the most rules one Config holds.
const MaxRules = 10000

// List matches requests by the client's address or by the value of a key.
// The zero List matches no request.
type List struct {
	// CIDRs are address ranges ("10.0.0.0/8", "2001:db8::/32") or single
	// addresses, matched against the client IP.
	CIDRs []string
	// Keys are key values: a request whose key (as the Key spec reads it)
	// is one of Values is on the list.
	Keys []KeyValues
}

// KeyValues lists values of one key, such as API keys.
// The zero KeyValues (no Key) is invalid: compiling a Config refuses it.
type KeyValues struct {
	// Key is a key spec (see NamedLimit.Key).
	Key string
	// Values are the keys on the list.
	Values []string
}

// Rule says which requests it matches and the limits they are held to.
// The zero Rule is invalid (no name, no match, no limits): compiling a
// Config refuses it, naming the field.
type Rule struct {
	// Name names the rule in hooks and errors. Unique in a Config.
	Name string
	// Match says which requests the rule applies to. It must not be empty:
	// to match everything, say so (PathPrefixes: []string{"/"}).
	Match Match
	// Skip lets matched requests through with no limit and no rate-limit
	// fields: health checks, metrics. A skip rule has no Limits.
	Skip bool
	// Shadow decides and reports the rule's limits without enforcing them:
	// a request they would deny goes through, the hook sees
	// "shadow-denied", and no rate-limit fields are sent.
	Shadow bool
	// Limits are the rule's named limits, each with its key: 1 to
	// httplimit.MaxLimits, taken together (all or nothing).
	Limits []NamedLimit
	// Missing says what happens to a request whose key cannot be read.
	Missing Missing
	// Penalty, when set, boxes a client denied Penalty.Denials times within
	// Penalty.Within for Penalty.For. The box's client is the rule's first
	// limit's key, and only denials by the rule's limits keyed as that one
	// (the same Key spec) count towards it. Nil: no box.
	Penalty *core.Penalty
}

// Match is the condition a request must meet. Every field that is set must
// match (and); within a field, any entry may (or).
// The zero Match is invalid: a Rule must say what it matches.
type Match struct {
	// Methods are request methods ("GET", "POST").
	Methods []string
	// PathPrefixes are URL path prefixes ("/api/").
	PathPrefixes []string
	// PathRegex is a regular expression (RE2 syntax) the URL path matches.
	PathRegex string
	// Routes are route patterns, as the router knows them ("/users/{id}"
	// in chi, "/users/:id" in gin and echo).
	Routes []string
	// Headers are header conditions.
	Headers []HeaderMatch
	// CIDRs are ranges the client IP is in.
	CIDRs []string
}

func (m *Match) empty() bool {
	return len(m.Methods) == 0 && len(m.PathPrefixes) == 0 && m.PathRegex == "" && len(m.Routes) == 0 && len(m.Headers) == 0 && len(m.CIDRs) == 0
}

// HeaderMatch is met when the request has header Name, sent once, equal to
// Equals; or, with Equals empty, when the header is present.
// The zero HeaderMatch (no Name) is invalid: compiling a Config refuses it.
type HeaderMatch struct {
	Name   string
	Equals string
}

// NamedLimit is one named limit and the key it counts under: an entry of a
// rule's limits (YAML "limits:", each with name, limit and key). Its zero
// value is invalid: a Config holding one fails to compile, naming the field.
type NamedLimit struct {
	// Name names the limit in the RateLimit fields and hooks, and keeps its
	// counters: a limit with the same name and key after a reload keeps
	// them. Unique in a Config; printable ASCII without '"' or '\'.
	Name string
	// Limit is the quota.
	Limit core.Limit
	// Key says who the client is, as one or more sources joined by '+':
	//
	//	ip             the client IP (keyfuncs: the connection's address,
	//	               or as WithIPResolver trusts proxies)
	//	header:NAME    the value of header NAME, sent once, at most
	//	               WithMaxHeaderKey bytes (default 256)
	//	route          the route pattern the router matched
	//	path           the URL path
	//	method         the request method
	//
	// "header:X-Tenant+route" counts each tenant's calls per route. Each
	// source is the keyfuncs func of that name (IPResolver.Key, Header,
	// Pattern, Path, Method) and several are joined by keyfuncs.Compose,
	// so a spec keys a request as those funcs do in Go. A source's value
	// or the whole key longer than core.MaxKeyLen/2 bytes is a missing
	// key.
	Key string
	// Tiers, when set, replace Limit: named quotas ("free": 100/m, "pro":
	// 10000/m) of which each request gets the one TierKey names. Every tier
	// counts under the limit's name and key, so a client moving between
	// tiers keeps its count (httplimit.WithTiers), and the rate-limit
	// fields report the request's tier.
	Tiers map[string]core.Limit
	// TierKey is a key spec (ip, header:NAME, path or method, as Key; not
	// route) whose value names the request's tier: "header:X-Plan", set by
	// a gateway the client cannot bypass. A request whose value is missing
	// or names no tier gets DefaultTier.
	TierKey string
	// DefaultTier is one of Tiers. Required with Tiers.
	DefaultTier string
	// Concurrent, when set, makes the limit a concurrency limit in place of
	// a quota: at most Concurrent requests of a key in flight at once (4
	// uploads per client), each holding a slot from before the handler
	// runs until it returns, panics or is aborted
	// (core.NewConcurrencyLimiter over the Engine's store). It excludes
	// Limit and Tiers, and a shadow rule has none. Zero: a rate limit;
	// below zero is invalid. A rule's concurrency limits are taken before
	// its rate limits (httplimit.WithConcurrency).
	Concurrent int64
}

// MissingAction is what a rule does with a request whose key cannot be read:
// a header absent, sent on several lines, or longer than the cap.
// The zero value is MissingDeny.
type MissingAction uint8

const (
	// MissingDeny answers the request with Missing.Status (default 401).
	// It is the default: an unkeyed request is never counted in a shared
	// bucket, and never let through unlimited.
	MissingDeny MissingAction = iota
	// MissingSkip passes the request on to the rules after this one, as if
	// the rule did not match; with none left it goes through unlimited.
	MissingSkip
	// MissingFallback keys the request by Missing.Fallback instead (the
	// client IP, say): each limit's key is keyfuncs.FirstOf its Key and
	// the fallback. Fallback keys are kept apart from the primary keys,
	// so a client cannot send a header that names another's fallback
	// bucket. A request whose fallback key cannot be read either (an
	// unparsable forwarded address from a trusted proxy) is denied with
	// DefaultMissingStatus.
	MissingFallback
)

var missingNames = [...]string{"deny", "skip", "fallback"}

func (a MissingAction) String() string {
	if int(a) < len(missingNames) {
		return missingNames[a]
	}
	return "missing(?)"
}

// Missing is a rule's answer to a request it cannot key.
// The zero Missing denies with DefaultMissingStatus.
type Missing struct {
	Action MissingAction
	// Status is the answer under MissingDeny: 400 to 599. Default 401.
	Status int
	// Fallback is the key spec used under MissingFallback.
	Fallback string
}

// DefaultMissingStatus is the status of MissingDeny when none is set: a
// request that says nothing about who sends it is unauthenticated.
const DefaultMissingStatus = 401

// ReloadEvent reports a reload of the rules file.
// A hook receives ReloadEvents the Engine fills in; the
// zero value describes no reload.
type ReloadEvent struct {
	// Path is the file read.
	Path string
	// Err is why the file was refused (the rules in force stay); nil when
	// it replaced them.
	Err error
	// Rules is how many rules are in force afterwards.
	Rules int
	// At is when the reload ended.
	At time.Time
}
