package grpclimit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

// TestAdapterTable runs, through a real gRPC server and client on
// loopback, the cases of core/httplimit/adaptertest (the table every HTTP
// adapter runs) that apply to gRPC, with gRPC's answers: the same limits,
// keys and clock give the same decisions and the same field values, a
// denial is ResourceExhausted where HTTP answers 429, a fail-closed store
// Unavailable where it answers 503, a call without a key InvalidArgument
// where it answers 400. (Cases of HTTP alone, such as Accept and bodies,
// route patterns, the X- fields and the frameworks' own hooks, have no
// gRPC counterpart.)
func TestAdapterTable(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"the quota is admitted, then ResourceExhausted with the exact wait and fields", quotaThenDeny},
		{"a custom deny handler replaces the answer, the fields already set", customDeny},
		{"skipped calls pass without a decision or fields", skip},
		{"a key func error is answered InvalidArgument, never a shared bucket", keyError},
		{"a custom error handler answers key errors, and may let the call through", customError},
		{"a failed store under fail-open lets calls through without fields", failOpen},
		{"a failed store under fail-closed answers Unavailable with the wait", failClosed},
		{"a failed store with a fallback decides under the divided limit", fallback},
		{"32 concurrent clients on one key get exactly the quota", concurrent},
		{"several limits: all must allow, and a denial takes nothing", severalLimits},
		{"a shadow limit decides and reports but never denies", shadowLimit},
		{"fields can be left off admitted calls, never off denials", noHeaderFields},
		{"retry-after is whole seconds rounded up, RetryInfo exact", retryRoundsUp},
		{"a key longer than the store takes is answered InvalidArgument", keyTooLongForStore},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

func quotaThenDeny(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerMinute(3), core.WithName("per-ip"))))
	for n := 1; n <= 3; n++ {
		e.expect(fmt.Sprintf("call %d", n), e.empty(), codes.OK, admitted3(n))
	}
	got := e.empty()
	e.expect("call 4", got, codes.ResourceExhausted, denied3)
	e.expectWait("call 4", got, 20*time.Second)
	if got.msg != "quota exceeded; retry after 20 seconds" {
		t.Errorf("call 4: message %q", got.msg)
	}
	if v := got.quota.GetViolations(); len(v) != 1 || v[0].GetQuotaId() != "per-ip" || v[0].GetQuotaValue() != 3 ||
		v[0].GetSubject() != "" || v[0].GetDescription() != "3 calls per 60 seconds" {
		t.Errorf("call 4: QuotaFailure %v, want one violation of quota_id per-ip, quota_value 3, no subject", got.quota)
	}
	if n := e.svc.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3: it must not run on a denial", n)
	}
	// Twenty seconds on, one call's worth has come back.
	e.clock.Advance(20 * time.Second)
	e.expect("after the wait", e.empty(), codes.OK, admitted3(3))
}

func customDeny(t *testing.T) {
	e := newEnv(t)
	var seen atomic.Value
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		grpclimit.WithDenyHandler(func(ctx context.Context, method string, d core.Decision) error {
			seen.Store(method)
			return status.Errorf(codes.Unavailable, "slow down: %s, %v", d.Name, d.RetryAfter)
		})))
	e.empty()
	got := e.empty()
	e.expect("custom deny", got, codes.Unavailable, fields(grpclimit.RetryAfterKey, "60",
		grpclimit.PolicyKey, `"per-ip";q=1;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=60`))
	if got.msg != "slow down: per-ip, 1m0s" || got.isRetry {
		t.Errorf("custom deny: message %q, RetryInfo %v; want the handler's alone", got.msg, got.isRetry)
	}
	if m, _ := seen.Load().(string); m != emptyCall {
		t.Errorf("the deny handler saw method %q, want %s", m, emptyCall)
	}
}

