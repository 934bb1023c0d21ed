package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// counter is a go-redis hook that counts what reaches the client: lone
// commands, pipelines, the most decisions in one round trip, and script
// calls that carry several decisions (an EVALSHA of several keys); started
// is signalled as each lone command starts.
type counter struct {
	lone, pipes, largest, combined atomic.Int64
	started                        chan string
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.lone.Add(1)
		if c.started != nil {
			select {
			case c.started <- cmd.Name():
			default:
			}
		}
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipes.Add(1)
		decisions := int64(0)
		for _, cmd := range cmds {
			if cmd.Name() != "evalsha" {
				continue
			}
			keys, _ := cmd.Args()[2].(int)
			if keys == 0 {
				keys = 1 // the single-key scripts pass "1"
			}
			if keys > 1 {
				c.combined.Add(1)
			}
			decisions += int64(keys)
		}
		for {
			old := c.largest.Load()
			if decisions <= old || c.largest.CompareAndSwap(old, decisions) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*counter)(nil)

// A lone caller is sent at once, alone: no pipeline, no waiting. The
// client's hooks count what is sent, so the store stays on the client's
// pool (WithClientPool); TestBatchingAloneOnTheStoresOwnClient checks the
// default.
func TestBatchingSendsALoneCallAlone(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, &redis.Options{ContextTimeoutEnabled: true})
	var c counter
	client.AddHook(&c)
	s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithBatching(64, time.Millisecond), redisstore.WithClientPool())
	// The first call dials (go-redis sends its handshake as a pipeline) and
	// loads the script.
	if _, err := s.Take(context.Background(), "k", core.PerHour(100), 0); err != nil {
		t.Fatal(err)
	}
	c.lone.Store(0)
	c.pipes.Store(0)
	for i := 0; i < 20; i++ {
		d, err := s.Take(context.Background(), "k", core.PerHour(100), 1)
		if err != nil || !d.Allowed || d.Remaining != int64(99-i) {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
	}
	if c.pipes.Load() != 0 || c.lone.Load() != 20 {
		t.Fatalf("%d pipelines and %d lone commands for 20 serial calls, want none and 20", c.pipes.Load(), c.lone.Load())
	}
	// The store's own figures agree: 21 batches of one call each.
	st := s.Figures()
	if st.Kind != "redis" || st.Mode != "batched" || st.Batches != 21 || st.BatchedCalls != 21 || st.BatchSizes[0] != 21 {
		t.Fatalf("stats %+v, want 21 batches of 1", st)
	}
}

