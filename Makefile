# tollgate: one test command for the whole workspace.
#
#   make test    gofmt check, then go vet, go build and go test -race in every
#                module on its own (GOWORK=off), as CI runs it
#   make bench   the memory store's benchmarks (-count 6, for benchstat), its
#                memory per key at 1,000,000 keys, and what each router adapter
#                adds to a request (bare router vs the same router limited)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Every module listed in go.work.
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
GO_TEST_FLAGS ?= -race -count=1 -timeout=10m
BENCH_COUNT ?= 6

.PHONY: test fmt-check vet-test bench bench-store bench-adapters

test: fmt-check vet-test

fmt-check:
	@out=$$(gofmt -l $(MODULES)); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

vet-test:
	@for m in $(MODULES); do \
		echo "== $$m"; \
		( cd $$m && GOWORK=off go vet ./... && GOWORK=off go build ./... && GOWORK=off go test $(GO_TEST_FLAGS) ./... ); \
	done

bench: bench-store bench-adapters

bench-store:
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkTake|BenchmarkClock' -benchmem -count $(BENCH_COUNT) .
	cd stores/memstore && GOWORK=off go test -run '^$$' -bench 'BenchmarkMemoryPerKey' -benchtime=1x -count 3 .

bench-adapters:
	cd chimw && GOWORK=off go test -run '^$$' -bench 'BenchmarkChi|BenchmarkServeMux' -benchmem -count $(BENCH_COUNT) .
	cd ginmw && GOWORK=off go test -run '^$$' -bench 'BenchmarkGin' -benchmem -count $(BENCH_COUNT) .
	cd echomw && GOWORK=off go test -run '^$$' -bench 'BenchmarkEcho' -benchmem -count $(BENCH_COUNT) .
