package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the demo started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	sig  syscall.Signal // what stops it: sent by stop, on ctx's end, and by the kernel if we die
	out  *output
	done chan struct{} // closed when the process has exited
}

// startProc starts bin. The process is sent sig when ctx ends (Ctrl-C),
// when stop is called, and, on Linux, when this program dies; it is killed
// if sig has not stopped it within a few seconds.
func startProc(ctx context.Context, name string, sig syscall.Signal, bin string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd, sig)
	cmd.Cancel = func() error { return cmd.Process.Signal(sig) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, sig: sig, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stopGrace is how long a process may take to exit after its signal.
const stopGrace = 5 * time.Second

// stop signals the process and waits for it to exit; it is safe to call more
// than once.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(p.sig)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// output collects a process's stdout and stderr, shown if it fails.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// freePorts returns n distinct loopback ports that were free a moment ago,
// never 6379, so a Redis the user runs is never touched.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		if p := ln.Addr().(*net.TCPAddr).Port; p != 6379 {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// poll calls try every few milliseconds until it succeeds, ctx ends, limit
// passes or quit is closed, and returns the last error.
func poll(ctx context.Context, limit time.Duration, quit <-chan struct{}, try func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-quit:
			return fmt.Errorf("exited before it was ready (last try: %v)", err)
		case <-time.After(20 * time.Millisecond): // processes we do not control
		}
	}
}
