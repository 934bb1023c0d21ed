#!/usr/bin/env bash
# test-repeat: run `make test` RUNS times in a row on an idle machine, then
# SATURATED more times with every core kept busy by busy loops (BUSY per
# core), as a service under a flood sees it. Each run's `go test -json`
# events are counted: tests passed, failed and skipped. Exits non-zero if
# any run failed; prints one line per run and a summary.
#
#   RUNS=10 SATURATED=3 scripts/test-repeat.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
SATURATED=${SATURATED:-3}
BUSY=${BUSY:-3}
LOGDIR=${LOGDIR:-$(mktemp -d)}
mkdir -p "$LOGDIR"
busy_pids=()

stop_busy() {
	if [ ${#busy_pids[@]} -gt 0 ]; then
		kill "${busy_pids[@]}" 2>/dev/null || true
		wait "${busy_pids[@]}" 2>/dev/null || true
	fi
	busy_pids=()
}
trap stop_busy EXIT INT TERM

start_busy() {
	local n=$(( $(nproc) * BUSY ))
	for _ in $(seq "$n"); do
		( trap - INT TERM; while :; do :; done ) &
		busy_pids+=($!)
	done
	echo "   ($n busy loops on $(nproc) cores)"
}

count() { grep -c "\"Action\":\"$1\",\"Package\":\"[^\"]*\",\"Test\"" "$2" || true; }

failed_runs=0
total=$((RUNS + SATURATED))
for i in $(seq "$total"); do
	kind=idle
	if [ "$i" -gt "$RUNS" ]; then kind=saturated; fi
	log="$LOGDIR/run-$i-$kind.log"
	echo "== run $i of $total ($kind)"
	[ "$kind" = saturated ] && start_busy
	start=$(date +%s)
	if make test GO_TEST_FLAGS="-race -count=1 -timeout=10m -json" >"$log" 2>&1; then status=pass; else status=FAIL; failed_runs=$((failed_runs + 1)); fi
	stop_busy
	echo "   $status in $(( $(date +%s) - start ))s: tests passed $(count pass "$log"), failed $(count fail "$log"), skipped $(count skip "$log") (log: $log)"
	if [ "$status" = FAIL ]; then
		# (|| true: a run can fail with no test failing, in vet or the
		# release check, and under pipefail a grep finding nothing must
		# not end the loop.)
		{ grep -E '"Action":"fail"' "$log" || true; } | sed -n 's/.*"Package":"\([^"]*\)","Test":"\([^"]*\)".*/   failed: \1 \2/p' | head -20
		{ grep -vE '^\{' "$log" || true; } | { grep -iE 'fail|error' || true; } | head -10 | sed 's/^/   /'
	fi
done
echo "test-repeat: $((total - failed_runs)) of $total runs passed ($RUNS idle, $SATURATED saturated); logs in $LOGDIR"
[ "$failed_runs" -eq 0 ]
