package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ClientInterceptor makes a gRPC client honour the waits servers ask for: a
// call refused with codes.ResourceExhausted or codes.Unavailable and a
// google.rpc.RetryInfo detail (what Interceptor answers to a denied call,
// or to one it could not decide because its store failed) is retried after
// the detail's delay, within a budget, or returned at once as a *WaitError
// carrying the wait. A call refused without RetryInfo, or with another
// code, is returned as it came: only a server's RetryInfo says a retry is
// welcome, and tollgate's interceptor sends one only for calls it refused
// before their handler ran.
//
// After a denial the method is held: later calls to it (from any goroutine
// sharing the ClientInterceptor) wait until the delay has passed, within
// the same budget, rather than being sent to be refused. A hold is per full
// method; WithoutHold turns it off for a client whose calls to one method
// are limited under different keys (one client acting for many tenants).
//
// Unary calls are retried. A stream is held before it is opened, and a
// stream that ends with a delay holds its method, but a stream is never
// retried: its messages were the caller's to send.
//
// It is safe for concurrent use. The zero value is not usable: build one
// with NewClientInterceptor.
type ClientInterceptor struct {
	maxWait time.Duration
	retries int
	hold    bool

	mu   sync.Mutex
	held map[string]time.Time // full method → held until then; guarded by mu
}

// ClientOption configures a ClientInterceptor. A nil ClientOption is not
// allowed.
type ClientOption interface {
	applyClient(*ClientInterceptor) error
}

type clientOptionFunc func(*ClientInterceptor) error

func (f clientOptionFunc) applyClient(c *ClientInterceptor) error { return f(c) }

// Default budget of a ClientInterceptor.
const (
	// DefaultMaxWait is the longest a call waits in all, holds and
	// retries together, unless WithMaxWait says otherwise.
	DefaultMaxWait = 10 * time.Second
	// DefaultRetries is how many times a call is retried after a denial,
	// unless WithRetries says otherwise.
	DefaultRetries = 3
)

// maxHeld bounds the methods held at once: a client calls the methods its
// code names, but a hold is an optimisation, never worth unbounded memory.
const maxHeld = 1024

// WithMaxWait sets the longest a call may wait in all, for holds and
// retries together (default DefaultMaxWait). A server's delay that would
// take a call past it, or past the call's deadline, is not waited for: the
// call returns a *WaitError at once. A delay is never trusted beyond it,
// however large or malformed the server's RetryInfo.
func WithMaxWait(d time.Duration) ClientOption {
	return clientOptionFunc(func(c *ClientInterceptor) error {
		if d <= 0 {
			return fmt.Errorf("grpclimit: WithMaxWait(%v): must be positive", d)
		}
		c.maxWait = d
		return nil
	})
}

// WithRetries sets how many times a unary call is retried after a refusal
// with a delay (default DefaultRetries). 0 never retries: the refusal is
// returned as a *WaitError, and the hold still spares later calls.
func WithRetries(n int) ClientOption {
	return clientOptionFunc(func(c *ClientInterceptor) error {
		if n < 0 {
			return fmt.Errorf("grpclimit: WithRetries(%d): must be 0 or more", n)
		}
		c.retries = n
		return nil
	})
}

// WithoutHold stops a denial from holding later calls to its method: each
// call learns its wait from its own refusal.
func WithoutHold() ClientOption {
	return clientOptionFunc(func(c *ClientInterceptor) error { c.hold = false; return nil })
}

