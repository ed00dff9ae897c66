#!/usr/bin/env bash
# make bench: throughput and CPU cost of redis and memcached direct, Debian's twemproxy and our
# nutcracker on the same backends, on loopback.
#
# Redis: two redis-server backends, load from redis-benchmark. Memcached: two memcached backends
# (-m 64 -U 0), load from memcslap (libmemcached-tools) with --concurrency=CLIENTS and
# --execute-number=N/CLIENTS: "memcache SET" is --test=set (CLIENTS threads, each setting the same
# N/CLIENTS keys), "memcache GET" is --test=get (memcslap first sets those N/CLIENTS keys from one
# connection, then each thread gets N/CLIENTS random ones of them); rps is the count over the time
# memcslap prints for that phase, and a run with an error or fewer keys done than asked is thrown
# away. "direct" is one backend for both protocols (memcslap is given that one server only).
# Each protocol has its own proxy process per proxy (one pool, ketama, fnv1a_64, timeout 5000), so
# one that fails leaves the other protocol measured, and the CPU figures are per protocol.
#
# Layout (2 cores): the load generator runs on LOAD_CPU (0), the proxies and the backends share
# SERVER_CPU (1), so a proxy's CPU cost shows up as lost throughput, as it does on a busy host.
# Per round and workload the targets run in the order direct, twemproxy, ours, ours, twemproxy,
# direct; each run is one sample, so every target gets 2*ROUNDS samples per workload.
# The GET workloads run twice, the second time over RESP3 (redis-benchmark -3: each connection
# opens with HELLO 3), on direct and ours only: twemproxy has no RESP3, so its column is n/a. Under
# the table, ours's RESP3 GET against its RESP2 GET: rps and CPU per request, the latter to hold to
# at most 1.10.
# For the proxies, utime+stime of the proxy (and its child processes) is read from /proc before
# and after each run, giving CPU microseconds per request (for memcache GET the requests include
# memcslap's preload of N/CLIENTS sets, which goes through the proxy too).
#
# Environment (defaults in brackets):
#   ROUNDS [3]          rounds of the interleaved order
#   QUICK=1             smoke run: 1 round, a tenth of the requests (seconds, not minutes)
#   CLIENTS [50]        redis-benchmark connections, memcslap threads (one connection each)
#   KEYSPACE [100000]   -r: keys key:000000000000 .. key:<KEYSPACE-1>, all preloaded
#   N [100000]          requests per GET/SET -P 1 run, and per memcache GET/SET run
#   N_PIPE [500000]     requests per GET/SET -P 16 run (more, so a proxied run lasts over a second)
#   N_MGET [20000]      requests per MGET run
#   MGET_KEYS [100]     keys per MGET
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   RUN_TIMEOUT [120]   seconds before one redis-benchmark or memcslap run is abandoned
#   MAX_SECONDS [240]   no new round starts after this many seconds of runs
#   TWEMPROXY_BIN [/usr/sbin/nutcracker]
#   NUTCRACKER_BIN      our binary; default: build bin/nutcracker
#   OURS_ARGS [-n 1]    flags for our binary only (default: master + one worker, which with the
#                       pinning above is one core against twemproxy's one process)
#   RESULTS             also write the raw samples (TSV) to this file
#
# A target that cannot start (or fails its smoke check, or dies) is reported as n/a; the others go on.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 100000
if [ "$QUICK" = 1 ]; then
	N_MGET=${N_MGET:-2000}
fi
N_MGET=${N_MGET:-20000}
MGET_KEYS=${MGET_KEYS:-100}

PROTOCOLS=(redis memcache)
TARGETS=(direct twemproxy ours)
ORDER=(direct twemproxy ours ours twemproxy direct)


bash scripts/deps.sh bench

tmp_setup nutcracker-bench

# ---------------------------------------------------------------- helpers

pin_setup
clk_tck=$(getconf CLK_TCK)

declare -A PORT    # "proto/target" -> port
declare -A PID     # proxy target -> pid
declare -A NA      # target -> why it is not measured

# ---------------------------------------------------------------- redis

