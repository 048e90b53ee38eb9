# The two commands a newcomer needs are `make demo` and `make test`.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build demo demo-stop test deps vet bench bench-quick bench-go fuzz test-long

build: ## build bin/archiver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/archiver ./cmd/archiver

demo: ## archive 45 days of sample data on a throwaway PostgreSQL, left running (make demo-stop)
	bash deploy/demo/run.sh

demo-stop: ## stop the demo's PostgreSQL and remove .demo
	bash deploy/demo/run.sh stop

deps: ## install what the tests need and Go does not fetch: PostgreSQL server, Azurite, DuckDB (npm)
	bash .ci/install-deps.sh

vet:
	$(GO) vet ./...

test: deps vet ## the whole test suite, as CI runs it (with a short run of every fuzz target)
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz

FUZZTIME ?= 10s

fuzz: ## run every go test -fuzz target for FUZZTIME (default 10s) each
	@set -e; \
	for f in $$(grep -rl --include='*_test.go' --exclude-dir=.tmp --exclude-dir=.demo --exclude-dir=node_modules '^func Fuzz' .); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz: $$t in $$(dirname $$f) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$(dirname $$f); \
		done; \
	done

test-long: deps vet ## the long variants too: many rounds of the races, 4 processes x many runs, slow emulator faults; longer fuzzing
	ARCHIVER_TEST_LONG=1 $(GO) test -count=1 -timeout 80m ./...
	$(MAKE) fuzz FUZZTIME=60s

bench: ## end-to-end benchmark vs COPY|gzip+DELETE on a throwaway PostgreSQL (1M and 10M readings, the throttles, and a 100M-reading backlog: about 20 GB of disk and some 15 minutes more; BENCH_BACKLOG_N to change)
	bash deploy/bench/run.sh

bench-quick: ## the benchmark at 1M readings only (backlog section at 2M)
	BENCH_N=1000000 BENCH_BACKLOG_N=2000000 bash deploy/bench/run.sh

bench-go: ## encoder/decoder microbenchmarks (ns/reading, allocs/reading)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/archivefile
