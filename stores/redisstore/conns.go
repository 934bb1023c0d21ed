package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The store's own connections.
//
// A call is cheapest on its caller's goroutine: handing it to another
// goroutine and waiting for the reply costs two wake-ups, about 25 µs a
// call on a 2-core VM (bench: 104 µs a serial decision against 78 µs in
// line), more than Redis spends deciding. But go-redis bounds a command by
// its context only when ContextTimeoutEnabled is set, which most clients
// leave off; and when it does, a deadline that reaches the socket closes the
// connection, so that on a machine short of CPU the next calls dial, miss
// their deadlines in turn, and the pool churns (see call.go).
//
// So the store makes a client of its own from the one it is given: the same
// options (address, credentials, TLS, pool size, Sentinel failover, Cluster
// nodes), with ContextTimeoutEnabled on, and a dialer whose connections
// survive a missed deadline. A caller's command then runs in line, under the
// store's deadline. When the deadline passes while the reply is on its way,
// go-redis gives the connection up; the store keeps it: a goroutine of its
// own sends a PING with a random token after the command and reads until the
// token comes back (what came before it, the late reply, is dropped). The
// connection, in step again, is handed to the next dial, so no new socket is
// opened and Redis sees no connection closed. The late reply also tells the
// breaker what the caller could not: Redis answered (a success), or did not
// within the client's ReadTimeout (a failure, and the socket is closed).
//
// The client's hooks (AddHook: tracing, metrics) are not carried over: they
// belong to that client. WithClientPool keeps the store on the given client,
// whose commands then run on a goroutine each, as before.

// ownClient returns a client with c's options, ContextTimeoutEnabled and the
// recycler's dialer; nil when c is of a kind the store cannot copy (a Ring,
// a type of the caller's own) or sets no read or write deadlines at all, so
// that a context deadline could not reach its sockets.
func ownClient(c redis.UniversalClient, r *recycler) redis.UniversalClient {
	switch c := c.(type) {
	case *redis.Client:
		o := *c.Options()
		if o.ReadTimeout < 0 || o.WriteTimeout < 0 {
			return nil
		}
		r.wait = o.ReadTimeout
		undoDefaults(&o)
		// What NewClient set up for c alone: its push handlers (a second
		// client registering its own would fail), its maintenance
		// settings (copied, as go-redis' own clone does) and its
		// client-side cache, which scripts never read.
		o.PushNotificationProcessor = nil
		if o.MaintNotificationsConfig != nil {
			m := *o.MaintNotificationsConfig
			o.MaintNotificationsConfig = &m
		}
		o.ClientSideCacheConfig, o.ClientSideCache = nil, nil
		o.ContextTimeoutEnabled = true
		o.Dialer = r.dialer(o.Dialer)
		return redis.NewClient(&o)
	case *redis.ClusterClient:
		o := *c.Options()
		if o.ReadTimeout < 0 || o.WriteTimeout < 0 {
			return nil
		}
		// ClusterOptions.init's defaults, undone so that init keeps the
		// values it chose for c.
		if o.ReadTimeout == 0 {
			o.ReadTimeout = -1
		}
		if o.WriteTimeout == 0 {
			o.WriteTimeout = -1
		}
		if o.MaxRedirects == 0 {
			o.MaxRedirects = -1
		}
		o.MinRetryBackoff, o.MaxRetryBackoff = undoBackoff(o.MinRetryBackoff), undoBackoff(o.MaxRetryBackoff)
		r.wait = c.Options().ReadTimeout
		o.PushNotificationProcessor = nil
		if o.MaintNotificationsConfig != nil {
			m := *o.MaintNotificationsConfig
			o.MaintNotificationsConfig = &m
		}
		o.ContextTimeoutEnabled = true
		next := o.NewClient
		o.NewClient = func(no *redis.Options) *redis.Client {
			no.ContextTimeoutEnabled = true
			base := no.Dialer
			if base == nil {
				base = redis.NewDialer(no)
			}
			no.Dialer = r.dialer(base)
			return next(no)
		}
		return redis.NewClusterClient(&o)
	}
	return nil
}