redis_setup() {
	local p1 p2
	alloc_port p1
	alloc_port p2
	start_redis "$p1" "${pin_server[@]}"
	start_redis "$p2" "${pin_server[@]}"
	REDIS_BACKENDS=("$p1" "$p2")
	PORT[redis/direct]=$p1
	alloc_port "PORT[redis/twemproxy]"
	alloc_port "PORT[redis/ours]"

	# Every key on both backends, so direct and proxied GET/MGET all hit.
	local p
	for p in "${REDIS_BACKENDS[@]}"; do redis_preload "$p"; done
}

# redis_pool_conf TARGET: the redis pool of a proxy's config.
redis_pool_conf() {
	cat <<EOF
bench_redis:
  listen: 127.0.0.1:${PORT[redis/$1]}
  hash: fnv1a_64
  distribution: ketama
  timeout: 5000
  redis: true
  servers:
   - 127.0.0.1:${REDIS_BACKENDS[0]}:1
   - 127.0.0.1:${REDIS_BACKENDS[1]}:1
EOF
}

# shellcheck disable=SC2034 # read through "declare -n workloads=${proto^^}_WORKLOADS"
REDIS_WORKLOADS=(get_p1 get_p1_resp3 set_p1 get_p16 get_p16_resp3 set_p16 mget)

# ---------------------------------------------------------------- memcache

MC_PER_THREAD=$((N / CLIENTS > 0 ? N / CLIENTS : 1)) # memcslap --execute-number

memcache_setup() {
	local p1 p2
	alloc_port p1
	alloc_port p2
	start_memcached "$p1" "${pin_server[@]}"
	start_memcached "$p2" "${pin_server[@]}"
	MEMCACHE_BACKENDS=("$p1" "$p2")
	PORT[memcache/direct]=$p1
	alloc_port "PORT[memcache/twemproxy]"
	alloc_port "PORT[memcache/ours]"
}

# memcache_pool_conf TARGET: the memcache pool of a proxy's config.
memcache_pool_conf() {
	cat <<EOC
bench_memcache:
  listen: 127.0.0.1:${PORT[memcache/$1]}
  hash: fnv1a_64
  distribution: ketama
  timeout: 5000
  redis: false
  servers:
   - 127.0.0.1:${MEMCACHE_BACKENDS[0]}:1
   - 127.0.0.1:${MEMCACHE_BACKENDS[1]}:1
EOC
}

# shellcheck disable=SC2034 # read through "declare -n workloads=${proto^^}_WORKLOADS"
MEMCACHE_WORKLOADS=(set get)
memcache_label() {
	case $1 in
	set) echo "memcache SET" ;;
	get) echo "memcache GET" ;;
	esac
}

# memcache_load WORKLOAD PORT LOG [WRAPPER...]: one memcslap run (through WRAPPER, e.g. taskset); prints "requests rps", requests counting
# every request the run sent (the get test's preload too), rps only the timed phase.
memcache_load() {
	local e=$MC_PER_THREAD
	timeout "$RUN_TIMEOUT" "${@:4}" memcslap --servers="127.0.0.1:$2" --test="$1" \
		--concurrency="$CLIENTS" --execute-number="$e" >"$3" 2>&1 || return 1
	# memcslap exits 0 after errors: it prints them, and counts only the keys done.
	grep -qi 'error' "$3" && return 1
	awk -v w="$1" -v c="$CLIENTS" -v e="$e" '
		$1 == "Time" && $2 == "to" && $3 == "set" && $5 == "keys:" { pre = $4 }
		$1 == "Time" && $2 == "to" && $3 == w && $5 == "keys" && $6 == "by" { n = $4; secs = $(NF - 1) }
		END {
			if (n != c * e || secs <= 0 || (w == "get" && pre != e)) exit 1
			printf "%d %d\n", n + (w == "get" ? pre : 0), n / secs
		}' "$3" && return 0
	echo "bench: memcslap did not report $((CLIENTS * e)) keys done (and $e preloaded, for get)" >>"$3"
	return 1
}

# ---------------------------------------------------------------- proxies

