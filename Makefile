# tollgate: one test command for the whole workspace.
#
#   make test    gofmt check, then go vet, go build and go test -race in every
#                module on its own (GOWORK=off), as CI runs it
#   make bench   the memory store's benchmarks (-count 6, for benchstat), its
#                memory per key at 1,000,000 keys, what each router adapter
#                adds to a request (bare router vs the same router limited),
#                and a Redis decision beside a bare INCR round trip

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Every module listed in go.work.
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
GO_TEST_FLAGS ?= -race -count=1 -timeout=10m
BENCH_COUNT ?= 6

.PHONY: test fmt-check vet-test redis-tools bench bench-store bench-adapters bench-redis

test: fmt-check redis-tools vet-test

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
	@out=$$(gofmt -l $(MODULES)); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

vet-test:
	@for m in $(MODULES); do \
		echo "== $$m"; \
		( cd $$m && GOWORK=off go vet ./... && GOWORK=off go build ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... ); \
	done

bench: bench-store bench-adapters bench-redis

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
