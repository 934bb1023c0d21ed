package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// slotLease is the lease of the slot tests: short, so that a test sees
// several, and long enough that a renewal every third of it is never late on
// a busy machine.
const slotLease = time.Second

func slotStore(t *testing.T, client redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithKeySecret(testSecret), redisstore.WithSlotLease(slotLease), redisstore.WithTimeout(slotLease/3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSlotLeaseOptionRejectsBadInput(t *testing.T) {
	srv := redistest.Shared(t)
	client := srv.Client(t, nil)
	for _, c := range []struct {
		name string
		opts []redisstore.Option
		want string
	}{
		{"a lease under 3ms", []redisstore.Option{redisstore.WithSlotLease(time.Millisecond)}, "slot lease 1ms"},
		{"a lease of a fraction of a millisecond", []redisstore.Option{redisstore.WithSlotLease(1500 * time.Microsecond)}, "whole number of milliseconds"},
		{"a lease a renewal could miss", []redisstore.Option{redisstore.WithSlotLease(time.Second), redisstore.WithTimeout(time.Second)}, "shorter than 3 × the timeout"},
	} {
		if _, err := redisstore.New(client, c.opts...); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// A request held open for three leases and more keeps its slot: the store
// renews it, on a single server and on a Cluster.
func TestSlotHeldPastSeveralLeases(t *testing.T) {
	for _, c := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient { return redistest.Shared(t).Client(t, nil) }},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client := c.client(t)
			prefix := uniquePrefix(t)
			holder, other := slotStore(t, client, prefix), slotStore(t, client, prefix) // two instances
			lh, _ := core.NewConcurrencyLimiter(holder, 1, core.WithName("ws"))
			lo, _ := core.NewConcurrencyLimiter(other, 1, core.WithName("ws"))
			ctx := context.Background()
			slot, d, err := lh.Acquire(ctx, "client")
			if err != nil || !d.Allowed {
				t.Fatalf("first: %+v, %v", d, err)
			}
			// Sleeping is the point: the lease runs in Redis' time.
			deadline := time.Now().Add(3*slotLease + slotLease/2)
			for time.Now().Before(deadline) {
				time.Sleep(slotLease / 4)
				if _, d, err := lo.Acquire(ctx, "client"); err != nil || d.Allowed {
					t.Fatalf("another instance, while the slot is held: %+v, %v; want denied", d, err)
				}
			}
			if n, err := other.HeldSlots(ctx, lh.Prefix()+"client"); err != nil || n != 1 {
				t.Fatalf("after 3.5 leases: %d held (%v), want 1", n, err)
			}
			if err := slot.Release(); err != nil {
				t.Fatal(err)
			}
			if s2, d, err := lo.Acquire(ctx, "client"); err != nil || !d.Allowed {
				t.Fatalf("another instance, after the release: %+v, %v; want admitted", d, err)
			} else {
				s2.Release()
			}
		})
	}
}

// slotChildEnv, when set, makes the test binary (TestMain) the child of
// TestSlotsOfAKilledProcessFreeThemselves: "addr prefix key n".
const slotChildEnv = "TOLLGATE_SLOT_CHILD"

// runSlotChild is the child of TestSlotsOfAKilledProcessFreeThemselves,
// started by TestMain when slotChildEnv is set: it takes n slots, says so
// on stdout, and holds them (renewing their leases) until it is killed.
func runSlotChild(spec string) {
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[3])
	client := redis.NewClient(&redis.Options{Addr: f[0]})
	s, err := redisstore.New(client, redisstore.WithPrefix(f[1]), redisstore.WithKeySecret(testSecret), redisstore.WithSlotLease(slotLease), redisstore.WithTimeout(slotLease/3))
	if err != nil {
		fmt.Println("failed", err)
		os.Exit(1)
	}
	l, err := core.NewConcurrencyLimiter(s, int64(n), core.WithName("uploads"))
	if err != nil {
		fmt.Println("failed", err)
		os.Exit(1)
	}
	for i := 0; i < n; i++ {
		if _, d, err := l.Acquire(context.Background(), f[2]); err != nil || !d.Allowed {
			fmt.Printf("failed %+v %v\n", d, err)
			os.Exit(1)
		}
	}
	fmt.Println("held")
	select {} // until SIGKILL
}

// The slots of an instance whose process dies free themselves once their
// lease ends: the test binary runs itself as a child that takes slots, and
// kills it with SIGKILL.
func TestSlotsOfAKilledProcessFreeThemselves(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	srv := redistest.Shared(t)
	client := srv.Client(t, nil)
	prefix := uniquePrefix(t)
	const n = 3
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), slotChildEnv+"="+srv.Addr+" "+prefix+" client "+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	s := slotStore(t, client, prefix)
	l, _ := core.NewConcurrencyLimiter(s, n, core.WithName("uploads"))
	ctx := context.Background()
	key := l.Prefix() + "client"
	if got, err := s.HeldSlots(ctx, key); err != nil || got != n {
		t.Fatalf("the child holds %d (%v), want %d", got, err, n)
	}
	// The child renews its leases: after two of them, its slots are held.
	time.Sleep(2 * slotLease)
	if _, d, _ := l.Acquire(ctx, "client"); d.Allowed {
		t.Fatal("while the child lives, two leases on: admitted, want its slots held")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	got, err := s.HeldSlots(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if since := time.Since(killed); since < slotLease/3 && got != n {
		// The last renewal was at most a third of a lease before the
		// kill: the leases have two thirds of one left.
		t.Fatalf("%v after the kill: %d held, want %d (a kill does not free slots; their leases do)", since, got, n)
	}
	for got > 0 {
		if time.Since(killed) > slotLease+5*time.Second {
			t.Fatalf("%v after the kill: %d slots still held, want them free after the lease (%v)", time.Since(killed), got, slotLease)
		}
		time.Sleep(20 * time.Millisecond)
		if got, err = s.HeldSlots(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("the killed child's %d slots were free %v after the kill (lease %v)", n, time.Since(killed).Round(time.Millisecond), slotLease)
	for i := 0; i < n; i++ {
		slot, d, err := l.Acquire(ctx, "client")
		if err != nil || !d.Allowed {
			t.Fatalf("after the leases ended, acquire %d of %d: %+v, %v", i+1, n, d, err)
		}
		defer slot.Release()
	}
}
