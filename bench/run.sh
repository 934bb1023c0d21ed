#!/usr/bin/env bash
# Runs tollgate's benchmarks beside its peers' and writes docs/BENCHMARKS.md
# (with docs/benchmarks.svg and the raw results in docs/bench/). `make bench`
# calls it; redis-server must be installed (the Redis benchmarks start their
# own on a free port).
#
#   BENCH_COUNT      runs of each benchmark (default 6; at least 5)
#   BENCH_TIME       -benchtime of each run (default 500ms)
#   BENCH_FILTER     which benchmarks (a -bench regexp; default: all)
set -euo pipefail

cd "$(dirname "$0")"
count=${BENCH_COUNT:-6}
benchtime=${BENCH_TIME:-500ms}
filter=${BENCH_FILTER:-'^(BenchmarkMemory|BenchmarkMiddleware|BenchmarkEchoMiddleware|BenchmarkRedis)$'}
out=../docs/bench
mkdir -p "$out"
export GOWORK=off

gotest=(go test -run '^$' -bench "$filter" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m .)
perkey=(go test -run '^$' -bench '^BenchmarkMemoryPerKey$' -benchtime 1x -count 3 -timeout 30m .)
accuracy=(go test -run '^TestAccuracy$' -count 1 -v .)

echo "== ${gotest[*]}"
"${gotest[@]}" | tee "$out/raw.txt"
echo "== ${perkey[*]}"
"${perkey[@]}" | tee -a "$out/raw.txt"
echo "== ${accuracy[*]}"
"${accuracy[@]}" | tee "$out/accuracy.txt"

# benchstat at the version bench/go.mod pins (its tool directive).
go tool benchstat -col /lib -row /w "$out/raw.txt" > "$out/benchstat.txt"

go run ./cmd/benchreport \
	-raw "$out/raw.txt" -benchstat "$out/benchstat.txt" -accuracy "$out/accuracy.txt" \
	-command "make bench" \
	-gotest "cd bench && GOWORK=off ${gotest[*]}
cd bench && GOWORK=off ${perkey[*]}
cd bench && GOWORK=off ${accuracy[*]}" \
	-out ../docs/BENCHMARKS.md -svg ../docs/benchmarks.svg
echo "wrote docs/BENCHMARKS.md and docs/benchmarks.svg"
