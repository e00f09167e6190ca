# Internal Transfer — build, run and test.
# A newcomer needs two commands: `make run` and `make test`.

GO        ?= go
VERSION   := $(shell cat VERSION)
LDFLAGS   := -s -w -X github.com/exchange/internal-transfer/config.Version=$(VERSION)
BIN       := bin
CONFIG    ?= config/dev.yaml
TEST_TIMEOUT ?= 14m
FUZZTIME  ?= 60s

.PHONY: all build run test test-short bench fuzz lint package clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build
	@if [ -x $(BIN)/gateway_service ]; then \
		exec $(BIN)/gateway_service -config $(CONFIG); \
	else \
		echo "make run: the gateway service (issue 4) is not built yet; nothing to start."; \
		exit 1; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./ledger/... ./store/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLedgerModel -fuzztime $(FUZZTIME) ./ledger/embedded/

package: build
	@echo "make package: see issue 7"; exit 1

clean:
	rm -rf $(BIN) dist