// undoDefaults reverses what Options.init did to the values a user left at
// zero or set to -1, so that a second init keeps them.
func undoDefaults(o *redis.Options) {
	for _, d := range []*time.Duration{&o.ReadTimeout, &o.WriteTimeout} {
		if *d == 0 {
			*d = -1 // no deadline: init maps -1 to 0
		}
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	o.MinRetryBackoff, o.MaxRetryBackoff = undoBackoff(o.MinRetryBackoff), undoBackoff(o.MaxRetryBackoff)
}

func undoBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// recycler keeps the connections of the store's own client whose caller
// left while a reply was on its way, and puts them back in step.
type recycler struct {
	s    *Store
	wait time.Duration // how long a late reply may take: the client's ReadTimeout

	mu       sync.Mutex
	spare    map[string][]net.Conn // by address, in step, for the next dial
	draining map[net.Conn]rescuing // being put back in step
	changed  chan struct{}         // closed, and replaced, when a rescue ends
	closed   bool
	wg       sync.WaitGroup
}

// maxSpare bounds the connections kept per address; a pool never needs more
// than it had open.
const maxSpare = 256

// longestWait bounds how long a late reply is waited for when the client
// sets no ReadTimeout.
const longestWait = 30 * time.Second

func newRecycler(s *Store) *recycler {
	return &recycler{s: s, spare: map[string][]net.Conn{}, draining: map[net.Conn]rescuing{}, changed: make(chan struct{})}
}

// rescuing is a connection being put back in step: its address, and when
// its caller's deadline passed.
type rescuing struct {
	addr  string
	since time.Time
}

// patience is how long after a caller's deadline a dial waits for that
// caller's connection to come back rather than open a socket: a reply late
// by a scheduling delay or a pause comes within it; one later than that
// means Redis is stalled or gone, and a dial should not wait out the
// ReadTimeout of every connection lost with it (after a network black hole
// ends, new connections work at once while the old ones' replies never
// come).
func (r *recycler) patience() time.Duration { return 4 * r.s.timeout }

// maxRescues bounds the connections being put back in step at once; past
// it, a connection whose deadline passed is closed. A stalled Redis fed new
// connections (each dial waits at most patience) would otherwise gather
// sockets until their ReadTimeouts ended.
const maxRescues = 1024

// dialer wraps base: a dial takes a spare connection to addr if there is
// one, waits for one being put back in step if there is one, and dials only
// when neither; either way the connection is watched for missed deadlines.
// So go-redis' pool, which counts a connection it gave up as gone, opens no
// socket while its old one is still on its way back: a stall costs callers
// their deadlines, not connections.
func (r *recycler) dialer(base func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := r.take(ctx, addr)
		if err != nil {
			return nil, err
		}
		if nc == nil {
			if nc, err = base(ctx, network, addr); err != nil {
				return nil, err
			}
		}
		return &conn{Conn: nc, r: r, addr: addr}, nil
	}
}

