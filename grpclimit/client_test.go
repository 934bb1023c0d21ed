package grpclimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
)

// clientEnv is a limited server whose decisions a hook counts, and a client
// of it through a ClientInterceptor.
type clientEnv struct {
	*env
	decided, denied atomic.Int64
}

// newClientEnv serves limit (named "per-ip") with a hook that counts the
// server's decisions; with advance, a denial moves the server's clock on by
// its wait, so that the client's retry after waiting it (in real time) is
// admitted: the counts do not depend on how fast the machine is.
func newClientEnv(t *testing.T, limit core.Limit, advance bool, opts ...grpclimit.ClientOption) *clientEnv {
	t.Helper()
	ce := &clientEnv{env: newEnv(t)}
	l := ce.limiter(limit, core.WithName("per-ip"), core.WithHook(func(_ context.Context, ev core.Event) {
		ce.decided.Add(1)
		if !ev.Decision.Allowed {
			ce.denied.Add(1)
			if advance {
				ce.clock.Advance(ev.Decision.RetryAfter)
			}
		}
	}))
	ci, err := grpclimit.NewClientInterceptor(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ce.serve(ce.interceptor(l), grpc.WithChainUnaryInterceptor(ci.Unary()), grpc.WithChainStreamInterceptor(ci.Stream()))
	return ce
}

// every200ms is one call per 200ms, no burst: a call right after another
// waits 200ms.
var every200ms = core.Limit{Rate: 1, Period: 200 * time.Millisecond, Burst: 1}

func TestClientRetriesAfterTheWait(t *testing.T) {
	ce := newClientEnv(t, every200ms, true)
	begin := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := ce.client.EmptyCall(context.Background(), &testpb.Empty{}); err != nil {
			t.Fatalf("call %d: %v, want it admitted after the wait", i, err)
		}
	}
	// The second and third calls were each denied once, then retried after
	// the 200ms the server asked for (or held that long, then sent).
	if ce.denied.Load() != 2 || ce.decided.Load() != 5 {
		t.Errorf("the server decided %d calls and denied %d, want 5 and 2", ce.decided.Load(), ce.denied.Load())
	}
	if elapsed := time.Since(begin); elapsed < 400*time.Millisecond {
		t.Errorf("three calls took %v: the client did not wait the 2 × 200ms asked for", elapsed)
	}
	if n := ce.svc.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3", n)
	}
}

func TestClientWithoutHoldSendsEveryCall(t *testing.T) {
	ce := newClientEnv(t, core.PerMinute(1), false, grpclimit.WithRetries(0), grpclimit.WithoutHold())
	for i := 0; i < 3; i++ {
		_, _ = ce.client.EmptyCall(context.Background(), &testpb.Empty{})
	}
	if ce.decided.Load() != 3 || ce.denied.Load() != 2 {
		t.Errorf("the server decided %d calls and denied %d, want 3 and 2: without holds every call is sent", ce.decided.Load(), ce.denied.Load())
	}
}

func TestClientHoldsLaterCalls(t *testing.T) {
	// 1/m and no retries: the second call is refused with a minute's wait,
	// which holds the method, so the third is not sent at all.
	ce := newClientEnv(t, core.PerMinute(1), false, grpclimit.WithRetries(0))
	ctx := context.Background()
	if _, err := ce.client.EmptyCall(ctx, &testpb.Empty{}); err != nil {
		t.Fatal(err)
	}
	_, err := ce.client.EmptyCall(ctx, &testpb.Empty{})
	var we *grpclimit.WaitError
	if !errors.As(err, &we) || we.Wait != time.Minute || we.Method != emptyCall || status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call: %v, want a *WaitError of a minute, code ResourceExhausted", err)
	}
	if d, ok := grpclimit.RetryDelay(err); !ok || d != time.Minute {
		t.Errorf("RetryDelay of the second call's error: %v, %v; want 1m, true", d, ok)
	}
	_, err = ce.client.EmptyCall(ctx, &testpb.Empty{})
	if !errors.As(err, &we) || we.Wait <= 50*time.Second || we.Wait > time.Minute || status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want a *WaitError of what is left of the minute", err)
	}
	if d, ok := grpclimit.RetryDelay(err); !ok || d != we.Wait {
		t.Errorf("the held call's RetryInfo: %v, %v; want %v", d, ok, we.Wait)
	}
	if !strings.Contains(err.Error(), "held by the client") {
		t.Errorf("the held call's error %q does not say it was held", err)
	}
	if n := ce.decided.Load(); n != 2 {
		t.Errorf("the server decided %d calls, want 2: a held call is not sent", n)
	}
	// Another method is not held.
	if _, err := ce.client.UnaryCall(ctx, &testpb.SimpleRequest{}); status.Code(err) != codes.ResourceExhausted || ce.decided.Load() != 3 {
		t.Errorf("UnaryCall: %v after %d decisions, want it sent (3) and refused by the server", err, ce.decided.Load())
	}
}