func skip(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip")),
		grpclimit.WithSkip(func(_ context.Context, method string) bool { return strings.HasPrefix(method, healthSvc) })))
	for i := 0; i < 5; i++ {
		e.expect("health check", e.unary(healthSvc+"Check"), codes.OK, nil)
	}
	if got := e.empty(); got.code != codes.OK || got.header.Get(grpclimit.RateLimitKey)[0] != `"per-ip";r=0;t=60` {
		t.Errorf("EmptyCall after five skipped calls: %v %q, want OK and r=0 (skips must not count)", got.code, got.header.Get(grpclimit.RateLimitKey))
	}
}

func keyError(t *testing.T) {
	e := newEnv(t)
	byClient, err := grpclimit.Metadata("X-Client", 16)
	if err != nil {
		t.Fatal(err)
	}
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-client")), grpclimit.WithKeyFunc(byClient)))
	for _, c := range []struct {
		what string
		md   []string
	}{
		{"no x-client", nil},
		{"an empty x-client", []string{"x-client", ""}},
		{"x-client sent twice", []string{"x-client", "a", "x-client", "b"}},
		{"x-client over its cap", []string{"x-client", strings.Repeat("a", 17)}},
	} {
		for i := 0; i < 2; i++ {
			got := e.empty(c.md...)
			e.expect(c.what, got, codes.InvalidArgument, nil)
			if got.msg != "the call does not identify a client for rate limiting" || got.isRetry {
				t.Errorf("%s: message %q, RetryInfo %v", c.what, got.msg, got.isRetry)
			}
		}
	}
	if n := e.svc.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times for unkeyed calls, want 0", n)
	}
	// The unkeyed calls counted nowhere: each client still has its quota,
	// a value at the cap included.
	for _, c := range []string{"a", "b", strings.Repeat("a", 16)} {
		if got := e.empty("x-client", c); got.code != codes.OK {
			t.Errorf("client %s after unkeyed calls: %v, want OK", c, got.code)
		}
	}
}

func customError(t *testing.T) {
	e := newEnv(t)
	byClient, err := grpclimit.Metadata("x-client", 16)
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Value
	e.serve(e.interceptor(e.limiter(core.PerMinute(1)), grpclimit.WithKeyFunc(byClient),
		grpclimit.WithErrorHandler(func(ctx context.Context, method string, err error) error {
			seen.Store(err)
			if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("internal")) > 0 {
				return nil // trusted in-house callers go on unlimited
			}
			return status.Error(codes.Unauthenticated, "who are you?")
		})))
	if got := e.empty(); got.code != codes.Unauthenticated || got.msg != "who are you?" {
		t.Errorf("custom error handler: %v %q, want Unauthenticated \"who are you?\"", got.code, got.msg)
	}
	if err, _ := seen.Load().(error); !errors.Is(err, keyfuncs.ErrNoKey) {
		t.Errorf("error passed to the handler: %v, want one wrapping keyfuncs.ErrNoKey", err)
	}
	for i := 0; i < 3; i++ {
		e.expect("let through by the handler", e.empty("internal", "yes"), codes.OK, nil)
	}
	if n := e.svc.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3", n)
	}
}

func failOpen(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip"), core.WithFailOpen())))
	_ = e.store.Close() // a closed store fails every Take: a real failure, not a fake
	for i := 0; i < 3; i++ {
		e.expect("store down, fail open", e.empty(), codes.OK, nil)
	}
}

func failClosed(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerMinute(100), core.WithName("per-ip"), core.WithFailClosed())))
	_ = e.store.Close()
	got := e.empty()
	e.expect("store down, fail closed", got, codes.Unavailable, fields(grpclimit.RetryAfterKey, "1"))
	e.expectWait("store down, fail closed", got, time.Second)
	if got.msg != "the rate limiter is unavailable; retry later" {
		t.Errorf("store down: message %q", got.msg)
	}
	if n := e.svc.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times with the store down under fail-closed, want 0", n)
	}
}

