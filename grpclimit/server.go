package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/core/httplimit"
	"github.com/tollgate-go/tollgate/internal/keycheck"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// The metadata keys of the rate-limit fields. Their values are those of the
// HTTP fields of the same names (see package httplimit): an admitted call's
// response header carries PolicyKey and RateLimitKey; a denied call's
// trailer carries all three, and a call refused because the store failed
// (fail-closed) carries RetryAfterKey.
const (
	// RetryAfterKey: the wait in whole seconds, rounded up, at least 1
	// ("20"), as HTTP's Retry-After. The RetryInfo detail has it exactly.
	RetryAfterKey = "retry-after"
	// PolicyKey: every limit of the call as `"name";q=quota;w=window-seconds`,
	// as RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers).
	PolicyKey = "ratelimit-policy"
	// RateLimitKey: every limit decided as `"name";r=remaining;t=seconds`, as
	// RateLimit: t is until the quota is whole again when admitted, until
	// the call would be admitted when denied.
	RateLimitKey = "ratelimit"
)

// Interceptor limits the calls of a gRPC server: Unary and Stream return
// its interceptors, which decide every call with core's Limiters before
// its handler runs. It is safe for concurrent use. The zero Interceptor
// applies no limit: every call proceeds. Build one with New or PerIP.
type Interceptor struct {
	key      KeyFunc
	skip     func(ctx context.Context, fullMethod string) bool
	deny     DenyHandler
	onError  ErrorHandler
	header   bool
	messages bool
	// def applies to the calls no pattern matches (nil: not limited);
	// methods and services hold the WithMethod patterns, by full method
	// and by service ("/pkg.Service/").
	def      *rule
	methods  map[string]*rule
	services map[string]*rule
}

// rule is the limits a call is taken under.
type rule struct {
	limits []limit
	policy string // the PolicyKey value: every enforced limit
	// single: one enforced limit, taken by itself (Limiter.Take).
	single bool
}

// limit is one limiter of a rule, with its key func and field values.
type limit struct {
	l    *core.Limiter
	key  KeyFunc // nil: the interceptor's, called once per call
	id   string  // the policy id as a Structured Fields string, quotes included
	q, w int64   // httplimit.QuotaWindow of the limit
}

// New returns an Interceptor applying l (and the limits of WithLimit) to
// every call no WithMethod pattern matches, keyed by the peer's address
// (PeerIP(nil)) unless WithKeyFunc says otherwise. l may be nil only with
// WithMethod patterns: the calls they do not match are then not limited.
// New returns an error naming the option at fault: an invalid option, more
// than MaxLimits limits on one call, or two limits of one call sharing a
// name.
func New(l *core.Limiter, opts ...Option) (*Interceptor, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("grpclimit: nil option")
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	switch {
	case l == nil && len(c.methods) == 0:
		return nil, errors.New("grpclimit: New: nil limiter and no WithMethod patterns: nothing to limit")
	case l == nil && len(c.extra) > 0:
		return nil, errors.New("grpclimit: WithLimit adds to New's limiter, which is nil")
	}
	in := &Interceptor{
		key:      c.key,
		skip:     c.skip,
		deny:     c.deny,
		onError:  c.onError,
		header:   !c.noHeader,
		messages: c.messages,
	}
	if in.key == nil {
		in.key = PeerIP(nil)
	}
	if l != nil {
		ru, err := newRule("New", append([]keyed{{l, nil}}, c.extra...))
		if err != nil {
			return nil, err
		}
		in.def = ru
	}
	var order []string
	byPattern := map[string][]keyed{}
	for _, m := range c.methods {
		if _, ok := byPattern[m.pattern]; !ok {
			order = append(order, m.pattern)
		}
		byPattern[m.pattern] = append(byPattern[m.pattern], m.keyed)
	}
	for _, p := range order {
		ru, err := newRule(fmt.Sprintf("WithMethod(%q)", p), byPattern[p])
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(p, "/") {
			if in.services == nil {
				in.services = map[string]*rule{}
			}
			in.services[p] = ru
		} else {
			if in.methods == nil {
				in.methods = map[string]*rule{}
			}
			in.methods[p] = ru
		}
	}
	return in, nil
}