func TestClientReturnsWaitsItWillNotHonour(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []grpclimit.ClientOption
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"longer than the max wait", []grpclimit.ClientOption{grpclimit.WithMaxWait(10 * time.Second)},
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"past the call's deadline", []grpclimit.ClientOption{grpclimit.WithMaxWait(time.Hour)},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 30*time.Second)
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ce := newClientEnv(t, core.PerMinute(1), false, c.opts...)
			ctx, cancel := c.ctx()
			defer cancel()
			_, _ = ce.client.EmptyCall(ctx, &testpb.Empty{})
			begin := time.Now()
			_, err := ce.client.EmptyCall(ctx, &testpb.Empty{})
			var we *grpclimit.WaitError
			if !errors.As(err, &we) || we.Wait != time.Minute || status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("second call: %v, want a *WaitError of a minute", err)
			}
			if !strings.Contains(status.Convert(err).Message(), "quota exceeded; retry after 60 seconds") {
				t.Errorf("the error's message %q does not carry the server's", status.Convert(err).Message())
			}
			if elapsed := time.Since(begin); elapsed > 20*time.Second {
				t.Errorf("the call took %v: it must return at once", elapsed)
			}
			if n := ce.decided.Load(); n != 2 {
				t.Errorf("the server decided %d calls, want 2: no retry", n)
			}
		})
	}
}

func TestClientWaitHonoursTheContext(t *testing.T) {
	ce := newClientEnv(t, core.PerMinute(1), false, grpclimit.WithMaxWait(2*time.Minute))
	_, _ = ce.client.EmptyCall(context.Background(), &testpb.Empty{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ce.denied.Load() == 0 { // cancel once the client is waiting
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	begin := time.Now()
	_, err := ce.client.EmptyCall(ctx, &testpb.Empty{})
	if status.Code(err) != codes.Canceled {
		t.Errorf("a call cancelled while it waits: %v, want Canceled", err)
	}
	if elapsed := time.Since(begin); elapsed > 30*time.Second {
		t.Errorf("the call took %v after its cancellation", elapsed)
	}
}

func TestClientLeavesOtherErrorsAlone(t *testing.T) {
	ce := newClientEnv(t, core.PerMinute(100), false)
	for _, code := range []codes.Code{codes.ResourceExhausted, codes.Unavailable, codes.Internal} {
		req := &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(code), Message: "no RetryInfo"}}
		_, err := ce.client.UnaryCall(context.Background(), req)
		var we *grpclimit.WaitError
		if status.Code(err) != code || errors.As(err, &we) {
			t.Errorf("a handler's %v without RetryInfo: %v, want it returned as it came", code, err)
		}
	}
	if n := ce.svc.ran.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3: no retries", n)
	}
}

func TestClientHoldsStreams(t *testing.T) {
	ce := newClientEnv(t, core.PerMinute(1), false)
	ctx := context.Background()
	for i, want := range []codes.Code{codes.OK, codes.ResourceExhausted} {
		stream, err := ce.client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); status.Code(err) != want {
			t.Fatalf("stream %d: %v, want %v", i, err, want)
		}
	}
	// The refused stream held the method: a third is not opened.
	_, err := ce.client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	var we *grpclimit.WaitError
	if !errors.As(err, &we) || we.Wait <= 50*time.Second || status.Code(err) != codes.ResourceExhausted {
		t.Errorf("third stream: %v, want a *WaitError of what is left of the minute", err)
	}
	if n := ce.decided.Load(); n != 2 {
		t.Errorf("the server decided %d streams, want 2", n)
	}
}

