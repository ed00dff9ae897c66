# nutcracker: a Go twemproxy. `make run` for a local demo, `make test` for the test suite;
# README.md describes every target.
GO       ?= go
FUZZTIME ?= 30s
BIN      := bin/nutcracker
# The version -V prints and the stats document shows; without git, the go
# command's own stamp (see cmd/nutcracker/version.go).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS  := $(if $(VERSION),-X main.version=$(VERSION))

# make install: where the files go (DESTDIR stages them elsewhere). The installed binary's
# default -c is $(CONF); the plain build keeps conf/nutcracker.yml.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
CONF       := $(SYSCONFDIR)/nutcracker/nutcracker.yml
SUBST      := sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONF@|$(CONF)|g' -e 's|@VERSION@|$(VERSION)|g'

.PHONY: all build run test clients browser-test check soak bench bench-ab fuzz install deb deb-test clean

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
# twemproxy vs ours in plaintext, then what 5,000 idle or just-pinged clients and 1,000 to 50,000
# connections (10% busy) cost ours, twemproxy and predixy in memory and latency (QUICK=1 ROUNDS=N,
# see the scripts). Last, issue 21's goals table (scripts/bench_goals.sh): ours as -n 0 against
# twemproxy, direct redis and predixy, each goal met or not, and what bounds its CPU, -P 16 and
# big MGET rows (the proxies' kernel time, the backends' own CPU); predixy counts when given as
# PREDIXY_BIN, or PREDIXY_SRC (its source, built once into PREDIXY_CACHE), else its cells are n/a.
# Its raw samples go to BENCH_RESULTS.goals*, and its RSS rows come from BENCH_RESULTS.conns
# (scripts/bench_conns.sh), removed first so none is stale.
BENCH_RESULTS ?= $(CURDIR)/artifacts/bench/results
bench:
	mkdir -p $(dir $(BENCH_RESULTS))
	rm -f $(BENCH_RESULTS).conns
	bash scripts/bench.sh
	bash scripts/bench_extra.sh
	bash scripts/bench_workers.sh
	bash scripts/bench_cluster.sh
	bash scripts/bench_tls.sh
	RESULTS=$(BENCH_RESULTS) bash scripts/bench_conns.sh
	RESULTS=$(BENCH_RESULTS) bash scripts/bench_goals.sh

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

# The binary, its man page, the systemd unit and, where none is, the configuration (an existing
# one is never overwritten). The unit runs as user nutcracker: create it first (README.md).
install:
	$(GO) build -trimpath -ldflags "$(LDFLAGS) $(INSTALL_LDFLAGS) -X main.defaultConfFile=$(CONF)" -o bin/install/nutcracker ./cmd/nutcracker
	install -D -m 0755 bin/install/nutcracker $(DESTDIR)$(SBINDIR)/nutcracker
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	$(SUBST) packaging/nutcracker.8.in >$(DESTDIR)$(MANDIR)/man8/nutcracker.8
	$(SUBST) packaging/nutcracker.service.in >$(DESTDIR)$(UNITDIR)/nutcracker.service
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/nutcracker.8 $(DESTDIR)$(UNITDIR)/nutcracker.service
	test -e $(DESTDIR)$(CONF) || install -D -m 0644 packaging/nutcracker.yml $(DESTDIR)$(CONF)

# dist/nutcracker-go_<version>_<arch>.deb, replacing Debian's twemproxy package (packaging/build-deb.sh).
deb:
	GO=$(GO) VERSION=$(VERSION) bash packaging/build-deb.sh

# Builds the .deb, installs it (dpkg -i), runs the installed service against a real redis-server,
# reloads, rotates its log, stops it, removes and purges the package (scripts/deb_test.sh).
deb-test:
	GO=$(GO) VERSION=$(VERSION) bash scripts/deb_test.sh

clean:
	rm -rf bin artifacts dist
	rm -f ./*.test ./*.out ./*.prof ./*.pprof ./*.trace
