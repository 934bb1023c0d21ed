package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a server, for network faults a real
// server cannot produce on demand:
//
//   - Stall holds every byte in both directions (a hung server, the
//     connection left open) until Resume, then delivers what it held.
//   - BlackHole discards every byte in both directions while connections,
//     old and new, stay open (a network that accepts and never answers)
//     until Resume; what it discarded is lost.
//   - Delay adds a latency to every round trip.
type Proxy struct {
	// Addr is where clients connect.
	Addr string

	target string
	ln     net.Listener

	mu       sync.Mutex
	stalled  bool
	dropping bool
	delay    time.Duration
	resume   chan struct{} // closed by Resume
	conns    []net.Conn

	// Accepted counts the connections clients opened.
	Accepted atomic.Int64
	// Dropped counts the bytes BlackHole discarded.
	Dropped atomic.Int64
}

// StartProxy listens on a free loopback port and forwards to target; it
// stops when tb ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := LaunchProxy(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// LaunchProxy is StartProxy outside a test, for programs that measure or
// demonstrate: stop it with Close.
func LaunchProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	go p.accept()
	return p, nil
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.Accepted.Add(1)
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c, nil)
		// The way back goes through a queue, so that Delay holds each
		// reply for its own time, in order, without holding the next.
		q := make(chan chunk, 64)
		go p.deliver(c, up, q)
		go p.pipe(c, up, q)
	}
}

// chunk is bytes read from the server, to be written to the client at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, or to q when q is not nil.
func (p *Proxy) pipe(dst, src net.Conn, q chan<- chunk) {
	defer dst.Close()
	defer src.Close()
	if q != nil {
		defer close(q)
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			drop, delay := p.wait()
			switch {
			case drop:
				p.Dropped.Add(int64(n))
			case q != nil:
				q <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(delay)}
			default:
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: the deferred Closes end the other side
		}
	}
}

// deliver writes the server's bytes to the client, each chunk at its time.
func (p *Proxy) deliver(dst, src net.Conn, q <-chan chunk) {
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d) // the latency Delay asked for
		}
		if _, err := dst.Write(c.data); err != nil {
			dst.Close()
			src.Close() // ends pipe, which closes q
			for range q {
			}
			return
		}
	}
}

// wait blocks while the proxy is stalled, then reports whether bytes are
// to be dropped and how long replies are to be held.
func (p *Proxy) wait() (drop bool, delay time.Duration) {
	p.mu.Lock()
	stalled, resume := p.stalled, p.resume
	p.mu.Unlock()
	if stalled {
		<-resume
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropping, p.delay
}

// Stall holds all traffic from now on, keeping the connections open.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled, p.resume = true, make(chan struct{})
	}
}

// BlackHole discards all traffic from now on, in both directions, keeping
// the connections open and accepting new ones: requests are sent and never
// answered. Resume ends it; what was discarded stays lost, so a client
// should drop a connection whose request went unanswered (go-redis does,
// at its deadline).
func (p *Proxy) BlackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropping = true
}

// Delay holds every reply for d before passing it on, adding d to every
// round trip (order is kept). Delay(0) ends it.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = max(d, 0)
}

// Resume ends Stall and BlackHole: held and new traffic goes through.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropping = false
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() {
	p.Resume()
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
