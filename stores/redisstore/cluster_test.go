package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// testSecret is the key secret every store of the tests shares.
var testSecret = []byte("tollgate tests' key secret, 32 b")

// clusterStore returns a store on the shared Cluster, with a prefix of its
// own, a key secret and opts.
func clusterStore(t *testing.T, opts ...redisstore.Option) (*redisstore.Store, *redis.ClusterClient, string) {
	t.Helper()
	client := redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{PoolSize: 16, ContextTimeoutEnabled: true})
	prefix := uniquePrefix(t)
	o := append([]redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithKeySecret(testSecret)}, opts...)
	return newStore(t, client, o...), client, prefix
}

func limiter(t *testing.T, s core.Store, l core.Limit, opts ...core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.NewLimiter(s, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// hashTagCases runs a Cluster test with and without WithHashTag.
var hashTagCases = []struct {
	name string
	opts []redisstore.Option
}{
	{"without hash tag", nil},
	{"with hash tag", []redisstore.Option{redisstore.WithHashTag()}},
}

// Issue 15, item 2: with per-IP 3/h and per-tenant 100/h on a Cluster, 47
// requests the per-IP limit denies must take nothing from the tenant, and a
// penalty box on the step must close. (Per hour, so that nothing refills
// while the test runs, however slowly.) Before, without WithHashTag the step
// failed with CROSSSLOT and the limiter took each limit alone: the tenant
// lost 50 of its 100 and the box never closed.
func TestClusterStepDeniedByOneLimitTakesNothingFromTheOthers(t *testing.T) {
	for _, tc := range hashTagCases {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := clusterStore(t, tc.opts...)
			perIP := limiter(t, s, core.PerHour(3), core.WithName("ip"))
			perTenant := limiter(t, s, core.PerHour(100), core.WithName("tenant"))
			ls := []*core.Limiter{perIP, perTenant}
			keys := []string{"203.0.113.5", "acme"}
			ctx := context.Background()
			admitted := 0
			for i := 0; i < 50; i++ {
				ds := make([]core.Decision, 2)
				if err := core.TakeAll(ctx, ls, keys, ds); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if ds[0].Allowed && ds[1].Allowed {
					admitted++
				}
			}
			d, err := perTenant.Peek(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if admitted != 3 || d.Remaining != 97 {
				t.Fatalf("admitted %d of 50, tenant has %d of 100 left; want 3 admitted and 97 left (the 47 denied requests take nothing)", admitted, d.Remaining)
			}

			// The same step under a penalty box of 5 denials within a
			// minute: 3 admitted, the 5th denial closes the box, and every
			// later request is answered from the box.
			box := core.Box{Key: "box:198.51.100.7", Penalty: core.Penalty{Denials: 5, Within: time.Minute, For: time.Hour}}
			keys = []string{"198.51.100.7", "globex"}
			var allowed, limited, boxed int
			var closedAt int
			for i := 0; i < 20; i++ {
				ds := make([]core.Decision, 2)
				left, err := core.TakeAllBoxed(ctx, []core.Box{box}, ls, keys, ds)
				if err != nil {
					t.Fatalf("boxed request %d: %v", i, err)
				}
				switch {
				case ds[0].Allowed && ds[1].Allowed:
					allowed++
				case ds[0].Reason == core.ReasonPenalty:
					boxed++
				default:
					limited++
					if left > 0 && closedAt == 0 {
						closedAt = i + 1
					}
				}
			}
			d, _ = perTenant.Peek(ctx, "globex")
			if allowed != 3 || limited != 5 || boxed != 12 || closedAt != 8 || d.Remaining != 97 {
				t.Fatalf("under the box: %d admitted, %d limited, %d boxed, box closed by request %d, tenant left %d; want 3, 5, 12, 8 and 97",
					allowed, limited, boxed, closedAt, d.Remaining)
			}
		})
	}
}

// Issue 15, item 3: per-tenant first (from a header a client sets), per-API
// key 3/m second, one API key, a new tenant on every request: the API key's
// 3/m must hold. Before, with WithHashTag, the API key was counted under
// each tenant's tag, so every request got a fresh bucket: 50 of 50.
func TestClusterEveryLimitIsCountedUnderItsOwnKey(t *testing.T) {
	for _, tc := range hashTagCases {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := clusterStore(t, tc.opts...)
			perTenant := limiter(t, s, core.PerMinute(1000), core.WithName("tenant"))
			perAPIKey := limiter(t, s, core.PerMinute(3), core.WithName("apikey"))
			ls := []*core.Limiter{perTenant, perAPIKey}
			ctx := context.Background()
			admitted := 0
			for i := 0; i < 50; i++ {
				ds := make([]core.Decision, 2)
				if err := core.TakeAll(ctx, ls, []string{"tenant-" + strconv.Itoa(i), "sk_live_one"}, ds); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if ds[0].Allowed && ds[1].Allowed {
					admitted++
				}
			}
			if admitted != 3 {
				t.Fatalf("%d of 50 admitted for one API key under rotating tenants, want 3", admitted)
			}
			// And the API key's own count, alone, says it is spent.
			if d, err := perAPIKey.Peek(ctx, "sk_live_one"); err != nil || d.Allowed || d.Remaining != 0 {
				t.Fatalf("the API key alone: %+v, %v; want spent", d, err)
			}
		})
	}
}