// newRule returns the rule of ks; where names the option, for errors.
func newRule(where string, ks []keyed) (*rule, error) {
	if len(ks) > MaxLimits {
		return nil, fmt.Errorf("grpclimit: %s: %d limits on one call, more than %d", where, len(ks), MaxLimits)
	}
	ru := &rule{}
	seen := map[string]bool{}
	var policy []byte
	for _, k := range ks {
		name := k.l.Name()
		if seen[name] {
			return nil, fmt.Errorf("grpclimit: %s: two limits named %q: name them apart with core.WithName, so the fields and keys tell them apart", where, name)
		}
		seen[name] = true
		q, w := httplimit.QuotaWindow(k.l.Limit())
		lm := limit{l: k.l, key: k.key, id: `"` + name + `"`, q: q, w: w}
		ru.limits = append(ru.limits, lm)
		if !k.l.Shadow() {
			policy = appendPolicy(policy, lm.id, q, w)
		}
	}
	ru.policy = string(policy)
	ru.single = len(ru.limits) == 1 && !ru.limits[0].l.Shadow()
	return ru, nil
}

// PerIP returns an Interceptor limiting each client address (the peer's)
// to limit, counted in a memory store of its own: the one-line form,
//
//	lim := grpclimit.PerIP(core.PerSecond(100))
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lim.Unary()), grpc.ChainStreamInterceptor(lim.Stream()))
//
// The policy is named "per-ip" in the fields. PerIP panics if limit or an
// option is invalid, as the router adapters' PerIP do: it is meant for
// limits written in code; use New for limits read from configuration. The
// store needs no closing: once nothing references the Interceptor, the
// garbage collector reclaims it and its background goroutine ends.
func PerIP(limit core.Limit, opts ...Option) *Interceptor {
	store, err := memstore.New()
	if err != nil {
		panic("grpclimit.PerIP: " + err.Error())
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err == nil {
		var in *Interceptor
		if in, err = New(l, opts...); err == nil {
			return in
		}
	}
	_ = store.Close()
	panic("grpclimit.PerIP: " + err.Error())
}

// Unary returns the unary server interceptor: a call is decided before its
// handler runs, which runs only when every limit allows it.
func (in *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, _, err := in.admit(ctx, info.FullMethod, nil); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor: opening a stream is decided
// as a call is, before its handler runs; under WithMessages each message
// received is decided too.
func (in *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ru, keys, err := in.admit(ss.Context(), info.FullMethod, ss)
		if err != nil {
			return err
		}
		if ru == nil || !in.messages {
			return handler(srv, ss)
		}
		return handler(srv, &stream{ServerStream: ss, in: in, ru: ru, method: info.FullMethod, keys: keys})
	}
}

// stream is a limited stream under WithMessages.
type stream struct {
	grpc.ServerStream
	in     *Interceptor
	ru     *rule
	method string
	keys   [MaxLimits]string
}

// RecvMsg receives a message and takes it against the stream's limits.
func (s *stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.in.decide(s.ServerStream.Context(), s.method, s.ru, &s.keys, s.ServerStream, true)
}

// admit decides a call to method, or the opening of a stream (ss, nil for
// a unary call): it returns nil to let it through, or the error to end it
// with, and the rule and keys it was taken under (nil when skipped or not
// limited).
func (in *Interceptor) admit(ctx context.Context, method string, ss grpc.ServerStream) (*rule, [MaxLimits]string, error) {
	var keys [MaxLimits]string
	if in.skip != nil && in.skip(ctx, method) {
		return nil, keys, nil
	}
	ru := in.ruleOf(method)
	if ru == nil {
		return nil, keys, nil
	}
	if err := in.keysOf(ctx, method, ru, &keys); err != nil {
		return nil, keys, in.fail(ctx, method, err, 0)
	}
	return ru, keys, in.decide(ctx, method, ru, &keys, ss, false)
}

// ruleOf returns the rule of the calls to method: its own pattern's, its
// service's, or the default.
func (in *Interceptor) ruleOf(method string) *rule {
	if in.methods != nil {
		if ru, ok := in.methods[method]; ok {
			return ru
		}
	}
	if in.services != nil {
		if i := strings.LastIndexByte(method, '/'); i > 0 {
			if ru, ok := in.services[method[:i+1]]; ok {
				return ru
			}
		}
	}
	return in.def
}

// keysOf writes the key of each of ru's limits to keys. A shadow limit
// whose key cannot be read sits the call out (its key stays ""); any other
// key error is returned, wrapping keyfuncs.ErrNoKey.
func (in *Interceptor) keysOf(ctx context.Context, method string, ru *rule, keys *[MaxLimits]string) error {
	var (
		def     string
		defErr  error
		defDone bool
	)
	for i := range ru.limits {
		lm := &ru.limits[i]
		var k string
		var err error
		if lm.key == nil {
			if !defDone {
				def, defErr = callKey(in.key, ctx, method)
				defDone = true
			}
			k, err = def, defErr
		} else {
			k, err = callKey(lm.key, ctx, method)
		}
		if err != nil {
			if lm.l.Shadow() {
				continue
			}
			return err
		}
		keys[i] = k
	}
	return nil
}

// callKey calls a key func. Every failure wraps keyfuncs.ErrNoKey, as
// core/httplimit's does (internal/keycheck): the call is not keyed,
// whatever the reason.
func callKey(fn KeyFunc, ctx context.Context, method string) (string, error) {
	return keycheck.Result(fn(ctx, method))
}

// step holds the arrays of a call under several limits: handed to a store
// through an interface, they would otherwise be allocated per call.
type step struct {
	ls   [MaxLimits]*core.Limiter
	keys [MaxLimits]string
	at   [MaxLimits]int
	ds   [MaxLimits]core.Decision
	all  [MaxLimits]core.Decision
}

var steps = sync.Pool{New: func() any { return new(step) }}

// decide takes ru's limits on keys and answers: nil lets the call through.
// msg: the call is a stream's message, whose header may be gone.
func (in *Interceptor) decide(ctx context.Context, method string, ru *rule, keys *[MaxLimits]string, ss grpc.ServerStream, msg bool) error {
	if ru.single {
		var ds [1]core.Decision
		var err error
		ds[0], err = ru.limits[0].l.Take(ctx, keys[0])
		return in.answer(ctx, method, ru, ds[:], err, ss, msg)
	}
	n := len(ru.limits)
	st := steps.Get().(*step)
	defer steps.Put(st)
	m := 0
	for i := 0; i < n; i++ {
		if keys[i] != "" { // a shadow limit without a key sits the call out
			st.ls[m], st.keys[m], st.at[m] = ru.limits[i].l, keys[i], i
			m++
		}
	}
	var err error
	if m > 0 {
		err = core.TakeAll(ctx, st.ls[:m], st.keys[:m], st.ds[:m])
	}
	for i := 0; i < n; i++ {
		// No decision: answer skips it as it skips an uncounted one.
		st.all[i] = core.Decision{Allowed: true, Reason: core.ReasonFailOpen}
	}
	for j := 0; j < m; j++ {
		st.all[st.at[j]] = st.ds[j]
	}
	clear(st.ls[:m])
	return in.answer(ctx, method, ru, st.all[:n], err, ss, msg)
}

// answer returns what the decisions ds (one per limit of ru, with the
// step's error) call for, and sets the call's metadata.
func (in *Interceptor) answer(ctx context.Context, method string, ru *rule, ds []core.Decision, err error, ss grpc.ServerStream, msg bool) error {
	denied, decided, fallback := -1, 0, false
	for i := range ds {
		d, lm := &ds[i], &ru.limits[i]
		switch d.Reason {
		case core.ReasonInvalid: // the key is longer than a store takes
			return in.fail(ctx, method, fmt.Errorf("%w: %w", keyfuncs.ErrNoKey, err), 0)
		case core.ReasonFailClosed: // the store (and any fallback) failed
			setTrailer(ctx, ss, metadata.MD{RetryAfterKey: {strconv.FormatInt(httplimit.RetrySeconds(d.RetryAfter, lm.w), 10)}})
			return in.fail(ctx, method, err, d.RetryAfter)
		case core.ReasonFailOpen: // admitted uncounted: no state to describe
			continue
		}
		if lm.l.Shadow() {
			continue // decided and reported to the limiter's hook; no fields
		}
		decided++
		if err != nil && d.Limit != lm.l.Limit() {
			fallback = true // decided by the fallback, under a divided limit
		}
		// The call waits for the last of its denials.
		if !d.Allowed && (denied < 0 || d.RetryAfter > ds[denied].RetryAfter) {
			denied = i
		}
	}
	if denied >= 0 {
		d := &ds[denied]
		_, w := ru.window(denied, d, fallback)
		secs := httplimit.RetrySeconds(d.RetryAfter, w)
		md := ru.fields(ds, fallback)
		md[RetryAfterKey] = []string{strconv.FormatInt(secs, 10)}
		setTrailer(ctx, ss, md)
		if in.deny != nil {
			return in.deny(ctx, method, *d)
		}
		return deniedError(ru, denied, d, fallback, secs)
	}
	if decided > 0 && in.header && !msg {
		setHeader(ctx, ss, ru.fields(ds, fallback))
	}
	return nil
}

// window returns the quota and window of limit i as decision d reports
// them: under a fallback, the divided limit the fallback decided by.
func (ru *rule) window(i int, d *core.Decision, fallback bool) (q, w int64) {
	lm := &ru.limits[i]
	if fallback && d.Limit != lm.l.Limit() {
		return httplimit.QuotaWindow(d.Limit)
	}
	return lm.q, lm.w
}

// fields returns the PolicyKey and RateLimitKey metadata of ds.
func (ru *rule) fields(ds []core.Decision, fallback bool) metadata.MD {
	var buf [128]byte
	b := buf[:0]
	policy := ru.policy
	if fallback {
		for i := range ru.limits {
			if lm := &ru.limits[i]; !lm.l.Shadow() {
				q, w := ru.window(i, &ds[i], true)
				b = appendPolicy(b, lm.id, q, w)
			}
		}
		policy = string(b)
		b = b[:0]
	}
	for i := range ds {
		d, lm := &ds[i], &ru.limits[i]
		if d.Reason == core.ReasonFailOpen || lm.l.Shadow() {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, lm.id...)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, d.Remaining, 10)
		b = append(b, ";t="...)
		if d.Allowed {
			b = strconv.AppendInt(b, ceilSeconds(d.ResetAfter), 10)
		} else {
			_, w := ru.window(i, d, fallback)
			b = strconv.AppendInt(b, httplimit.RetrySeconds(d.RetryAfter, w), 10)
		}
	}
	return metadata.MD{PolicyKey: {policy}, RateLimitKey: {string(b)}}
}

