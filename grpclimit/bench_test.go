package grpclimit_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// benchLimiter is a per-peer limit no benchmark reaches, in a memory store
// of its own: every call is decided and admitted, with its fields.
func benchLimiter(b *testing.B) *core.Limiter {
	b.Helper()
	store, err := memstore.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	l, err := core.NewLimiter(store, core.PerSecond(1_000_000_000), core.WithName("per-ip"))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchUnary measures EmptyCall over a real loopback connection, served
// with the server options given, one call at a time.
func benchUnary(b *testing.B, opts ...grpc.ServerOption) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	testpb.RegisterTestServiceServer(srv, &testService{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	ctx := context.Background()
	if _, err := client.EmptyCall(ctx, &testpb.Empty{}); err != nil { // connect first
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := client.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnaryBare is a unary call over loopback without a limit: the
// baseline of BenchmarkUnaryLimited.
func BenchmarkUnaryBare(b *testing.B) {
	benchUnary(b)
}

// BenchmarkUnaryLimited is BenchmarkUnaryBare behind the unary
// interceptor (keyed by peer, one limit, fields in the header): the
// difference is the per-call cost of the limit.
func BenchmarkUnaryLimited(b *testing.B) {
	in, err := grpclimit.New(benchLimiter(b))
	if err != nil {
		b.Fatal(err)
	}
	benchUnary(b, grpc.ChainUnaryInterceptor(in.Unary()))
}

// headerStream is the part of a server transport stream that
// grpc.SetHeader and SetTrailer reach: it keeps what they set, as gRPC's
// own does (metadata.Join), and sends nothing.
type headerStream struct{ header, trailer metadata.MD }

func (s *headerStream) Method() string { return emptyCall }
func (s *headerStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}
func (s *headerStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *headerStream) SetTrailer(md metadata.MD) error {
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// BenchmarkUnaryInterceptor is the interceptor alone, called as the server
// calls it, without a network: key and decision, with the fields set on the
// call's header (the default) and without them (WithoutHeaderFields).
func BenchmarkUnaryInterceptor(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []grpclimit.Option
		want int // values of RateLimitKey in the header
	}{
		{"fields=on", nil, 1},
		{"fields=off", []grpclimit.Option{grpclimit.WithoutHeaderFields()}, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in, err := grpclimit.New(benchLimiter(b), bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			unary := in.Unary()
			st := &headerStream{}
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5}})
			ctx = grpc.NewContextWithServerTransportStream(ctx, st)
			info := &grpc.UnaryServerInfo{FullMethod: emptyCall}
			handler := func(context.Context, any) (any, error) { return nil, nil }
			b.ReportAllocs()
			for b.Loop() {
				st.header = nil
				if _, err := unary(ctx, nil, info, handler); err != nil {
					b.Fatal(err)
				}
			}
			if n := len(st.header.Get(grpclimit.RateLimitKey)); n != bc.want {
				b.Fatalf("header %v: %d ratelimit values, want %d", st.header, n, bc.want)
			}
		})
	}
}
