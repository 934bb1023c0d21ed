package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
)

// Batching defaults: see WithBatching.
const (
	DefaultBatchSize    = 64
	DefaultBatchSenders = 4
)

// WithBatching sends concurrent decisions together: a call that finds a
// sender idle is sent at once, alone, so a lone request waits for nothing;
// calls that arrive while every sender is busy queue, and the next free
// sender takes up to maxBatch of them (after waiting up to maxWait for more,
// 0 for not at all) and sends them as one pipeline of EVALSHA commands, which
// a Cluster client splits per node; on a single server the batch's GCRA
// decisions share one script call. Every decision stays exact: each is
// decided alone, in order. Each caller waits at most the store's timeout,
// and a caller whose wait ends before its batch is sent is left out of it,
// so it counts nothing and fails no one else; a batch once sent runs to its
// end on its connection.
//
// maxBatch is at most 1024 (DefaultBatchSize 64 is a good start); senders
// run at once, each with its own connection (DefaultBatchSenders 4). Close
// stops them. Default: off.
func WithBatching(maxBatch int, maxWait time.Duration) Option {
	return optionFunc(func(c *config) error {
		if maxBatch < 1 || maxBatch > 1024 {
			return fmt.Errorf("redisstore: batch size %d: want 1 to 1024", maxBatch)
		}
		if maxWait < 0 || maxWait > time.Second {
			return fmt.Errorf("redisstore: batch wait %v: want 0 to 1s", maxWait)
		}
		c.batch, c.batchWait = maxBatch, maxWait
		return nil
	})
}

// WithBatchSenders sets how many batches are in flight at once, each on a
// connection of its own (WithBatching). Default DefaultBatchSenders.
func WithBatchSenders(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("redisstore: batch senders %d: want 1 to 256", n)
		}
		c.senders = n
		return nil
	})
}

// batcher gathers script calls and sends them in pipelines.
type batcher struct {
	s       *Store
	combine bool // GCRA decisions of a batch go in one script call (a single server)
	queue   chan *pending
	max     int
	wait    time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	sizes   sizeHistogram // Figures
	// busy counts the store's calls under way; a call that finds none goes
	// alone, on its own goroutine (Store.call), and batches form only
	// among calls that overlap.
	busy atomic.Int64
}

// enter counts a call in and reports whether it is alone, the only call
// under way; leave counts it out.
func (b *batcher) enter() bool {
	if b.busy.Add(1) == 1 {
		b.sizes.observe(1)
		return true
	}
	return false
}

func (b *batcher) leave() { b.busy.Add(-1) }

// pending is one call in a batch. done receives the call's error once its
// reply is in cmd; it is buffered, so a sender never waits on a caller that
// gave up.
type pending struct {
	ctx      context.Context // the caller's, detached from its cancellation
	deadline time.Time       // when the caller stops waiting
	probe    bool            // the breaker's probe
	sc       *script
	args     []any
	cmd      *redis.Cmd
	done     chan error
}

func newBatcher(s *Store, max, senders int, wait time.Duration) *batcher {
	b := &batcher{s: s, queue: make(chan *pending), max: max, wait: wait, stop: make(chan struct{})}
	// On a single server (or a Sentinel failover client, one master) every
	// key of a batch is on the node, so its GCRA decisions can share one
	// script call; a Cluster or Ring spreads keys over nodes.
	_, b.combine = s.client.(*redis.Client)
	for i := 0; i < senders; i++ {
		b.wg.Add(1)
		go b.sender()
	}
	return b
}

// errStopped is a call's error when the store closed before sending it.
var errStopped = errors.New("redisstore: store closed before the call was sent")

// do runs one call through a sender and waits for its reply, at most the
// store's timeout. ctx is detached from the request's cancellation; probe
// says whether the call is the breaker's probe, which the sender settles.
func (b *batcher) do(ctx context.Context, sc *script, args []any, probe bool) (*redis.Cmd, error) {
	t := time.NewTimer(b.s.timeout)
	defer t.Stop()
	p := &pending{ctx: ctx, deadline: time.Now().Add(b.s.timeout), probe: probe, sc: sc, args: args, done: make(chan error, 1)}
	select {
	case b.queue <- p:
	case <-t.C:
		b.s.settle(probe, errDeadlineLocal)
		return nil, errDeadline{context.DeadlineExceeded}
	case <-b.stop:
		b.s.settle(probe, errStopped)
		return nil, errStopped
	}
	select {
	case err := <-p.done:
		return p.cmd, deadlineErr(err)
	case <-t.C:
		select {
		case err := <-p.done: // the reply came in as the deadline passed
			return p.cmd, deadlineErr(err)
		default:
			return nil, errDeadline{context.DeadlineExceeded}
		}
	}
}