// appendPolicy appends one limit's PolicyKey entry, after a separator if b
// holds one already.
func appendPolicy(b []byte, id string, q, w int64) []byte {
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	b = append(b, id...)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, q, 10)
	b = append(b, ";w="...)
	return strconv.AppendInt(b, w, 10)
}

// ceilSeconds is d in whole seconds, rounded up (0 for no wait).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// deniedError is the default answer to a call limit i of ru denied (d):
// ResourceExhausted with the exact wait in a RetryInfo detail and the
// limit in a QuotaFailure detail (quota_id its name, quota_value its quota
// per window; never the key). secs is the wait in whole seconds, rounded
// up: the RetryAfterKey value.
func deniedError(ru *rule, i int, d *core.Decision, fallback bool, secs int64) error {
	wait := d.RetryAfter
	if wait >= core.Never/2 { // no wait admits the call: as HTTP, the window
		wait = time.Duration(secs) * time.Second
	}
	q, w := ru.window(i, d, fallback)
	s := strconv.FormatInt(secs, 10)
	st, err := status.New(codes.ResourceExhausted, "quota exceeded; retry after "+s+" seconds").WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			QuotaId:     d.Name,
			QuotaValue:  q,
			Description: strconv.FormatInt(q, 10) + " calls per " + strconv.FormatInt(w, 10) + " seconds",
		}}})
	if err != nil { // cannot happen: the details are valid messages
		return status.Error(codes.ResourceExhausted, "quota exceeded; retry after "+s+" seconds")
	}
	return st.Err()
}

