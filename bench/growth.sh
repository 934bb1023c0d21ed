#!/usr/bin/env bash
# Measures how the cost of a decision grows (bench/growth_test.go) and writes
# docs/GROWTH.md with its plots, docs/growth-{keys,callers,limits,rules}.svg,
# and the raw results in docs/bench/growth-raw.txt. `make bench-growth` calls
# it, and so does bench/run.sh (`make bench`) unless GROWTH=0. redis-server
# must be installed (the benchmarks start their own on a free port).
#
# Every point is measured once a round, GROWTH_ROUNDS rounds of one
# `go test -count 1` over all four sweeps, so that the libraries compared at a
# point are measured minutes apart at most, in every round; the page plots the
# medians. Points above 1,000,000 keys are measured in the first
# GROWTH_BIG_ROUNDS rounds only: giving 10,000,000 keys state takes each
# library tens of seconds, and a collection over its heap as long again.
#
#   GROWTH_ROUNDS          rounds (default 3)
#   GROWTH_BIG_ROUNDS      rounds that measure more than 1,000,000 keys (default 1)
#   GROWTH_TIME            -benchtime of each point (default 100ms)
#   GROWTH_MAX_KEYS        most keys held in memory (default 10,000,000)
#   GROWTH_MAX_REDIS_KEYS  most keys held in Redis (default 10,000,000)
#   GROWTH_MAX_RULES       most rules (default 10,000)
#   GROWTH_MAX_CALLERS     most concurrent callers (default 256)
#   GROWTH_FILTER          which points (a -bench regexp; default: all four sweeps)
#   GROWTH_REPORT=1        only regenerate the page from docs/bench/growth-raw.txt
set -euo pipefail

cd "$(dirname "$0")"
rounds=${GROWTH_ROUNDS:-3}
big=${GROWTH_BIG_ROUNDS:-1}
benchtime=${GROWTH_TIME:-100ms}
filter=${GROWTH_FILTER:-'^BenchmarkGrowth(Keys|Callers|Limits|Rules)$'}
max_keys=${GROWTH_MAX_KEYS:-10000000}
max_redis=${GROWTH_MAX_REDIS_KEYS:-10000000}
export GROWTH_MAX_RULES=${GROWTH_MAX_RULES:-10000}
export GROWTH_MAX_CALLERS=${GROWTH_MAX_CALLERS:-256}
export GOWORK=off
out=../docs/bench
mkdir -p "$out"

gotest=(go test -run '^$' -bench "$filter" -benchmem -count 1 -benchtime "$benchtime" -timeout 120m .)
knobs="GROWTH_MAX_RULES=$GROWTH_MAX_RULES GROWTH_MAX_CALLERS=$GROWTH_MAX_CALLERS"
# keys: the key knobs of a round.
keys() {
	if [ "$1" -le "$big" ]; then
		echo "GROWTH_MAX_KEYS=$max_keys GROWTH_MAX_REDIS_KEYS=$max_redis"
	else
		echo "GROWTH_MAX_KEYS=$(( max_keys < 1000000 ? max_keys : 1000000 )) GROWTH_MAX_REDIS_KEYS=$(( max_redis < 1000000 ? max_redis : 1000000 ))"
	fi
}

if [ "${GROWTH_REPORT:-}" != 1 ]; then
	: > "$out/growth-raw.txt"
	start=$(date +%s)
	for round in $(seq "$rounds"); do
		echo "== growth round $round of $rounds: $(keys "$round") $knobs ${gotest[*]}"
		env $(keys "$round") "${gotest[@]}" | tee -a "$out/growth-raw.txt"
	done
	echo "== growth: $rounds rounds in $(( $(date +%s) - start ))s"
fi

# The command lines as the page shows them, the regexp quoted for a shell.
shown="go test -run '^\$' -bench '$filter' -benchmem -count 1 -benchtime $benchtime -timeout 120m ."
if [ "$rounds" -le "$big" ] || [ "$(keys 1)" = "$(keys $(( big + 1 )))" ]; then
	lines="cd bench && for round in \$(seq $rounds); do GOWORK=off $(keys 1) $knobs $shown; done"
else
	lines="cd bench && for round in \$(seq $big); do GOWORK=off $(keys 1) $knobs $shown; done
cd bench && for round in \$(seq $(( big + 1 )) $rounds); do GOWORK=off $(keys $(( big + 1 ))) $knobs $shown; done"
fi
go run ./cmd/growth -raw "$out/growth-raw.txt" -outdir ../docs -command "make bench-growth" -gotest "$lines"
