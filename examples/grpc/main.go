// Command grpc shows tollgate limiting a gRPC service, and a client that
// honours the waits it sends. It starts a gRPC server on a free loopback
// port (grpc-go's interop test service, so no code is generated here) with
// grpclimit's interceptors:
//
//   - EmptyCall: 5 a minute per client address ("per-ip");
//   - UnaryCall: 2 a second, no burst ("paced").
//
// Then, in three parts, it prints what clients see:
//
//  1. A plain client sends 8 EmptyCalls at once: 5 are admitted, 3 refused
//     with ResourceExhausted, the wait in a RetryInfo detail and in the
//     trailer (retry-after, and the ratelimit fields).
//  2. A client with grpclimit's ClientInterceptor sends 4 UnaryCalls in a
//     row: all 4 are admitted, the client waiting out each refusal (half a
//     second) instead of returning it.
//  3. The same client calls EmptyCall, whose wait (about 12s) is more than
//     its budget (2s): the refusal comes back at once as a
//     *grpclimit.WaitError carrying the wait, and the next call is held by
//     the client, never sent.
//
// It exits 1 if a call or the counts are not what the limits call for.
//
//	go run ./examples/grpc
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
	"github.com/tollgate-go/tollgate/stores/memstore"
)

const (
	emptyCall = "/grpc.testing.TestService/EmptyCall"
	unaryCall = "/grpc.testing.TestService/UnaryCall"

	quota     = 5 // EmptyCalls a minute per client address
	burstSize = 8 // EmptyCalls the plain client sends
	paced     = 4 // UnaryCalls the honouring client sends
)

// pacedLimit is UnaryCall's limit: one call every 500ms, no burst.
var pacedLimit = core.Limit{Rate: 2, Period: time.Second, Burst: 1}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}

// service is the interop test service's two unary methods.
type service struct {
	testpb.UnimplementedTestServiceServer
}

func (service) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (service) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

// server is a running limited server and what it counted.
type server struct {
	addr    string
	refused atomic.Int64 // calls the limits denied
	stop    func()
}