func fallback(t *testing.T) {
	e := newEnv(t)
	local := e.newStore()
	// The primary is shared by 2 instances: each falls back to half of 4/m.
	e.serve(e.interceptor(e.limiter(core.PerMinute(4), core.WithName("per-ip"), core.WithFallback(local, 2))))
	_ = e.store.Close()
	e.expect("first, decided by the fallback", e.empty(), codes.OK, fields(
		grpclimit.PolicyKey, `"per-ip";q=2;w=60`, grpclimit.RateLimitKey, `"per-ip";r=1;t=30`))
	e.expect("second", e.empty(), codes.OK, fields(
		grpclimit.PolicyKey, `"per-ip";q=2;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=60`))
	got := e.empty()
	e.expect("third, over the fallback's 2/m", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "30",
		grpclimit.PolicyKey, `"per-ip";q=2;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=30`))
	e.expectWait("third", got, 30*time.Second)
	if v := got.quota.GetViolations(); len(v) != 1 || v[0].GetQuotaValue() != 2 {
		t.Errorf("third: QuotaFailure %v, want quota_value 2, the fallback's", got.quota)
	}
}

func concurrent(t *testing.T) {
	e := newEnv(t)
	const quota, clients, each = 100, 32, 8
	e.serve(e.interceptor(e.limiter(core.PerHour(quota), core.WithName("per-ip"))))
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				_, err := e.client.EmptyCall(context.Background(), &testpb.Empty{})
				switch status.Code(err) {
				case codes.OK:
					ok.Add(1)
				case codes.ResourceExhausted:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != quota || limited.Load() != clients*each-quota || other.Load() != 0 {
		t.Errorf("%d clients × %d calls: %d admitted, %d limited, %d other; want exactly %d, %d, 0",
			clients, each, ok.Load(), limited.Load(), other.Load(), quota, clients*each-quota)
	}
	if n := e.svc.ran.Load(); n != quota {
		t.Errorf("the handler ran %d times, want %d", n, quota)
	}
}

func severalLimits(t *testing.T) {
	e := newEnv(t)
	byClient, err := grpclimit.Metadata("x-client", 16)
	if err != nil {
		t.Fatal(err)
	}
	perIP := e.limiter(core.PerMinute(10), core.WithName("per-ip"))
	perClient := e.limiter(core.PerMinute(3), core.WithName("per-client"))
	e.serve(e.interceptor(perIP, grpclimit.WithLimit(perClient, byClient)))
	policy := `"per-ip";q=10;w=60, "per-client";q=3;w=60`
	e.expect("first", e.empty("x-client", "a"), codes.OK, fields(
		grpclimit.PolicyKey, policy, grpclimit.RateLimitKey, `"per-ip";r=9;t=6, "per-client";r=2;t=20`))
	e.empty("x-client", "a")
	e.empty("x-client", "a")
	// Denied by per-client, the call takes nothing from per-ip either: its
	// entry shows per-ip as it stays (7 left).
	got := e.empty("x-client", "a")
	e.expect("fourth for client a", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "20",
		grpclimit.PolicyKey, policy, grpclimit.RateLimitKey, `"per-ip";r=7;t=18, "per-client";r=0;t=20`))
	if v := got.quota.GetViolations(); len(v) != 1 || v[0].GetQuotaId() != "per-client" {
		t.Errorf("fourth for client a: QuotaFailure %v, want per-client's", got.quota)
	}
	// Clients b to d from the same address spend per-ip down to 1; then
	// client e's second call is denied by per-ip alone, and takes nothing
	// from per-client.
	for _, c := range []string{"b", "b", "b", "c", "c", "d", "e"} {
		if got := e.empty("x-client", c); got.code != codes.OK {
			t.Fatalf("client %s: %v, want OK", c, got.code)
		}
	}
	e.expect("second for client e", e.empty("x-client", "e"), codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "6",
		grpclimit.PolicyKey, policy, grpclimit.RateLimitKey, `"per-ip";r=0;t=6, "per-client";r=2;t=20`))
	// A call per-client cannot key is refused before any limit counts it.
	if got := e.empty(); got.code != codes.InvalidArgument {
		t.Errorf("no x-client: %v, want InvalidArgument", got.code)
	}
}

