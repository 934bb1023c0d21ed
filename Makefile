# tollgate: one test command for the whole workspace.
#
#   make test    gofmt check, then go vet, go build and go test -race in every
#                module on its own (GOWORK=off), as CI runs it, and the
#                release check; installs redis-server and chromium for the
#                tests when missing (as root, with apt-get)
#   make release-check
#                a module outside the repository installs every public module
#                from a file proxy built from the tree at VERSION, and builds
#                every public package and the README's Go blocks; an API
#                report against the last release tag (or BASE=<ref>)
#   make test-repeat
#                make test 10 times in a row, then 3 more times with every
#                core saturated by busy loops; counts tests passed, failed
#                and skipped per run from go test -json (RUNS, SATURATED)
#   make bench   tollgate beside its peers (bench/, ten rounds): memory store,
#                middleware (and each adapter module's own), Redis, memory
#                per key, accuracy; summarised with benchstat into
#                docs/BENCHMARKS.md and docs/benchmarks.svg, whose headline
#                decides issue 20's goals from the rounds; then make
#                bench-growth (GROWTH=0 skips it)
#   make bench-growth
#                how a decision's cost grows with the keys held (10^3 to
#                10^7), the concurrent callers (1 to 256), the limits per
#                request (1 to 8) and the rules (1 to 10,000), in memory and in
#                Redis in each mode, beside the peers; plotted into
#                docs/growth-*.svg and explained in docs/GROWTH.md
#                (GROWTH_ROUNDS, default 3; see bench/growth.sh for the rest)
#   make distributed
#                N instances sharing one limit through a local Redis, in
#                consistent, batched and lease mode, under several traffic
#                shapes; writes docs/DISTRIBUTED.md
#   make fuzz    every fuzz target of every module (found by grepping for
#                func Fuzz), FUZZTIME (30s) each, one go test -fuzz per target
#   make chaos   real faults (Redis killed, stopped, slow, black-holed,
#                restarted empty, a Cluster failover, a saturated CPU, one
#                instance cut off) in every mode; writes docs/RELIABILITY.md
#   make opspage-screenshot
#                docs/opspage.png, the operator's page in Chromium
#   make bench-store, bench-adapters, bench-redis, bench-rules, bench-metrics
#                each module's own benchmarks (-count 10, for benchstat);
#                bench-adapters: the routers' and the gRPC interceptor's, a
#                unary call over loopback bare and limited;
#                bench-rules: 50 rules x 2 limits on memory, and one limit
#                against two in one Redis script; bench-metrics: a decision
#                with metrics off and on

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Every module listed in go.work.
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
GO_TEST_FLAGS ?= -race -count=1 -timeout=10m
# Ten samples at least: fewer decide nothing on these noisy VMs.
BENCH_COUNT ?= 10

.PHONY: test test-repeat fmt-check vet-test bench-smoke release-check redis-tools chromium opspage-screenshot bench bench-growth bench-store bench-adapters bench-redis bench-rules bench-metrics distributed chaos

test: fmt-check redis-tools chromium vet-test bench-smoke release-check

RUNS ?= 10
SATURATED ?= 3
test-repeat:
	RUNS=$(RUNS) SATURATED=$(SATURATED) scripts/test-repeat.sh

# The Redis store's tests start their own redis-server processes (a standalone
# server and a three-master cluster, on free loopback ports). Install the
# binaries when they are missing and we may; otherwise say what is needed.
redis-tools:
	@if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then \
		echo "redis: $$(redis-server --version | cut -d' ' -f3)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "redis: installing redis-server and redis-tools with apt-get"; \
		apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null || true; \
		command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { echo "apt-get could not install redis-server and redis-tools"; exit 1; }; \
		echo "redis: $$(redis-server --version | cut -d' ' -f3)"; \
	else \
		echo "redis-server and redis-cli are needed by the Redis store's tests."; \
		echo "Install them (Debian/Ubuntu: sudo apt-get install redis-server redis-tools; macOS: brew install redis) and run make test again."; \
		exit 1; \
	fi

