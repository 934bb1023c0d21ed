# tollgate: one test command for the whole workspace.
#
#   make test    gofmt check, then go vet, go build and go test -race in every
#                module on its own (GOWORK=off), as CI runs it
#   make bench   tollgate beside its peers (bench/, six rounds): memory store,
#                middleware, Redis, memory per key, accuracy; summarised with
#                benchstat into docs/BENCHMARKS.md and docs/benchmarks.svg
#   make distributed
#                N instances sharing one limit through a local Redis, in
#                consistent, batched and lease mode, under several traffic
#                shapes; writes docs/DISTRIBUTED.md
#   make chaos   real faults (Redis killed, stopped, slow, black-holed,
#                restarted empty, a Cluster failover, a saturated CPU, one
#                instance cut off) in every mode; writes docs/RELIABILITY.md
#   make bench-store, bench-adapters, bench-redis, bench-rules
#                each module's own benchmarks (-count 6, for benchstat);
#                bench-rules: 50 rules x 2 limits on memory, and one limit
#                against two in one Redis script

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Every module listed in go.work.
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
GO_TEST_FLAGS ?= -race -count=1 -timeout=10m
BENCH_COUNT ?= 6

.PHONY: test fmt-check vet-test bench-smoke redis-tools bench bench-store bench-adapters bench-redis bench-rules distributed chaos

test: fmt-check redis-tools vet-test bench-smoke

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

fmt-check:
	@out=$$(gofmt -l $(MODULES) bench); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

vet-test:
	@for m in $(MODULES); do \
		echo "== $$m"; \
		( cd $$m && GOWORK=off go vet ./... && GOWORK=off go build ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... ); \
	done

# The bench module (peers live only there; it needs Go 1.26 for the peers'
# latest versions, so it stays out of go.work) is vetted, its tests (the
# accuracy race, the report generator) run with -race, and every benchmark
# runs once as a smoke test. The measured run is `make bench`.
bench-smoke:
	@echo "== bench"
	cd bench && GOWORK=off go vet ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... && \
		GOWORK=off go test -run '^$$' -bench . -benchtime=1x -count=1 . >/dev/null

bench: redis-tools
	BENCH_COUNT=$(BENCH_COUNT) bench/run.sh

bench-store:
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkTake|BenchmarkClock' -benchmem -count $(BENCH_COUNT) .
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkMemoryPerKey' -benchtime=1x -count 3 .

bench-adapters:
	cd chimw && GOWORK=off go test -run '^$$' -bench 'BenchmarkChi|BenchmarkServeMux' -benchmem -count $(BENCH_COUNT) .
	cd ginmw && GOWORK=off go test -run '^$$' -bench 'BenchmarkGin' -benchmem -count $(BENCH_COUNT) .
	cd echomw && GOWORK=off go test -run '^$$' -bench 'BenchmarkEcho' -benchmem -count $(BENCH_COUNT) .

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

distributed: redis-tools
	cd bench && GOWORK=off go run ./cmd/distributed -out ../docs/DISTRIBUTED.md

chaos: redis-tools
	cd bench && GOWORK=off go run ./cmd/chaos -out ../docs/RELIABILITY.md