// NewClientInterceptor returns a ClientInterceptor configured by opts. It
// returns an error naming the first invalid option.
func NewClientInterceptor(opts ...ClientOption) (*ClientInterceptor, error) {
	c := &ClientInterceptor{maxWait: DefaultMaxWait, retries: DefaultRetries, hold: true}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("grpclimit: NewClientInterceptor: nil option")
		}
		if err := o.applyClient(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WaitError is the error of a call refused with a delay that the
// ClientInterceptor did not wait out: longer than what is left of the
// budget (WithMaxWait) or of the call's deadline, or the last of its
// retries. A call held after an earlier denial and not sent at all gets
// one too, its Err made locally (codes.ResourceExhausted with a RetryInfo
// of the time left).
//
// status.Code, status.FromError and status.Convert see Err's code and
// details through it; errors.As finds it, for the Wait.
type WaitError struct {
	// Method is the call's full method.
	Method string
	// Wait is the delay the server asked for (or what was left of the
	// hold), at most a day: a larger one is reported as a day.
	Wait time.Duration
	// Err is the server's status error, or the local one of a held call.
	Err error
}

// Error says which method was refused, the wait, and the refusal's message.
func (e *WaitError) Error() string {
	return "grpclimit: " + e.Method + ": retry after " + e.Wait.String() + ": " + status.Convert(e.Err).Message()
}

// Unwrap returns Err.
func (e *WaitError) Unwrap() error { return e.Err }

// GRPCStatus returns Err's status, for package status.
func (e *WaitError) GRPCStatus() *status.Status { return status.Convert(e.Err) }

// maxDelay bounds the delays read from servers, so that no sum or deadline
// arithmetic overflows, whatever a RetryInfo says.
const maxDelay = 24 * time.Hour

// RetryDelay returns the delay a refused call's error asks for: the
// RetryInfo detail of a status of code ResourceExhausted or Unavailable,
// clamped to [0, 24h]. ok is false for any other error, or for such a
// status without a valid RetryInfo (a negative or out-of-range duration
// is no delay).
func RetryDelay(err error) (d time.Duration, ok bool) {
	if err == nil {
		return 0, false
	}
	st, isStatus := status.FromError(err)
	if !isStatus || st.Code() != codes.ResourceExhausted && st.Code() != codes.Unavailable {
		return 0, false
	}
	for _, detail := range st.Details() {
		ri, isRetry := detail.(*errdetails.RetryInfo)
		if !isRetry {
			continue
		}
		rd := ri.GetRetryDelay()
		if rd == nil || rd.CheckValid() != nil || rd.GetSeconds() < 0 || rd.GetNanos() < 0 {
			return 0, false
		}
		if rd.GetSeconds() >= int64(maxDelay/time.Second) {
			return maxDelay, true
		}
		return rd.AsDuration(), true
	}
	return 0, false
}

// Unary returns the unary client interceptor: it waits out a hold on the
// method, sends the call, and retries it after a refusal with a delay,
// within the budget.
func (c *ClientInterceptor) Unary() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var waited time.Duration
		if c.hold {
			if err := c.waitHold(ctx, method, &waited); err != nil {
				return err
			}
		}
		for attempt := 0; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			delay, ok := RetryDelay(err)
			if !ok {
				return err
			}
			c.holdFor(method, delay) // for the calls that follow
			if attempt >= c.retries {
				return &WaitError{Method: method, Wait: delay, Err: err}
			}
			if err := c.sleep(ctx, method, delay, &waited, err); err != nil {
				return err
			}
		}
	}
}

// Stream returns the stream client interceptor: it waits out a hold on the
// method before opening a stream, and a stream that ends refused with a
// delay holds its method. Streams are not retried.
func (c *ClientInterceptor) Stream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if !c.hold {
			return streamer(ctx, desc, cc, method, opts...)
		}
		var waited time.Duration
		if err := c.waitHold(ctx, method, &waited); err != nil {
			return nil, err
		}
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			if delay, ok := RetryDelay(err); ok {
				c.holdFor(method, delay)
			}
			return nil, err
		}
		return &watchedStream{ClientStream: cs, c: c, method: method}, nil
	}
}

// watchedStream holds its method when it ends refused with a delay.
type watchedStream struct {
	grpc.ClientStream
	c      *ClientInterceptor
	method string
}

// RecvMsg receives a message; the stream's final error is read for a
// delay.
func (s *watchedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && err != io.EOF {
		if delay, ok := RetryDelay(err); ok {
			s.c.holdFor(s.method, delay)
		}
	}
	return err
}

// holdFor holds method for delay from now, unless it is held longer.
func (c *ClientInterceptor) holdFor(method string, delay time.Duration) {
	if !c.hold || delay <= 0 {
		return
	}
	until := time.Now().Add(delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[string]time.Time{}
	}
	if t, ok := c.held[method]; ok {
		if until.After(t) {
			c.held[method] = until
		}
		return
	}
	if len(c.held) >= maxHeld {
		now := time.Now()
		for m, t := range c.held {
			if !t.After(now) {
				delete(c.held, m)
			}
		}
		if len(c.held) >= maxHeld {
			return
		}
	}
	c.held[method] = until
}

// heldFor returns how long method is still held (0: not held).
func (c *ClientInterceptor) heldFor(method string) time.Duration {
	c.mu.Lock()
	t, ok := c.held[method]
	c.mu.Unlock()
	if !ok {
		return 0
	}
	return time.Until(t)
}

// waitHold waits out a hold on method, if any, within the budget.
func (c *ClientInterceptor) waitHold(ctx context.Context, method string, waited *time.Duration) error {
	left := c.heldFor(method)
	if left <= 0 {
		return nil
	}
	return c.sleep(ctx, method, left, waited, nil)
}

// sleep waits d for a call to method that has waited *waited so far, or
// returns a *WaitError (with cause, or a status made here when nil) when d
// does not fit the budget or the call's deadline, or the context's error
// as a status when it is done first.
func (c *ClientInterceptor) sleep(ctx context.Context, method string, d time.Duration, waited *time.Duration, cause error) error {
	fits := *waited+d <= c.maxWait
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		fits = false // waiting would only end in DeadlineExceeded
	}
	if !fits {
		if cause == nil {
			cause = heldError(d)
		}
		return &WaitError{Method: method, Wait: d, Err: cause}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-t.C:
	}
	*waited += d
	return nil
}

// heldError is the status of a call not sent because its method is held
// for d after a denial.
func heldError(d time.Duration) error {
	st := status.New(codes.ResourceExhausted, "held by the client after a denial; retry after "+d.Round(time.Millisecond).String())
	if ds, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
		st = ds
	}
	return st.Err()
}
