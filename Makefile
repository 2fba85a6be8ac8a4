# jawas — the two commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/jawas
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test bench fmt vet deps clean demo-db

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jawas

# Serve the demo project (this repository's root) at http://127.0.0.1:8080/.
run: build
	@echo "jawas: serving the demo at http://127.0.0.1:8080/ (Ctrl-C to stop)"
	./$(BIN) serve

deps:
	./scripts/ensure-deps.sh

# Rebuild the demo's SQLite database from its script (commit both; a test
# checks that they agree).
demo-db:
	$(GO) run ./scripts/demodb -sql data/demo.sql -o data/demo.db

# Every test: Go unit, integration, fault and browser tests, and the client
# library's tests on Node's test runner. Packages run one at a time (-p 1):
# the fault tests measure restart latencies of real processes, and two
# packages of them side by side on 2 cores would measure each other.
# Linux first, but everything vets on macOS and Windows too (OS-specific
# code in _linux.go files, a clear error on other systems).
test: deps build
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 20m ./...
	node --test engine/internal/client/

# Benchmarks print figures and ratios against baselines measured in the same run.
bench: build
	./bench/run.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin dist .jawas
