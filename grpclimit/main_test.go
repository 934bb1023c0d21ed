package grpclimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/internal/leakcheck"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// TestMain fails the package's tests if a goroutine outlives them, waiting
// for those that end by themselves (the memory store's default clock, half a
// second after its last reading; a store nobody closed, once collected;
// gRPC's connections, shortly after Close and Stop).
func TestMain(m *testing.M) {
	leakcheck.Exit(m.Run(), "grpclimit")
}

// Full methods of the test service.
const (
	emptyCall  = "/grpc.testing.TestService/EmptyCall"
	unaryCall  = "/grpc.testing.TestService/UnaryCall"
	inputCall  = "/grpc.testing.TestService/StreamingInputCall"
	outputCall = "/grpc.testing.TestService/StreamingOutputCall"
	service    = "/grpc.testing.TestService/"
	healthSvc  = "/grpc.health.v1.Health/"
)

// start is the instant every test's clock begins at.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testService is grpc-go's interop test service, implemented just enough:
// it counts the calls its handlers run and the messages they receive.
type testService struct {
	testpb.UnimplementedTestServiceServer
	ran      atomic.Int64 // handler runs
	received atomic.Int64 // messages received by stream handlers
}

func (s *testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	s.ran.Add(1)
	return &testpb.Empty{}, nil
}

// UnaryCall answers with the status the request asks for, if any.
func (s *testService) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.ran.Add(1)
	if rs := req.GetResponseStatus(); rs != nil && rs.GetCode() != 0 {
		return nil, status.Error(codes.Code(rs.GetCode()), rs.GetMessage())
	}
	return &testpb.SimpleResponse{}, nil
}

func (s *testService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	s.ran.Add(1)
	return stream.Send(&testpb.StreamingOutputCallResponse{})
}

// StreamingInputCall receives until the client's end, or until RecvMsg
// fails (a denied message), whose error ends the stream.
func (s *testService) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	s.ran.Add(1)
	var n int32
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: n})
		}
		if err != nil {
			return err
		}
		n++
		s.received.Add(1)
	}
}

// env is one test's clock, store, server and client.
type env struct {
	t      *testing.T
	clock  *core.ManualClock
	store  core.Store
	svc    *testService
	conn   *grpc.ClientConn
	client testpb.TestServiceClient
	health healthpb.HealthClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: core.NewManualClock(start), svc: &testService{}}
	e.store = e.newStore()
	return e
}