// keysPerMaster counts the keys under prefix on each master of the Cluster.
func keysPerMaster(t *testing.T, client *redis.ClusterClient, prefix string) []int {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var counts []int
	err := client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n := 0
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// Issue 15, item 5: clients must not choose slots. 1,000 keys of the form
// x}N and 1,000 holding {x} spread over the three masters; no stored key
// holds a client's bytes (an API key used as a key stays out of Redis), and
// a stored key's length does not depend on the key's. Before, with
// WithHashTag every x}N key was stored as prefix{x}N} (slot of "x"), and
// without it every a{x}N key as prefix+a{x}N (slot of "x"): all on one
// master.
func TestClusterClientsCannotChooseSlots(t *testing.T) {
	for _, tc := range hashTagCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, form := range []string{"x}%d", "a{x}%d"} {
				s, client, prefix := clusterStore(t, tc.opts...)
				ctx := context.Background()
				l := core.PerMinute(10)
				for i := 0; i < 1000; i++ {
					if _, err := s.Take(ctx, fmt.Sprintf(form, i), l, 1); err != nil {
						t.Fatal(err)
					}
				}
				counts := keysPerMaster(t, client, prefix)
				total, most := 0, 0
				for _, n := range counts {
					total += n
					most = max(most, n)
				}
				if len(counts) != 3 || total != 1000 || most > 450 {
					t.Fatalf("keys %q: %v per master; want 1,000 keys over three masters, none holding more than 45%%", form, counts)
				}
			}

			s, client, prefix := clusterStore(t, tc.opts...)
			ctx := context.Background()
			secret := "sk_live_" + strings.Repeat("S3CR3T", 600) // 3,608 bytes
			if _, err := s.Take(ctx, secret, core.PerMinute(10), 1); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var stored []string
			err := client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				keys, err := node.Keys(ctx, prefix+"*").Result()
				mu.Lock()
				stored = append(stored, keys...)
				mu.Unlock()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 1 || strings.Contains(stored[0], "S3CR3T") || len(stored[0]) > len(prefix)+40 {
				t.Fatalf("stored keys %.80q; want one, without the credential, at most 40 bytes after the prefix", stored)
			}
		})
	}
}

// A client the store cannot recognise as a cluster client that sends a
// step's keys to a Cluster node gets CROSSSLOT from Redis: that is a setup
// error, never a store outage that a fail-open limiter would admit on.
// Before, the step failed, each limiter failed open, and every request was
// admitted.
func TestCrossSlotIsInvalidSetupNotAnOutage(t *testing.T) {
	c := redistest.SharedCluster(t)
	// A plain client pointed at one Cluster node, as a misconfigured
	// service would have it: the store takes it for a single server.
	plain := redis.NewClient(&redis.Options{Addr: c.Addrs[0], ContextTimeoutEnabled: true})
	t.Cleanup(func() { plain.Close() })
	s := newStore(t, plain, redisstore.WithPrefix(uniquePrefix(t)))
	ctx := context.Background()
	takes := []core.Take{{Key: "ip:1", Limit: core.PerMinute(3), Cost: 1}, {Key: "tenant:1", Limit: core.PerMinute(100), Cost: 1}}
	err := s.TakeMany(ctx, takes, make([]core.Decision, 2))
	if !errors.Is(err, redisstore.ErrCrossSlot) || !errors.Is(err, core.ErrInvalidTakes) {
		t.Fatalf("TakeMany through a plain client on a Cluster node: %v; want ErrCrossSlot, an ErrInvalidTakes", err)
	}
	perIP := limiter(t, s, core.PerMinute(3), core.WithName("ip"), core.WithFailOpen())
	perTenant := limiter(t, s, core.PerMinute(100), core.WithName("tenant"), core.WithFailOpen())
	for i := 0; i < 10; i++ {
		ds := make([]core.Decision, 2)
		err := core.TakeAll(ctx, []*core.Limiter{perIP, perTenant}, []string{"1", "1"}, ds)
		if !errors.Is(err, redisstore.ErrCrossSlot) || ds[0].Allowed || ds[1].Allowed || ds[0].Reason != core.ReasonInvalid {
			t.Fatalf("request %d through fail-open limiters: %+v, %v; want denied as invalid, with ErrCrossSlot", i, ds, err)
		}
	}
}

// A caller that has gone away (its context cancelled) before a step split
// by slot is sent still gets the step decided and counted: leaving must not
// turn the step into a store error, which a fail-open limiter would admit.
func TestClusterStepOfACallerThatLeftIsDecided(t *testing.T) {
	s, _, _ := clusterStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	takes := []core.Take{{Key: "ip:left", Limit: core.PerMinute(2), Cost: 1}, {Key: "tenant:left", Limit: core.PerMinute(100), Cost: 1}}
	for i := 0; i < 3; i++ {
		ds := make([]core.Decision, 2)
		if err := s.TakeMany(ctx, takes, ds); err != nil {
			t.Fatalf("step %d with a cancelled context: %v; want it decided", i+1, err)
		}
		if want := i < 2; ds[0].Allowed != want {
			t.Fatalf("step %d: %+v; want admitted %v (2 a minute)", i+1, ds, want)
		}
	}
}