# The operator's page (opspage) is tested in a real headless Chromium, which
# its tests find at /usr/bin/chromium (Debian's package). Install it when it
# is missing and we may; otherwise say what is needed.
chromium:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -n 1)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "chromium: installing chromium with apt-get"; \
		apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true; \
		[ -x /usr/bin/chromium ] || { echo "apt-get could not install chromium"; exit 1; }; \
		echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -n 1)"; \
	else \
		echo "/usr/bin/chromium is needed by the operator's page's browser tests."; \
		echo "Install it (Debian/Ubuntu: sudo apt-get install chromium) and run make test again."; \
		exit 1; \
	fi

# docs/opspage.png, the README's picture of the operator's page: a small
# service's page after some traffic, taken by the browser test.
opspage-screenshot: redis-tools chromium
	cd opspage && GOWORK=off go test -count=1 -run '^TestScreenshot$$' . -args -screenshot ../docs/opspage.png

fmt-check:
	@out=$$(gofmt -l $(MODULES) bench); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"
	@# Every module's go.mod and go.sum as go mod tidy writes them: a module
	@# is built alone (GOWORK=off), where a missing line fails its build.
	@for m in $(MODULES) bench internal/release; do \
		(cd $$m && GOWORK=off go mod tidy -diff >/dev/null 2>&1) || { echo "$$m: go.mod or go.sum is not tidy: run (cd $$m && GOWORK=off go mod tidy)"; exit 1; }; \
	done
	@echo "go mod tidy: ok"

# Every module is tested even when an earlier one fails, so one run shows
# every failure; the target fails at the end, naming the modules.
vet-test:
	@failed=""; \
	for m in $(MODULES); do \
		echo "== $$m"; \
		( cd $$m && GOWORK=off go vet ./... && GOWORK=off go build ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... ) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED modules:$$failed"; exit 1; fi

# The bench module (peers live only there; it needs Go 1.26 for the peers'
# latest versions, so it stays out of go.work) is vetted, its tests (the
# accuracy race, the report generator) run with -race, and every benchmark
# runs once as a smoke test. The measured run is `make bench`.
bench-smoke:
	@echo "== bench"
	cd bench && GOWORK=off go vet ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... && \
		GOWORK=off go test -run '^$$' -bench . -benchtime=1x -count=1 . >/dev/null

# The release check (internal/release; Go 1.26 for golang.org/x/exp/apidiff,
# so outside go.work like bench): its own tests with -race, then the check
# itself: every requirement of ours at the release version (VERSION), a file
# module proxy built from the tree, a module outside the repository that
# installs every public module from it alone and compiles every public
# package and the README's Go blocks (examples/readme), and an API report
# against the newest release tag, or BASE=<git ref>. See RELEASING.md.
BASE ?=
release-check:
	@echo "== release-check"
	cd internal/release && GOWORK=off go vet ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... && \
		GOWORK=off go run . -root ../.. $(if $(BASE),-base $(BASE))

bench: redis-tools
	BENCH_COUNT=$(BENCH_COUNT) bench/run.sh

bench-growth: redis-tools
	bench/growth.sh

bench-store:
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkTake|BenchmarkClock' -benchmem -count $(BENCH_COUNT) .
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkMemoryPerKey' -benchtime=1x -count 3 .

bench-adapters:
	cd chimw && GOWORK=off go test -run '^$$' -bench 'BenchmarkChi|BenchmarkServeMux' -benchmem -count $(BENCH_COUNT) .
	cd ginmw && GOWORK=off go test -run '^$$' -bench 'BenchmarkGin' -benchmem -count $(BENCH_COUNT) .
	cd echomw && GOWORK=off go test -run '^$$' -bench 'BenchmarkEcho' -benchmem -count $(BENCH_COUNT) .
	cd echo5mw && GOWORK=off go test -run '^$$' -bench 'BenchmarkEcho5' -benchmem -count $(BENCH_COUNT) .
	cd grpclimit && GOWORK=off go test -run '^$$' -bench 'BenchmarkUnary' -benchmem -count $(BENCH_COUNT) .

