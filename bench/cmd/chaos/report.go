package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-go/tollgate/stores/redisstore"
)

// result is one case's figures: one fault, one mode.
type result struct {
	fault, mode string
	loses       bool  // the fault loses Redis' data
	lost        int64 // the count it lost in its window
	decisions   int
	byRedis     int // decisions Redis made
	lat         latency
	acc         accounting
	userErrs    int
	down, up    int64 // switches the failover hook reported, all instances
	rec         time.Duration
	fellBack    bool // some instance fell back
	recovered   bool // every instance that fell back had Redis deciding again
	slow        string
	errs        map[string]int    // store errors by kind
	errFirst    map[string]string // an example of each
	tail        map[string]int    // store errors by kind, after the fault ended
	faultFor    time.Duration
	late        time.Duration // the most a 1 ms sleep overslept in the case: CPU starvation
	dials       int64         // connections opened through the case's proxies during the fault
	load        float64       // the 1-minute load average, the higher of the case's start and end

	// Where the fault leaves Redis answering (answering), the decisions of
	// the instances it answers, how many Redis made, and how many found
	// the breaker open.
	answering                            bool
	ansDecisions, ansByRedis, ansBreaker int
}

// The targets (issue 16, item 4).
func (r result) latencyOK() bool  { return r.lat.p999 <= deadline+10*time.Millisecond }
func (r result) redisOK() bool    { return r.acc.redisWithinBound }
func (r result) fallbackOK() bool { return r.acc.fallbackMax <= share() }
func (r result) recoveryOK() bool {
	return !r.fellBack || (r.recovered && r.rec <= cooldown+time.Second)
}

// answersOK is issue 16's item 2 where the fault leaves Redis answering:
// at least 99% of those decisions are Redis', and the breaker never opens.
func (r result) answersOK() bool {
	return !r.answering || (r.ansShare() >= 0.99 && r.ansBreaker == 0)
}

func (r result) ansShare() float64 {
	if r.ansDecisions == 0 {
		return 1
	}
	return float64(r.ansByRedis) / float64(r.ansDecisions)
}

func (r result) share() float64 {
	if r.decisions == 0 {
		return 0
	}
	return float64(r.byRedis) / float64(r.decisions)
}

// recovery as the table shows it.
func (r result) recText() string {
	switch {
	case !r.fellBack:
		return "—"
	case !r.recovered:
		return "never"
	}
	return fmt.Sprintf("%.2f s", r.rec.Seconds())
}

func (r result) redisBound() int64 {
	if r.loses {
		return r.lost
	}
	return 0
}