// sender takes a call, gathers what queued behind it and sends them all.
func (b *batcher) sender() {
	defer b.wg.Done()
	batch := make([]*pending, 0, b.max)
	var timer *time.Timer
	for {
		batch = batch[:0]
		select {
		case p := <-b.queue:
			batch = append(batch, p)
		case <-b.stop:
			return
		}
		if b.wait > 0 {
			if timer == nil {
				timer = time.NewTimer(b.wait)
			} else {
				timer.Reset(b.wait)
			}
		gather:
			for len(batch) < b.max {
				select {
				case p := <-b.queue:
					batch = append(batch, p)
				case <-timer.C:
					break gather
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		} else {
		drain:
			for len(batch) < b.max {
				select {
				case p := <-b.queue:
					batch = append(batch, p)
				default:
					break drain
				}
			}
		}
		b.sizes.observe(len(batch))
		b.send(batch)
	}
}

// send runs a batch: alone as a plain call, else as one pipeline, and
// tells the breaker how each call ended. Calls whose callers have stopped
// waiting are left out. What is sent runs to its end, bounded by the
// client's own timeouts: a caller that stops waiting never closes the
// sender's connection (see call.go).
func (b *batcher) send(batch []*pending) {
	live := batch[:0]
	now := time.Now()
	for _, p := range batch {
		if !now.Before(p.deadline) {
			b.s.settle(p.probe, errDeadlineLocal)
			p.done <- errDeadlineLocal
			continue
		}
		live = append(live, p)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		p := live[0]
		var err error
		p.cmd, err = b.s.run(p.ctx, p.sc, p.args)
		b.s.settle(p.probe, err)
		p.done <- err
		return
	}
	b.sendPipeline(live)
}

// sendPipeline sends live, two calls or more, as one pipeline. GCRA
// decisions (the default algorithm, alone on their key) share one script
// call where they can (WithBatching on a single server); the rest go as
// they are, in the same pipeline.
func (b *batcher) sendPipeline(live []*pending) {
	ctx := context.Background()
	var gcra []*pending
	rest := live
	if b.combine {
		rest = nil
		for _, p := range live {
			if p.sc == &scripts[core.GCRA] {
				gcra = append(gcra, p)
			} else {
				rest = append(rest, p)
			}
		}
		if len(gcra) < 2 {
			gcra, rest = nil, live
		}
	}
	pipe := b.s.client.Pipeline()
	var combined *redis.Cmd
	var combinedArgs []any
	if gcra != nil {
		combinedArgs = gcraBatchArgs(gcra)
		combined = redis.NewCmd(ctx, combinedArgs...)
		_ = pipe.Process(ctx, noRetry{combined})
	}
	for _, p := range rest {
		p.cmd = redis.NewCmd(ctx, p.args...)
		_ = pipe.Process(ctx, noRetry{p.cmd})
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	if combined != nil {
		b.answerCombined(ctx, combined, combinedArgs, gcra)
	}
	for _, p := range rest {
		err := p.cmd.Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis lost the script: this call again, with EVAL.
			p.cmd, err = b.s.run(p.ctx, p.sc, p.args)
		}
		b.s.settle(p.probe, err)
		p.done <- err
	}
}

// answerCombined hands each GCRA call of one combined script call its four
// values, or the call's error; a script Redis lost is sent again, with EVAL.
func (b *batcher) answerCombined(ctx context.Context, combined *redis.Cmd, args []any, gcra []*pending) {
	err := combined.Err()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		combined, err = b.s.run(ctx, &batchGCRAScript, args)
	}
	var vals []any
	if err == nil {
		if vals, err = combined.Slice(); err == nil && len(vals) != 4*len(gcra) {
			err = fmt.Errorf("redisstore: unexpected batch reply of %d values for %d decisions", len(vals), len(gcra))
		}
	}
	for i, p := range gcra {
		if err == nil {
			p.cmd = redis.NewCmdResult(vals[4*i:4*i+4], nil)
		}
		b.s.settle(p.probe, err)
		p.done <- err
	}
}

// gcraBatchArgs is the EVALSHA of batchGCRAScript for GCRA calls, each
// made by eval as "evalsha", sha, "1", key, now, cost, grace, t, burst.
func gcraBatchArgs(calls []*pending) []any {
	args := make([]any, 0, 3+len(calls)+4+4*len(calls))
	args = append(args, "evalsha", batchGCRAScript.sha, len(calls))
	for _, p := range calls {
		args = append(args, p.args[3])
	}
	args = append(args, "", 0, calls[0].args[6], len(calls))
	for _, p := range calls {
		args = append(args, p.args[4], p.args[5], p.args[7], p.args[8])
	}
	return args
}

// close stops the senders; calls not yet taken fail with errStopped.
func (b *batcher) close() {
	b.once.Do(func() {
		close(b.stop)
		b.wg.Wait()
	})
}
