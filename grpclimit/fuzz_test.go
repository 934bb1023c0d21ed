package grpclimit_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/keyfuncs"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

// FuzzRetryDelay reads a refusal as a client receives it: a google.rpc.Status
// in any bytes (the grpc-status-details-bin trailer is the server's to
// write), with any code, details and RetryInfo. RetryDelay must never panic
// and never report a delay outside [0, 24h]; the client interceptor must
// return it as it came or as a *WaitError of that delay, at once (no
// retries, so no wait).
func FuzzRetryDelay(f *testing.F) {
	seed := func(code codes.Code, d *durationpb.Duration) []byte {
		ri, err := anypb.New(&errdetails.RetryInfo{RetryDelay: d})
		if err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(&spb.Status{Code: int32(code), Message: "refused", Details: []*anypb.Any{ri}})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed(codes.ResourceExhausted, durationpb.New(20*time.Second)))
	f.Add(seed(codes.Unavailable, durationpb.New(time.Second)))
	f.Add(seed(codes.ResourceExhausted, durationpb.New(365*24*time.Hour)))
	f.Add(seed(codes.ResourceExhausted, &durationpb.Duration{Seconds: -1}))
	f.Add(seed(codes.ResourceExhausted, &durationpb.Duration{Seconds: 1 << 62, Nanos: -1}))
	f.Add(seed(codes.Internal, durationpb.New(time.Second)))
	f.Add([]byte{})
	f.Add([]byte("\x08\x08\x1a\x02\x0a\x00"))
	ci, err := grpclimit.NewClientInterceptor(grpclimit.WithRetries(0))
	if err != nil {
		f.Fatal(err)
	}
	unary := ci.Unary()
	f.Fuzz(func(t *testing.T, data []byte) {
		var p spb.Status
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		refusal := status.FromProto(&p).Err()
		d, ok := grpclimit.RetryDelay(refusal)
		if d < 0 || d > 24*time.Hour || !ok && d != 0 {
			t.Fatalf("RetryDelay = %v, %v: outside [0, 24h]", d, ok)
		}
		// A unique method per input: a hold from one input must not make
		// the next wait.
		method := "/fuzz.Service/" + string(rune('a'+len(data)%26))
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done() // a held method must not make the call wait either
		err := unary(ctx, method, nil, nil, nil, func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
			return refusal
		})
		var we *grpclimit.WaitError
		isWait := errors.As(err, &we)
		switch {
		case isWait && we.Err != refusal: // held by an earlier input's delay: not sent
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("a held call: %v, want ResourceExhausted", err)
			}
		case ok:
			if !isWait || we.Wait != d || we.Err != refusal {
				t.Fatalf("the interceptor returned %v, want a *WaitError of %v around the refusal", err, d)
			}
		case err != refusal:
			t.Fatalf("the interceptor returned %v, want the refusal %v as it came", err, refusal)
		}
	})
}

// FuzzOddCalls calls the unary interceptor with any peer address,
// x-forwarded-for (from a trusted proxy or not) and keying metadata. Every
// call must be answered deliberately: admitted (the handler runs), or
// refused with ResourceExhausted or InvalidArgument (it does not); never a
// panic.
func FuzzOddCalls(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:1", "203.0.113.9", "tenant-a"},
		{"192.0.2.1:1", "203.0.113.9", ""},
		{"[fe80::1%eth0]:80", "garbage, [64:ff9b::1.2.3.4]:80", "x"},
		{"", "", ""},
		{"not an address", ",,,", "\x00\xff"},
		{"10.0.0.1:1", "10.0.0.2, 10.0.0.3", string(make([]byte, 70))},
		{"[::ffff:10.0.0.1]:1", "for=\"[2001:db8::1]\"", "t"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	store, err := memstore.New()
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	perIP, err := core.NewLimiter(store, core.PerSecond(1000), core.WithName("per-ip"))
	if err != nil {
		f.Fatal(err)
	}
	perTenant, err := core.NewLimiter(store, core.PerSecond(1000), core.WithName("per-tenant"))
	if err != nil {
		f.Fatal(err)
	}
	resolver, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("10.0.0.0/8"))
	if err != nil {
		f.Fatal(err)
	}
	byTenant, err := grpclimit.Metadata("x-tenant", 64)
	if err != nil {
		f.Fatal(err)
	}
	in, err := grpclimit.New(perIP, grpclimit.WithKeyFunc(grpclimit.PeerIP(resolver)), grpclimit.WithLimit(perTenant, byTenant))
	if err != nil {
		f.Fatal(err)
	}
	unary := in.Unary()
	info := &grpc.UnaryServerInfo{FullMethod: emptyCall}
	f.Fuzz(func(t *testing.T, addr, xff, tenant string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"x-forwarded-for": {xff}, "x-tenant": {tenant}})
		var a net.Addr = strAddr{"tcp", addr}
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			a = net.TCPAddrFromAddrPort(ap) // never a lookup: no network in a fuzz target
		}
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: a})
		ran := false
		_, err := unary(ctx, nil, info, func(context.Context, any) (any, error) { ran = true; return nil, nil })
		switch code := status.Code(err); {
		case code == codes.OK && !ran, code != codes.OK && ran:
			t.Fatalf("code %v, handler ran %v", code, ran)
		case code != codes.OK && code != codes.ResourceExhausted && code != codes.InvalidArgument:
			t.Fatalf("code %v (%v), want OK, ResourceExhausted or InvalidArgument", code, err)
		}
	})
}
