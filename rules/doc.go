// Package rules says which limits apply to which requests: per route, method,
// path, header or client range, each with its own named limits and keys,
// taken together in one atomic step; allow and deny lists; a penalty box for
// repeat offenders; shadow mode to watch a limit before enforcing it. Rules
// are built in Go (Config) or loaded from a YAML file, checked whole, and
// hot-reloaded: a bad file never replaces good rules.
//
// An Engine is an httplimit.Server, so every adapter serves it:
//
//	store, _ := memstore.New()                   // or a redisstore.Store
//	e, err := rules.Load(store, "rules.yaml", rules.WithWatch(2*time.Second))
//	if err != nil {
//		log.Fatal(err) // rules.yaml:12: rules[1].limits[0].limit: ...
//	}
//	defer e.Close()
//	r := chi.NewRouter()
//	r.Use(chimw.Wrap(e))                         // ginmw.Wrap(e), echomw.Wrap(e), e.Handler(mux)
//
// # The file
//
//	mode: first                  # first (default) or all
//	shadow: false                # true: every rule in shadow
//	deny:                        # answered 403 before any rule
//	  cidr: [203.0.113.0/24]
//	  keys: [{key: "header:X-Api-Key", values: [revoked-key]}]
//	allow:                       # let through with no limit
//	  cidr: [10.0.0.0/8]
//	rules:
//	  - name: health
//	    match: {path_prefix: /healthz}
//	    skip: true
//	  - name: login
//	    match: {method: POST, route: /login}
//	    limits:
//	      - {name: login-per-ip, limit: 5/m, key: ip}
//	    penalty: {denials: 5, within: 10m, for: 15m}
//	  - name: api
//	    match:
//	      path_prefix: /api/
//	      header: {name: X-Env, equals: prod}
//	    limits:
//	      - {name: api-per-key, limit: 100/s, key: "header:X-Api-Key"}
//	      - {name: api-per-tenant, limit: 10000/h, key: "header:X-Tenant"}
//	    missing: {action: fallback, key: ip}
//	  - name: search-v2
//	    match: {path_regex: "^/search/v2(/|$)"}
//	    shadow: true
//	    limits:
//	      - {name: search-per-ip, limit: 10/s burst 20, key: ip}
//
// A match needs at least one condition: method, path_prefix, path_regex
// (RE2), route (the router's pattern), header (a name, present or equal to
// a value) or cidr (the client IP). Lists may be written as one value.
// Every condition given must hold; within one, any entry may. A limit is
// core.ParseLimit's text ("100/m", "10/s burst 20", "300/5m fixed-window");
// a key is ip, header:NAME, route, path or method, or several joined by +:
// the keyfuncs funcs of those names, composed as keyfuncs.Compose does.
// Durations are Go's (90s, 15m, 1h) or whole days (1d).
//
// A limit may have tiers instead of one limit: named quotas, the request's
// chosen by the value of a key spec (httplimit.WithTiers), with a default
// for a request that names none or an unknown one:
//
//	limits:
//	  - name: api-per-key
//	    key: "header:X-Api-Key"
//	    tiers: {free: 100/m, pro: 10000/m}
//	    tier_key: "header:X-Plan"   # set by a gateway, never by the client
//	    default_tier: free
//
// Every tier counts under the limit's name and key, so a client moving
// between tiers keeps its count; the fields report its tier's quota.
//
// A limit may be a concurrency limit instead (NamedLimit.Concurrent): at
// most N requests of a key in flight at once, each holding a slot from
// before the handler runs until it returns, panics or is aborted
// (httplimit.WithConcurrency; the adapters serve the Engine with
// ServeHold). A rule's concurrency limits are taken before its rate
// limits, and a rate denial gives the slots back:
//
//	limits:
//	  - {name: uploads-in-flight, concurrent: 4, key: ip}
//	  - {name: uploads-per-ip, limit: 60/m, key: ip}
//
// Loading is strict. Unknown fields, repeated keys, values of the wrong
// kind, unparsable limits, durations, CIDRs or regular expressions, empty
// matches, two rules or two limits with one name, a default_tier that is
// not one of the tiers, a concurrent below 1 or beside limit or tiers,
// more than MaxRules rules
// or a file over MaxFileSize: each is an error with the file, line and
// field (rules.yaml:9: rules[1].match.cidr[0]: "10.0.0.0/33": not an
// address or CIDR range), every bad field is reported, and nothing is
// applied.
//
// # Which rules apply
//
// By default the first rule that matches, in file order (FirstMatch): rules
// read as a router's or a firewall's do, a specific rule placed before a
// general one overrides it, and a request costs one rule's decision. With
// mode: all, every matching rule applies and their limits are taken
// together (at most httplimit.MaxLimits in the whole file, so any
// combination fits one step). A skip rule that matches ends the search.
//
// The limits of a request are taken all or nothing (core.TakeAll): a
// request one limit denies takes nothing from the others. The X-RateLimit
// fields describe the limit closest to denying, RateLimit and
// RateLimit-Policy list every policy.
//
// # A key that is missing
//
// A header absent, sent on several lines, or longer than WithMaxHeaderKey
// (default 256 bytes) is a missing key, never a truncated or shared one. The
// rule's missing: says what follows: deny (the default, status 401 or as
// set), skip (the next matching rule decides; none left, the request goes
// through), or fallback to another key, kept apart from the primary keys
// as keyfuncs.FirstOf keeps them. The no-key event's error wraps
// keyfuncs.ErrNoKey.
//
// # Penalty box
//
// A rule with penalty: boxes a client denied `denials` times within
// `within`, for `for`: every request is answered 429 with Retry-After the
// time left in the box, without a decision of the limits, so the box spends
// no quota. The client is the key of the rule's first limit, and only the
// denials of the rule's limits keyed as that one (the same key: spec, such
// as ip) count towards its box: a limit the client shares with others (per
// tenant, per route) never boxes it, or an attacker who spends that limit
// would box everyone behind it. Under mode: all, each matching rule with a
// penalty has its own box, counting its own limits' denials: a client in
// any of them is refused, with the longest time left (at most
// core.MaxBoxes rules with a penalty in a file under mode: all). A shadow
// rule boxes no one. The boxes live in the store and are read, decided and
// counted in the same step as the limits (storekit.BoxStore): on Redis they are
// shared by every instance and cost no extra round trip. A penalty needs
// all of the rule's limits in one store that keeps boxes (memstore,
// redisstore).
//
// # Shadow mode
//
// A shadow rule (or shadow: true for all) decides and counts as if enforced,
// but a request it would deny goes through: the hook sees "shadow-denied",
// no 429 is sent, no rate-limit fields, and no one is boxed. Flipping a rule
// from shadow to enforced is a reload, and its counters carry over.
//
// # Reloading
//
// Load reads the file once; WithWatch re-reads it every interval (polling,
// which sees editors' atomic renames and Kubernetes ConfigMap symlink swaps
// that a file watch misses, and costs one stat-sized read per interval) and
// Reload re-reads it on demand (on SIGHUP, say). A new file is parsed and
// checked whole before it replaces the rules in one atomic swap; a request
// in flight finishes under the rules it began with. A bad file leaves the
// rules in force and is reported to WithReloadHook (once per content, when
// watching). Counters live in the store under the limit's name: a limit
// that keeps its name keeps its counters.
//
// # Observability
//
// WithHook receives every decision as an Event: the rule, the limit's name, a
// keyed hash of the key (never the key: it may be a credential), the
// outcome (allowed, denied, shadow-denied, penalty, error, or the rules' own
// deny-listed and no-key answers), the remaining quota and the store call's
// latency. SlogHook writes them to log/slog, rate-limited itself.
//
// An operator's tools read the Engine too: Config is the rules in force,
// LastReload the last read of the file (when, and its error), Limiter a
// limit's limiter (whose Reset gives a client its quota back), and
// ReleaseBox lets a client out of a rule's penalty box. Package
// github.com/tollgate-go/tollgate/opspage shows them on a page.
package rules
