package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestDemoSharesOneQuota runs the demo against a redis-server and a
// three-master Redis Cluster that the test starts itself.
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
			if err := run(context.Background(), &out, &logs, tt.cfg(t)); err != nil {
				t.Fatalf("run: %v\n%s%s", err, out.String(), logs.String())
			}
			got := out.String()
			for _, want := range []string{
				`1         chi        200      "per-ip";r=4;t=12   -`,
				`5         gin        200      "per-ip";r=0;t=60   -`,
				`6         echo       429      "per-ip";r=0;t=12   12`,
				`9         echo       429      "per-ip";r=0;t=12   12`,
				"admitted 5, denied 4: the quota is global, not per instance",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("output lacks %q:\n%s", want, got)
				}
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
