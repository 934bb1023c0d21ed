package main

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestDemoSharesOneQuota runs the demo against a redis-server and a
// three-master Redis Cluster that the test starts itself. The RateLimit
// field's t and Retry-After count whole seconds down from the first
// request's decision: each is its value for a run that takes no time (t=12
// then t=60 for 5 a minute) less at most the seconds the run took, which a
// busy machine may stretch past one.
func TestDemoSharesOneQuota(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func(t *testing.T) config
	}{
		{"single server", func(t *testing.T) config { return config{addr: redistest.Start(t).Addr, timeout: time.Second} }},
		{"cluster", func(t *testing.T) config {
			return config{cluster: redistest.SharedCluster(t).Addrs, timeout: time.Second}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, logs bytes.Buffer
			cfg := tt.cfg(t)
			began := time.Now()
			if err := run(context.Background(), &out, &logs, cfg); err != nil {
				t.Fatalf("run: %v\n%s%s", err, out.String(), logs.String())
			}
			slack := int(math.Ceil(time.Since(began).Seconds()))
			got := out.String()
			row := regexp.MustCompile(`(?m)^(\d+) +(chi|gin|echo) +(\d+) +"per-ip";r=(\d+);t=(\d+) +(-|\d+)$`)
			rows := map[string][]string{}
			for _, m := range row.FindAllStringSubmatch(got, -1) {
				rows[m[1]] = m[2:]
			}
			for _, want := range []struct {
				request, instance, status, r string
				t, retry                     int // in a run that takes no time; retry 0: none
			}{
				{"1", "chi", "200", "4", 12, 0},
				{"5", "gin", "200", "0", 60, 0},
				{"6", "echo", "429", "0", 12, 12},
				{"9", "echo", "429", "0", 12, 12},
			} {
				m, ok := rows[want.request]
				if !ok || m[0] != want.instance || m[1] != want.status || m[2] != want.r {
					t.Errorf("request %s: %q; want %s answering %s with r=%s:\n%s", want.request, m, want.instance, want.status, want.r, got)
					continue
				}
				secs, _ := strconv.Atoi(m[3])
				if secs > want.t || secs < want.t-slack {
					t.Errorf("request %s: t=%d; want %d less at most the %ds the run took:\n%s", want.request, secs, want.t, slack, got)
				}
				retry, err := strconv.Atoi(m[4])
				if want.retry == 0 && m[4] != "-" || want.retry > 0 && (err != nil || retry != secs) {
					t.Errorf("request %s: Retry-After %s; want %s:\n%s", want.request, m[4], map[bool]string{true: "none", false: "t's " + m[3]}[want.retry == 0], got)
				}
			}
			if !strings.Contains(got, "admitted 5, denied 4: the quota is global, not per instance") {
				t.Errorf("output lacks the count:\n%s", got)
			}
			if logs.Len() != 0 {
				t.Errorf("failover log with Redis up: %s", logs.String())
			}
		})
	}
}

func TestDemoFailsClearlyWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	err := run(context.Background(), &bytes.Buffer{}, &bytes.Buffer{}, config{addr: srv.Addr, timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Fatalf("run with Redis stopped: %v, want \"cannot reach Redis\"", err)
	}
}
