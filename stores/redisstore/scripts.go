package redisstore

import (
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// script is one algorithm's Lua source and its SHA-1, for EVALSHA.
type script struct {
	src string
	sha string
}

var (
	//go:embed lua/prelude.lua
	prelude string
	//go:embed lua/helpers.lua
	helpers string
	//go:embed lua/multi.lua
	multiLua string
	//go:embed lua/multigcra.lua
	multiGCRALua string
	//go:embed lua/grant.lua
	grantLua string
	//go:embed lua/batchgcra.lua
	batchGCRALua string
	//go:embed lua/gcra.lua
	gcraLua string
	//go:embed lua/tokenbucket.lua
	tokenBucketLua string
	//go:embed lua/fixedwindow.lua
	fixedWindowLua string
	//go:embed lua/slidingcounter.lua
	slidingCounterLua string
	//go:embed lua/slidinglog.lua
	slidingLogLua string
	//go:embed lua/settle_gcra.lua
	settleGCRALua string
	//go:embed lua/settle_tokenbucket.lua
	settleTokenBucketLua string
	//go:embed lua/settle_fixedwindow.lua
	settleFixedWindowLua string
	//go:embed lua/settle_slidingcounter.lua
	settleSlidingCounterLua string
	//go:embed lua/settle_slidinglog.lua
	settleSlidingLogLua string
)

// decideMark ends the part of an algorithm's script that reads the key's
// state; what follows decides.
const decideMark = "-- decide: the state is read; settle scripts run their part here.\n"

// settleScripts holds each algorithm's settlement (Store.Settle), indexed
// by core.Algorithm: the algorithm's script up to its decideMark, which
// reads the state; the settlement, whose cost is the delta and which
// writes; then the whole script again with cost 0, reading what was
// written, so that the reply is a peek's. ARGV is the take's.
var settleScripts = func() [5]script {
	var s [5]script
	for alg, pair := range map[core.Algorithm][2]string{
		core.GCRA:                 {gcraLua, settleGCRALua},
		core.TokenBucket:          {tokenBucketLua, settleTokenBucketLua},
		core.FixedWindow:          {fixedWindowLua, settleFixedWindowLua},
		core.SlidingWindowCounter: {slidingCounterLua, settleSlidingCounterLua},
		core.SlidingWindowLog:     {slidingLogLua, settleSlidingLogLua},
	} {
		body, settle := pair[0], pair[1]
		i := strings.Index(body, decideMark)
		if i < 0 {
			panic("redisstore: the " + alg.String() + " script has no decide mark")
		}
		src := prelude + helpers + body[:i] + settle + "cost = 0\n" + body
		sum := sha1.Sum([]byte(src))
		s[alg] = script{src: src, sha: hex.EncodeToString(sum[:])}
	}
	return s
}()

// scripts holds each algorithm's script, indexed by core.Algorithm.
var scripts = func() [5]script {
	var s [5]script
	for alg, body := range map[core.Algorithm]string{
		core.GCRA:                 gcraLua,
		core.TokenBucket:          tokenBucketLua,
		core.FixedWindow:          fixedWindowLua,
		core.SlidingWindowCounter: slidingCounterLua,
		core.SlidingWindowLog:     slidingLogLua,
	} {
		src := prelude + helpers + body
		if alg == core.GCRA {
			src = prelude + body
		}
		sum := sha1.Sum([]byte(src))
		s[alg] = script{src: src, sha: hex.EncodeToString(sum[:])}
	}
	return s
}()

// multiScript runs several takes in one step: each algorithm's script made
// a local function alg<N>(redis, key, cost, ARGV) of the core.Algorithm's
// value, then lua/multi.lua, which calls them. The functions' parameters
// stand for the prelude's key and cost and for ARGV, so the scripts run as
// they are, on the take's key, and with the redis they are given.
var multiScript = func() script {
	bodies := [5]string{
		core.GCRA:                 gcraLua,
		core.TokenBucket:          helpers + tokenBucketLua,
		core.FixedWindow:          helpers + fixedWindowLua,
		core.SlidingWindowCounter: helpers + slidingCounterLua,
		core.SlidingWindowLog:     helpers + slidingLogLua,
	}
	src := prelude
	for alg, body := range bodies {
		src += "local function alg" + strconv.Itoa(alg) + "(redis, key, cost, ARGV)\n" + body + "\nend\n"
	}
	src += multiLua
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}()

// multiGCRAScript runs several GCRA takes in one step, the common case,
// with none of multiScript's machinery: it reads and decides each state,
// then writes them all or none.
var multiGCRAScript = func() script {
	src := prelude + multiGCRALua
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}()

// batchGCRAScript runs the independent GCRA decisions of a batch in one
// call (batch.go): gcra.lua made a function, called once per decision. Its
// head stands in for the prelude: now and grace, which the function reads.
var batchGCRAScript = func() script {
	src := "local now\nlocal grace = tonumber(ARGV[3])\n" +
		"local function alg0(redis, key, cost, ARGV)\n" + gcraLua + "\nend\n" + batchGCRALua
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}()

// grantScript hands out up to n tokens of a fixed window (lease mode).
var grantScript = func() script {
	src := prelude + helpers + grantLua
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}()

// maxValue bounds every duration (in microseconds) and count a script keeps,
// so that sums of two of them and the current time stay below 2^53, where
// Lua's doubles are exact integers: 2^50 µs is about 35 years.
const maxValue = 1 << 50

// params are the numbers a script needs besides the time and the cost: the
// limit in microseconds, reduced as the script expects.
type params struct {
	burst int64 // the cost above which a request is too costly
	args  [3]int64
	nargs int
}

// paramsOf checks that limit can be enforced by the scripts and returns their
// parameters. The error is a *core.LimitError naming the field.
func paramsOf(l core.Limit) (params, error) {
	if err := l.Validate(); err != nil {
		return params{}, err
	}
	if l.Period%time.Microsecond != 0 {
		return params{}, &core.LimitError{Field: "period", Value: l.Period.String(), Reason: "the Redis store keeps time in microseconds: use a whole number of them"}
	}
	period, rate, burst := int64(l.Period/time.Microsecond), l.Rate, l.EffectiveBurst()
	tooBig := func(field string, v int64, what string) error {
		return &core.LimitError{Field: field, Value: strconv.FormatInt(v, 10), Reason: what + " exceeds 2^50, the largest the Redis store's scripts compute exactly"}
	}
	if period > maxValue {
		return params{}, &core.LimitError{Field: "period", Value: l.Period.String(), Reason: "longer than 2^50 microseconds (35 years)"}
	}
	switch l.Algorithm {
	case core.GCRA, core.TokenBucket:
		if period < rate {
			return params{}, &core.LimitError{Field: "rate", Value: strconv.FormatInt(rate, 10), Reason: "more than one event per microsecond of period " + l.Period.String() + ", the Redis store's resolution"}
		}
		if l.Algorithm == core.GCRA {
			t := (period + rate - 1) / rate
			if hi, lo := bits.Mul64(uint64(burst), uint64(t)); hi != 0 || lo > maxValue {
				return params{}, tooBig("burst", burst, "burst × emission interval in microseconds")
			}
			return params{burst: burst, args: [3]int64{t, burst}, nargs: 2}, nil
		}
		g := gcd(period, rate)
		if hi, lo := bits.Mul64(uint64(burst), uint64(period/g)); hi != 0 || lo > maxValue {
			return params{}, tooBig("burst", burst, "burst × period / gcd(period in microseconds, rate)")
		}
		return params{burst: burst, args: [3]int64{period / g, rate / g, burst}, nargs: 3}, nil
	default:
		if rate > maxValue {
			return params{}, tooBig("rate", rate, "rate")
		}
		return params{burst: rate, args: [3]int64{period, rate}, nargs: 2}, nil
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
