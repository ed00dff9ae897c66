#!/usr/bin/env bash
# make bench, last part: a Redis Cluster through our nutcracker against the same cluster driven
# directly by a cluster-aware client, on loopback.
#
# The cluster: 3 redis-server masters, no replicas (cluster-enabled, each with its own cluster bus
# port, joined by redis-cli --cluster create), KEYSPACE keys key:000000000000 .. key:<KEYSPACE-1>
# preloaded on the masters that own their slots. Targets:
#   direct  redis-benchmark --cluster, given one master: it asks the cluster for its masters and
#           spreads its CLIENTS connections over them
#   ours    our proxy with one pool, redis_cluster: true, the first master as its only seed (it
#           finds the other two); plain redis-benchmark against the pool's address
# Workloads: GET and SET, -P 1 and -P 16, CLIENTS connections, -r KEYSPACE. redis-benchmark in
# cluster mode puts a hash tag of one of its node's slots into every key ("key{tag}:<n>", a new
# tag per request or pipeline of -P), so the two targets do not see the same keys:
#   - direct's GETs miss (its tagged keys were never set: there are 16384*KEYSPACE of them) while
#     ours's hit the preloaded keys, and direct's SETs mostly create keys where ours's overwrite;
#     with 3-byte values the replies differ by 4 bytes;
#   - direct's pipelines of 16 go whole to one node, while ours's keys are random over every slot,
#     so the proxy splits each pipeline over the 3 masters and puts the replies back in order,
#     as it must for a plain client.
#
# Layout (2 cores), as scripts/bench.sh: redis-benchmark runs on LOAD_CPU (0), the masters and the
# proxy share SERVER_CPU (1), so the proxy's CPU cost shows up as lost throughput. Per round and
# workload the targets run in the order direct, ours, ours, direct; each run is one sample, so
# each target gets 2*ROUNDS samples per workload. utime+stime of the proxy's process tree (master
# and worker) is read from /proc before and after each run, giving CPU microseconds per request.
#
# Environment (defaults in brackets):
#   ROUNDS [3]          rounds of the interleaved order
#   QUICK=1             smoke run: 1 round, a tenth of the requests (seconds, not minutes)
#   CLIENTS [50]        redis-benchmark connections
#   KEYSPACE [100000]   -r, and the keys preloaded
#   N [100000]          requests per GET/SET -P 1 run
#   N_PIPE [500000]     requests per GET/SET -P 16 run
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   RUN_TIMEOUT [120]   seconds before one redis-benchmark run is abandoned
#   MAX_SECONDS [240]   no new round starts after this many seconds of runs
#   NUTCRACKER_BIN      our binary; default: build bin/nutcracker
#   OURS_ARGS [-n 1]    flags for our binary (default: master + one worker)
#   RESULTS             also write the raw samples (TSV) to this file
#
# A target that cannot start (or fails its smoke check, or dies) is reported as n/a; the other
# goes on. A cluster that does not form, or does not take the preload, stops the script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 100000

TARGETS=(direct ours)
ORDER=(direct ours ours direct)
WORKLOADS=(get_p1 set_p1 get_p16 set_p16)
MASTERS=3


bash scripts/deps.sh

tmp_setup nutcracker-bench-cluster

# ---------------------------------------------------------------- helpers

pin_setup
clk_tck=$(getconf CLK_TCK)

declare -A PORT # target -> the port redis-benchmark is given
declare -A NA   # target -> why it is not measured
ours_pid=

label() {
	case $1 in
	get_p1) echo "cluster GET -P 1" ;;
	set_p1) echo "cluster SET -P 1" ;;
	get_p16) echo "cluster GET -P 16" ;;
	set_p16) echo "cluster SET -P 16" ;;
	esac
}