func shadowLimit(t *testing.T) {
	e := newEnv(t)
	byClient, err := grpclimit.Metadata("x-client", 16)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	reasons := map[core.Reason]int{}
	perIP := e.limiter(core.PerMinute(3), core.WithName("per-ip"))
	strict := e.limiter(core.PerMinute(1), core.WithName("per-ip-strict"), core.WithShadow(),
		core.WithHook(func(_ context.Context, ev core.Event) {
			mu.Lock()
			reasons[ev.Decision.Reason]++
			mu.Unlock()
		}))
	// The shadow limit is keyed by metadata, and sits out the calls
	// without it rather than failing them.
	e.serve(e.interceptor(perIP, grpclimit.WithLimit(strict, byClient)))
	e.expect("first", e.empty("x-client", "a"), codes.OK, admitted3(1))
	e.expect("second: the shadow limit would deny", e.empty("x-client", "a"), codes.OK, admitted3(2))
	e.expect("third, without the shadow limit's key", e.empty(), codes.OK, admitted3(3))
	e.expect("fourth", e.empty("x-client", "a"), codes.ResourceExhausted, denied3)
	mu.Lock()
	defer mu.Unlock()
	if reasons[core.ReasonOK] != 1 || reasons[core.ReasonShadow] != 2 || len(reasons) != 2 {
		t.Errorf("the shadow limit's hook saw %v, want 1 ok and 2 shadow-denied (the keyless call sat out)", reasons)
	}
	if n := e.svc.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3", n)
	}
}

func noHeaderFields(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip")), grpclimit.WithoutHeaderFields()))
	e.expect("admitted", e.empty(), codes.OK, nil)
	e.expect("denied: the fields still", e.empty(), codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "60",
		grpclimit.PolicyKey, `"per-ip";q=1;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=60`))
}

func retryRoundsUp(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(e.limiter(core.PerSecond(10), core.WithName("per-ip"))))
	for i := 0; i < 10; i++ {
		e.empty()
	}
	got := e.empty()
	e.expect("100ms wait", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "1",
		grpclimit.PolicyKey, `"per-ip";q=10;w=1`, grpclimit.RateLimitKey, `"per-ip";r=0;t=1`))
	e.expectWait("100ms wait", got, 100*time.Millisecond)
	e.clock.Advance(99 * time.Millisecond)
	got = e.empty()
	e.expect("1ms before the retry", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "1",
		grpclimit.PolicyKey, `"per-ip";q=10;w=1`, grpclimit.RateLimitKey, `"per-ip";r=0;t=1`))
	e.expectWait("1ms before the retry", got, time.Millisecond)
	e.clock.Advance(time.Millisecond)
	if got := e.empty(); got.code != codes.OK {
		t.Errorf("at the retry: %v, want OK", got.code)
	}

	// A wait of a fraction of a second more than whole seconds.
	e2 := newEnv(t)
	e2.serve(e2.interceptor(e2.limiter(core.PerMinute(3), core.WithName("per-ip"))))
	for i := 0; i < 3; i++ {
		e2.empty()
	}
	e2.clock.Advance(2500 * time.Millisecond) // 17.5s to wait
	got = e2.empty()
	e2.expect("17.5s to wait", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "18",
		grpclimit.PolicyKey, `"per-ip";q=3;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=18`))
	e2.expectWait("17.5s to wait", got, 17500*time.Millisecond)
}

