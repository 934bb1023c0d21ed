package httplimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/tollgate-go/tollgate/core"
)

// CostSource says where the real cost of a request under WithCostAfter
// comes from.
type CostSource uint8

const (
	// CostReported is the cost the handler reports with ReportCost, such as
	// the tokens a model consumed; a request whose handler reports none
	// costs what was reserved.
	CostReported CostSource = iota + 1
	// CostBodyBytes is the size of the response body in bytes, as the
	// handlers wrote it (a cost the handler reports wins). The
	// RateLimit-Policy field gives the limits the draft's quota unit for
	// it, qu="content-bytes".
	CostBodyBytes
)

// WithCostAfter makes the gate's rate limits charge each request its real
// cost, known once the handler has run: a model's tokens, the bytes sent.
// Each limit reserves its cost before the handler (core.WithCost, default
// 1: the estimate), as it would take it, and the request is admitted or
// denied on that; after the handler returns (normally, by a panic, by
// http.ErrAbortHandler, or after its client went away) the real cost is
// settled (core.Limiter.Settle): the difference is charged whatever is
// left, so a key may end in debt and is denied until it has paid, or given
// back when the estimate was high. Package storekit's Settle has the table
// of how far each algorithm carries debt and when it is paid: at most one
// burst, and over any run of windows the cost charged never exceeds their
// quota plus the debt still unpaid.
//
// Settling runs on a context that outlives the request's (the client may
// be gone), after the handlers and before the request's concurrency slots
// are given back. The fields sent with the response describe the key after
// the reservation: they are written before the body. What a settlement
// does is seen by the limiters' hooks (core.WithHook, Event.Settled), as
// are bad reports: a negative cost leaves the reservation standing, a cost
// above a limit's burst is charged as the burst, and the handler's response
// is never touched by either.
//
// The response writer the handlers get under CostBodyBytes counts what they
// write and keeps what the server's writer offers: http.Flusher,
// http.Hijacker, io.ReaderFrom and Unwrap, so http.ResponseController, a
// server-sent event stream and a websocket upgrade work through it (bytes
// written on a hijacked connection are not counted: report them). The gin
// and echo adapters read the framework writer's own count instead.
//
// Every limit's store must settle (core.Limiter.CanSettle: the memory and
// Redis stores do; the Redis store's lease mode does not), or New fails
// naming the limit. A Gate with cost-after limits must be served through
// ServeHold, as every adapter does; Serve answers every request with the
// error handler (503).
func WithCostAfter(src CostSource) Option {
	return optionFunc(func(c *config) error {
		if src != CostReported && src != CostBodyBytes {
			return fmt.Errorf("httplimit: WithCostAfter: unknown cost source %d (CostReported or CostBodyBytes)", src)
		}
		c.costAfter = src
		return nil
	})
}

// checkCostAfter checks that every limit of a cost-after gate can settle.
func (g *Gate) checkCostAfter() error {
	if g.costAfter == 0 {
		return nil
	}
	// A rule's tiers share its limiter's store and fallback (Limiter.Tier).
	for i := range g.rules {
		if l := g.rules[i].l; !l.CanSettle() {
			return fmt.Errorf("httplimit: WithCostAfter: limit %q: %w (its store, or its fallback, does not implement storekit.Settler)", l.Name(), core.ErrNoSettle)
		}
	}
	return nil
}

// ReportCost reports the real cost of the request whose context is ctx
// (r.Context() in a handler) to the limits of WithCostAfter, replacing any
// cost reported before. It returns false, doing nothing, when the request
// is under no cost-after limit. The cost is settled when the handler
// returns; a negative one leaves the reservation standing, and one above a
// limit's burst is charged as the burst (the limiters' hooks see both).
func ReportCost(ctx context.Context, cost int64) bool {
	st, _ := ctx.Value(settlementKey{}).(*settlement)
	if st == nil {
		return false
	}
	st.reported.Store(cost)
	st.hasReport.Store(true)
	return true
}