# start_cluster_node PORT: an empty cluster-enabled redis-server on 127.0.0.1:PORT, pinned, with a
# cluster bus port of its own (the default, PORT+10000, may be taken or ephemeral), in pids.
start_cluster_node() {
	local bus
	alloc_port bus
	"${pin_server[@]}" redis-server --port "$1" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
		--cluster-enabled yes --cluster-port "$bus" --cluster-config-file "nodes-$1.conf" \
		--daemonize no --logfile "$tmp/redis-$1.log" </dev/null &
	pids+=($!)
	wait_port $! "$1" || die "redis-server on port $1 did not start (see $tmp/redis-$1.log)"
}

# cluster_ok PORT: the node at PORT says cluster_state:ok.
cluster_ok() {
	timeout 5 redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

# ---------------------------------------------------------------- cluster

masters=()
for ((i = 0; i < MASTERS; i++)); do
	node=''
	alloc_port node
	start_cluster_node "$node"
	masters+=("$node")
done
PORT[direct]=${masters[0]}

create=(redis-cli --cluster create)
for p in "${masters[@]}"; do create+=("127.0.0.1:$p"); done
timeout 60 "${create[@]}" --cluster-replicas 0 --cluster-yes >"$tmp/create.log" 2>&1 ||
	die "redis-cli --cluster create failed: $(run_error "$tmp/create.log")"
for p in "${masters[@]}"; do
	for ((i = 0; i < 200; i++)); do
		cluster_ok "$p" && break
		sleep 0.05
	done
	cluster_ok "$p" || die "the node on port $p does not say cluster_state:ok within 10 s"
done

# Every master is sent every SET: it stores the keys of its own slots and answers MOVED to the
# others (redis-cli --pipe then exits 1), which spares computing slots here. Together the masters
# must then hold each key once.
for p in "${masters[@]}"; do
	awk -v n="$KEYSPACE" 'BEGIN { for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$3\r\nxxx\r\n", i }' |
		redis-cli -p "$p" --pipe >"$tmp/preload-$p.log" 2>/dev/null || true
done
keys=0
for p in "${masters[@]}"; do keys=$((keys + $(redis-cli -p "$p" dbsize | tr -d '\r'))); done
[ "$keys" -eq "$KEYSPACE" ] || die "the masters hold $keys keys after the preload, not $KEYSPACE"

# ---------------------------------------------------------------- proxy

if [ -n "${NUTCRACKER_BIN:-}" ]; then
	bin=$NUTCRACKER_BIN
else
	bin=bin/nutcracker
	build_ours bin/nutcracker >"$tmp/build.log" 2>&1 || NA[ours]="build failed: $(head -n 1 "$tmp/build.log")"
fi
[ -n "${NA[ours]:-}" ] || [ -x "$bin" ] || NA[ours]="$bin not found"

# start_ours: the proxy, generated config, pinned, stats on a free port; waits for the listen
# port and a correct smoke check (the pool fetches the slot map as it starts: a few tries).
start_ours() {
	local conf=$tmp/ours.yml stats pid i
	alloc_port "PORT[ours]"
	alloc_port stats
	cat >"$conf" <<EOF
bench_cluster:
  listen: 127.0.0.1:${PORT[ours]}
  redis: true
  redis_cluster: true
  timeout: 5000
  servers:
   - 127.0.0.1:${masters[0]}:1
EOF
	# shellcheck disable=SC2086 # OURS_ARGS is a list of flags
	"${pin_server[@]}" "$bin" -c "$conf" -s "$stats" -a 127.0.0.1 -o "$tmp/ours.log" ${OURS_ARGS--n 1} </dev/null \
		>"$tmp/ours.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$pid" "${PORT[ours]}"; then
		NA[ours]="exited or did not listen on port ${PORT[ours]}"
	else
		for ((i = 0; i < 20; i++)); do
			redis_smoke "${PORT[ours]}" && break
			sleep 0.1
		done
		((i < 20)) || NA[ours]="failed the smoke check"
	fi
	if [ -n "${NA[ours]:-}" ]; then
		log "ours: ${NA[ours]}; its output:"
		tail -n 5 "$tmp/ours.out" "$tmp/ours.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		kill -KILL "$pid" 2>/dev/null || true
		return
	fi
	ours_pid=$pid
}

if [ -z "${NA[ours]:-}" ]; then
	start_ours
else
	log "ours: n/a (${NA[ours]})"
fi

# ---------------------------------------------------------------- runs

samples=$tmp/samples.tsv
printf 'workload\ttarget\tround\trequests\trps\tcpu_us_per_req\n' >"$samples"
runs=0
start=$SECONDS

# run_sample WORKLOAD TARGET ROUND
run_sample() {
	local w=$1 t=$2 load=$1 pid='' out n rps cpu
	[ -z "${NA[$t]:-}" ] || return 0
	if [ "$t" = direct ]; then
		load=${w}_cluster
	else
		pid=$ours_pid
	fi
	runs=$((runs + 1))
	if ! out=$(load_with_cpu "$pid" redis_load "$load" "${PORT[$t]}" "$tmp/run-$runs.log" "${pin_load[@]}"); then
		log "$(label "$w") on $t: run failed: $(run_error "$tmp/run-$runs.log")"
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			NA[$t]="died during the runs"
			log "$t: ${NA[$t]}"
		fi
		return 0
	fi
	read -r n rps cpu <<<"$out"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" "$3" "$n" "$rps" "$cpu" >>"$samples"
}

log "rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE (load on cpu ${pin_load[2]:-any}, masters and proxy on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_rounds

# ---------------------------------------------------------------- report

[ -z "${RESULTS:-}" ] || cp "$samples" "$RESULTS"

echo
echo "nutcracker cluster bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "  $(redis-server --version | cut -d' ' -f1-3), a cluster of $MASTERS masters (no replicas), $KEYSPACE keys preloaded"
echo "  direct: redis-benchmark --cluster; ours: a redis_cluster pool seeded with one master, run with ${OURS_ARGS--n 1}"
echo "  direct's keys carry a hash tag per request: its GETs miss and its -P 16 pipelines go to one"
echo "  master each; ours's GETs hit and its pipelines are split over the 3 masters"
echo "  $rounds_done of $ROUNDS rounds x 2 samples per target, $CLIENTS clients, -r $KEYSPACE, $((SECONDS - start)) s of runs"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
echo "  rps: median (min-max) over the samples; ratio of medians; CPU: proxy utime+stime per request, median"
for t in "${TARGETS[@]}"; do
	[ -z "${NA[$t]:-}" ] || echo "  $t: n/a (${NA[$t]})"
done
echo

labels=$tmp/labels.tsv
: >"$labels"
for w in "${WORKLOADS[@]}"; do printf '%s\t%s\n' "$w" "$(label "$w")" >>"$labels"; done

awk -F'\t' "$report_awk"'
	function cpucol(key, m) { m = median(key); return m == "" ? "n/a" : sprintf("%.1f", m) }
	FILENAME == ARGV[1] { label[++nw] = $2; wkey[nw] = $1; next }
	FNR == 1 { next }
	{ add($1 SUBSEP $2 SUBSEP "rps", $5); add($1 SUBSEP $2 SUBSEP "cpu", $6) }
	END {
		fmt = "%-18s %-27s %-27s %8s %11s\n"
		printf fmt, "workload", "direct rps", "ours rps", "ours/dir", "ours us/req"
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			d = median(k SUBSEP "direct" SUBSEP "rps"); o = median(k SUBSEP "ours" SUBSEP "rps")
			printf fmt, label[i], rpscol(k SUBSEP "direct" SUBSEP "rps"), rpscol(k SUBSEP "ours" SUBSEP "rps"),
				ratio(o, d), cpucol(k SUBSEP "ours" SUBSEP "cpu")
			if (o != "" && d != "" && d > 0) { lsum += log(o / d); nr++ }
		}
		printf "\ngeometric mean ours/direct: %s\n", nr ? sprintf("%.2f (over %d workloads)", exp(lsum / nr), nr) : "n/a"
	}' "$labels" "$samples"