# start_proxy PROTO TARGET BINARY EXTRA_ARGS...: one proxy process with the PROTO pool, generated
# config, pinned, stats on a free port.
start_proxy() {
	local proto=$1 target=$2 bin=$3 stats pid
	shift 3
	local name=$proto-$target
	local conf=$tmp/$name.yml
	"${proto}_pool_conf" "$target" >"$conf"
	alloc_port stats
	"${pin_server[@]}" "$bin" -c "$conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$name.log" "$@" </dev/null \
		>"$tmp/$name.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$pid" "${PORT[$proto/$target]}"; then
		NA[$proto/$target]="exited or did not listen on port ${PORT[$proto/$target]}"
		log "$target ($proto pool): ${NA[$proto/$target]}; its output:"
		tail -n 5 "$tmp/$name.out" "$tmp/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		kill -KILL "$pid" 2>/dev/null || true
		return
	fi
	if ! "${proto}_smoke" "${PORT[$proto/$target]}"; then
		NA[$proto/$target]="failed the $proto smoke check"
		log "$target ($proto pool): ${NA[$proto/$target]}; its log:"
		tail -n 5 "$tmp/$name.out" "$tmp/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		kill -KILL "$pid" 2>/dev/null || true
		return
	fi
	PID[$proto/$target]=$pid
}

for proto in "${PROTOCOLS[@]}"; do "${proto}_setup"; done

if [ -n "${NUTCRACKER_BIN:-}" ]; then
	ours_bin=$NUTCRACKER_BIN
else
	ours_bin=bin/nutcracker
	if ! build_ours bin/nutcracker >"$tmp/build.log" 2>&1; then
		NA[ours]="build failed: $(head -n 1 "$tmp/build.log")"
	fi
fi
for t in twemproxy ours; do
	bin=$TWEMPROXY_BIN args=()
	# shellcheck disable=SC2206 # OURS_ARGS is a list of flags
	[ "$t" = twemproxy ] || bin=$ours_bin args=(${OURS_ARGS--n 1})
	[ -n "${NA[$t]:-}" ] || [ -x "$bin" ] || NA[$t]="$bin not found"
	if [ -n "${NA[$t]:-}" ]; then
		log "$t: n/a (${NA[$t]})"
		continue
	fi
	for proto in "${PROTOCOLS[@]}"; do start_proxy "$proto" "$t" "$bin" "${args[@]}"; done
done

# ---------------------------------------------------------------- runs

samples=$tmp/samples.tsv
printf 'protocol\tworkload\ttarget\tround\trequests\trps\tcpu_us_per_req\n' >"$samples"
runs=0
start=$SECONDS

# run_sample PROTO WORKLOAD TARGET ROUND
run_sample() {
	local proto=$1 w=$2 t=$3 pid=${PID[$1/$3]:-} out n rps cpu
	[ -z "${NA[$t]:-}" ] && [ -z "${NA[$proto/$t]:-}" ] || return 0
	[[ $t != twemproxy || $w != *_resp3 ]] || return 0 # twemproxy answers HELLO with an error
	runs=$((runs + 1))
	if ! out=$(load_with_cpu "$pid" "${proto}_load" "$w" "${PORT[$proto/$t]}" "$tmp/run-$runs.log" "${pin_load[@]}"); then
		log "$("${proto}_label" "$w") on $t: run failed: $(run_error "$tmp/run-$runs.log")"
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			NA[$proto/$t]="died during the runs"
			log "$t ($proto pool): ${NA[$proto/$t]}"
		fi
		return 0
	fi
	read -r n rps cpu <<<"$out"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proto" "$w" "$t" "$4" "$n" "$rps" "$cpu" >>"$samples"
}

log "rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE n_mget=$N_MGET memcslap_execute_number=$MC_PER_THREAD (load on cpu ${pin_load[2]:-any}, servers on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rounds_done=0
for ((round = 1; round <= ROUNDS; round++)); do
	if ((SECONDS - start > MAX_SECONDS)); then
		log "over MAX_SECONDS=$MAX_SECONDS after $rounds_done rounds: stopping early"
		break
	fi
	for proto in "${PROTOCOLS[@]}"; do
		declare -n workloads="${proto^^}_WORKLOADS"
		for w in "${workloads[@]}"; do
			log "round $round/$ROUNDS: $("${proto}_label" "$w")"
			for t in "${ORDER[@]}"; do run_sample "$proto" "$w" "$t" "$round"; done
		done
		unset -n workloads
	done
	rounds_done=$round
done

# ---------------------------------------------------------------- report

