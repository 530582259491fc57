# hookvault — `make run` starts the server, `make test` runs every test.
GO ?= go
DEV_SECRET := dev-secret-change-me
DEV_TOKEN := dev-token-change-me
WEBHOOK_SECRET ?= $(DEV_SECRET)
API_TOKEN ?= $(DEV_TOKEN)

.PHONY: run test generate lint check-generated build bench bench-replicas bench-delivery

run: ## serve on :8000 with the embedded SQLite store (data/hookvault.db)
ifeq ($(WEBHOOK_SECRET),$(DEV_SECRET))
	@echo "hookvault: development secret WEBHOOK_SECRET=$(DEV_SECRET) (set WEBHOOK_SECRET to use your own)"
else
	@echo "hookvault: using WEBHOOK_SECRET from the environment"
endif
ifeq ($(API_TOKEN),$(DEV_TOKEN))
	@echo "hookvault: development read token API_TOKEN=$(DEV_TOKEN) (set API_TOKEN to use your own)"
endif
	@echo "hookvault: Swagger UI at http://127.0.0.1:8000/docs"
	@WEBHOOK_SECRET='$(WEBHOOK_SECRET)' API_TOKEN='$(API_TOKEN)' $(GO) run ./cmd/hookvault

# PostgreSQL tests run when HOOKVAULT_TEST_POSTGRES_URL is set (see README); TESTFLAGS=-v
# shows every test.
test: ## all tests with the race detector
	$(GO) test -race -count=1 $(TESTFLAGS) ./...

generate: ## regenerate gen/ from api/openapi.yaml
	$(GO) generate ./gen

lint: check-generated ## gofmt, go vet, tidy go.mod, and gen/ up to date
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# Generates into a temporary file and compares, so it checks any tree, committed or not.
check-generated:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cd gen && sed "s|^output:.*|output: $$tmp/hookvault.gen.go|" oapi-codegen.cfg.yaml > "$$tmp/cfg.yaml" && \
	$(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config "$$tmp/cfg.yaml" ../api/openapi.yaml && \
	if ! diff -u hookvault.gen.go "$$tmp/hookvault.gen.go" > "$$tmp/diff"; then \
		head -40 "$$tmp/diff"; echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; fi

build: ## binaries into bin/
	$(GO) build -o bin/ ./cmd/...

# HOOKBENCH_FLAGS passes flags to hookbench, e.g. make bench HOOKBENCH_FLAGS='-n 50000 -c 128'.
bench: ## Go benchmarks, then hookvault against a bare net/http server on this machine (cmd/hookbench)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./cmd/hookbench $(HOOKBENCH_FLAGS)

# The PostgreSQL server that bench-replicas creates its databases on (the user needs CREATEDB).
HOOKVAULT_BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# The measurement as reported: 3 interleaved rounds; HOOKBENCH_FLAGS adds to it or overrides
# it, e.g. make bench-replicas HOOKBENCH_FLAGS='-replicas 1 -write-conns 1,2,4 -rounds 1'.
HOOKBENCH_REPLICAS_FLAGS ?= -replicas 1,2 -rounds 3 -c 64 -n 30000 -warmup 3000
bench-replicas: ## 1 against 2 hookvault replicas on one PostgreSQL server, a fresh database per run (cmd/hookbench -postgres)
	$(GO) run ./cmd/hookbench -postgres '$(HOOKVAULT_BENCH_POSTGRES_URL)' $(HOOKBENCH_REPLICAS_FLAGS) $(HOOKBENCH_FLAGS)

# The NATS server with JetStream that bench-delivery publishes to (a stream per run, deleted after).
HOOKVAULT_BENCH_NATS_URL ?= nats://127.0.0.1:4222
# The measurement as reported: 3 interleaved rounds; HOOKBENCH_FLAGS adds to it or overrides it.
HOOKBENCH_DELIVERY_FLAGS ?= -rounds 3 -c 64 -n 20000 -warmup 2000
bench-delivery: ## ingest with one HTTP and one NATS destination against none, and the delivery lag (cmd/hookbench -destinations)
	$(GO) run ./cmd/hookbench -destinations -nats '$(HOOKVAULT_BENCH_NATS_URL)' $(HOOKBENCH_DELIVERY_FLAGS) $(HOOKBENCH_FLAGS)