// TestClientHoldSharedByGoroutines: 8 goroutines share one client; after
// the first denial the others wait for the hold instead of being refused.
func TestClientHoldSharedByGoroutines(t *testing.T) {
	// Denials racing on the server may waste some of the time they buy
	// (burst 1 keeps none), so a call may need more than the default 3
	// retries; each round admits at least one, so 8 are enough.
	ce := newClientEnv(t, every200ms, true, grpclimit.WithRetries(8), grpclimit.WithMaxWait(time.Minute))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			if _, err := ce.client.EmptyCall(context.Background(), &testpb.Empty{}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	// Each of the 7 calls after the first needs 200ms of server time; the
	// server's clock moves only on denials, so at least 7 were denied. How
	// many more depends on how the goroutines interleave.
	if failed.Load() != 0 || ce.svc.ran.Load() != 8 || ce.denied.Load() < 7 {
		t.Errorf("%d calls failed, %d ran, %d denied; want 0, 8, at least 7", failed.Load(), ce.svc.ran.Load(), ce.denied.Load())
	}
}

func TestRetryDelay(t *testing.T) {
	withRetry := func(code codes.Code, d *durationpb.Duration) error {
		st, err := status.New(code, "refused").WithDetails(&errdetails.RetryInfo{RetryDelay: d})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, c := range []struct {
		name string
		err  error
		d    time.Duration
		ok   bool
	}{
		{"ResourceExhausted with 1.5s", withRetry(codes.ResourceExhausted, durationpb.New(1500*time.Millisecond)), 1500 * time.Millisecond, true},
		{"Unavailable with 1s", withRetry(codes.Unavailable, durationpb.New(time.Second)), time.Second, true},
		{"a zero delay", withRetry(codes.ResourceExhausted, durationpb.New(0)), 0, true},
		{"a year is a day", withRetry(codes.ResourceExhausted, durationpb.New(365*24*time.Hour)), 24 * time.Hour, true},
		{"the largest duration is a day", withRetry(codes.ResourceExhausted, &durationpb.Duration{Seconds: 315576000000}), 24 * time.Hour, true},
		{"a negative delay is none", withRetry(codes.ResourceExhausted, durationpb.New(-time.Second)), 0, false},
		{"negative nanos are none", withRetry(codes.ResourceExhausted, &durationpb.Duration{Nanos: -5}), 0, false},
		{"nanos out of range are none", withRetry(codes.ResourceExhausted, &durationpb.Duration{Seconds: 1, Nanos: 2e9}), 0, false},
		{"seconds past the proto range are none", withRetry(codes.ResourceExhausted, &durationpb.Duration{Seconds: 1 << 62}), 0, false},
		{"no delay in the RetryInfo", withRetry(codes.ResourceExhausted, nil), 0, false},
		{"another code", withRetry(codes.Internal, durationpb.New(time.Second)), 0, false},
		{"no RetryInfo", status.Error(codes.ResourceExhausted, "refused"), 0, false},
		{"not a status", errors.New("refused"), 0, false},
		{"no error", nil, 0, false},
		{"a WaitError", &grpclimit.WaitError{Method: "/a/b", Wait: time.Second, Err: withRetry(codes.ResourceExhausted, durationpb.New(time.Second))}, time.Second, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d, ok := grpclimit.RetryDelay(c.err); d != c.d || ok != c.ok {
				t.Errorf("RetryDelay = %v, %v; want %v, %v", d, ok, c.d, c.ok)
			}
		})
	}
}

func TestNewClientInterceptorRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		opt  grpclimit.ClientOption
		want string
	}{
		{nil, "nil option"},
		{grpclimit.WithMaxWait(0), "WithMaxWait(0s)"},
		{grpclimit.WithMaxWait(-time.Second), "WithMaxWait(-1s)"},
		{grpclimit.WithRetries(-1), "WithRetries(-1)"},
	} {
		if _, err := grpclimit.NewClientInterceptor(c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewClientInterceptor: %v, want an error naming %q", err, c.want)
		}
	}
}