[ -z "${RESULTS:-}" ] || cp "$samples" "$RESULTS"

echo
echo "nutcracker bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "  $(redis-server --version | cut -d' ' -f1-3), $(memcached -V 2>&1 | head -n 1), $(memcslap -V 2>&1 | head -n 1)," \
	"twemproxy $("$TWEMPROXY_BIN" -V 2>&1 | sed -n 's/.*nutcracker-//p' | head -n 1)"
echo "  $rounds_done of $ROUNDS rounds x 2 samples per target, $CLIENTS clients, -r $KEYSPACE," \
	"memcslap -e $MC_PER_THREAD, $((SECONDS - start)) s of runs"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
echo "  ours runs with: ${OURS_ARGS--n 1} (CPU figures sum its process tree)"
echo "  rps: median (min-max) over the samples; ratios of medians; CPU: proxy utime+stime per request, median"
for t in "${TARGETS[@]}"; do
	[ -z "${NA[$t]:-}" ] || echo "  $t: n/a (${NA[$t]})"
	for proto in "${PROTOCOLS[@]}"; do
		[ -z "${NA[$proto/$t]:-}" ] || echo "  $t, $proto pool: n/a (${NA[$proto/$t]})"
	done
done
echo

labels=$tmp/labels.tsv
: >"$labels"
for proto in "${PROTOCOLS[@]}"; do
	declare -n workloads="${proto^^}_WORKLOADS"
	for w in "${workloads[@]}"; do printf '%s\t%s\t%s\n' "$proto" "$w" "$("${proto}_label" "$w")" >>"$labels"; done
	unset -n workloads
done

awk -F'\t' "$report_awk"'
	function cpucol(key, m) { m = median(key); return m == "" ? "n/a" : sprintf("%.1f", m) }
	FILENAME == ARGV[1] { label[++nw] = $3; wkey[nw] = $1 SUBSEP $2; labelOf[wkey[nw]] = $3; next }
	FNR == 1 { next }
	{ k = $1 SUBSEP $2; add(k SUBSEP $3 SUBSEP "rps", $6); add(k SUBSEP $3 SUBSEP "cpu", $7) }
	END {
		fmt = "%-22s %-27s %-27s %-27s %8s %8s %9s %11s\n"
		printf fmt, "workload", "direct rps", "twemproxy rps", "ours rps", "ours/tw", "ours/dir", "tw us/req", "ours us/req"
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			d = median(k SUBSEP "direct" SUBSEP "rps"); tw = median(k SUBSEP "twemproxy" SUBSEP "rps"); o = median(k SUBSEP "ours" SUBSEP "rps")
			printf fmt, label[i], rpscol(k SUBSEP "direct" SUBSEP "rps"), rpscol(k SUBSEP "twemproxy" SUBSEP "rps"), rpscol(k SUBSEP "ours" SUBSEP "rps"),
				ratio(o, tw), ratio(o, d), cpucol(k SUBSEP "twemproxy" SUBSEP "cpu"), cpucol(k SUBSEP "ours" SUBSEP "cpu")
			if (o != "" && tw != "" && tw > 0) { lsum += log(o / tw); nr++ }
		}
		printf "\ngeometric mean ours/twemproxy: %s\n", nr ? sprintf("%.2f (over %d workloads)", exp(lsum / nr), nr) : "n/a"
		for (i = 1; i <= nw; i++) {
			if (wkey[i] !~ /_resp3$/) continue
			k3 = wkey[i]; k2 = substr(k3, 1, length(k3) - 6)
			o3 = median(k3 SUBSEP "ours" SUBSEP "rps"); o2 = median(k2 SUBSEP "ours" SUBSEP "rps")
			c3 = median(k3 SUBSEP "ours" SUBSEP "cpu"); c2 = median(k2 SUBSEP "ours" SUBSEP "cpu")
			d3 = median(k3 SUBSEP "direct" SUBSEP "rps"); d2 = median(k2 SUBSEP "direct" SUBSEP "rps")
			printf "RESP3/RESP2 for %s: ours rps %s, ours CPU per request %s (goal: at most 1.10); direct rps %s\n",
				labelOf[k2], ratio(o3, o2), ratio(c3, c2), ratio(d3, d2)
		}
	}' "$labels" "$samples"
