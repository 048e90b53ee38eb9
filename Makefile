# The two commands a newcomer needs are `make demo` and `make test`.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build demo test deps vet bench bench-quick bench-go

build: ## build bin/archiver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/archiver ./cmd/archiver

demo: ## archive 45 days of sample data on a throwaway PostgreSQL
	bash deploy/demo/run.sh

deps: ## install what the tests need and Go does not fetch: PostgreSQL server, Azurite
	bash .ci/install-deps.sh

vet:
	$(GO) vet ./...

test: deps vet ## the whole test suite, as CI runs it
	$(GO) test -count=1 -timeout 40m ./...

bench: ## end-to-end benchmark vs COPY|gzip+DELETE on a throwaway PostgreSQL (1M and 10M readings; BENCH_N=1000000 for a quick run)
	bash deploy/bench/run.sh

bench-quick: ## the benchmark at 1M readings only
	BENCH_N=1000000 bash deploy/bench/run.sh

bench-go: ## encoder/decoder microbenchmarks (ns/reading, allocs/reading)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/archivefile
