package main

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Library names with a role in the report.
const (
	baselineLib = "tollgate"      // every ratio is against it
	bareLib     = "bare"          // a router without any limiter
	incrLib     = "go-redis-incr" // one bare INCR round trip
)

const (
	unitNS     = "ns/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
	unitPerKey = "B/key"
)

// Headline targets.
const (
	targetSpeedup   = 1.5 // × the fastest quota-keeping peer, in memory
	targetAddAllocs = 2   // allocs/op tollgate's middleware adds to a request
	targetIncrRatio = 0.9 // tollgate decisions/s ÷ bare INCR ops/s
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
	case "Redis":
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

// memHeadline is tollgate against the fastest peer in one memory workload.
type memHeadline struct {
	workload    string
	tollgate    *row
	fastest     *row // the fastest peer
	fastestKept *row // the fastest peer that keeps its quota
	speedup     float64
	anySpeedup  float64 // against fastest, when it is not fastestKept
	met         bool
}

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
		tns, tok := h.tollgate.value(unitNS)
		if tok && tns > 0 {
			if v, ok := h.fastestKept.value(unitNS); ok {
				h.speedup = v / tns
			}
			if v, ok := h.fastest.value(unitNS); ok {
				h.anySpeedup = v / tns
			}
			allocs, aok := h.tollgate.value(unitAllocs)
			h.met = h.fastestKept != nil && h.speedup >= targetSpeedup && aok && allocs == 0
		}
		out = append(out, h)
	}
	return out
}

// mwHeadline is the most allocs/op tollgate's middleware adds over the bare
// router, across one router's workloads.
type mwHeadline struct {
	group    string
	workload string // where the most is added
	added    float64
	ok       bool // some workload had both tollgate and bare allocs
	met      bool
}

func middlewareHeadlines(d *rawData) []mwHeadline {
	var out []mwHeadline
	for _, name := range []string{"Middleware", "EchoMiddleware"} {
		g := d.group(name)
		if g == nil {
			continue
		}
		h := mwHeadline{group: name, added: math.Inf(-1)}
		for _, w := range g.workloads {
			t, tok := w.lib(baselineLib).value(unitAllocs)
			b, bok := w.lib(bareLib).value(unitAllocs)
			if tok && bok && t-b > h.added {
				h.workload, h.added, h.ok = w.name, t-b, true
			}
		}
		h.met = h.ok && h.added <= targetAddAllocs
		out = append(out, h)
	}
	return out
}

// redisHeadline is tollgate's decisions/s as a fraction of bare INCR
// round trips/s in one 64-caller Redis workload.
type redisHeadline struct {
	workload       string
	tollgateNS     float64
	incrNS         float64
	ratio          float64 // incrNS / tollgateNS
	ok, met        bool
	tollgateMissed bool // which side is missing, for the message
}

func redisHeadlines(d *rawData) []redisHeadline {
	g := d.group("Redis")
	if g == nil {
		return nil
	}
	var out []redisHeadline
	for _, w := range g.workloads {
		if !strings.HasPrefix(w.name, "parallel64") {
			continue
		}
		out = append(out, incrRatio(w))
	}
	return out
}

// incrRatio compares tollgate with the bare INCR in one Redis workload.
func incrRatio(w *workload) redisHeadline {
	h := redisHeadline{workload: w.name}
	t, tok := w.lib(baselineLib).value(unitNS)
	i, iok := w.lib(incrLib).value(unitNS)
	h.tollgateMissed = !tok
	if tok && iok && t > 0 && i > 0 {
		h.tollgateNS, h.incrNS, h.ratio, h.ok = t, i, i/t, true
		h.met = h.ratio >= targetIncrRatio
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