func keyTooLongForStore(t *testing.T) {
	e := newEnv(t)
	byClient, err := grpclimit.Metadata("x-client", 2*core.MaxKeyLen)
	if err != nil {
		t.Fatal(err)
	}
	e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-client")), grpclimit.WithKeyFunc(byClient)))
	e.expect("a key the store refuses", e.empty("x-client", strings.Repeat("k", core.MaxKeyLen+1)), codes.InvalidArgument, nil)
	if n := e.svc.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times, want 0", n)
	}
}

// TestMethodRules: a full method's limits win over its service's, and a
// service's over the default; the same limiter under two patterns shares
// its buckets.
func TestMethodRules(t *testing.T) {
	e := newEnv(t)
	def := e.limiter(core.PerMinute(100), core.WithName("default"))
	perService := e.limiter(core.PerMinute(2), core.WithName("service"))
	perUnary := e.limiter(core.PerMinute(1), core.WithName("unary"))
	e.serve(e.interceptor(def,
		grpclimit.WithMethod(unaryCall, perUnary, nil),
		grpclimit.WithMethod(unaryCall, def, nil), // counted against the default as well
		grpclimit.WithMethod(service, perService, nil)))

	e.expect("UnaryCall, its own limits", e.unary(unaryCall), codes.OK, fields(
		grpclimit.PolicyKey, `"unary";q=1;w=60, "default";q=100;w=60`,
		grpclimit.RateLimitKey, `"unary";r=0;t=60, "default";r=99;t=1`))
	got := e.unary(unaryCall)
	if got.code != codes.ResourceExhausted || got.quota.GetViolations()[0].GetQuotaId() != "unary" {
		t.Errorf("UnaryCall again: %v %v, want ResourceExhausted by unary", got.code, got.quota)
	}
	e.expect("EmptyCall, its service's limit", e.empty(), codes.OK, fields(
		grpclimit.PolicyKey, `"service";q=2;w=60`, grpclimit.RateLimitKey, `"service";r=1;t=30`))
	e.empty()
	if got := e.empty(); got.code != codes.ResourceExhausted {
		t.Errorf("third EmptyCall: %v, want ResourceExhausted by the service's 2/m", got.code)
	}
	e.expect("Check, another service: the default, after UnaryCall's one", e.unary(healthSvc+"Check"), codes.OK, fields(
		grpclimit.PolicyKey, `"default";q=100;w=60`, grpclimit.RateLimitKey, `"default";r=98;t=2`))
}

// TestMethodsOnly: without a default limiter only the patterns' calls are
// limited.
func TestMethodsOnly(t *testing.T) {
	e := newEnv(t)
	e.serve(e.interceptor(nil, grpclimit.WithMethod(unaryCall, e.limiter(core.PerMinute(1), core.WithName("unary")), nil)))
	e.unary(unaryCall)
	if got := e.unary(unaryCall); got.code != codes.ResourceExhausted {
		t.Errorf("UnaryCall again: %v, want ResourceExhausted", got.code)
	}
	for i := 0; i < 5; i++ {
		e.expect("EmptyCall, unlimited", e.empty(), codes.OK, nil)
	}
}

