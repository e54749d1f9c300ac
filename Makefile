# The two commands of the README: `make run` and `make test`.
GO      ?= go
BIN     := bin/stowage
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build build-static test bench bench-load bench-stores fmt vet clean

# With gcc the binary renders /render/image in process: it loads libvips (libvips42, which
# scripts/deps.sh installs) on the first render, so libvips is needed at run time only; without
# gcc it falls back to the cgo-free build.
build:
	@if command -v gcc >/dev/null 2>&1; then \
		echo "build: with the libvips renderer (libvips loaded on first render)"; \
		CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stowage; \
	else \
		echo "build: gcc not found, building without image transformations"; \
		$(MAKE) build-static; \
	fi

# A static binary without cgo: /render/image answers FeatureNotEnabled unless IMGPROXY_URL is set.
build-static:
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

# Load test (no assertions), 8 workers: MinIO, MinIO behind a bare relay, Stowage (file
# backend) and Stowage (s3 backend → that MinIO), same run; ratios against MinIO and the
# relay, CPU per operation of each process, peak RSS of each Stowage. BENCH_ARGS passes
# flags on (-rounds 3, -payload unsigned, -cases ..., -target ...); see docs/backends.md.
bench-load:
	scripts/bench-load.sh $(BENCH_ARGS)

# The store level only: MinIO vs the s3 store on it vs the file store, in process.
bench-stores:
	$(GO) run ./cmd/stowage-bench -local-minio "$$(scripts/minio.sh)" $(BENCH_ARGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