// kinds renders errors by kind, most frequent first: "timeout 12, breaker open 300".
func kinds(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func pct(f float64) string {
	if f >= 1 {
		return "100%"
	}
	return fmt.Sprintf("%.1f%%", math.Floor(f*1000)/10)
}

// line is the progress line printed as each case ends.
func (r result) line() string {
	return fmt.Sprintf("%-32s %-10s %5d decisions (%s Redis)  p50 %s p99.9 %s max %s (CPU wait %s)  admitted %d+%d/%d  over: Redis %d (bound %d), fallback %d  fallback max %d/%d  user errors %d  switches %d/%d  recovery %s  store errors: %s",
		r.fault, r.mode, r.decisions, pct(r.share()), ms(r.lat.p50), ms(r.lat.p999), ms(r.lat.max), ms(r.late), r.acc.redis, r.acc.fallback, r.acc.quota,
		r.acc.overRedis, r.redisBound(), r.acc.overFallback, r.acc.fallbackMax, share(), r.userErrs, r.down, r.up, r.recText(), kinds(r.errs))
}

// machine describes where the run was made.
type machine struct {
	cpu    string
	cores  int
	memory string
	goVer  string
	redis  string
}

func machineInfo() machine {
	return machine{cpu: cpuModel(), cores: runtime.NumCPU(), memory: memTotal(), goVer: runtime.Version(), redis: redisVersion()}
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

// human formats a duration for prose: "1 s", "1.5 s", "20 ms".
func human(d time.Duration) string {
	if d >= time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
	}
	return ms(d)
}

// missMark marks a missed target in a table cell.
func missMark(ok bool) string {
	if ok {
		return ""
	}
	return " ❌"
}

// report renders the page.
func report(cfg config, m machine, began time.Time, took time.Duration, rs []result) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cmd := "cd bench && GOWORK=off go run ./cmd/chaos"
	if cfg.faults != "" {
		cmd += " -faults " + strconv.Quote(cfg.faults)
	}
	if cfg.modes != "" {
		cmd += " -modes " + strconv.Quote(cfg.modes)
	}
	loadLo, loadHi := math.Inf(1), 0.0
	for _, r := range rs {
		loadLo, loadHi = math.Min(loadLo, r.load), math.Max(loadHi, r.load)
	}
	if len(rs) == 0 {
		loadLo = 0
	}
	p("# Reliability: tollgate under real faults\n\n")
	p("Generated by `%s` (`make chaos`) on %s, in %s. Do not edit: run it again.\n\n", cmd, began.UTC().Format("2006-01-02"), took.Round(time.Second))
	p("Machine: %s, %d cores (nproc), %s memory; %s; %s. The machine was shared with other work: its 1-minute load average was %.1f to %.1f during the run; the **CPU wait** column says how late this process got to run (below).\n\n", m.cpu, m.cores, m.memory, m.goVer, m.redis, loadLo, loadHi)
	p("Every server is a real `redis-server` on a free loopback port, started by the command, and every fault is real: signals to the server's process, a TCP proxy in the way, a Redis Cluster failover, busy processes. Each case: %d instances, each with its own go-redis client (`ContextTimeoutEnabled`), store and `core.Limiter`, as separate processes would have, share one key's quota of %d per %s (fixed window, which every mode meters alike). Each instance has %d callers sending one request every %s (%d/s in all, %.0f× the quota); a caller that waited does not catch up. The store runs at its defaults: a %s deadline per call, a breaker that opens after %d failures for a %s cool-down. When Redis cannot decide, each limiter falls back, by default, to its Redis store's own memory store holding its share of the limit, %d per window (`core.WithInstances(%d)`). Traffic starts as a window begins; the fault starts %s later, in the middle of the second window, and traffic goes on %s after it ends.\n\n",
		instances, rate, human(period), callers, human(interval), instances*callers*int(time.Second/interval), float64(instances*callers*int(time.Second/interval))/float64(rate),
		human(deadline), redisstore.DefaultBreakerFailures, human(cooldown), share(), instances, human(faultAt), human(after))

	p("## Headline\n\n")
	p("| target | measured | |\n|---|---|---|\n")
	var worst999, worstMax, worstRec result
	latMiss, redisMiss, fbMiss, recMiss, ansMiss, ansCases := 0, 0, 0, 0, 0, 0
	var overRedis, overLost, lostTotal, fbMax int64
	worstAns := 1.0
	ansBreaker := 0
	for i, r := range rs {
		if i == 0 || r.lat.p999 > worst999.lat.p999 {
			worst999 = r
		}
		if i == 0 || r.lat.max > worstMax.lat.max {
			worstMax = r
		}
		if r.fellBack && (worstRec.fault == "" || worstRec.recovered && (!r.recovered || r.rec > worstRec.rec)) {
			worstRec = r
		}
		if !r.latencyOK() {
			latMiss++
		}
		if !r.redisOK() {
			redisMiss++
		}
		if !r.fallbackOK() {
			fbMiss++
		}
		if !r.recoveryOK() {
			recMiss++
		}
		if r.answering {
			ansCases++
			worstAns = math.Min(worstAns, r.ansShare())
			ansBreaker += r.ansBreaker
			if !r.answersOK() {
				ansMiss++
			}
		}
		if r.loses {
			overLost += r.acc.overRedis
			lostTotal += r.lost
		} else {
			overRedis += r.acc.overRedis
		}
		fbMax = max(fbMax, r.acc.fallbackMax)
	}
	n := len(rs)
	p("| caller's wait: p99.9 ≤ deadline + 10 ms (%s) | worst p99.9 %s (%s, %s); worst max %s (%s, %s); %d of %d cases within | %s |\n",
		ms(deadline+10*time.Millisecond), ms(worst999.lat.p999), worst999.fault, worst999.mode, ms(worstMax.lat.max), worstMax.fault, worstMax.mode, n-latMiss, n, mark(latMiss == 0))
	p("| no over-admission by Redis' decisions; where the fault loses Redis' data, at most the state lost | %d over the quota where no data was lost; %d where it was, against %d lost; %d of %d cases within | %s |\n",
		overRedis, overLost, lostTotal, n-redisMiss, n, mark(redisMiss == 0))
	p("| fallback: each instance admits at most limit/instances (%d) per window while Redis cannot decide | at most %d by one instance in one window; %d of %d cases within | %s |\n",
		share(), fbMax, n-fbMiss, n, mark(fbMiss == 0))
	recWorst := "no instance fell back"
	if worstRec.fault != "" {
		recWorst = fmt.Sprintf("worst %s (%s, %s)", worstRec.recText(), worstRec.fault, worstRec.mode)
	}
	p("| Redis decides again within the breaker's cool-down + 1 s (%s) after the fault ends | %s; %d of %d cases within | %s |\n",
		human(cooldown+time.Second), recWorst, n-recMiss, n, mark(recMiss == 0))
	if ansCases > 0 {
		p("| while Redis answers within the deadline (latency, failover, CPU saturated, the instances not cut off): ≥ 99%% of decisions by Redis, the breaker never opens (issue 16, item 2) | worst %s by Redis; %d calls found the breaker open; %d of %d cases within | %s |\n",
			pct(worstAns), ansBreaker, ansCases-ansMiss, ansCases, mark(ansMiss == 0))
	}
	p("\n")

	p("## Every fault, every mode\n\n")
	p("| fault | mode | decisions | by Redis | p50 | p99 | p99.9 | max | CPU wait | admitted: Redis + fallback / quota | over by Redis (bound) | over by fallback | fallback, most per instance and window (share %d) | user errors | switches down / up | Redis decides again after | store errors |\n", share())
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		p("| %s | %s | %d | %s%s | %s | %s | %s%s | %s | %s | %d + %d / %d | %d (%d)%s | %d | %d%s | %d | %d / %d | %s%s | %s |\n",
			r.fault, r.mode, r.decisions, pct(r.share()), missMark(r.answersOK()), ms(r.lat.p50), ms(r.lat.p99), ms(r.lat.p999), missMark(r.latencyOK()), ms(r.lat.max), ms(r.late),
			r.acc.redis, r.acc.fallback, r.acc.quota, r.acc.overRedis, r.redisBound(), missMark(r.redisOK()), r.acc.overFallback,
			r.acc.fallbackMax, missMark(r.fallbackOK()), r.userErrs, r.down, r.up, r.recText(), missMark(r.recoveryOK()), kinds(r.errs))
	}
	p("\n❌ marks a missed target.\n\n")
	p("- **decisions**: calls to `Limiter.Take` in the case, all instances; **by Redis**: the share Redis decided (❌ where the fault left Redis answering and it fell short of 99%%, or the breaker opened); **p50 … max**: how long the caller waited for each, whoever decided.\n")
	p("- **CPU wait**: how late a goroutine of this process that sleeps 1 ms at a time woke up, at worst, during the case: time the process waited for a CPU, which every call in flight then waited too.\n")
	p("- **admitted**: requests admitted, by who decided: Redis (in lease mode, from tokens Redis granted) or the fallback (`Event.Fallback`, with `Event.Err` set, from `core.WithHook`); **quota**: %d for each window the case spanned. Redis' decisions are placed in their window by their own `ResetAfter` (Redis' clock), the fallback's by when they were made.\n", rate)
	p("- **over by Redis**: in each window, what Redis' decisions admitted beyond the quota, summed; the bound is 0, or the window's count Redis lost (read, with writes paused, just before the kill). **over by fallback**: the rest of each window's excess over the quota, which the fallback's decisions made: the documented price of deciding locally.\n")
	p("- **fallback, most per instance and window**: the most one instance's fallback admitted in one window; the documented bound is its share, limit/instances.\n")
	p("- **user errors**: requests an HTTP adapter would answer with an error (503), because neither Redis nor the fallback decided. **switches**: calls of the failover hook (`core.WithFailoverHook`), down to the fallback and back up, all instances.\n")
	p("- **Redis decides again after**: from the fault's end until every instance that fell back has a decision from Redis again (after its last fallback decision); — when none fell back. **store errors**: the errors the store returned, by kind; each became a fallback decision.\n\n")

	p("## The faults\n\n")
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.fault] {
			continue
		}
		seen[r.fault] = true
		for _, f := range faults {
			if f.name == r.fault {
				p("- **%s** (lasted %.2f s in its last case): %s\n", f.name, r.faultFor.Seconds(), f.what)
			}
		}
	}
	p("\nModes: **consistent**, one Redis script call per decision (`redisstore.New`); **batched**, concurrent decisions sent together (`redisstore.WithBatching(%d, 0)`, %d senders); **lease**, tokens granted by Redis in batches and spent locally (`redisstore.NewLeased`, default `LeaseConfig`).\n\n", redisstore.DefaultBatchSize, redisstore.DefaultBatchSenders)

	p("## Missed targets\n\n")
	missed := false
	for _, r := range rs {
		var why []string
		if !r.latencyOK() {
			why = append(why, fmt.Sprintf("p99.9 of the caller's wait %s, over %s; the calls over it: %s.", ms(r.lat.p999), ms(deadline+10*time.Millisecond), r.slow))
		}
		if !r.redisOK() {
			why = append(why, fmt.Sprintf("Redis' decisions admitted %d over the quota (bound %d).", r.acc.overRedis, r.redisBound()))
		}
		if !r.fallbackOK() {
			why = append(why, fmt.Sprintf("one instance's fallback admitted %d in one window, over its share %d.", r.acc.fallbackMax, share()))
		}
		if !r.recoveryOK() {
			why = append(why, fmt.Sprintf("Redis decided again %s after the fault ended, over %s; store errors after the end: %s.", r.recText(), human(cooldown+time.Second), kinds(r.tail)))
		}
		if !r.answersOK() {
			why = append(why, fmt.Sprintf("Redis kept answering, yet decided %s of its instances' calls, and %d found the breaker open.", pct(r.ansShare()), r.ansBreaker))
		}
		if len(why) == 0 {
			continue
		}
		missed = true
		p("- **%s, %s**: %s", r.fault, r.mode, strings.Join(why, " "))
		if e := explain(r); e != "" {
			p(" Why: %s", e)
		}
		p("\n")
	}
	if !missed {
		p("None.\n")
	}
	return b.String()
}

