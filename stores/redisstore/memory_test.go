package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/stores/redisstore"
	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// TestMemoryPerKey measures, with MEMORY USAGE on a real server, what one
// client's state costs per algorithm (with the default 9-byte prefix, a
// key is 44 bytes whatever the client's key): the figures the package doc
// and docs/notes-keys.md give for sizing maxmemory. The bounds fail the
// test if a change makes a state much larger. Run with -v to see them.
func TestMemoryPerKey(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, nil)
	ctx := context.Background()
	s := newStore(t, client, redisstore.WithKeySecret(testSecret)) // DefaultPrefix
	tests := []struct {
		name  string
		limit core.Limit
		takes int
		most  int64
	}{
		{"GCRA", core.PerMinute(100), 1, 160},
		{"token bucket", core.PerMinute(100).WithAlgorithm(core.TokenBucket), 1, 160},
		{"fixed window", core.PerMinute(100).WithAlgorithm(core.FixedWindow), 1, 160},
		{"sliding window counter", core.PerMinute(100).WithAlgorithm(core.SlidingWindowCounter), 1, 160},
		{"sliding window log, 1 event", core.PerMinute(100).WithAlgorithm(core.SlidingWindowLog), 1, 256},
		{"sliding window log, 100 events", core.PerMinute(100).WithAlgorithm(core.SlidingWindowLog), 100, 1600},
	}
	for i, tt := range tests {
		key := "client-" + strings.Repeat("k", 200*i) // the key's length changes nothing
		for j := 0; j < tt.takes; j++ {
			if d, err := s.Take(ctx, key, tt.limit, 1); err != nil || !d.Allowed {
				t.Fatalf("%s: take %d: %+v, %v", tt.name, j, d, err)
			}
		}
		full := storedKey(redisstore.DefaultPrefix, key, false)
		n, err := client.MemoryUsage(ctx, full, 0).Result()
		if err != nil {
			t.Fatalf("%s: MEMORY USAGE %s: %v", tt.name, full, err)
		}
		t.Logf("%-32s key %d bytes, %4d bytes in Redis", tt.name, len(full), n)
		if n <= 0 || n > tt.most {
			t.Errorf("%s: %d bytes, want at most %d", tt.name, n, tt.most)
		}
	}
	// A penalty box: its two keys once closed.
	box := core.Box{Key: "box:client", Penalty: core.Penalty{Denials: 1, Within: time.Minute, For: time.Hour}}
	ds := make([]core.Decision, 1)
	if _, err := s.TakeBoxed(ctx, []core.Box{box}, []core.Take{{Key: "k", Limit: core.PerMinute(1), Cost: 2}}, ds); err != nil {
		t.Fatal(err)
	}
	var total int64
	iter := client.Scan(ctx, 0, redisstore.DefaultPrefix+"v2:{*", 10).Iterator()
	for iter.Next(ctx) {
		n, err := client.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	t.Logf("%-32s %4d bytes in Redis", "penalty box, closed", total)
	if total <= 0 || total > 200 {
		t.Errorf("a closed box: %d bytes, want at most 200", total)
	}
}

// A Redis that refuses writes (maxmemory reached under noeviction) answers
// every decision with an OOM error: a store error, which the limiter's
// failure policy handles, never an admission by the store.
func TestRedisOutOfMemoryIsAStoreErrorNotAnAdmission(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, nil)
	ctx := context.Background()
	s := newStore(t, client, redisstore.WithoutBreaker())
	if d, err := s.Take(ctx, "before", core.PerMinute(5), 1); err != nil || !d.Allowed {
		t.Fatalf("before the limit: %+v, %v", d, err)
	}
	for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
		if err := client.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []core.Limit{core.PerMinute(5), core.PerMinute(5).WithAlgorithm(core.SlidingWindowLog)} {
		d, err := s.Take(ctx, "client", l, 1)
		if err == nil || !strings.Contains(err.Error(), "OOM") || d.Allowed {
			t.Fatalf("%v over maxmemory: %+v, %v; want an OOM error, not admitted", l.Algorithm, d, err)
		}
		// A peek writes nothing, so Redis runs it.
		if d, err := s.Take(ctx, "before", l, 0); l.Algorithm == core.GCRA && (err != nil || !d.Allowed || d.Remaining != 4) {
			t.Fatalf("a peek over maxmemory: %+v, %v; want answered, 4 left", d, err)
		}
	}
	takes := []core.Take{{Key: "ip", Limit: core.PerMinute(5), Cost: 1}, {Key: "tenant", Limit: core.PerMinute(50), Cost: 1}}
	ds := make([]core.Decision, 2)
	if err := s.TakeMany(ctx, takes, ds); err == nil || !strings.Contains(err.Error(), "OOM") || ds[0].Allowed || ds[1].Allowed {
		t.Fatalf("a step over maxmemory: %+v, %v; want an OOM error", ds, err)
	}
	lim, _ := core.NewLimiter(s, core.PerMinute(5), core.WithFailClosed())
	if d, err := lim.Take(ctx, "client"); d.Allowed || d.Reason != core.ReasonFailClosed || !errors.Is(err, core.ErrStore) {
		t.Fatalf("through a fail-closed limiter: %+v, %v; want denied as fail-closed", d, err)
	}
	// The server takes writes again once it has room.
	if err := client.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Take(ctx, "client", core.PerMinute(5), 1); err != nil || !d.Allowed {
		t.Fatalf("after maxmemory is lifted: %+v, %v", d, err)
	}
}

// Under an evicting policy a key Redis evicts is a client's quota reset:
// here, a drained 5/day login counter evicted by a flood of other keys
// under allkeys-lru admits 5 more. This is why tollgate needs noeviction.
func TestEvictionResetsAQuota(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t, &redis.Options{PoolSize: 4})
	ctx := context.Background()
	s := newStore(t, client)
	login := core.Limit{Rate: 5, Period: 24 * time.Hour}
	for i := 0; i < 6; i++ {
		s.Take(ctx, "victim", login, 1)
	}
	if d, _ := s.Take(ctx, "victim", login, 0); d.Allowed {
		t.Fatalf("the victim's login counter is not drained: %+v", d)
	}
	used, err := client.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var base int64
	for _, line := range strings.Split(used, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			base, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	// Room for a couple of thousand more keys, and an evicting policy.
	for _, kv := range [][2]string{{"maxmemory-policy", "allkeys-lru"}, {"maxmemory", strconv.FormatInt(base+256<<10, 10)}} {
		if err := client.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flood := core.PerMinute(10)
	victim := storedKeyWith(redisstore.DefaultPrefix, "victim", redisstore.BuiltinSecret)
	evicted := false
	for i := 0; i < 100_000 && !evicted; i++ {
		if _, err := s.Take(ctx, "flood-"+strconv.Itoa(i), flood, 1); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			n, err := client.Exists(ctx, victim).Result()
			if err != nil {
				t.Fatal(err)
			}
			evicted = n == 0
		}
	}
	if !evicted {
		t.Fatal("100,000 flood keys did not evict the victim's key")
	}
	d, err := s.Take(ctx, "victim", login, 1)
	if err != nil || !d.Allowed || d.Remaining != 4 {
		t.Fatalf("the victim after the flood: %+v, %v; want a fresh bucket (its key evicted)", d, err)
	}
}