// newStore returns a memory store reading the env's clock, closed when the
// test ends.
func (e *env) newStore() core.Store {
	e.t.Helper()
	s, err := memstore.New(memstore.WithClock(e.clock))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *env) limiter(l core.Limit, opts ...core.Option) *core.Limiter {
	e.t.Helper()
	lim, err := core.NewLimiter(e.store, l, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return lim
}

// interceptor is grpclimit.New, failing the test on an error.
func (e *env) interceptor(l *core.Limiter, opts ...grpclimit.Option) *grpclimit.Interceptor {
	e.t.Helper()
	in, err := grpclimit.New(l, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// serve starts a real gRPC server with in's interceptors on a 127.0.0.1
// port, and a client of it with the dial options given.
func (e *env) serve(in *grpclimit.Interceptor, dial ...grpc.DialOption) *env {
	e.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.serveOn(lis, "passthrough:///"+lis.Addr().String(), in, dial...)
}

// serveOn is serve on lis, which the client reaches at target.
func (e *env) serveOn(lis net.Listener, target string, in *grpclimit.Interceptor, dial ...grpc.DialOption) *env {
	e.t.Helper()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(in.Unary()), grpc.ChainStreamInterceptor(in.Stream()))
	testpb.RegisterTestServiceServer(srv, e.svc)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	e.t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dial...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	e.conn, e.client, e.health = conn, testpb.NewTestServiceClient(conn), healthpb.NewHealthClient(conn)
	return e
}

// result is what the tests compare: the code and message, the status's
// RetryInfo and QuotaFailure, and the rate-limit metadata.
type result struct {
	code    codes.Code
	msg     string
	retry   time.Duration
	isRetry bool // a RetryInfo came with the status
	quota   *errdetails.QuotaFailure
	header  metadata.MD
	trailer metadata.MD
}

// empty calls EmptyCall with the metadata pairs md.
func (e *env) empty(md ...string) result {
	e.t.Helper()
	return e.unary(emptyCall, md...)
}

// unary calls the unary method (EmptyCall, UnaryCall or the health
// service's Check) with the metadata pairs md.
func (e *env) unary(method string, md ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, md...)
	var r result
	var err error
	opts := []grpc.CallOption{grpc.Header(&r.header), grpc.Trailer(&r.trailer)}
	switch method {
	case emptyCall:
		_, err = e.client.EmptyCall(ctx, &testpb.Empty{}, opts...)
	case unaryCall:
		_, err = e.client.UnaryCall(ctx, &testpb.SimpleRequest{}, opts...)
	case healthSvc + "Check":
		_, err = e.health.Check(ctx, &healthpb.HealthCheckRequest{}, opts...)
	default:
		e.t.Fatalf("unary: no method %s", method)
	}
	return resultOf(err, r)
}

// resultOf fills r from a call's error.
func resultOf(err error, r result) result {
	st := status.Convert(err)
	r.code, r.msg = st.Code(), st.Message()
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			r.retry, r.isRetry = d.GetRetryDelay().AsDuration(), true
		case *errdetails.QuotaFailure:
			r.quota = d
		}
	}
	return r
}

// the rate-limit metadata keys, checked present or absent.
var owned = []string{grpclimit.RetryAfterKey, grpclimit.PolicyKey, grpclimit.RateLimitKey}

// expect checks a result: its code, and that the header (for an admitted
// call) or the trailer (for any other) holds exactly the fields in want,
// and the other part none.
func (e *env) expect(what string, got result, code codes.Code, want map[string]string) {
	e.t.Helper()
	if got.code != code {
		e.t.Errorf("%s: code %v (%q), want %v", what, got.code, got.msg, code)
	}
	where, other := got.trailer, got.header
	if code == codes.OK {
		where, other = got.header, got.trailer
	}
	for _, k := range owned {
		g, w := where.Get(k), want[k]
		switch {
		case w != "" && (len(g) != 1 || g[0] != w):
			e.t.Errorf("%s: %s: %q, want %q", what, k, g, w)
		case w == "" && len(g) > 0:
			e.t.Errorf("%s: %s: %q, want it absent", what, k, g)
		}
		if g := other.Get(k); len(g) > 0 {
			e.t.Errorf("%s: %s %q in the wrong part of the response", what, k, g)
		}
	}
}

func fields(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// admitted3 are the fields after the n-th call (1..3) of a fresh key under
// per-ip 3/m (GCRA: one call every 20s, burst 3): the HTTP adapters'.
func admitted3(n int) map[string]string {
	return fields(grpclimit.PolicyKey, `"per-ip";q=3;w=60`,
		grpclimit.RateLimitKey, fmt.Sprintf(`"per-ip";r=%d;t=%d`, 3-n, 20*n))
}

// denied3 are the fields of the fourth.
var denied3 = fields(grpclimit.RetryAfterKey, "20",
	grpclimit.PolicyKey, `"per-ip";q=3;w=60`, grpclimit.RateLimitKey, `"per-ip";r=0;t=20`)

// expectWait checks a refusal's RetryInfo.
func (e *env) expectWait(what string, got result, wait time.Duration) {
	e.t.Helper()
	if !got.isRetry || got.retry != wait {
		e.t.Errorf("%s: RetryInfo %v (present %v), want %v", what, got.retry, got.isRetry, wait)
	}
}