// explain says why a case missed a target, from what it measured.
func explain(r result) string {
	var why []string
	starved := r.late >= 50*time.Millisecond
	if starved {
		why = append(why, fmt.Sprintf("This process waited up to %s for a CPU during the case (load average %.1f on %d cores), and every call in flight waited with it.", ms(r.late), r.load, runtime.NumCPU()))
	}
	if !r.latencyOK() && r.mode == "lease" && !starved {
		why = append(why, "In lease mode a caller that finds a grant in flight (a background refill's, or another caller's) waits for it; when that grant fails, the waiters do not take its error but try again, one asking Redis while the others wait for it (stores/redisstore/lease.go, takeLeased): a wait is what was left of the first grant plus a whole deadline for each further failed grant, until the breaker opens.")
	}
	if !r.answersOK() && r.errs["timeout"] > 0 && r.dials > 0 {
		why = append(why, fmt.Sprintf("%d connections were dialled during the fault. Slower round trips keep connections busy longer, so the pool grows; a call on a new connection pays two round trips (go-redis' HELLO, then the script), past the 100 ms deadline at +50 ms; it times out, go-redis drops the connection, and the next call dials again: the pool churn issue 16, item 2, names.", r.dials))
	}
	if !r.answersOK() && r.mode == "batched" && r.errs["timeout"] > 0 && r.dials > 0 {
		why = append(why, fmt.Sprintf("In batched mode a call also waits for a free sender (%d per store, for %d callers per instance here), then for its round trip.", redisstore.DefaultBatchSenders, callers))
	}
	if !r.answersOK() && !starved && r.dials == 0 {
		why = append(why, "Calls missed the deadline though Redis answered, and the process was not starved.")
	}
	if !r.fallbackOK() && starved {
		why = append(why, "The fallback store reads a coarse clock that lags real time when its process is starved; its windows then shift against the wall clock's, so one wall-clock window holds parts of two of its windows.")
	}
	if !r.redisOK() && !r.loses {
		why = append(why, "Not explained: this would be a bug in the store.")
	}
	if !r.recoveryOK() && !starved {
		why = append(why, "Not explained by the process being starved.")
	}
	return strings.Join(why, " ")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "redis-server"
	}
	for _, x := range strings.Fields(string(out)) {
		if strings.HasPrefix(x, "v=") {
			return "redis-server " + strings.TrimPrefix(x, "v=")
		}
	}
	return strings.TrimSpace(string(out))
}

// loadAverage is the system's 1-minute load average, or 0 where unknown.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
