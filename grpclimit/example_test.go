package grpclimit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// serveExample serves grpc-go's test service on a loopback port with the
// server options given, and returns a client of it with the dial options
// given, and a func that stops both.
func serveExample(server []grpc.ServerOption, dial ...grpc.DialOption) (testpb.TestServiceClient, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(server...)
	testpb.RegisterTestServiceServer(srv, &testService{})
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dial...)...)
	if err != nil {
		panic(err)
	}
	return testpb.NewTestServiceClient(conn), func() { _ = conn.Close(); srv.Stop() }
}

// Both ends: a server limiting each client address to one call a minute,
// and a client whose interceptor reads the wait from the refusal (here
// without retrying: a minute is longer than it will wait) and holds the
// method, so that the third call is not sent at all.
func Example() {
	lim := grpclimit.PerIP(core.PerMinute(1))
	ci, err := grpclimit.NewClientInterceptor(grpclimit.WithRetries(0))
	if err != nil {
		panic(err)
	}
	client, stop := serveExample(
		[]grpc.ServerOption{grpc.ChainUnaryInterceptor(lim.Unary()), grpc.ChainStreamInterceptor(lim.Stream())},
		grpc.WithChainUnaryInterceptor(ci.Unary()), grpc.WithChainStreamInterceptor(ci.Stream()))
	defer stop()

	for i := 1; i <= 3; i++ {
		_, err := client.EmptyCall(context.Background(), &testpb.Empty{})
		var we *grpclimit.WaitError
		if errors.As(err, &we) {
			msg, _, _ := strings.Cut(status.Convert(err).Message(), ";")
			fmt.Printf("call %d: %v, wait %v: %s\n", i, status.Code(err), we.Wait.Round(time.Second), msg)
			continue
		}
		fmt.Printf("call %d: %v\n", i, status.Code(err))
	}
	// Output:
	// call 1: OK
	// call 2: ResourceExhausted, wait 1m0s: quota exceeded
	// call 3: ResourceExhausted, wait 1m0s: held by the client after a denial
}

// The one-line form: each client address may make one call a minute. The
// second call is refused with ResourceExhausted, the wait in a RetryInfo
// detail and in the trailer.
func ExamplePerIP() {
	lim := grpclimit.PerIP(core.PerMinute(1))
	client, stop := serveExample([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(lim.Unary()),
		grpc.ChainStreamInterceptor(lim.Stream()),
	})
	defer stop()

	for i := 0; i < 2; i++ {
		var header, trailer metadata.MD
		_, err := client.EmptyCall(context.Background(), &testpb.Empty{}, grpc.Header(&header), grpc.Trailer(&trailer))
		if err == nil {
			fmt.Println("OK", header.Get("ratelimit"))
			continue
		}
		wait, _ := grpclimit.RetryDelay(err)
		fmt.Println(status.Code(err), status.Convert(err).Message())
		fmt.Println("  RetryInfo", wait.Round(time.Second), "retry-after", trailer.Get("retry-after"), trailer.Get("ratelimit"))
	}
	// Output:
	// OK ["per-ip";r=0;t=60]
	// ResourceExhausted quota exceeded; retry after 60 seconds
	//   RetryInfo 1m0s retry-after [60] ["per-ip";r=0;t=60]
}

// The full form: a limiter of your own, a method with a limit of its own
// counted as well, and health checks let through.
func ExampleNew() {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	general, err := core.NewLimiter(store, core.PerMinute(100), core.WithName("api"))
	if err != nil {
		panic(err)
	}
	strict, err := core.NewLimiter(store, core.PerMinute(1), core.WithName("unary-call"))
	if err != nil {
		panic(err)
	}
	lim, err := grpclimit.New(general,
		grpclimit.WithMethod("/grpc.testing.TestService/UnaryCall", strict, nil),
		grpclimit.WithMethod("/grpc.testing.TestService/UnaryCall", general, nil),
		grpclimit.WithSkip(func(_ context.Context, method string) bool {
			return strings.HasPrefix(method, "/grpc.health.v1.Health/")
		}))
	if err != nil {
		panic(err)
	}
	client, stop := serveExample([]grpc.ServerOption{grpc.ChainUnaryInterceptor(lim.Unary())})
	defer stop()

	ctx := context.Background()
	for _, call := range []string{"EmptyCall", "UnaryCall", "UnaryCall", "EmptyCall"} {
		var header metadata.MD
		var err error
		if call == "EmptyCall" {
			_, err = client.EmptyCall(ctx, &testpb.Empty{}, grpc.Header(&header))
		} else {
			_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&header))
		}
		fmt.Println(call, status.Code(err), header.Get("ratelimit"))
	}
	// Output:
	// EmptyCall OK ["api";r=99;t=1]
	// UnaryCall OK ["unary-call";r=0;t=60, "api";r=98;t=2]
	// UnaryCall ResourceExhausted []
	// EmptyCall OK ["api";r=97;t=2]
}

// A client that honours the waits: against one call per 200ms, three calls
// in a row are all admitted, the client waiting out each refusal rather
// than returning it.
func ExampleNewClientInterceptor() {
	lim, err := grpclimit.New(mustLimiter(core.Limit{Rate: 1, Period: 200 * time.Millisecond, Burst: 1}))
	if err != nil {
		panic(err)
	}
	ci, err := grpclimit.NewClientInterceptor(grpclimit.WithMaxWait(5 * time.Second))
	if err != nil {
		panic(err)
	}
	client, stop := serveExample([]grpc.ServerOption{grpc.ChainUnaryInterceptor(lim.Unary())},
		grpc.WithChainUnaryInterceptor(ci.Unary()), grpc.WithChainStreamInterceptor(ci.Stream()))
	defer stop()

	begin := time.Now()
	admitted := 0
	for i := 0; i < 3; i++ {
		if _, err := client.EmptyCall(context.Background(), &testpb.Empty{}); err == nil {
			admitted++
		}
	}
	fmt.Println("admitted:", admitted, "of 3")
	fmt.Println("waited at least 2 × 200ms:", time.Since(begin) >= 400*time.Millisecond)
	// Output:
	// admitted: 3 of 3
	// waited at least 2 × 200ms: true
}

// mustLimiter is a limiter named "per-ip" of limit in a memory store of its
// own.
func mustLimiter(limit core.Limit) *core.Limiter {
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	l, err := core.NewLimiter(store, limit, core.WithName("per-ip"))
	if err != nil {
		panic(err)
	}
	return l
}
