package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	var w []time.Duration
	for i := 1; i <= 1000; i++ {
		w = append(w, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{0.5, 500 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{0.999, 999 * time.Millisecond},
		{1, 1000 * time.Millisecond},
		{0.0001, time.Millisecond},
	} {
		if got := percentile(w, c.p); got != c.want {
			t.Errorf("p%v of 1..1000 ms = %v, want %v", c.p*100, got, c.want)
		}
	}
	// Ten values: p99.9 is the largest; p50 the fifth.
	ten := w[:10]
	if got := percentile(ten, 0.999); got != 10*time.Millisecond {
		t.Errorf("p99.9 of 1..10 ms = %v, want 10ms", got)
	}
	if got := percentile(ten, 0.5); got != 5*time.Millisecond {
		t.Errorf("p50 of 1..10 ms = %v, want 5ms", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
	l := latencies([]sample{{wait: 3 * time.Millisecond}, {wait: time.Millisecond}, {wait: 2 * time.Millisecond}})
	if l != (latency{p50: 2 * time.Millisecond, p99: 3 * time.Millisecond, p999: 3 * time.Millisecond, max: 3 * time.Millisecond}) {
		t.Errorf("latencies of 3, 1, 2 ms = %+v", l)
	}
}

// at is a sample admitted at second s (plus ms milliseconds) of the Unix
// epoch, whose ResetAfter runs to the end of that second.
func at(s, msec int64, src source, inst int) sample {
	start := s*int64(time.Second) + msec*int64(time.Millisecond)
	return sample{start: start, decided: start, wait: time.Millisecond, reset: time.Duration((s+1)*int64(time.Second) - start), inst: inst, src: src, allowed: true}
}

func TestWindowOfReadsTheDecisionsResetAfter(t *testing.T) {
	msec := int64(time.Millisecond)
	// Redis decided at 10.999 s; the hook ran 30 ms later, in window 11:
	// still window 10.
	s := sample{start: 10_999 * msec, decided: 11_029 * msec, wait: 31 * time.Millisecond, reset: time.Millisecond}
	if got := windowOf(s, time.Second); got != 10 {
		t.Errorf("Redis decided at 10.999 s, ResetAfter 1 ms: window %d, want 10", got)
	}
	// Called at 10.990 s, decided at 11.001 s: window 11.
	s = sample{start: 10_990 * msec, decided: 11_012 * msec, wait: 22 * time.Millisecond, reset: 999 * time.Millisecond}
	if got := windowOf(s, time.Second); got != 11 {
		t.Errorf("Redis decided at 11.001 s: window %d, want 11", got)
	}
	// A lease token of window 10 spent 40 ms after it ended, its pool's
	// expiry reckoned late: window 10.
	s = sample{start: 11_040 * msec, decided: 11_040 * msec, reset: 10 * time.Millisecond}
	if got := windowOf(s, time.Second); got != 10 {
		t.Errorf("a lease token of window 10 spent at 11.040 s: window %d, want 10", got)
	}
	// The fallback: the window the hook ran in, whatever ResetAfter says
	// (its clock may lag when the process is starved).
	s = sample{start: 10_400 * msec, decided: 11_003 * msec, wait: 604 * time.Millisecond, reset: 900 * time.Millisecond, src: byFallback}
	if got := windowOf(s, time.Second); got != 11 {
		t.Errorf("the fallback decided at 11.003 s: window %d, want 11", got)
	}
}

func TestAccountSplitsOverAdmissionByWhoDecided(t *testing.T) {
	var ss []sample
	// Window 100: Redis admits 3 of a quota of 3, then the fallbacks of
	// two instances admit 2 and 1.
	for i := 0; i < 3; i++ {
		ss = append(ss, at(100, int64(i), byRedis, 0))
	}
	ss = append(ss, at(100, 500, byFallback, 0), at(100, 501, byFallback, 0), at(100, 502, byFallback, 1))
	// Window 101: Redis admits 5 (its state was lost: 2 over), a denial
	// and an error count nothing.
	for i := 0; i < 5; i++ {
		ss = append(ss, at(101, int64(i), byRedis, 1))
	}
	denied := at(101, 10, byRedis, 0)
	denied.allowed = false
	failed := at(101, 11, byNone, 0)
	ss = append(ss, denied, failed)

	a := account(ss, 3, time.Second, 101, 2)
	want := accounting{windows: 2, quota: 6, redis: 8, fallback: 3, overRedis: 2, overFallback: 3, redisWithinBound: true, fallbackMax: 2}
	if a != want {
		t.Errorf("account = %+v\nwant      %+v", a, want)
	}
	// With less lost than Redis over-admitted, the bound is missed.
	if a := account(ss, 3, time.Second, 101, 1); a.redisWithinBound {
		t.Error("Redis admitted 2 over the quota where 1 was lost: within the bound")
	}
	// Nothing lost at all: any excess by Redis misses.
	if a := account(ss, 3, time.Second, -1, 0); a.redisWithinBound {
		t.Error("Redis admitted 2 over the quota where nothing was lost: within the bound")
	}
}

func TestRecoveryWaitsForEveryInstanceThatFellBack(t *testing.T) {
	ms := int64(time.Millisecond)
	dec := func(inst int, at int64, src source) sample {
		return sample{inst: inst, start: at * ms, wait: time.Millisecond, src: src}
	}
	ss := []sample{
		dec(0, 0, byRedis), dec(1, 0, byRedis), dec(2, 0, byRedis),
		dec(0, 100, byFallback), dec(1, 100, byFallback),
		// The fault ends at 1000 ms. Instance 0 is back at once; instance
		// 1 falls back once more, at 1500, and is back at 1800; instance 2
		// never fell back.
		dec(0, 1010, byRedis), dec(1, 1010, byRedis), dec(1, 1500, byFallback), dec(1, 1800, byRedis), dec(2, 1900, byNone), dec(2, 1950, byRedis),
	}
	d, fell, ok := recovery(ss[:len(ss)-2], 1000*ms)
	if !fell || !ok || d != 801*time.Millisecond {
		t.Errorf("recovery = %v, fell back %v, recovered %v; want 801ms, true, true", d, fell, ok)
	}
	// An instance whose last decision was the fallback's never came back.
	d, fell, ok = recovery(ss[:len(ss)-1], 1000*ms)
	if !fell || ok {
		t.Errorf("recovery with instance 3 last failing = %v, fell back %v, recovered %v; want not recovered", d, fell, ok)
	}
	if _, fell, ok := recovery(ss[:3], 1000*ms); fell || !ok {
		t.Errorf("no fallback at all: fell back %v, recovered %v; want false, true", fell, ok)
	}
}

func TestSlowestGroupsTheSlowCallsByOutcome(t *testing.T) {
	ss := []sample{
		{wait: 50 * time.Millisecond, src: byRedis},
		{wait: 120 * time.Millisecond, src: byFallback, errKind: "timeout"},
		{wait: 180 * time.Millisecond, src: byFallback, errKind: "timeout"},
		{wait: 115 * time.Millisecond, src: byRedis},
	}
	got := slowest(ss, 110*time.Millisecond)
	if want := "2 fallback after timeout (max 180 ms), 1 Redis (max 115 ms)"; got != want {
		t.Errorf("slowest = %q, want %q", got, want)
	}
}

func TestReportMarksMissedTargets(t *testing.T) {
	good := result{fault: "black hole 2 s", mode: "consistent", decisions: 4000, byRedis: 3000, late: 4 * time.Millisecond,
		lat:  latency{p50: 100 * time.Microsecond, p99: 90 * time.Millisecond, p999: 101 * time.Millisecond, max: 102 * time.Millisecond},
		acc:  accounting{windows: 7, quota: 210, redis: 150, fallback: 90, overFallback: 30, redisWithinBound: true, fallbackMax: 10},
		down: 3, up: 3, rec: 320 * time.Millisecond, fellBack: true, recovered: true,
		errs:     map[string]int{"breaker open": 1500, "timeout": 30},
		faultFor: 2 * time.Second}
	bad := good
	bad.mode = "lease"
	bad.lat.p999, bad.lat.max = 250*time.Millisecond, 300*time.Millisecond
	bad.slow = "4 Redis (max 300 ms)"
	bad.rec = 2500 * time.Millisecond
	bad.tail = map[string]int{"timeout": 2}
	cut := good
	cut.fault, cut.answering, cut.ansDecisions, cut.ansByRedis, cut.ansBreaker = "1 of 3 instances cut off 2 s", true, 2000, 1990, 3
	page := report(config{}, machine{cpu: "a CPU", cores: 2, memory: "8.0 GiB", goVer: "go1.26", redis: "redis-server 7.0"}, time.Unix(0, 0), time.Minute, []result{good, bad, cut})
	for _, want := range []string{
		"| black hole 2 s | consistent | 4000 | 75.0% | 0.1 ms | 90 ms | 101 ms | 102 ms | 4.0 ms | 150 + 90 / 210 | 0 (0) | 30 | 10 | 0 | 3 / 3 | 0.32 s | breaker open 1500, timeout 30 |",
		"| black hole 2 s | lease | 4000 | 75.0% | 0.1 ms | 90 ms | 250 ms ❌ | 300 ms | 4.0 ms | 150 + 90 / 210 | 0 (0) | 30 | 10 | 0 | 3 / 3 | 2.50 s ❌ | breaker open 1500, timeout 30 |",
		"| 1 of 3 instances cut off 2 s | consistent | 4000 | 75.0% ❌ |",
		"worst p99.9 250 ms (black hole 2 s, lease); worst max 300 ms (black hole 2 s, lease); 2 of 3 cases within | ❌ |",
		"| Redis decides again within the breaker's cool-down + 1 s (2 s) after the fault ends | worst 2.50 s (black hole 2 s, lease); 2 of 3 cases within | ❌ |",
		"worst 99.5% by Redis; 3 calls found the breaker open; 0 of 1 cases within | ❌ |",
		"- **black hole 2 s, lease**: p99.9 of the caller's wait 250 ms, over 110 ms; the calls over it: 4 Redis (max 300 ms). Redis decided again 2.50 s after the fault ended, over 2 s; store errors after the end: timeout 2. Why: In lease mode a caller that finds a grant in flight (a background refill's, or another caller's) waits for it",
		"- **1 of 3 instances cut off 2 s, consistent**: Redis kept answering, yet decided 99.5% of its instances' calls, and 3 found the breaker open.",
		"- **black hole 2 s** (lasted 2.00 s in its last case)",
		"2 cores (nproc), 8.0 GiB memory; go1.26; redis-server 7.0",
		"on 1970-01-01",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}

func TestCountInReadsTheCurrentWindowsCount(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_400_000) // 0.4 s into a window
	for _, c := range []struct {
		state string
		want  int64
	}{
		{"f1700000000000000:30", 30},
		{"f1699999999000000:30", 0}, // the window before: nothing in this one
		{"", 0},
		{"g123:4", 0},
		{"f1700000000000000", 0},
	} {
		if got := countIn(c.state, now); got != c.want {
			t.Errorf("countIn(%q) = %d, want %d", c.state, got, c.want)
		}
	}
}

func TestPickKeepsNamesContainingAWord(t *testing.T) {
	names := []string{"black hole 2 s", "stopped 2 s (SIGSTOP)", "app CPU saturated 3 s"}
	if got := pick(names, "black, CPU"); strings.Join(got, "|") != "black hole 2 s|app CPU saturated 3 s" {
		t.Errorf("pick(black, CPU) = %q", got)
	}
	if got := pick(names, ""); len(got) != 3 {
		t.Errorf("pick of no words = %q, want every name", got)
	}
}
