// Package redistest starts real redis-server processes for tests — ours, and
// yours when you test code that uses the Redis store against a real server: a
// standalone server or a Redis Cluster of three masters, each on free
// loopback ports, never 6379 and never a server that was already running.
//
// Servers started with a testing.TB stop when that test ends. Shared servers
// (Shared, SharedCluster) live until StopAll, which a package's TestMain
// calls after m.Run. Every server is also killed with the test binary if it
// dies first (Linux).
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Install is what to tell a user whose machine lacks the servers.
const Install = "install redis-server and redis-cli (Debian/Ubuntu: apt-get install redis-server redis-tools; macOS: brew install redis); `make test` installs them itself when it runs as root"

// Server is one redis-server process.
type Server struct {
	// Addr is host:port, on 127.0.0.1.
	Addr string
	// Port is the client port.
	Port int

	args []string
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
}

// output collects a server's log; the process writes while a test may read.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

var (
	mu      sync.Mutex // guards started
	started []*Server

	sharedMu sync.Mutex // guards shared and cluster, held while they start
	shared   *Server
	cluster  *Cluster
)

// Start starts a standalone redis-server; it stops when tb ends. Extra
// arguments are passed to the server ("--replicaof", "127.0.0.1 7000", …).
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s, err := start(tb.TempDir(), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Shared returns a standalone server that all tests of the package share
// (give each its own key prefix), started on first use.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			tb.Fatal(err)
		}
		s, err := start(dir)
		if err != nil {
			tb.Fatal(err)
		}
		shared = s
	}
	return shared
}

// Main runs a package's tests and then StopAll: the whole TestMain of a
// package that uses Shared or SharedCluster,
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every server this package started and not yet stopped.
func StopAll() {
	sharedMu.Lock()
	shared, cluster = nil, nil
	sharedMu.Unlock()
	mu.Lock()
	list := started
	started = nil
	mu.Unlock()
	for _, s := range list {
		s.Stop()
		if strings.Contains(s.dir, "redistest-") {
			os.RemoveAll(s.dir)
		}
	}
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		if p := l.Addr().(*net.TCPAddr).Port; p != 6379 {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

func start(dir string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server not found: %s", Install)
	}
	// A port found free may be taken before the server binds it: try again
	// on another.
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		sdir := filepath.Join(dir, strconv.Itoa(ports[0]))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return nil, err
		}
		s := &Server{Port: ports[0], Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), dir: sdir}
		s.args = append([]string{
			"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", sdir,
			"--daemonize", "no", "--logfile", "",
		}, extra...)
		if last = s.launch(bin); last == nil {
			mu.Lock()
			started = append(started, s)
			mu.Unlock()
			return s, nil
		}
	}
	return nil, last
}

func (s *Server) launch(bin string) error {
	cmd := exec.Command(bin, s.args...)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.out, s.done = cmd, out, done
	s.mu.Unlock()
	if err := s.waitReady(done, 10*time.Second); err != nil {
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("redistest: redis-server on port %d: %w\n%s", s.Port, err, out.String())
	}
	return nil
}

// waitReady waits until the server answers PING.
func (s *Server) waitReady(exited chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		default:
		}
		if err := ping(s.Addr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", limit, err)
		}
		time.Sleep(5 * time.Millisecond) // polling a process we do not control
	}
}

// ping sends PING over a raw connection, so that readiness does not depend
// on a client's retries.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits for it
// to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// signal sends sig to the server's process.
func (s *Server) signal(sig os.Signal) error {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("redistest: server not started")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("redistest: redis-server on port %d: %v: %w", s.Port, sig, err)
	}
	return nil
}

// Restart starts the server again on the same port, with the same
// arguments, after Kill. It comes back empty: servers are started with no
// persistence, so a restart loses every key, as a crash of a cache would.
// A server started with "--appendonly", "yes" (and "--appendfsync",
// "always", so that every write it answered is on disk) reloads its data
// instead, and Restart returns once it is loaded.
func (s *Server) Restart() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		if last = s.launch(bin); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // the port may linger a moment
	}
	return last
}

// Stop kills the server; it is safe to call more than once.
func (s *Server) Stop() { s.Kill() }

// Client returns a go-redis client for the server, closed when tb ends.
func (s *Server) Client(tb testing.TB, opt *redis.Options) *redis.Client {
	tb.Helper()
	if opt == nil {
		opt = &redis.Options{}
	}
	opt.Addr = s.Addr
	c := redis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}
