# nutcracker: a Go twemproxy. `make run` for a local demo, `make test` for the test suite;
# README.md describes every target.
GO       ?= go
FUZZTIME ?= 30s
BIN      := bin/nutcracker
# The version -V prints and the stats document shows; without git, the go
# command's own stamp (see cmd/nutcracker/version.go).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS  := $(if $(VERSION),-X main.version=$(VERSION))

.PHONY: all build run test clients browser-test check soak bench bench-ab fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/nutcracker

# Builds, starts redis and memcached backends in a temp dir and runs the proxy on conf/nutcracker.yml.
run:
	bash scripts/run.sh

# The integration tests start real redis-server, redis-sentinel and memcached: deps.sh installs them.
test:
	bash scripts/deps.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 9m ./...
	# Without the race detector: allocation counts (NoAllocation), and the socket I/O of the
	# production build, which makes raw system calls where the race build uses package syscall
	# (-short: the sentinel failovers, seconds each, ran above).
	$(GO) test -short -count=1 ./internal/rawio ./internal/backend ./internal/proxy

# Real clients on their default options through the built proxy, -n 0 and default workers: ioredis
# 5 and 6, node-redis 4 and 5, Debian's redis-py, python-memcached and pylibmc, redis-cli. Installs
# them (apt-get, npm) when missing; prints a matrix (scripts/clients.sh).
clients: build
	bash scripts/clients.sh

# The status page (GET / on the stats port) in a real headless Chromium, in front of real redis-servers;
# installs Debian's chromium and chromium-driver when missing. Screenshots go to ARTIFACTS.
ARTIFACTS ?= $(CURDIR)/artifacts/browser
browser-test:
	bash scripts/deps.sh browser
	ARTIFACTS=$(ARTIFACTS) $(GO) test -race -count=1 -v -run '^TestStatusPage' ./internal/stats

# The correctness checker alone: clients verify every reply against their own model
# while backends are killed and paused (CHECK_DURATION, default 60s; soak: 10 minutes).
CHECK_DURATION ?= 60s
check:
	bash scripts/deps.sh
	NUTCRACKER_CHECK_DURATION=$(CHECK_DURATION) $(GO) test -race -count=1 -timeout 0 -run '^TestChecker$$' -v ./internal/proxy

soak:
	$(MAKE) check CHECK_DURATION=10m

# Direct redis vs Debian's twemproxy vs ours on the same backends (throughput and CPU, then
# latency p50/p99, a 10000-key MGET and proxy RSS), then ours with -n 0, 1 and 2 workers, then a
# 3-master Redis Cluster through ours vs redis-benchmark --cluster, then TLS: ours vs stunnel around
# twemproxy vs ours in plaintext (QUICK=1 ROUNDS=N, see the scripts).
bench:
	bash scripts/bench.sh
	bash scripts/bench_extra.sh
	bash scripts/bench_workers.sh
	bash scripts/bench_cluster.sh
	bash scripts/bench_tls.sh

# This tree against another revision of it, alternated on the same backends: BASE=<rev> make bench-ab.
bench-ab:
	bash scripts/bench_ab.sh

# Debian's prometheus (installed when missing) scrapes a master's stats port while faults are
# injected: the series and labels it stores, promtool check metrics, and contrib/prometheus/alerts.yml
# (promtool check rules and test rules, then the alerts firing in Prometheus itself).
.PHONY: prometheus-test
prometheus-test:
	bash scripts/deps.sh prometheus
	$(GO) test -race -count=1 -run '^TestPrometheus' -v ./cmd/nutcracker

# Every Fuzz* target in the module for FUZZTIME each, one at a time.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

clean:
	rm -rf bin artifacts
	rm -f ./*.test ./*.out ./*.prof ./*.pprof ./*.trace
