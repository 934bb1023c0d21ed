package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/stores/redisstore/redistest"
)

// TestDeploymentAdmitsTheQuotaPerClient runs the whole deployment, a Redis
// Cluster, chi and gin instances and a balancer, with small numbers: 60
// requests from each of three clients whose quota is 20.
func TestDeploymentAdmitsTheQuotaPerClient(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not on PATH, and this test needs a real Redis Cluster: %s", bin, redistest.Install)
		}
	}
	balancers := []string{"go"}
	if _, err := exec.LookPath("nginx"); err == nil {
		balancers = append(balancers, "nginx")
	} else {
		t.Log("nginx is not on PATH: the nginx balancer is not run")
	}
	for _, lb := range balancers {
		t.Run("through the "+lb+" balancer", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			cfg := config{quota: 20, n: 60, c: 8, lb: lb}
			if err := run(ctx, &out, cfg); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			got := out.String()
			if !strings.Contains(got, "balancer: "+lb+" at http://127.0.0.1:") {
				t.Errorf("output does not say the %s balancer is used:\n%s", lb, got)
			}
			sections := modes(got)
			c, ok := sections[consistent]
			if !ok {
				t.Fatalf("no consistent mode in the output:\n%s", got)
			}
			checkMode(t, c, cfg, true)
			l, ok := sections[lease]
			if !ok {
				t.Fatalf("no lease mode in the output:\n%s", got)
			}
			checkMode(t, l, cfg, false)
		})
	}
}

// modes splits the output into each mode's part, by its "mode NAME" line.
func modes(out string) map[string]string {
	parts := map[string]string{}
	for _, p := range strings.Split(out, "\nmode ")[1:] {
		name, _, _ := strings.Cut(p, ":")
		parts[name] = p
	}
	return parts
}

var instanceRow = regexp.MustCompile(`(?m)^(chi|gin) +(\d+) +(\d+) +(\d+)$`)

// checkMode checks one mode's report: both instances answered, 200s and
// 429s add up to what was sent, and each client was admitted exactly the
// quota (exact) or at most it.
func checkMode(t *testing.T, part string, cfg config, exact bool) {
	t.Helper()
	rows := instanceRow.FindAllStringSubmatch(part, -1)
	if len(rows) != 2 || rows[0][1] != "chi" || rows[1][1] != "gin" {
		t.Fatalf("want a row for chi and one for gin:\n%s", part)
	}
	answered, admitted, failClosed := 0, 0, 0
	for _, r := range rows {
		ok, _ := strconv.Atoi(r[2])
		denied, _ := strconv.Atoi(r[3])
		refused, _ := strconv.Atoi(r[4])
		if ok+denied+refused == 0 {
			t.Errorf("%s served no request:\n%s", r[1], part)
		}
		answered += ok + denied + refused
		admitted += ok
		failClosed += refused
	}
	if want := cfg.n * clients; answered != want {
		t.Errorf("instances answered %d requests, want %d:\n%s", answered, want, part)
	}
	// Redis decides every request that was not refused with 503 (the
	// limiter failing closed when Redis missed the deadline, as on a
	// starved machine): of those, consistent mode admits exactly the quota.
	// run() already fails on any over- or under-admission so judged.
	for i := range clients {
		name := clientName(i)
		switch {
		case exact && failClosed == 0:
			want := name + ": admitted " + strconv.Itoa(int(cfg.quota)) + " of " + strconv.Itoa(cfg.n) + ", quota " +
				strconv.Itoa(int(cfg.quota)) + " a minute: the instances share one count\n"
			if !strings.Contains(part, want) {
				t.Errorf("output lacks %q:\n%s", want, part)
			}
		case exact:
			line := regexp.MustCompile(`(?m)^` + name + `: admitted \d+ of \d+, quota \d+ a minute.*: the instances share one count$`)
			if !line.MatchString(part) {
				t.Errorf("%s: no line judging its count exact:\n%s", name, part)
			}
		case !strings.Contains(part, name+": admitted ") || strings.Contains(part, "OVER-ADMISSION"):
			t.Errorf("%s: no line, or over-admitted:\n%s", name, part)
		}
	}
	if exact && failClosed == 0 && admitted != clients*int(cfg.quota) {
		t.Errorf("instances admitted %d in all, want %d:\n%s", admitted, clients*int(cfg.quota), part)
	}
	if failClosed > 0 {
		t.Logf("%d requests were refused with 503 while Redis could not decide in time", failClosed)
	}
}

// TestReportJudgesEachClient checks the verdicts on made-up counts: more
// than the quota is an error in every mode, less is one only in consistent
// mode.
func TestReportJudgesEachClient(t *testing.T) {
	apps := []*instance{{name: "chi"}, {name: "gin"}}
	for _, tt := range []struct {
		name     string
		mode     string
		admitted int
		refused  int
		wantErr  bool
		wantLine string
	}{
		{"consistent mode admitting the quota passes", consistent, 20, 0, false, "client-1: admitted 20 of 60, quota 20 a minute: the instances share one count\n"},
		{"consistent mode admitting one more fails", consistent, 21, 0, true, "client-1: admitted 21 of 60, quota 20 a minute: OVER-ADMISSION\n"},
		{"consistent mode admitting one less fails", consistent, 19, 0, true, "client-1: admitted 19 of 60, quota 20 a minute: UNDER-ADMISSION\n"},
		{"lease mode admitting one less passes and says by how much", lease, 19, 0, false, "client-1: admitted 19 of 60, quota 20 a minute: 5.0% under, never over: the instances share one count\n"},
		{"lease mode admitting one more fails", lease, 21, 0, true, "client-1: admitted 21 of 60, quota 20 a minute: OVER-ADMISSION\n"},
		{"consistent mode with refusals that may each have been counted passes", consistent, 16, 4, false, "client-1: admitted 16 of 60, quota 20 a minute (4 refused with 503: Redis did not answer within the deadline and the limiter failed closed; each may have been counted): the instances share one count\n"},
		{"consistent mode admitting fewer than the refusals explain fails", consistent, 15, 4, true, "UNDER-ADMISSION\n"},
		{"consistent mode with refusals admitting one more fails", consistent, 21, 10, true, "OVER-ADMISSION\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tl := &tally{byInstance: map[string]*[3]int{}, other: map[string]int{}}
			for i := range clients {
				tl.sent[i], tl.admitted[i], tl.denied[i] = 60, 20, 40
			}
			tl.admitted[0], tl.refused[0], tl.denied[0] = tt.admitted, tt.refused, 60-tt.admitted-tt.refused
			var out bytes.Buffer
			err := report(&out, config{quota: 20, n: 60}, tt.mode, tl, time.Date(2030, 1, 1, 0, 0, 10, 0, time.UTC), time.Millisecond, apps)
			if (err != nil) != tt.wantErr {
				t.Errorf("report: %v, want an error: %v\n%s", err, tt.wantErr, out.String())
			}
			if !strings.Contains(out.String(), tt.wantLine) {
				t.Errorf("output lacks %q:\n%s", tt.wantLine, out.String())
			}
		})
	}
}
