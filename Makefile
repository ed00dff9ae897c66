# nutcracker: a Go twemproxy. `make run` for a local demo, `make test` for the test suite;
# README.md describes every target.
GO       ?= go
FUZZTIME ?= 30s
BIN      := bin/nutcracker

.PHONY: all build run test bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/nutcracker

# Builds, starts redis and memcached backends in a temp dir and runs the proxy on conf/nutcracker.yml.
run:
	bash scripts/run.sh

# The integration tests start real redis-server, redis-sentinel and memcached: deps.sh installs them.
test:
	bash scripts/deps.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...

# Direct redis vs Debian's twemproxy vs ours on the same backends (QUICK=1 ROUNDS=N, see the script).
bench:
	bash scripts/bench.sh

# Every Fuzz* target in the module for FUZZTIME each, one at a time.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

clean:
	rm -rf bin
	rm -f ./*.test ./*.out ./*.prof ./*.pprof ./*.trace
