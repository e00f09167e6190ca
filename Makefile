# Internal Transfer — build, run and test.
# A newcomer needs two commands: `make run` and `make test`.

GO           ?= go
VERSION      := $(shell tr -d ' \n' < VERSION)
LDFLAGS      := -s -w -X github.com/exchange/internal-transfer/config.Version=$(VERSION)
BIN          := bin
CONFIG       ?= config/dev.yaml
PROD_CONFIG  ?= config/internal_transfer_prod.yaml
TEST_TIMEOUT ?= 14m
FUZZTIME     ?= 60s
BENCH_COUNT  ?= 3

.PHONY: all build run test bench bench-overload chaos measure bench-micro fuzz lint schema package clean

all: build

## build: the three binaries into bin/ (gateway_service, settlement_service, itctl)
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/gateway_service ./cmd/settlement_service ./cmd/itctl

## run: the whole service on embedded backends (config/dev.yaml, data in ./data)
run: build
	@echo "internal-transfer $(VERSION): API + /health on 127.0.0.1:8080, admin on 127.0.0.1:8081, /metrics on 127.0.0.1:9090, Kafka on 127.0.0.1:9092"
	@echo "next, in another shell:"
	@echo "  bin/itctl deposit  --user 1000 --account funding --asset USDT --amount 100"
	@echo "  bin/itctl transfer --user 1000 --from funding --to spot --asset USDT --amount 10"
	@echo "  bin/itctl status   REQUEST_ID --user 1000"
	@echo "  bin/itctl balances --user 1000"
	exec $(BIN)/gateway_service -config $(CONFIG)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './data/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: lint, then every test (fuzz seeds, crash tests, end-to-end, promtool/haproxy checks)
test: lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## bench: the embedded service under bench/loadgen for 60 s, then itctl verify (bench/bench.sh)
bench: build
	bash bench/bench.sh bench

## bench-overload: about 2x capacity offered; the excess must be refused fast
bench-overload: build
	bash bench/bench.sh overload

## chaos: SIGKILL and restart the service under load CYCLES times (20), then verify
chaos: build
	bash bench/chaos.sh

## measure: regenerate docs/benchmarks.md (max rate, 5K/s, overload, chaos; ~15 min)
measure: build
	bash bench/measure.sh

## bench-micro: the benchmarks beside the code (ledger, store, batcher, ingress)
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./ledger/embedded/ ./store/embedded/ ./actors/... ./ingress/... ./ledger/

## fuzz: the fuzzers for longer than make test's fixed seeds
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLedgerModel -fuzztime $(FUZZTIME) ./ledger/embedded/
	$(GO) test -run '^$$' -fuzz FuzzParseAmount -fuzztime $(FUZZTIME) ./ingress/

## schema: apply schema/*.cql to the ScyllaDB cluster of $(PROD_CONFIG)
schema: build
	$(BIN)/itctl schema -config $(PROD_CONFIG)

## package: internal-transfer-v$(VERSION).tar.gz (binaries, config, schema, deploy)
package: build
	bash deploy/package.sh

clean:
	rm -rf $(BIN) dist internal-transfer-v*.tar.gz internal-transfer-v*.tar.gz.sha256