// fail returns the error a call that could not be decided ends with: the
// error handler's, or by default InvalidArgument for a call without a key
// and Unavailable, with wait in a RetryInfo detail, for a store that
// failed.
func (in *Interceptor) fail(ctx context.Context, method string, err error, wait time.Duration) error {
	if in.onError != nil {
		return in.onError(ctx, method, err)
	}
	if errors.Is(err, keyfuncs.ErrNoKey) {
		return status.Error(codes.InvalidArgument, "the call does not identify a client for rate limiting")
	}
	st := status.New(codes.Unavailable, "the rate limiter is unavailable; retry later")
	if wait > 0 {
		if ds, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); derr == nil {
			st = ds
		}
	}
	return st.Err()
}

// setHeader adds md to the response header of the call: the stream's, or
// for a unary call (ss nil) the one grpc.SetHeader reaches through ctx.
// Once the header is sent it cannot change, and md is dropped.
func setHeader(ctx context.Context, ss grpc.ServerStream, md metadata.MD) {
	if ss != nil {
		_ = ss.SetHeader(md)
		return
	}
	_ = grpc.SetHeader(ctx, md)
}

// setTrailer adds md to the trailer of the call, as setHeader does.
func setTrailer(ctx context.Context, ss grpc.ServerStream, md metadata.MD) {
	if ss != nil {
		ss.SetTrailer(md)
		return
	}
	_ = grpc.SetTrailer(ctx, md)
}
