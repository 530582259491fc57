# hookvault — `make run` starts the server, `make test` runs every test.
GO ?= go
DEV_SECRET := dev-secret-change-me
DEV_TOKEN := dev-token-change-me
WEBHOOK_SECRET ?= $(DEV_SECRET)
API_TOKEN ?= $(DEV_TOKEN)

# make run listens on this machine only unless LISTEN_ADDR says otherwise: its secret and
# token above are public.
LISTEN_ADDR ?= 127.0.0.1:8000
RUN_URL := http://$(if $(filter :%,$(LISTEN_ADDR)),127.0.0.1$(LISTEN_ADDR),$(LISTEN_ADDR))
# HOOKVAULT_BIN is the binary make run builds and starts.
HOOKVAULT_BIN ?= bin/hookvault
# The commit, for --version, the start-up line and hookvault_build_info, also where Go cannot
# stamp it itself (a git worktree, GOFLAGS=-buildvcs=false).
GIT_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := $(if $(GIT_REVISION),-X github.com/hookvault/hookvault/internal/buildinfo.Revision=$(GIT_REVISION))

.PHONY: run test generate lint check-generated build bench bench-replicas bench-delivery bench-flood bench-retention

# Builds first and says so (the first build takes about a minute), then execs the binary, so
# that Ctrl-C reaches the server itself, which drains and exits 0: make stays quiet.
run: ## serve on 127.0.0.1:8000 with the embedded SQLite store (data/hookvault.db)
	@echo "hookvault: compiling $(HOOKVAULT_BIN) (the first time takes a minute)…"
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(HOOKVAULT_BIN) ./cmd/hookvault
ifeq ($(WEBHOOK_SECRET),$(DEV_SECRET))
	@echo "hookvault: development secret WEBHOOK_SECRET=$(DEV_SECRET) (set WEBHOOK_SECRET to use your own)"
else
	@echo "hookvault: using WEBHOOK_SECRET from the environment"
endif
ifeq ($(API_TOKEN),$(DEV_TOKEN))
	@echo "hookvault: development read token API_TOKEN=$(DEV_TOKEN) (set API_TOKEN to use your own)"
endif
ifneq ($(filter 127.% localhost:% [::1]:%,$(LISTEN_ADDR)),)
	@echo "hookvault: listening on $(LISTEN_ADDR), reachable from this machine only (LISTEN_ADDR=:8000 listens on every interface)"
else
	@echo "hookvault: listening on $(LISTEN_ADDR) (LISTEN_ADDR)"
endif
	@echo "hookvault: Swagger UI at $(RUN_URL)/docs; Ctrl-C stops it"
	@WEBHOOK_SECRET='$(WEBHOOK_SECRET)' API_TOKEN='$(API_TOKEN)' LISTEN_ADDR='$(LISTEN_ADDR)' exec $(HOOKVAULT_BIN)

# PostgreSQL tests run when HOOKVAULT_TEST_POSTGRES_URL is set (see README); TESTFLAGS=-v
# shows every test. gotestsum (a tool pinned in go.mod: nothing to install) prints go test's
# own output, -v included, then the tests that were skipped and why, which go test hides; its
# exit status is go test's.
# TESTPKGS narrows the run, e.g. make test TESTPKGS=./internal/config.
GOTESTSUM_FORMAT = $(if $(filter -v,$(TESTFLAGS)),standard-verbose,standard-quiet)
TESTPKGS ?= ./...
test: ## all tests with the race detector, then the skipped ones with their reasons
	$(GO) tool gotestsum --format $(GOTESTSUM_FORMAT) -- -race -count=1 $(TESTFLAGS) $(TESTPKGS)

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
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# HOOKBENCH_FLAGS passes flags to hookbench, e.g. make bench HOOKBENCH_FLAGS='-n 50000 -c 128', or
# before and after in one run: make bench HOOKBENCH_FLAGS='-baseline HEAD~1 -rounds 3'.
bench: ## Go benchmarks, then hookvault against a bare and a durable (fdatasync) net/http server on this machine (cmd/hookbench)
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
# The measurement as reported: 5 interleaved rounds (the ratio moves from round to round);
# HOOKBENCH_FLAGS adds to it or overrides it.
HOOKBENCH_DELIVERY_FLAGS ?= -rounds 5 -c 64 -n 20000 -warmup 2000
bench-delivery: ## ingest with one HTTP and one NATS destination against none, and the delivery lag (cmd/hookbench -destinations)
	$(GO) run ./cmd/hookbench -destinations -nats '$(HOOKVAULT_BENCH_NATS_URL)' $(HOOKBENCH_DELIVERY_FLAGS) $(HOOKBENCH_FLAGS)

# The measurement as reported: 3 interleaved rounds; HOOKBENCH_FLAGS adds to it or overrides it.
HOOKBENCH_FLOOD_FLAGS ?= -rounds 3 -c 64 -n 20000 -warmup 2000 -flood-c 64 -max-rows 10000
bench-flood: ## real deliveries alone against beside a flood of forged ones from one client, and the journal's bounds (cmd/hookbench -flood)
	$(GO) run ./cmd/hookbench -flood $(HOOKBENCH_FLOOD_FLAGS) $(HOOKBENCH_FLAGS)

HOOKBENCH_RETENTION_FLAGS ?= -rounds 3 -old 100000 -rate 200 -steady-for 5s -max-run 3m
bench-retention: ## POST /webhook latency at a steady rate while retention deletes 100k old messages, against without (cmd/hookbench -retention)
	$(GO) run ./cmd/hookbench -retention $(HOOKBENCH_RETENTION_FLAGS) $(HOOKBENCH_FLAGS)
