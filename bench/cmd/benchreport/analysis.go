package main

import (
	"cmp"
	"slices"
	"strings"
)

// Library names with a role in the report.
const (
	baselineLib  = "tollgate"            // every ratio is against it
	bareLib      = "bare"                // a router without any limiter
	incrLib      = "go-redis-incr"       // one bare INCR round trip
	redisRateLib = "go-redis-redis_rate" // the Redis peer of the first goal
	batchedLib   = "tollgate-batched"    // the Redis store with batching on
	limitedLib   = "limited"             // an adapter's benchmark with the middleware
)

const (
	unitNS     = "ns/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
	unitPerKey = "B/key"
)

// The headline's goals (issue 20), each on a per-round statistic.
var (
	goalRedisRate   = goal{target: 1.0, atLeast: true}   // tollgate decisions/s ÷ redis_rate's
	goalBatchSerial = goal{target: 1.05, atLeast: false} // batched ns/op ÷ unbatched ns/op, serially
	goalBatchIncr   = goal{target: 1.5, atLeast: true}   // batched decisions/s ÷ bare INCR ops/s
	goalMemSpeedup  = goal{target: 1.5, atLeast: true}   // fastest quota-keeping peer's ns/op ÷ tollgate's
	goalPerKey      = goal{target: 1.0, atLeast: false}  // tollgate's B/key ÷ the fastest peer's
	goalMiddleware  = goal{target: 300, atLeast: false}  // ns/op the middleware adds to a bare route
)

// isPeer reports whether lib is another rate limiter to compare with:
// tollgate's own variants (tollgate-system-clock), the bare router and the
// bare INCR are references shown for transparency, not competitors.
func isPeer(lib string) bool {
	return !strings.HasPrefix(lib, baselineLib) && lib != bareLib && lib != incrLib
}

// storeFor names the accuracy store whose results apply to a group.
func storeFor(group string) string {
	switch group {
	case "Memory", "MemoryPerKey", "Middleware", "EchoMiddleware":
		return "memory"
	case "Redis", "RedisCluster":
		return "redis"
	}
	if strings.Contains(strings.ToLower(group), "redis") {
		return "redis"
	}
	return ""
}

// sortedRows returns w's rows by ascending median of unit; rows without it
// go last. Ties go by name so the order never depends on input order.
func sortedRows(rows []*row, unit string) []*row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b *row) int {
		av, aok := a.value(unit)
		bv, bok := b.value(unit)
		switch {
		case aok && !bok:
			return -1
		case !aok && bok:
			return 1
		case aok && bok && av != bv:
			return cmp.Compare(av, bv)
		}
		return strings.Compare(a.lib, b.lib)
	})
	return out
}

// pairCheck decides g on f(a's run, b's run) of unit, round by round.
// A missing row or unit is noData, naming what is missing.
func pairCheck(g goal, a, b *row, aName, bName, unit string, f func(a, b float64) float64) check {
	as, bs := a.sample(unit), b.sample(unit)
	switch {
	case len(as) == 0:
		return absent(g, aName)
	case len(bs) == 0:
		return absent(g, bName)
	}
	return decide(g, paired(as, bs, f))
}

// memHeadline is tollgate against the fastest peer in one memory workload.
type memHeadline struct {
	workload    string
	tollgate    *row
	fastest     *row    // the fastest peer, by median
	fastestKept *row    // the fastest peer that keeps its quota
	anySpeedup  float64 // the median speed-up against fastest, when it is not fastestKept
	allocs      float64 // tollgate's most allocs/op in any run
	// speed is the speed-up (peer's ns/op ÷ tollgate's, per round)
	// against fastestKept; its outcome is missed whatever the speed when
	// tollgate allocates.
	speed check
}

// allocates reports whether some run of tollgate allocated.
func (h memHeadline) allocates() bool { return h.allocs > 0 }

func memoryHeadlines(d *rawData, acc *accuracySet) []memHeadline {
	g := d.group("Memory")
	if g == nil {
		return nil
	}
	var out []memHeadline
	for _, w := range g.workloads {
		h := memHeadline{workload: w.name, tollgate: w.lib(baselineLib)}
		for _, r := range sortedRows(w.rows, unitNS) {
			if _, ok := r.value(unitNS); !ok || !isPeer(r.lib) {
				continue
			}
			if h.fastest == nil {
				h.fastest = r
			}
			if _, over := acc.overQuota("memory", r.lib); !over {
				h.fastestKept = r
				break
			}
		}
		kept := "quota-keeping peer"
		if h.fastestKept != nil {
			kept = h.fastestKept.lib
		}
		h.speed = pairCheck(goalMemSpeedup, h.fastestKept, h.tollgate, kept, baselineLib, unitNS, ratio)
		if h.fastest != nil && h.fastest != h.fastestKept && h.tollgate != nil {
			h.anySpeedup = medianCI(paired(h.fastest.sample(unitNS), h.tollgate.sample(unitNS), ratio), confidence).median
		}
		for _, v := range h.tollgate.sample(unitAllocs) {
			h.allocs = max(h.allocs, v)
		}
		if h.allocates() && h.speed.outcome != noData {
			h.speed.outcome = missed
		}
		out = append(out, h)
	}
	return out
}

