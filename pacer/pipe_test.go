package pacer_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate-go/tollgate/pacer"
)

// The tests of timing run a real net/http server and client inside a
// testing/synctest bubble, connected by in-memory pipes rather than
// loopback sockets, so that the bubble's clock moves only when every
// goroutine waits: a wait of ten seconds takes none, and is measured
// exactly.

// pipeListener is a net.Listener whose connections are net.Pipe pairs
// made by dial.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:80" }

// serve starts h on a pipe listener and returns a transport dialling it.
// The server and the transport's connections are closed when t ends.
// Call it inside the bubble.
func serve(t *testing.T, h http.Handler) *http.Transport {
	t.Helper()
	ln := newPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	tr := &http.Transport{DialContext: ln.dial, MaxIdleConnsPerHost: 16}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return tr
}

// epoch is where the bubble's clock is moved before a test: a whole
// second, and a Unix time past 1e9 (the bubble starts in 2000, when Unix
// times had 9 digits, which X-RateLimit-Reset would read as a delay).
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// bubble runs f in a synctest bubble whose clock reads epoch.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(epoch))
		f(t)
	})
}

// newPacer returns a pacer over base, failing t on an error.
func newPacer(t *testing.T, base http.RoundTripper, opts ...pacer.Option) *pacer.Transport {
	t.Helper()
	p, err := pacer.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitError returns err's *WaitError, failing t if it has none.
func waitError(t *testing.T, err error) *pacer.WaitError {
	t.Helper()
	var we *pacer.WaitError
	if !errors.As(err, &we) {
		t.Fatalf("error %v, want a *pacer.WaitError", err)
	}
	return we
}