# A decision against a local redis-server (started by the benchmark) beside a
# bare go-redis INCR round trip, serially and from 64 goroutines.
bench-redis: redis-tools
	cd stores/redisstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkRoundTrip|BenchmarkInterleaved' -benchmem -count $(BENCH_COUNT) .

# A request matched against 50 rules of 2 limits each (memory store) beside
# a gate with the same 2 limits; one Redis decision beside two in one
# script, serially and from 64 goroutines. BENCH_COUNT rounds of -count 1,
# so that what is compared ran interleaved; summarised with benchstat.
bench-rules: redis-tools
	@out=$$(mktemp -d); \
	for i in $$(seq $(BENCH_COUNT)); do \
		(cd rules && GOWORK=off go test -run '^$$' -bench 'BenchmarkRules' -benchmem -count 1 .) >> $$out/rules.txt; \
		(cd stores/redisstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkSeveralLimits' -benchmem -count 1 .) >> $$out/several.txt; \
	done; \
	cd bench && GOWORK=off go tool benchstat $$out/rules.txt $$out/several.txt; rm -r $$out

# A memory store's decision without metrics (no hook) and with prommetrics'
# and otelmetrics' options, each module's run summarised with benchstat in
# columns metrics=off and metrics=on.
bench-metrics:
	@out=$$(mktemp -d); \
	for m in prommetrics otelmetrics; do \
		(cd $$m && GOWORK=off go test -run '^$$' -bench 'BenchmarkTake' -benchmem -count $(BENCH_COUNT) .) > $$out/$$m.txt; \
		echo "== $$m"; (cd bench && GOWORK=off go tool benchstat -col /metrics $$out/$$m.txt); \
	done; rm -r $$out

distributed: redis-tools
	cd bench && GOWORK=off go run ./cmd/distributed -out ../docs/DISTRIBUTED.md

# Every fuzz target in the workspace, found by grepping the modules' test
# files, so that a new one is included: go test fuzzes one target per run,
# for FUZZTIME each. An input that widens coverage is minimised for at most
# FUZZMINIMIZETIME (go's default, 60s, could spend a target's whole budget
# on one); a failing input is written to the package's testdata/fuzz, where
# it stays as a seed once fixed. Prints each target's executions. Before Go
# 1.27 the fuzzing engine may end a run with "context deadline exceeded" and
# no failing input when FUZZTIME runs out (go.dev/issue/75804): reported as
# such, not as a failure.
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 5s

.PHONY: fuzz
fuzz:
	@out=$$(mktemp -d); trap 'rm -r $$out' EXIT; failed=""; n=0; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' $(MODULES) | sort -u); do \
		d=$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			n=$$((n+1)); echo "== $$d $$t"; \
			seeds=$$( (ls $$d/testdata/fuzz/$$t 2>/dev/null || true) | wc -l); \
			if (cd $$d && GOWORK=off go test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) .) > $$out/log 2>&1; then \
				line=$$( (grep 'execs:' $$out/log || echo 'no execs: the budget went to the baseline') | tail -n 1); \
				echo "$$d $$t: $${line#fuzz: }" | tee -a $$out/summary; \
			elif grep -q '^    context deadline exceeded$$' $$out/log && [ "$$( (ls $$d/testdata/fuzz/$$t 2>/dev/null || true) | wc -l)" = "$$seeds" ]; then \
				line=$$( (grep 'execs:' $$out/log || true) | tail -n 1); \
				echo "$$d $$t: $${line#fuzz: }; stopped by Go's fuzztime deadline race (go.dev/issue/75804, fixed in Go 1.27), no failing input" | tee -a $$out/summary; \
			else \
				cat $$out/log; failed="$$failed $$d:$$t"; echo "$$d $$t: FAILED" >> $$out/summary; \
			fi; \
		done; \
	done; \
	echo "== fuzz: $$n targets, $(FUZZTIME) each"; cat $$out/summary; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

chaos: redis-tools
	cd bench && GOWORK=off go run ./cmd/chaos -out ../docs/RELIABILITY.md
