package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The call path. Three rules shape it.
//
// A decision never depends on whether its caller is still there. Every
// command runs detached from the request's context (its values are kept,
// its cancellation and deadline are not), under the store's own deadline:
// a request whose client went away is decided, and counted, as any other.
// Were it not, a client could get past its limit by hanging up as soon as
// its request is sent.
//
// A caller waits at most the store's timeout, and a healthy connection is
// never closed because a caller stopped waiting. A command still waiting for
// a connection from the pool when its caller leaves is withdrawn (it was
// never sent); one already sent is left to finish on its connection, which
// then goes back to the pool as healthy as any other. Closing it instead
// (what go-redis does when a context deadline reaches the socket) makes the
// next calls dial: on a machine short of CPU the dials miss their deadlines
// in turn, and the pool churns. On the store's own client the command runs
// on the caller's goroutine and the recycler keeps the connection
// (conns.go); on a client used as given (WithClientPool) it runs on a
// goroutine of its own, which the caller stops waiting for.
//
// The breaker judges Redis by how its commands end, not by how long callers
// waited: a command counts as a failure when its connection fails or Redis
// does not answer within the client's own ReadTimeout; a command that Redis
// answers counts as a success even if its caller had left; a command
// withdrawn before it was sent, or refused by the pool (PoolTimeout), tells
// nothing about Redis. So waiting for a pool connection, or for the CPU, is
// never blamed on Redis, and a busy client machine does not open the breaker.

// call runs a script for a caller that waits at most the store's timeout,
// through the breaker and, when it is on, the batcher.
func (s *Store) call(ctx context.Context, sc *script, args []any) (*redis.Cmd, error) {
	probe := false
	if s.breaker != nil {
		var err error
		if probe, err = s.breaker.allow(s.localNow()); err != nil {
			return nil, err
		}
	}
	if s.batch != nil {
		if !s.batch.enter() {
			defer s.batch.leave()
			return s.batch.do(context.WithoutCancel(ctx), sc, args, probe)
		}
		// No call of this store is under way: this one goes alone, as
		// unbatched calls do.
		defer s.batch.leave()
	}
	if s.own != nil {
		return s.callInline(ctx, sc, args, probe)
	}
	r := &running{parent: ctx, gone: make(chan struct{}), done: make(chan struct{})}
	go s.runDetached(r, sc, args, probe)
	if err := s.await(r); err != nil {
		return nil, err
	}
	return r.cmd, deadlineErr(r.err)
}

// callInline runs a script on the caller's goroutine, on the store's own
// client, under the store's deadline (conns.go). A missed deadline says
// nothing of Redis here: the connection's recycler tells the breaker how the
// command ended.
func (s *Store) callInline(ctx context.Context, sc *script, args []any, probe bool) (*redis.Cmd, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	cmd, err := s.run(dctx, sc, args)
	cancel()
	if timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		s.settle(probe, errDeadlineLocal)
		// The socket's timeout, or the pool's wait, ended by the store's
		// deadline.
		return nil, errDeadline{fmt.Errorf("%w: %w", context.DeadlineExceeded, err)}
	}
	s.settle(probe, err)
	return cmd, err
}

// verdict tells the breaker how a command whose caller had left ended: Redis
// answered, or it did not within the client's ReadTimeout.
func (s *Store) verdict(answered bool) {
	if s.breaker == nil {
		return
	}
	if answered {
		s.breaker.success(false)
	} else {
		s.breaker.failure(s.localNow(), false)
	}
}

// await waits for r at most the store's timeout; past it, r is withdrawn
// (not sent if it was not yet) and the caller gets a missed deadline.
func (s *Store) await(r *running) error {
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		select {
		case <-r.done: // the reply came in as the deadline passed
		default:
			r.withdraw()
			return errDeadline{context.DeadlineExceeded}
		}
	}
	return nil
}

// running is a command on its way, and its context: the caller's values,
// without its deadline or cancellation, done when the caller has stopped
// waiting (go-redis then gives up waiting for a pool connection, but not a
// read or write under way, which take only a context's deadline). cmd and
// err are set before done closes.
type running struct {
	parent context.Context
	gone   chan struct{} // closed by withdraw
	once   sync.Once
	cmd    *redis.Cmd
	err    error
	done   chan struct{}
}

func (r *running) Deadline() (time.Time, bool) { return time.Time{}, false }
func (r *running) Done() <-chan struct{}       { return r.gone }
func (r *running) Value(key any) any           { return r.parent.Value(key) }
func (r *running) Err() error {
	select {
	case <-r.gone:
		return context.Canceled
	default:
		return nil
	}
}

// withdraw says the caller has stopped waiting: a command not yet sent is
// not sent.
func (r *running) withdraw() { r.once.Do(func() { close(r.gone) }) }

// runDetached runs a command to its end, whether or not its caller still
// waits, and tells the breaker how it ended.
func (s *Store) runDetached(r *running, sc *script, args []any, probe bool) {
	r.cmd, r.err = s.run(r, sc, args)
	s.settle(probe, r.err)
	close(r.done)
}

// settle tells the breaker, if there is one, how a command ended: a
// success, a failure of Redis or of its connection, or neither when the
// command never reached Redis for reasons of this process (withdrawn
// because its caller left, refused by the pool, the store closed).
func (s *Store) settle(probe bool, err error) {
	if s.breaker == nil {
		return
	}
	switch {
	case err == nil || redis.HasErrorPrefix(err, "CROSSSLOT"):
		// Redis answered (a CROSSSLOT reply says the setup is wrong, not
		// the server).
		s.breaker.success(probe)
	case local(err):
		s.breaker.release(probe)
	default:
		s.breaker.failure(s.localNow(), probe)
	}
}

// local reports whether err is this process's doing, not Redis': the
// command was never sent.
func local(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errDeadlineLocal) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, errStopped)
}

// errDeadlineLocal is a batched call's error when its caller left before
// its batch was sent.
var errDeadlineLocal = errors.New("redisstore: the caller stopped waiting before the call was sent")

// noRetry is a command go-redis must not retry: a script that ran but whose
// reply was lost would consume twice.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

// errDeadline marks a call that ran out of the store's time.
type errDeadline struct{ err error }

func (e errDeadline) Error() string { return e.err.Error() }
func (e errDeadline) Unwrap() error { return e.err }

// deadlineErr marks err when it is a timeout: the client's own, on the
// socket (a ReadTimeout shorter than the store's), or the store's.
func deadlineErr(err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errDeadlineLocal) || errors.Is(err, context.DeadlineExceeded) {
		return errDeadline{err}
	}
	return err
}

// callError is the error a failed call returns: ErrTimeout for a missed
// deadline, else the client's error, naming what was asked.
func (s *Store) callError(err error, what string) error {
	var de errDeadline
	if errors.As(err, &de) {
		return fmt.Errorf("%w (%v): %w", ErrTimeout, s.timeout, de.err)
	}
	return fmt.Errorf("redisstore: %s: %w", what, err)
}

// run sends EVALSHA, and EVAL when Redis has lost the script (after SCRIPT
// FLUSH, a restart or a failover).
func (s *Store) run(ctx context.Context, sc *script, args []any) (*redis.Cmd, error) {
	cmd := redis.NewCmd(ctx, args...)
	err := s.client.Process(ctx, noRetry{cmd})
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return cmd, err
	}
	again := make([]any, len(args))
	copy(again, args)
	again[0], again[1] = "eval", sc.src
	cmd = redis.NewCmd(ctx, again...)
	return cmd, s.client.Process(ctx, noRetry{cmd})
}