// TestStreams: opening a stream is decided as a call is; under
// WithMessages, each message received is decided too.
func TestStreams(t *testing.T) {
	t.Run("opening a stream is decided before its handler runs", func(t *testing.T) {
		e := newEnv(t)
		e.serve(e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip"))))
		for i, want := range []codes.Code{codes.OK, codes.ResourceExhausted} {
			stream, err := e.client.StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			r := resultOf(err, result{trailer: stream.Trailer()})
			if want == codes.OK {
				h, herr := stream.Header()
				if herr != nil || h.Get(grpclimit.RateLimitKey)[0] != `"per-ip";r=0;t=60` {
					t.Errorf("stream %d: header %v (%v), want the fields", i, h, herr)
				}
				continue
			}
			e.expect(fmt.Sprintf("stream %d", i), r, want, fields(grpclimit.RetryAfterKey, "60",
				grpclimit.PolicyKey, `"per-ip";q=1;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=60`))
			e.expectWait(fmt.Sprintf("stream %d", i), r, time.Minute)
		}
		if n := e.svc.ran.Load(); n != 1 {
			t.Errorf("the handler ran %d times, want 1", n)
		}
	})
	sendTen := func(t *testing.T, e *env) (result, int32) {
		t.Helper()
		stream, err := e.client.StreamingInputCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if err := stream.Send(&testpb.StreamingInputCallRequest{}); err != nil {
				break // the server ended the stream: CloseAndRecv says why
			}
		}
		res, err := stream.CloseAndRecv()
		return resultOf(err, result{trailer: stream.Trailer()}), res.GetAggregatedPayloadSize()
	}
	t.Run("every message is decided under WithMessages", func(t *testing.T) {
		e := newEnv(t)
		e.serve(e.interceptor(e.limiter(core.PerMinute(5), core.WithName("per-ip")), grpclimit.WithMessages()))
		got, _ := sendTen(t, e)
		// The opening took one; four messages fit, the fifth is denied.
		e.expect("the fifth message", got, codes.ResourceExhausted, fields(grpclimit.RetryAfterKey, "12",
			grpclimit.PolicyKey, `"per-ip";q=5;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=12`))
		e.expectWait("the fifth message", got, 12*time.Second)
		if n := e.svc.received.Load(); n != 4 {
			t.Errorf("the handler received %d messages, want 4", n)
		}
	})
	t.Run("without WithMessages only the opening counts", func(t *testing.T) {
		e := newEnv(t)
		e.serve(e.interceptor(e.limiter(core.PerMinute(5), core.WithName("per-ip"))))
		got, n := sendTen(t, e)
		if got.code != codes.OK || n != 10 {
			t.Errorf("ten messages: %v, %d received; want OK and 10", got.code, n)
		}
		if got := e.empty(); got.header.Get(grpclimit.RateLimitKey)[0] != `"per-ip";r=3;t=24` {
			t.Errorf("a call after the stream: %q, want r=3 (the stream took one)", got.header.Get(grpclimit.RateLimitKey))
		}
	})
}

// TestPeerWithoutAddress: a client over a Unix socket has no IP address,
// and is refused as an HTTP request without a remote address is.
func TestPeerWithoutAddress(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "grpc.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	e.serveOn(lis, "unix://"+path, e.interceptor(e.limiter(core.PerMinute(100), core.WithName("per-ip"))))
	e.expect("a Unix socket peer", e.empty(), codes.InvalidArgument, nil)
	if n := e.svc.ran.Load(); n != 0 {
		t.Errorf("the handler ran %d times, want 0", n)
	}
}