// On the store's own client, serial calls go alone, on the caller's
// goroutine, and a 1 ms gathering wait never delays them: 200 calls take far
// less than the 200 ms they would if each waited.
func TestBatchingAloneOnTheStoresOwnClient(t *testing.T) {
	client := redistest.Shared(t).Client(t, nil)
	s := newStore(t, client, redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithBatching(64, time.Millisecond))
	ctx := context.Background()
	if _, err := s.Take(ctx, "k", core.PerHour(1000), 0); err != nil { // dial, load the script
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 200; i++ {
		d, err := s.Take(ctx, "k", core.PerHour(1000), 1)
		if err != nil || !d.Allowed || d.Remaining != int64(999-i) {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
	}
	st := s.Figures()
	if st.Batches != 201 || st.BatchSizes[0] != 201 {
		t.Fatalf("figures %+v, want 201 calls sent alone", st)
	}
	if el := time.Since(start); el >= 200*time.Millisecond {
		t.Fatalf("200 serial calls took %v: each waited for a batch", el)
	}
}

// 64 callers on one key: calls are sent in pipelines, and exactly the quota
// is admitted, on one server and on a Cluster.
func TestBatchingUnderConcurrencyIsExact(t *testing.T) {
	for _, tt := range []struct {
		name     string
		client   func(t *testing.T, c *counter) redis.UniversalClient
		opts     []redisstore.Option
		combined bool // GCRA decisions share a script call (a single server only)
	}{
		{"standalone", func(t *testing.T, c *counter) redis.UniversalClient {
			cl := redistest.Shared(t).Client(t, &redis.Options{PoolSize: 16, ContextTimeoutEnabled: true})
			cl.AddHook(c)
			return cl
		}, nil, true},
		{"cluster", func(t *testing.T, c *counter) redis.UniversalClient {
			cl := redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{PoolSize: 16, ContextTimeoutEnabled: true})
			cl.AddHook(c)
			return cl
		}, []redisstore.Option{redisstore.WithHashTag(), redisstore.WithKeySecret(testSecret)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c counter
			opts := append([]redisstore.Option{redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithBatching(64, 0), redisstore.WithBatchSenders(2), redisstore.WithClientPool()}, tt.opts...)
			s := newStore(t, tt.client(t, &c), opts...)
			l := core.Limit{Rate: 1000, Period: 24 * time.Hour}
			admitted := hammer(t, 64, 30, func(int) (core.Decision, error) {
				return s.Take(context.Background(), "one-key", l, 1)
			})
			if admitted != 1000 {
				t.Fatalf("%d admitted of 1,920 calls, want exactly 1,000", admitted)
			}
			if c.pipes.Load() == 0 || c.largest.Load() < 2 {
				t.Fatalf("%d pipelines, at most %d decisions in one: the calls were not batched", c.pipes.Load(), c.largest.Load())
			}
			if got := c.combined.Load() > 0; got != tt.combined {
				t.Fatalf("%d script calls carried several decisions, want some: %v", c.combined.Load(), tt.combined)
			}
			t.Logf("%d pipelines, at most %d decisions in one, %d combined calls, %d lone commands", c.pipes.Load(), c.largest.Load(), c.combined.Load(), c.lone.Load())
		})
	}
}

// A caller whose wait ends while its batch is still being gathered is left
// out of it: it is never admitted and counts nothing, and the caller that
// joined the batch after it is decided. A store's one sender gathers for a
// second and its callers wait 600 ms: the first caller's wait always ends
// 400 ms before its batch is sent, so it is always left out. The second,
// started as the first gives up, has 400 ms to join that batch and 200 ms
// after it is sent to hear back: on a saturated machine it may miss either
// (then it is left out too, which is no fault), so the pair is tried again,
// on a store and keys of its own, until a second caller is decided.
func TestBatchingCallerWhoseWaitEndsIsLeftOut(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, nil)
	prefix := uniquePrefix(t)
	// The same keys, decided without batching, to look at the counts.
	direct := newStore(t, client, redisstore.WithPrefix(prefix))
	l := core.PerHour(100)
	ctx := context.Background()
	if _, err := direct.Take(ctx, "warm", l, 0); err != nil { // a connection dialled, the script loaded
		t.Fatal(err)
	}
	const tries = 5
	for try := range tries {
		// One sender that gathers for a second; callers wait 600ms.
		s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithTimeout(600*time.Millisecond), redisstore.WithBatching(64, time.Second), redisstore.WithBatchSenders(1), redisstore.WithoutBreaker())
		first, second := fmt.Sprintf("first-%d", try), fmt.Sprintf("second-%d", try)

		// The sender takes the first caller at once and gathers until a
		// second has passed: the caller's 600ms run out first.
		// Another call counted as under way, so that this one is batched,
		// not sent alone.
		release := redisstore.HoldBatching(s)
		d, err := s.Take(ctx, first, l, 1)
		if !errors.Is(err, redisstore.ErrTimeout) || d.Allowed {
			t.Fatalf("try %d: the caller whose wait ended: %+v, %v; want ErrTimeout", try, d, err)
		}
		// A caller that joins the batch now (the sender is still
		// gathering) is sent with it, some 400ms into its 600ms.
		d2, err2 := s.Take(ctx, second, l, 1)
		release()
		if err2 == nil && (!d2.Allowed || d2.Remaining != 99) {
			t.Fatalf("try %d: the caller that joined the batch later: %+v; want admitted with 99 remaining", try, d2)
		}
		if err2 != nil && !errors.Is(err2, redisstore.ErrTimeout) {
			t.Fatalf("try %d: the caller that joined the batch later: %v", try, err2)
		}
		s.Close() // the sender stops; the batch, once sent, has been answered
		if d, err := direct.Take(ctx, first, l, 0); err != nil || d.Remaining != 100 {
			t.Fatalf("try %d: the first caller's key: %+v, %v; want 100 remaining: the caller left out was counted", try, d, err)
		}
		if err2 == nil {
			if d, err := direct.Take(ctx, second, l, 0); err != nil || d.Remaining != 99 {
				t.Fatalf("try %d: the second caller's key: %+v, %v; want 99 remaining", try, d, err)
			}
			return
		}
		t.Logf("try %d: the second caller missed the batch or its answer on a busy machine: %v", try, err2)
	}
	t.Fatalf("in %d tries, no caller that joined a batch after one left out was decided", tries)
}

func TestBatchingBadOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, o := range []redisstore.Option{redisstore.WithBatching(0, 0), redisstore.WithBatching(2000, 0), redisstore.WithBatching(8, -time.Second), redisstore.WithBatchSenders(0)} {
		if _, err := redisstore.New(client, o); err == nil {
			t.Error("a bad batching option was accepted")
		}
	}
}