// perKeyHeadline is tollgate's heap per key against one peer's.
type perKeyHeadline struct {
	peer            string
	tollgate, peerB float64 // medians of B/key
	check                   // tollgate's B/key ÷ the peer's, run by run
}

// perKeyHeadlines compares tollgate's B/key with that of each peer that
// is the fastest quota-keeping one in some memory workload: "the fastest
// peer" may differ between workloads, and the goal holds for each.
func perKeyHeadlines(d *rawData, mem []memHeadline) []perKeyHeadline {
	g := d.group("MemoryPerKey")
	if g == nil || len(g.workloads) == 0 {
		return nil
	}
	w := g.workloads[0]
	var out []perKeyHeadline
	var seen []string
	for _, m := range mem {
		if m.fastestKept == nil || slices.Contains(seen, m.fastestKept.lib) {
			continue
		}
		peer := m.fastestKept.lib
		seen = append(seen, peer)
		h := perKeyHeadline{peer: peer, check: pairCheck(goalPerKey, w.lib(baselineLib), w.lib(peer), baselineLib, peer, unitPerKey, ratio)}
		h.tollgate, _ = w.lib(baselineLib).value(unitPerKey)
		h.peerB, _ = w.lib(peer).value(unitPerKey)
		out = append(out, h)
	}
	return out
}

// redisRateHeadline is tollgate's consistent mode against redis_rate in
// one Redis workload.
type redisRateHeadline struct {
	workload         string
	cluster          bool // BenchmarkRedisCluster's, shown beside
	informative      bool // shown, but not one of the goals
	tollgateNS, rate float64
	check            // redis_rate's ns/op ÷ tollgate's, per round
}

// redisWorkloads are the Redis workloads of the first goal, in order;
// the denied one is shown for information.
var redisWorkloads = []struct {
	name        string
	informative bool
}{
	{"serial-one-key", false},
	{"parallel64-one-key", false},
	{"parallel64-100k-keys", false},
	{"parallel64-one-key-denied", true},
}

// redisGroups are the Redis benchmarks the Redis goals read: the goals
// are on a standalone server; a Cluster's rows are shown for information
// (batching becomes the default only if it holds on both).
var redisGroups = []struct {
	name    string
	cluster bool
}{
	{"Redis", false},
	{"RedisCluster", true},
}

func redisRateHeadlines(d *rawData) []redisRateHeadline {
	var out []redisRateHeadline
	for _, rg := range redisGroups {
		g := d.group(rg.name)
		if g == nil {
			continue
		}
		for _, rw := range redisWorkloads {
			h := redisRateHeadline{workload: rw.name, cluster: rg.cluster, informative: rw.informative || rg.cluster}
			w := g.workload(rw.name)
			if w == nil {
				h.check = absent(goalRedisRate, rw.name)
				out = append(out, h)
				continue
			}
			h.tollgateNS, _ = w.lib(baselineLib).value(unitNS)
			h.rate, _ = w.lib(redisRateLib).value(unitNS)
			h.check = pairCheck(goalRedisRate, w.lib(redisRateLib), w.lib(baselineLib), redisRateLib, baselineLib, unitNS, ratio)
			out = append(out, h)
		}
	}
	return out
}

// batchHeadline is one batching goal in one Redis workload.
type batchHeadline struct {
	workload    string
	serial      bool // the serial goal (else the goal against INCR)
	cluster     bool // BenchmarkRedisCluster's, shown beside
	informative bool
	check
}

func batchHeadlines(d *rawData) []batchHeadline {
	var out []batchHeadline
	for _, rg := range redisGroups {
		g := d.group(rg.name)
		if g == nil {
			continue
		}
		for _, name := range []string{"serial-one-key", "parallel64-one-key", "parallel64-100k-keys"} {
			serial := name == "serial-one-key"
			gl := goalBatchIncr
			if serial {
				gl = goalBatchSerial
			}
			h := batchHeadline{workload: name, serial: serial, cluster: rg.cluster, informative: rg.cluster}
			switch w := g.workload(name); {
			case w == nil:
				h.check = absent(gl, name)
			case serial:
				h.check = pairCheck(gl, w.lib(batchedLib), w.lib(baselineLib), batchedLib, baselineLib, unitNS, ratio)
			default:
				h.check = pairCheck(gl, w.lib(incrLib), w.lib(batchedLib), incrLib, batchedLib, unitNS, ratio)
			}
			out = append(out, h)
		}
	}
	return out
}