// TestPeerIPTrustsOnlyNamedProxies: x-forwarded-for in metadata is read by
// keyfuncs' rules: ignored from a peer not trusted, walked from the right
// from one that is.
func TestPeerIPTrustsOnlyNamedProxies(t *testing.T) {
	for _, c := range []struct {
		name     string
		resolver *keyfuncs.IPResolver
		calls    [][]string // metadata per call
		keys     []string
		codes    []codes.Code
	}{
		{"the default: forged headers buy nothing", nil,
			[][]string{{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-for", "203.0.113.2"}},
			[]string{"127.0.0.1"}, []codes.Code{codes.OK, codes.ResourceExhausted}},
		{"behind a trusted proxy each client has its bucket", mustResolver(t, keyfuncs.TrustProxies("127.0.0.0/8")),
			[][]string{{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-for", "198.51.100.7, 203.0.113.2"}, {"x-forwarded-for", "203.0.113.1"}},
			[]string{"203.0.113.1", "203.0.113.2", "203.0.113.1"}, []codes.Code{codes.OK, codes.OK, codes.ResourceExhausted}},
		{"a CDN's header from a trusted peer", mustResolver(t, keyfuncs.TrustProxies("127.0.0.0/8"), keyfuncs.TrustHeader("CF-Connecting-IP")),
			[][]string{{"cf-connecting-ip", "2001:db8:1:2::9", "x-forwarded-for", "203.0.113.1"}},
			[]string{"2001:db8:1:2::/64"}, []codes.Code{codes.OK}},
		{"an unparsable entry refuses the call", mustResolver(t, keyfuncs.TrustProxies("127.0.0.0/8")),
			[][]string{{"x-forwarded-for", "203.0.113.9, garbage"}, {"x-forwarded-for", strings.Repeat("1", keyfuncs.MaxProxyEntryLen+1)}},
			nil, []codes.Code{codes.InvalidArgument, codes.InvalidArgument}},
		{"RFC 7239 Forwarded", mustResolver(t, keyfuncs.TrustProxies("127.0.0.0/8"), keyfuncs.FromForwarded()),
			[][]string{{"forwarded", `for="[2001:db8::7]:80";proto=https`}},
			[]string{"2001:db8::/64"}, []codes.Code{codes.OK}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var mu sync.Mutex
			var keys []string
			l := e.limiter(core.PerMinute(1), core.WithName("per-ip"), core.WithHook(func(_ context.Context, ev core.Event) {
				mu.Lock()
				keys = append(keys, ev.Key)
				mu.Unlock()
			}))
			e.serve(e.interceptor(l, grpclimit.WithKeyFunc(grpclimit.PeerIP(c.resolver))))
			for i, md := range c.calls {
				if got := e.empty(md...); got.code != c.codes[i] {
					t.Errorf("call %d %v: %v (%q), want %v", i, md, got.code, got.msg, c.codes[i])
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(c.keys) > 0 && fmt.Sprint(keys[:min(len(keys), len(c.keys))]) != fmt.Sprint(c.keys) {
				t.Errorf("keys %q, want %q first", keys, c.keys)
			}
			if len(c.keys) == 0 && len(keys) != 0 {
				t.Errorf("keys %q decided, want none", keys)
			}
		})
	}
}

func mustResolver(t *testing.T, opts ...keyfuncs.IPOption) *keyfuncs.IPResolver {
	t.Helper()
	r, err := keyfuncs.NewIPResolver(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestZeroInterceptor: the zero Interceptor limits nothing.
func TestZeroInterceptor(t *testing.T) {
	e := newEnv(t)
	e.serve(new(grpclimit.Interceptor))
	for i := 0; i < 3; i++ {
		e.expect("zero interceptor", e.empty(), codes.OK, nil)
	}
}

// TestPerIP: the one-line form limits each address, and panics naming the
// fault.
func TestPerIP(t *testing.T) {
	e := newEnv(t)
	e.serve(grpclimit.PerIP(core.PerMinute(2)))
	e.expect("first", e.empty(), codes.OK, fields(grpclimit.PolicyKey, `"per-ip";q=2;w=60`, grpclimit.RateLimitKey, `"per-ip";r=1;t=30`))
	e.empty()
	if got := e.empty(); got.code != codes.ResourceExhausted {
		t.Errorf("third: %v, want ResourceExhausted", got.code)
	}
	panicOf := func(limit core.Limit, opts ...grpclimit.Option) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		grpclimit.PerIP(limit, opts...)
		return ""
	}
	if msg := panicOf(core.Limit{Rate: 0, Period: time.Second}); !strings.HasPrefix(msg, "grpclimit.PerIP: ") || !strings.Contains(msg, "rate") {
		t.Errorf("a zero rate: panic %q, want one naming the rate", msg)
	}
	if msg := panicOf(core.PerMinute(1), grpclimit.WithKeyFunc(nil)); !strings.Contains(msg, "WithKeyFunc") {
		t.Errorf("WithKeyFunc(nil): panic %q, want one naming WithKeyFunc", msg)
	}
}

// TestNewRefusesBadConfiguration: every fault is an error of New, naming
// the option.
func TestNewRefusesBadConfiguration(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(core.PerMinute(1), core.WithName("a"))
	many := []grpclimit.Option{}
	for i := 0; i < grpclimit.MaxLimits; i++ {
		many = append(many, grpclimit.WithLimit(e.limiter(core.PerMinute(1), core.WithName(fmt.Sprint("l", i))), nil))
	}
	for _, c := range []struct {
		name string
		l    *core.Limiter
		opts []grpclimit.Option
		want string
	}{
		{"no limiter, no methods", nil, nil, "nil limiter and no WithMethod"},
		{"WithLimit without New's limiter", nil, []grpclimit.Option{grpclimit.WithMethod(unaryCall, l, nil), grpclimit.WithLimit(l, nil)}, "WithLimit"},
		{"a nil option", l, []grpclimit.Option{nil}, "nil option"},
		{"a nil key func", l, []grpclimit.Option{grpclimit.WithKeyFunc(nil)}, "WithKeyFunc"},
		{"a nil limit", l, []grpclimit.Option{grpclimit.WithLimit(nil, nil)}, "WithLimit"},
		{"a nil skip", l, []grpclimit.Option{grpclimit.WithSkip(nil)}, "WithSkip"},
		{"a nil deny handler", l, []grpclimit.Option{grpclimit.WithDenyHandler(nil)}, "WithDenyHandler"},
		{"a nil error handler", l, []grpclimit.Option{grpclimit.WithErrorHandler(nil)}, "WithErrorHandler"},
		{"a nil method limiter", l, []grpclimit.Option{grpclimit.WithMethod(unaryCall, nil, nil)}, `WithMethod("/grpc.testing.TestService/UnaryCall"): nil limiter`},
		{"a pattern without a leading slash", l, []grpclimit.Option{grpclimit.WithMethod("grpc.testing.TestService/UnaryCall", l, nil)}, "not a full method"},
		{"a pattern of three parts", l, []grpclimit.Option{grpclimit.WithMethod("/a/b/c", l, nil)}, "not a full method"},
		{"a pattern without a service", l, []grpclimit.Option{grpclimit.WithMethod("//Method", l, nil)}, "not a full method"},
		{"a bare slash", l, []grpclimit.Option{grpclimit.WithMethod("/", l, nil)}, "not a full method"},
		{"two limits of one name", l, []grpclimit.Option{grpclimit.WithLimit(e.limiter(core.PerMinute(2), core.WithName("a")), nil)}, `two limits named "a"`},
		{"two limits of one name on a method", l, []grpclimit.Option{grpclimit.WithMethod(service, l, nil), grpclimit.WithMethod(service, l, nil)}, `WithMethod("/grpc.testing.TestService/"): two limits named "a"`},
		{"too many limits", l, many, fmt.Sprintf("more than %d", grpclimit.MaxLimits)},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := grpclimit.New(c.l, c.opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "grpclimit: ") {
				t.Errorf("New: %v, %v; want an error naming %q", in, err, c.want)
			}
		})
	}
}

// TestInterceptorsChain: the limit sits in a chain with other
// interceptors, which see what it decided.
func TestInterceptorsChain(t *testing.T) {
	e := newEnv(t)
	in := e.interceptor(e.limiter(core.PerMinute(1), core.WithName("per-ip")))
	var outer atomic.Value
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		outer.Store(status.Code(err))
		return resp, err
	}, in.Unary()))
	testpb.RegisterTestServiceServer(srv, e.svc)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	_, _ = client.EmptyCall(context.Background(), &testpb.Empty{})
	_, err = client.EmptyCall(context.Background(), &testpb.Empty{})
	if status.Code(err) != codes.ResourceExhausted || outer.Load() != codes.ResourceExhausted {
		t.Errorf("second call: %v; the outer interceptor saw %v; want ResourceExhausted for both", err, outer.Load())
	}
}
