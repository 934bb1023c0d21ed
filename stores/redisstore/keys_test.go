package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestKeySecretOptionsAreCheckedAtConstruction(t *testing.T) {
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { single.Close(); cluster.Close(); ring.Close() })
	secret := redisstore.WithKeySecret(testSecret)
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   []redisstore.Option
		says   string // "" for accepted
	}{
		{"a secret of 15 bytes", single, []redisstore.Option{redisstore.WithKeySecret(make([]byte, 15))}, "redisstore: key secret: 15 bytes"},
		{"a Cluster client without a secret", cluster, nil, "Redis Cluster needs WithKeySecret"},
		{"a Ring without a secret", ring, nil, "Ring needs WithKeySecret"},
		{"a hash tag without a secret", single, []redisstore.Option{redisstore.WithHashTag()}, "WithKeySecret"},
		{"a hash tag and a prefix with a brace", single, []redisstore.Option{redisstore.WithHashTag(), secret, redisstore.WithPrefix("app{1}:")}, "redisstore: prefix"},
		{"a single server without a secret", single, nil, ""},
		{"a Cluster client with a secret", cluster, []redisstore.Option{secret}, ""},
		{"a Ring with a secret and a hash tag", ring, []redisstore.Option{secret, redisstore.WithHashTag()}, ""},
		{"a prefix with braces without a hash tag", cluster, []redisstore.Option{secret, redisstore.WithPrefix("{app}:")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.New(tt.client, tt.opts...)
			if tt.says == "" {
				if err != nil {
					t.Fatalf("New: %v, want accepted", err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.says) || s != nil {
				t.Fatalf("New = %v, %v; want nil and an error mentioning %q", s, err, tt.says)
			}
		})
	}
}

// During a rolling deploy across the key format's change, an instance
// still on version 1 (the key itself after the prefix) and one on version 2
// (its keyed hash) count one client in two places: each admits the quota,
// so the client gets up to one extra quota while both run. Once every
// instance runs version 2, the old keys expire with their state.
func TestRollingDeployAcrossTheKeyFormatCountsTwiceAtMost(t *testing.T) {
	client := redistest.Shared(t).Client(t, nil)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	old := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithLegacyKeys())
	cur := newStore(t, client, redisstore.WithPrefix(prefix))
	l := core.PerMinute(3)
	var byOld, byNew int
	for i := 0; i < 10; i++ {
		s, n := old, &byOld
		if i%2 == 1 {
			s, n = cur, &byNew
		}
		d, err := s.Take(ctx, "client", l, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			*n++
		}
	}
	if byOld != 3 || byNew != 3 {
		t.Fatalf("side by side, the old instance admitted %d and the new %d; want 3 each: one client counted in two places", byOld, byNew)
	}
	// A step of several limits: the same, limit by limit.
	takes := func() []core.Take {
		return []core.Take{{Key: "ip", Limit: core.PerMinute(2), Cost: 1}, {Key: "tenant", Limit: core.PerMinute(100), Cost: 1}}
	}
	admitted := 0
	for i := 0; i < 10; i++ {
		s := old
		if i%2 == 1 {
			s = cur
		}
		ds := make([]core.Decision, 2)
		if err := s.TakeMany(ctx, takes(), ds); err != nil {
			t.Fatal(err)
		}
		if ds[0].Allowed && ds[1].Allowed {
			admitted++
		}
	}
	if admitted != 4 {
		t.Fatalf("steps of per-IP 2/m side by side: %d admitted, want 4 (2 per format)", admitted)
	}
	ttl, err := client.PTTL(ctx, prefix+"client").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the version 1 key: TTL %v, %v; want it to expire with its state, within the minute", ttl, err)
	}
	if n, err := client.Exists(ctx, storedKeyWith(prefix, "client", redisstore.BuiltinSecret)).Result(); err != nil || n != 1 {
		t.Fatalf("the version 2 key: %d, %v; want it stored", n, err)
	}
}

