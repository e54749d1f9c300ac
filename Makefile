# The two commands of the README: `make run` and `make test`.
GO      ?= go
BIN     := bin/stowage
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build test bench fmt vet clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stowage

# Installs PostgreSQL if missing, builds, and serves on embedded defaults (Postgres under
# ./data, file backend, dev keys printed).
run:
	scripts/deps.sh
	$(MAKE) build
	$(BIN) serve

test:
	scripts/test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