type settlementKey struct{}

// settlement is what a request admitted by a cost-after gate settles when
// its handler returns: each limit that counted it, on its key.
type settlement struct {
	src       CostSource
	n         int
	ls        [MaxLimits]*core.Limiter
	keys      [MaxLimits]string
	reported  atomic.Int64
	hasReport atomic.Bool
	// written reads the bytes the handlers wrote (an adapter's count);
	// nil: cw counts them.
	written func() int64
	cw      countingWriter
	ctx     context.Context // the request's, whose values the hooks may read
}

// reserve records, for a request ds admitted, what its settlement settles:
// every limit that counted it (not a shadow denial, nor a fail-open
// admission, which took nothing).
func (g *Gate) reserve(h *Hold, r *http.Request, st *decided, keys []string, ds []core.Decision) {
	s := &settlement{src: g.costAfter, ctx: r.Context()}
	for i, d := range ds {
		if keys[i] == "" || d.Reason != core.ReasonOK {
			continue
		}
		s.ls[s.n], s.keys[s.n] = st.limiter(g, i), keys[i]
		s.n++
	}
	h.settle = s
}

// run settles every limit of s at the request's real cost.
func (s *settlement) run() {
	var actual int64
	switch {
	case s.hasReport.Load():
		actual = s.reported.Load()
	case s.src == CostBodyBytes && s.written != nil:
		actual = max(s.written(), 0)
	case s.src == CostBodyBytes && s.cw.ResponseWriter != nil:
		actual = s.cw.n.Load()
	default:
		return // nothing reported, nothing counted: the reservation stands
	}
	ctx := context.WithoutCancel(s.ctx)
	for i := 0; i < s.n; i++ {
		l := s.ls[i]
		// Errors reach the limiter's hook (Event.Settled); a settlement
		// that fails leaves the reservation standing.
		_, _ = l.Settle(ctx, s.keys[i], l.Cost(), actual)
	}
}

// errNoSettleServe is the answer when a Gate with cost-after limits is served by
// Serve, which cannot settle after the handler.
var errNoSettleServe = errors.New("httplimit: a Gate with cost-after limits (WithCostAfter) must be served with ServeHold, which settles when the handler returns")

// Writer returns the response writer the handlers of r (a request a
// Middleware passed on) write to: w, or, under WithCostAfter(CostBodyBytes)
// in an adapter that has no count of its own, the writer that counts the
// body. An adapter whose context is the request itself (chimw) passes it
// on with Writer(r, w).
func Writer(r *http.Request, w http.ResponseWriter) http.ResponseWriter {
	if st, _ := r.Context().Value(settlementKey{}).(*settlement); st != nil && st.cw.ResponseWriter != nil {
		return &st.cw
	}
	return w
}

// countingWriter counts the body bytes written through it, and keeps what
// the writer under it offers.
type countingWriter struct {
	http.ResponseWriter
	n atomic.Int64 // read after the handler, possibly by another goroutine
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.ResponseWriter.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

func (cw *countingWriter) WriteString(s string) (int, error) {
	n, err := io.WriteString(cw.ResponseWriter, s)
	cw.n.Add(int64(n))
	return n, err
}

// ReadFrom lets io.Copy use the server's own (sendfile) path.
func (cw *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := cw.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(onlyWriter{cw.ResponseWriter}, src)
	}
	cw.n.Add(n)
	return n, err
}

// Flush is http.Flusher's; FlushError reports what Flush cannot.
func (cw *countingWriter) Flush() { _ = cw.FlushError() }

// FlushError flushes the writer under cw, as http.ResponseController does.
func (cw *countingWriter) FlushError() error {
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// Hijack is http.Hijacker's, through the writer under cw.
func (cw *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(cw.ResponseWriter).Hijack()
}

// Unwrap returns the writer under cw, for http.ResponseController.
func (cw *countingWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// onlyWriter hides a writer's ReadFrom, so io.Copy does not call it back.
type onlyWriter struct{ io.Writer }