// Two penalty boxes on a step, each counting the denials of the takes it
// selects: a shared global limit's denials count toward the box that
// selects every take, never toward the per-IP box; the per-IP limit's
// toward the per-IP box only when the other box does not select it; a
// client in any box is refused with the longest time left. On one server
// (one script) and on a Cluster (the step split by slot).
func TestTwoBoxesCountOnlyTheDenialsTheySelect(t *testing.T) {
	for _, tt := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient {
			return redistest.Shared(t).Client(t, &redis.Options{ContextTimeoutEnabled: true})
		}},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			return redistest.SharedCluster(t).Client(t, &redis.ClusterOptions{ContextTimeoutEnabled: true})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := core.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			s := newStore(t, tt.client(t), redisstore.WithPrefix(uniquePrefix(t)), redisstore.WithKeySecret(testSecret), redisstore.WithClock(clock))
			ctx := context.Background()
			step := func(what string, boxes []core.Box, takes ...core.Take) ([]core.Decision, time.Duration) {
				t.Helper()
				ds := make([]core.Decision, len(takes))
				left, err := s.TakeBoxed(ctx, boxes, takes, ds)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return ds, left
			}
			near := func(got, want time.Duration) bool {
				return got >= want-time.Millisecond && got <= want+time.Millisecond
			}

			// A victim under a global login limit of 2/m that others spent.
			victim := core.Take{Key: "ip:victim", Limit: core.PerMinute(10), Cost: 1}
			global := core.Take{Key: "route:login", Limit: core.PerMinute(2), Cost: 1}
			perIP := core.Box{Key: "box:ip:victim", Penalty: core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}, Takes: 1 << 0}
			all := core.Box{Key: "box:all:victim", Penalty: core.Penalty{Denials: 3, Within: time.Minute, For: 10 * time.Minute}}
			boxes := []core.Box{perIP, all}
			for i := 0; i < 2; i++ {
				if ds, left := step("admitted", boxes, victim, global); !ds[0].Allowed || !ds[1].Allowed || left != 0 {
					t.Fatalf("request %d: %+v, box left %v; want admitted", i+1, ds, left)
				}
			}
			for i := 0; i < 2; i++ {
				ds, left := step("global denial", boxes, victim, global)
				if ds[1].Allowed || ds[1].Reason != core.ReasonLimited || !ds[0].Allowed || left != 0 {
					t.Fatalf("global denial %d: %+v, box left %v; want the global limit's denial, no box", i+1, ds, left)
				}
			}
			// The third closes the box of every take, for 10 minutes; the
			// per-IP box, which selects the per-IP limit only, stays open.
			if _, left := step("third global denial", boxes, victim, global); !near(left, 10*time.Minute) {
				t.Fatalf("third global denial: box left %v, want 10m", left)
			}
			ds, left := step("in a box", boxes, victim, global)
			if !near(left, 10*time.Minute) || ds[0].Reason != core.ReasonPenalty || ds[1].Reason != core.ReasonPenalty || !near(ds[0].RetryAfter, 10*time.Minute) {
				t.Fatalf("in the box: %+v, left %v; want ReasonPenalty for 10m", ds, left)
			}
			if ds, left := step("per-IP box alone", []core.Box{perIP}, victim); !ds[0].Allowed || left != 0 || ds[0].Remaining != 7 {
				t.Fatalf("under the per-IP box alone: %+v, left %v; want admitted (global denials never count toward it), 7 left", ds, left)
			}

			// An attacker denied by its own per-IP limit: its box closes;
			// a box selecting the global limit only does not count it.
			attacker := core.Take{Key: "ip:attacker", Limit: core.PerMinute(1), Cost: 1}
			wide := core.Take{Key: "route:other", Limit: core.PerMinute(100), Cost: 1}
			ipBox := core.Box{Key: "box:ip:attacker", Penalty: core.Penalty{Denials: 2, Within: time.Minute, For: time.Hour}, Takes: 1 << 0}
			routeBox := core.Box{Key: "box:route:attacker", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: 2 * time.Hour}, Takes: 1 << 1}
			boxes = []core.Box{ipBox, routeBox}
			step("attacker admitted", boxes, attacker, wide)
			if ds, left := step("attacker denied", boxes, attacker, wide); ds[0].Allowed || left != 0 {
				t.Fatalf("first per-IP denial: %+v, left %v; want denied, no box (the route box selects the other take)", ds, left)
			}
			if _, left := step("attacker denied again", boxes, attacker, wide); !near(left, time.Hour) {
				t.Fatalf("second per-IP denial: box left %v, want 1h", left)
			}

			// One denial closing two boxes: the longer one is the answer.
			huge := core.Take{Key: "k:huge", Limit: core.PerMinute(1), Cost: 2} // above the burst: denied
			short := core.Box{Key: "box:short", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}
			long := core.Box{Key: "box:long", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: 3 * time.Hour}}
			if _, left := step("closing two boxes", []core.Box{short, long}, huge); !near(left, 3*time.Hour) {
				t.Fatalf("one denial closing two boxes: left %v, want 3h", left)
			}
			clock.Advance(2 * time.Hour)
			ds, left = step("in the longer box", []core.Box{short, long}, core.Take{Key: "k:fresh", Limit: core.PerMinute(1), Cost: 1})
			if ds[0].Reason != core.ReasonPenalty || !near(left, time.Hour) || !near(ds[0].RetryAfter, time.Hour) {
				t.Fatalf("2h later: %+v, left %v; want the longer box's hour left", ds, left)
			}
		})
	}
}

func TestTakeBoxedRefusesBadBoxes(t *testing.T) {
	s := newStore(t, redistest.Shared(t).Client(t, nil), redisstore.WithPrefix(uniquePrefix(t)))
	p := core.Penalty{Denials: 1, Within: time.Minute, For: time.Minute}
	tk := []core.Take{{Key: "k", Limit: core.PerMinute(1), Cost: 1}}
	for _, c := range []struct {
		name  string
		boxes []core.Box
	}{
		{"no boxes", nil},
		{"five boxes", []core.Box{{Key: "a", Penalty: p}, {Key: "b", Penalty: p}, {Key: "c", Penalty: p}, {Key: "d", Penalty: p}, {Key: "e", Penalty: p}}},
		{"a key twice", []core.Box{{Key: "a", Penalty: p}, {Key: "a", Penalty: p}}},
		{"a take beyond the step", []core.Box{{Key: "a", Penalty: p, Takes: 1 << 1}}},
	} {
		if _, err := s.TakeBoxed(context.Background(), c.boxes, tk, make([]core.Decision, 1)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