// serve starts the limited server on a free loopback port.
func serve() (*server, error) {
	s := &server{}
	store, err := memstore.New()
	if err != nil {
		return nil, err
	}
	count := core.WithHook(func(_ context.Context, ev core.Event) {
		if !ev.Decision.Allowed {
			s.refused.Add(1)
		}
	})
	perIP, err := core.NewLimiter(store, core.PerMinute(quota), core.WithName("per-ip"), count)
	if err != nil {
		return nil, err
	}
	pacer, err := core.NewLimiter(store, pacedLimit, core.WithName("paced"), count)
	if err != nil {
		return nil, err
	}
	// EmptyCall (and any other method) under per-ip; UnaryCall under
	// paced instead.
	lim, err := grpclimit.New(perIP, grpclimit.WithMethod(unaryCall, pacer, nil))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lim.Unary()), grpc.ChainStreamInterceptor(lim.Stream()))
	testpb.RegisterTestServiceServer(srv, service{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	s.addr = lis.Addr().String()
	s.stop = func() {
		srv.Stop()
		<-done
		_ = store.Close()
	}
	return s, nil
}

// dial returns a client of addr through the interceptors given.
func dial(addr string, opts ...grpc.DialOption) (testpb.TestServiceClient, func(), error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return testpb.NewTestServiceClient(conn), func() { _ = conn.Close() }, nil
}

// report is what the three parts saw, for the checks.
type report struct {
	admitted, refused int           // part 1
	pacedOK           int           // part 2: UnaryCalls admitted
	pacedTook         time.Duration // part 2: how long they took
	wait              time.Duration // part 3: the WaitError's wait
	heldSent          bool          // part 3: whether the held call reached the server
}

// run starts the server, runs the three parts, prints what they saw to w
// and checks it.
func run(w io.Writer) error {
	s, err := serve()
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Fprintf(w, "gRPC server on %s: EmptyCall %d a minute per client address, UnaryCall %d a second (burst 1)\n\n", s.addr, quota, pacedLimit.Rate)
	var r report
	if err := plainBurst(w, s, &r); err != nil {
		return err
	}
	if err := honouring(w, s, &r); err != nil {
		return err
	}
	return check(r)
}

// plainBurst is part 1: a client without grpclimit sends a burst of
// EmptyCalls and prints each answer.
func plainBurst(w io.Writer, s *server, r *report) error {
	client, closeConn, err := dial(s.addr)
	if err != nil {
		return err
	}
	defer closeConn()
	fmt.Fprintf(w, "1. a plain client sends %d EmptyCalls at once\n", burstSize)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "call\tcode\tRetryInfo\tretry-after\tratelimit")
	for i := 1; i <= burstSize; i++ {
		var header, trailer metadata.MD
		_, err := client.EmptyCall(context.Background(), &testpb.Empty{}, grpc.Header(&header), grpc.Trailer(&trailer))
		code, fields := status.Code(err), header
		switch code {
		case codes.OK:
			r.admitted++
		case codes.ResourceExhausted:
			r.refused++
			fields = trailer
		default:
			return fmt.Errorf("EmptyCall %d: %v", i, err)
		}
		retry := "-"
		if d, ok := grpclimit.RetryDelay(err); ok {
			retry = d.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%d\t%v\t%s\t%s\t%s\n", i, code, retry, first(fields, grpclimit.RetryAfterKey), first(fields, grpclimit.RateLimitKey))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "admitted %d, refused %d\n\n", r.admitted, r.refused)
	return nil
}

// honouring is parts 2 and 3: a client with grpclimit's ClientInterceptor.
func honouring(w io.Writer, s *server, r *report) error {
	ci, err := grpclimit.NewClientInterceptor(grpclimit.WithMaxWait(2 * time.Second))
	if err != nil {
		return err
	}
	client, closeConn, err := dial(s.addr, grpc.WithChainUnaryInterceptor(ci.Unary()), grpc.WithChainStreamInterceptor(ci.Stream()))
	if err != nil {
		return err
	}
	defer closeConn()

	fmt.Fprintf(w, "2. a client with grpclimit's ClientInterceptor sends %d UnaryCalls in a row\n", paced)
	before := s.refused.Load()
	begin := time.Now()
	for i := 1; i <= paced; i++ {
		callStart := time.Now()
		if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
			return fmt.Errorf("UnaryCall %d: %v", i, err)
		}
		r.pacedOK++
		fmt.Fprintf(w, "call %d: OK after %v\n", i, time.Since(callStart).Round(10*time.Millisecond))
	}
	r.pacedTook = time.Since(begin)
	fmt.Fprintf(w, "admitted %d of %d in %v; the server refused %d of the attempts, and the client waited each refusal out\n\n",
		r.pacedOK, paced, r.pacedTook.Round(10*time.Millisecond), s.refused.Load()-before)

	fmt.Fprintln(w, "3. the same client calls EmptyCall, whose wait is longer than its budget (2s)")
	_, err = client.EmptyCall(context.Background(), &testpb.Empty{})
	var we *grpclimit.WaitError
	if !errors.As(err, &we) {
		return fmt.Errorf("EmptyCall over the budget: %v, want a *grpclimit.WaitError", err)
	}
	r.wait = we.Wait
	fmt.Fprintf(w, "returned at once: %v, wait %v: %s\n", status.Code(err), we.Wait.Round(100*time.Millisecond), status.Convert(err).Message())
	before = s.refused.Load()
	_, err = client.EmptyCall(context.Background(), &testpb.Empty{})
	r.heldSent = s.refused.Load() != before
	msg, _, _ := strings.Cut(status.Convert(err).Message(), ";")
	fmt.Fprintf(w, "the next call: %v, %s; sent to the server: %v\n", status.Code(err), msg, r.heldSent)
	return nil
}

// first returns the first value of key in md, or "-".
func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return "-"
}

// check returns an error when the report is not what the limits call for.
func check(r report) error {
	var errs []error
	if r.admitted != quota || r.refused != burstSize-quota {
		errs = append(errs, fmt.Errorf("part 1: %d admitted, %d refused; want %d, %d", r.admitted, r.refused, quota, burstSize-quota))
	}
	// Admitted one per 500ms, the calls cannot take less than 3 × 500ms,
	// however fast the machine: the client waited.
	if min := time.Duration(paced-1) * (time.Second / time.Duration(pacedLimit.Rate)); r.pacedOK != paced || r.pacedTook < min {
		errs = append(errs, fmt.Errorf("part 2: %d of %d admitted in %v; want all, in at least %v", r.pacedOK, paced, r.pacedTook, min))
	}
	// 5/m is one call every 12s: the wait is what is left of it after
	// parts 1 and 2, more than the client's budget.
	if r.wait <= 2*time.Second || r.wait > 12*time.Second {
		errs = append(errs, fmt.Errorf("part 3: a wait of %v, want more than the 2s budget and at most 12s", r.wait))
	}
	if r.heldSent {
		errs = append(errs, errors.New("part 3: the held call reached the server"))
	}
	return errors.Join(errs...)
}
