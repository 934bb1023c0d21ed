#!/usr/bin/env bash
# Runs tollgate's benchmarks beside its peers' and writes docs/BENCHMARKS.md
# (with docs/benchmarks.svg and the raw results in docs/bench/). `make bench`
# calls it; redis-server must be installed (the Redis benchmarks start their
# own on a free port).
#
# Each benchmark runs BENCH_COUNT times (10): as BENCH_COUNT rounds of
# `go test -count 1` over every benchmark, not one `go test -count 6`. With
# -count 6 a benchmark's six runs follow each other, so each library is
# measured in its own minute, and on these VMs the same parallel benchmark
# moved by up to 2x between minutes (docs/bench/ of a -count 6 run showed
# one library at 165 ns in its minute and 94 ns later). In rounds, every
# library of a workload is measured within seconds of the others, six
# times over; benchstat reads the six samples as it reads -count 6's.
# The headline pairs the runs of each round (round i of tollgate against
# round i of a peer) and decides a goal from at least 10 rounds.
#
# Each round also runs the adapter modules' own middleware benchmarks
# (BenchmarkChi, BenchmarkGin, BenchmarkEcho, BenchmarkEcho5: the bare
# route and the limited one) into docs/bench/adapters.txt, for the
# headline's middleware goal.
#
#   BENCH_COUNT      rounds, so samples of each benchmark (default 10; fewer
#                    leave the headline's goals undecided)
#   BENCH_TIME       -benchtime of each run (default 500ms)
#   BENCH_FILTER     which benchmarks (a -bench regexp; default: all)
#   BENCH_ADAPTERS=0 skip the adapter modules' benchmarks
#   PERKEY_COUNT     runs of the memory-per-key benchmark (default BENCH_COUNT;
#                    its bytes per key hardly vary, and 10 runs take minutes)
#   BENCH_REPORT=1   only summarise the results already in docs/bench/
#   GROWTH=0         skip growth.sh (docs/GROWTH.md: how each cost grows),
#                    which otherwise runs last, with its own knobs (GROWTH_*)
set -euo pipefail

cd "$(dirname "$0")"
count=${BENCH_COUNT:-10}
benchtime=${BENCH_TIME:-500ms}
filter=${BENCH_FILTER:-'^(BenchmarkMemory|BenchmarkMiddleware|BenchmarkEchoMiddleware|BenchmarkRedis|BenchmarkRedisCluster)$'}
out=../docs/bench
mkdir -p "$out"
export GOWORK=off

gotest=(go test -run '^$' -bench "$filter" -benchmem -count 1 -benchtime "$benchtime" -timeout 60m .)
adaptermods=(chimw ginmw echomw echo5mw)
adapterbench=(go test -run '^$' -bench '^Benchmark(Chi|Gin|Echo|Echo5)$/^(bare|limited)$' -benchmem -count 1 -benchtime "$benchtime" .)
adapters=${BENCH_ADAPTERS:-1}
perkey=(go test -run '^$' -bench '^BenchmarkMemoryPerKey$' -benchtime 1x -count "${PERKEY_COUNT:-$count}" -timeout 30m .)
accuracy=(go test -run '^TestAccuracy$' -count 1 -v .)

if [ "${BENCH_REPORT:-}" != 1 ]; then
	: > "$out/raw.txt"
	if [ "$adapters" = 1 ]; then : > "$out/adapters.txt"; else rm -f "$out/adapters.txt"; fi
	for round in $(seq "$count"); do
		echo "== round $round of $count: ${gotest[*]}"
		"${gotest[@]}" | tee -a "$out/raw.txt"
		if [ "$adapters" = 1 ]; then
			for m in "${adaptermods[@]}"; do
				echo "== round $round of $count: cd $m && ${adapterbench[*]}"
				(cd "../$m" && "${adapterbench[@]}") | tee -a "$out/adapters.txt"
			done
		fi
	done
	echo "== ${perkey[*]}"
	"${perkey[@]}" | tee -a "$out/raw.txt"
	echo "== ${accuracy[*]}"
	"${accuracy[@]}" | tee "$out/accuracy.txt"
fi

# benchstat at the version bench/go.mod pins (its tool directive): one
# table per benchmark, libraries side by side against tollgate.
: > "$out/benchstat.txt"
for g in Memory Middleware EchoMiddleware Redis RedisCluster MemoryPerKey; do
	echo "# Benchmark$g" >> "$out/benchstat.txt"
	go tool benchstat -filter ".name:$g" -col /lib -row /w "$out/raw.txt" >> "$out/benchstat.txt"
	echo >> "$out/benchstat.txt"
done
if [ -s "$out/adapters.txt" ]; then
	echo "# BenchmarkChi, BenchmarkGin, BenchmarkEcho, BenchmarkEcho5 (adapter modules)" >> "$out/benchstat.txt"
	go tool benchstat adapters="$out/adapters.txt" >> "$out/benchstat.txt"
	echo >> "$out/benchstat.txt"
fi

# The command lines shown on the page.
rounds="for round in \$(seq $count); do
(cd bench && GOWORK=off ${gotest[*]})"
if [ -s "$out/adapters.txt" ]; then
	rounds+="
for m in ${adaptermods[*]}; do (cd \$m && GOWORK=off ${adapterbench[*]}); done"
fi
rounds+="
done"

go run ./cmd/benchreport \
	-raw "$out/raw.txt" -benchstat "$out/benchstat.txt" -accuracy "$out/accuracy.txt" -notes notes.md \
	-adapters "$out/adapters.txt" -distributed ../docs/DISTRIBUTED.md -growth ../docs/GROWTH.md \
	-command "make bench" \
	-gotest "$rounds
cd bench && GOWORK=off ${perkey[*]}
cd bench && GOWORK=off ${accuracy[*]}" \
	-out ../docs/BENCHMARKS.md -svg ../docs/benchmarks.svg
echo "wrote docs/BENCHMARKS.md and docs/benchmarks.svg"

# How each cost grows with keys, callers, limits and rules: docs/GROWTH.md.
if [ "${GROWTH:-1}" != 0 ]; then
	if [ "${BENCH_REPORT:-}" = 1 ]; then
		GROWTH_REPORT=1 ./growth.sh
	else
		./growth.sh
	fi
fi