// take returns a spare connection to addr, waiting for a rescue under way
// to addr to end; nil when there is none and none is under way.
func (r *recycler) take(ctx context.Context, addr string) (net.Conn, error) {
	for {
		r.mu.Lock()
		if l := r.spare[addr]; len(l) > 0 {
			nc := l[len(l)-1]
			r.spare[addr] = l[:len(l)-1]
			r.mu.Unlock()
			return nc, nil
		}
		// Wait for the youngest rescue to addr within its patience.
		var youngest time.Time
		for _, d := range r.draining {
			if d.addr == addr && d.since.After(youngest) {
				youngest = d.since
			}
		}
		changed := r.changed
		r.mu.Unlock()
		left := time.Until(youngest.Add(r.patience()))
		if youngest.IsZero() || left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(left)
		select {
		case <-changed:
			t.Stop()
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// conn is a connection of the store's own client. When a read times out
// (the caller's deadline reached the socket) with nothing else wrong, the
// reply may still come: the recycler takes the socket over at once, and
// from then on the conn refuses to read or write, so that go-redis, which
// gives such a connection up (or, after a handshake that timed out, keeps
// it), never reads the late reply as another command's. After a failed
// write (part of a command may be sent) or any other error, the socket is
// only closed.
type conn struct {
	net.Conn
	r    *recycler
	addr string

	mu     sync.Mutex
	late   bool // a read timed out: the socket is the recycler's
	broken bool // a write failed, or a read failed otherwise
}

func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	late := c.late
	c.mu.Unlock()
	if late {
		return 0, errLate
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if timeout(err) && !c.broken {
			c.late = true
			c.mu.Unlock()
			c.r.rescue(c.Conn, c.addr)
			return n, err
		}
		c.broken = true
		c.mu.Unlock()
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	late := c.late
	c.mu.Unlock()
	if late {
		return 0, errLate
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.mu.Lock()
		c.broken = true
		c.mu.Unlock()
	}
	return n, err
}

// NetConn returns the socket, which go-redis' pool reads to check that an
// idle connection has nothing unexpected waiting.
func (c *conn) NetConn() net.Conn { return c.Conn }

// Close closes the socket, unless the recycler has taken it over.
func (c *conn) Close() error {
	c.mu.Lock()
	late := c.late
	c.broken = true
	c.mu.Unlock()
	if late {
		return nil
	}
	return c.Conn.Close()
}

// errLate refuses a read or write on a connection whose read timed out. It
// is a timeout: the caller's deadline ended the command.
var errLate error = lateError{}

type lateError struct{}

func (lateError) Error() string   { return "redisstore: a reply is still on its way on this connection" }
func (lateError) Timeout() bool   { return true }
func (lateError) Temporary() bool { return true }

func timeout(err error) bool {
	if err == nil {
		return false // and no net.Error escapes to the heap
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rescue puts nc back in step on a goroutine of its own, or closes it when
// the store is closed.
func (r *recycler) rescue(nc net.Conn, addr string) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		nc.Close()
		return
	}
	if len(r.draining) >= maxRescues {
		r.mu.Unlock()
		nc.Close()
		return
	}
	r.draining[nc] = rescuing{addr: addr, since: time.Now()}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ok := r.drain(nc)
		r.s.verdict(ok)
		r.mu.Lock()
		delete(r.draining, nc)
		if ok && !r.closed && len(r.spare[addr]) < maxSpare {
			r.spare[addr] = append(r.spare[addr], nc)
			nc = nil
		}
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
		if nc != nil {
			nc.Close()
		}
	}()
}

// drain sends a PING with a random token and reads until the token's reply,
// at most r.wait: everything before it is the late reply (or replies) and is
// dropped; nothing may follow it.
func (r *recycler) drain(nc net.Conn) bool {
	var raw [16]byte
	rand.Read(raw[:])
	var tok [32]byte
	hex.Encode(tok[:], raw[:])
	wait := r.wait
	if wait <= 0 {
		wait = longestWait
	}
	if nc.SetDeadline(time.Now().Add(wait)) != nil {
		return false
	}
	ping := append([]byte("*2\r\n$4\r\nPING\r\n$32\r\n"), tok[:]...)
	ping = append(ping, "\r\n"...)
	if _, err := nc.Write(ping); err != nil {
		return false
	}
	want := append(append([]byte("$32\r\n"), tok[:]...), "\r\n"...)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			// Keep what could be the start of the token's reply.
			keep := buf[len(buf)-len(want):]
			buf = append(buf[:0], keep...)
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, want); i >= 0 {
			return i+len(want) == len(buf) && nc.SetDeadline(time.Time{}) == nil
		}
		if err != nil {
			return false
		}
	}
}

// close ends every rescue under way (their sockets' deadlines are moved to
// now) and closes the spare connections.
func (r *recycler) close() {
	r.mu.Lock()
	r.closed = true
	for nc := range r.draining {
		nc.SetDeadline(time.Now())
	}
	var spare []net.Conn
	for _, l := range r.spare {
		spare = append(spare, l...)
	}
	r.spare = nil
	r.mu.Unlock()
	for _, nc := range spare {
		nc.Close()
	}
	r.wg.Wait()
}