// adapter is one of tollgate's HTTP adapters, as its module's benchmark
// (adaptertest.Benchmark) names it.
type adapter struct {
	group  string // the benchmark's name without "Benchmark"
	title  string
	module string
}

// adapters are every adapter the middleware goal covers.
var adapters = []adapter{
	{"Chi", "chi", "chimw"},
	{"Gin", "gin", "ginmw"},
	{"Echo", "echo v4", "echomw"},
	{"Echo5", "echo v5", "echo5mw"},
}

// mwHeadline is what the middleware adds to a bare route serially, with
// every header field on, in one adapter.
type mwHeadline struct {
	adapter     string
	bench       string // the benchmark measured
	informative bool   // the bench module's harness: shown beside, no goal
	bareNS      float64
	limitedNS   float64
	allocsAdded float64 // median allocs/op with the middleware minus without
	allocsOK    bool
	check       // limited − bare ns/op, per round
}

// middlewareHeadlines reads each adapter's own benchmark (sub-benchmarks
// bare and limited) from ad, which may be nil, and shows beside them the
// bench module's chi and echo routers, tollgate against bare, serially.
func middlewareHeadlines(d, ad *rawData) []mwHeadline {
	var out []mwHeadline
	for _, a := range adapters {
		h := mwHeadline{adapter: a.title, bench: a.module + ": Benchmark" + a.group + "/{bare,limited}"}
		var w *workload
		if ad != nil {
			if g := ad.group(a.group); g != nil {
				for _, gw := range g.workloads {
					if gw.lib(bareLib) != nil && gw.lib(limitedLib) != nil {
						w = gw
						break
					}
				}
			}
		}
		if w == nil {
			h.check = absent(goalMiddleware, "Benchmark"+a.group)
		} else {
			h.fill(w.lib(limitedLib), w.lib(bareLib), limitedLib)
		}
		out = append(out, h)
	}
	for _, m := range []struct{ group, title string }{{"Middleware", "chi"}, {"EchoMiddleware", "echo v4"}} {
		g := d.group(m.group)
		if g == nil {
			continue
		}
		h := mwHeadline{adapter: m.title, bench: "bench: Benchmark" + m.group + "/w=serial-one-client", informative: true}
		if w := g.workload("serial-one-client"); w == nil {
			h.check = absent(goalMiddleware, "serial-one-client")
		} else {
			h.fill(w.lib(baselineLib), w.lib(bareLib), baselineLib)
		}
		out = append(out, h)
	}
	return out
}

func (h *mwHeadline) fill(limited, bare *row, limitedName string) {
	h.limitedNS, _ = limited.value(unitNS)
	h.bareNS, _ = bare.value(unitNS)
	la, lok := limited.value(unitAllocs)
	ba, bok := bare.value(unitAllocs)
	h.allocsAdded, h.allocsOK = la-ba, lok && bok
	h.check = pairCheck(goalMiddleware, limited, bare, limitedName, bareLib, unitNS, minus)
}

// redisHeadline is tollgate's decisions/s as a fraction of bare INCR
// round trips/s in one Redis workload, for the notes under its table.
type redisHeadline struct {
	tollgateNS float64
	incrNS     float64
	ratio      float64 // incrNS / tollgateNS
	ok         bool
}

// incrRatio compares tollgate with the bare INCR in one Redis workload.
func incrRatio(w *workload) redisHeadline {
	var h redisHeadline
	t, tok := w.lib(baselineLib).value(unitNS)
	i, iok := w.lib(incrLib).value(unitNS)
	if tok && iok && t > 0 && i > 0 {
		h.tollgateNS, h.incrNS, h.ratio, h.ok = t, i, i/t, true
	}
	return h
}

// overAdmitters lists, per store, the peers whose accuracy lines show them
// admitting more than the quota.
func overAdmitters(acc *accuracySet) []accuracy {
	var out []accuracy
	for _, store := range acc.stores() {
		var seen []string
		for _, a := range acc.byStore(store) {
			if slices.Contains(seen, a.Lib) {
				continue
			}
			if worst, over := acc.overQuota(store, a.Lib); over {
				out = append(out, worst)
				seen = append(seen, a.Lib)
			}
		}
	}
	return out
}
