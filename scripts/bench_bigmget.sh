#!/usr/bin/env bash
# The 10,000-key MGET of issue 21 (one MGET through ours, divided by the same straight to a redis)
# in the states the proxy goes through during make bench, to tell what a load leaves in the proxy
# from what it leaves in the machine. Layout as scripts/bench_goals.sh: two redis-server backends
# and ours (-n 0, the pool of bench_goals.sh) on SERVER_CPU, redis-benchmark on LOAD_CPU.
#
# Steps, in this order, each a round of big MGET runs in the order direct, ours, ours, direct
# (redis-benchmark -c 1 -n BIG_MGET_N, a run's figure its p50; direct is the first backend):
#   fresh           after start and a warm-up
#   proxy-load      right after LOAD_N GET and SET at -P 16 from CLIENTS clients through ours
#   proxy-settled   SETTLE seconds later: the proxy has returned its memory (proxy/memory.go)
#   machine-load    right after the same load sent straight to the backends, ours untouched
#   machine-settled SETTLE seconds later
# If ours/direct rises as much after machine-load as after proxy-load, what slows the big MGET
# is in the machine or the backends, not in the proxy's state.
#
# A line per step: the p50s (mean of the step's two runs of each target), their ratio, and ours'
# CPU time and minor page faults per MGET over its two runs (from /proc/PID/task/*/schedstat and
# /proc/PID/stat).
#
# Environment (defaults in brackets):
#   BIG_MGET_KEYS [10000], BIG_MGET_N [50]   keys per MGET, MGETs per run
#   LOAD_N [300000]     requests of each of GET and SET in a load
#   CLIENTS [50], KEYSPACE [100000]   the load's, as in scripts/bench.sh
#   SETTLE [6]          seconds between a load's step and the next (the proxy looks at its memory
#                       every 5 s)
#   LOAD_CPU [0], SERVER_CPU [1], RUN_TIMEOUT [120], NUTCRACKER_BIN, OURS_ARGS [-n 0]
#   QUICK=1             BIG_MGET_N 20 and LOAD_N 50000
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 100000
if [ "$QUICK" = 1 ]; then
	LOAD_N=${LOAD_N:-50000}
fi
big_mget_defaults
LOAD_N=${LOAD_N:-300000}
SETTLE=${SETTLE:-6}
OURS_ARGS=${OURS_ARGS--n 0}


bash scripts/deps.sh bench
tmp_setup nutcracker-bench-bigmget
pin_setup
ours_build || die "ours: $OURS_NA"

b1='' b2='' port='' stats=''
alloc_port b1
alloc_port b2
alloc_port port
alloc_port stats
start_redis "$b1" "${pin_server[@]}"
start_redis "$b2" "${pin_server[@]}"
redis_preload "$b1"
redis_preload "$b2"
redis_pool_yaml bench_redis "$port" "$b1" "$b2" >"$tmp/ours.yml"
# shellcheck disable=SC2086 # OURS_ARGS is a list of flags
"${pin_server[@]}" "$ours_bin" -c "$tmp/ours.yml" -s "$stats" -a 127.0.0.1 -o "$tmp/ours.log" $OURS_ARGS \
	</dev/null >"$tmp/ours.out" 2>&1 &
ours=$!
pids+=("$ours")
if ! wait_port "$ours" "$port" || ! redis_smoke "$port"; then
	die "ours did not start or failed its smoke check (see $tmp/ours.log)"
fi

big_mget_keys "$BIG_MGET_KEYS"
for p in "$b1" "$port"; do
	big_mget "$p" 10 "$tmp/warmup-$p.log" || die "warm-up on port $p failed: $(run_error "$tmp/warmup-$p.log")"
done

# ours_usage: ours' CPU time in ns (its threads' schedstat) and its minor page faults.
ours_usage() {
	local ns
	ns=$(cat /proc/"$ours"/task/*/schedstat | awk '{ s += $1 } END { print s }')
	echo "$ns $(awk '{ print $10 }' /proc/"$ours"/stat)"
}

# load PORT: LOAD_N GETs and SETs at -P 16 from CLIENTS clients to 127.0.0.1:PORT; then the big
# keys back to "xxx".
load() {
	timeout "$RUN_TIMEOUT" "${pin_load[@]}" redis-benchmark -h 127.0.0.1 -p "$1" -c "$CLIENTS" -P 16 \
		-n "$LOAD_N" -r "$KEYSPACE" -t get,set -q >"$tmp/load.log" 2>&1 || die "load on port $1 failed: $(run_error "$tmp/load.log")"
	KEYSPACE=$BIG_MGET_KEYS redis_preload "$b1"
	KEYSPACE=$BIG_MGET_KEYS redis_preload "$b2"
}

runs=0
# step NAME: a round direct, ours, ours, direct; prints its line.
step() {
	local t p50 before after sum_d=0 sum_o=0
	for t in "$b1" "$port" "$port" "$b1"; do
		runs=$((runs + 1))
		[ "$t" != "$port" ] || before=${before:-$(ours_usage)}
		if ! big_mget "$t" "$BIG_MGET_N" "$tmp/run-$runs.log" || ! p50=$(bench_csv "$tmp/run-$runs.log" p50_latency_ms); then
			die "$1: run on port $t failed: $(run_error "$tmp/run-$runs.log")"
		fi
		[ "$t" != "$port" ] || after=$(ours_usage)
		if [ "$t" = "$port" ]; then sum_o=$(awk -v a="$sum_o" -v b="$p50" 'BEGIN { print a + b }'); else
			sum_d=$(awk -v a="$sum_d" -v b="$p50" 'BEGIN { print a + b }'); fi
	done
	awk -v step="$1" -v d="$sum_d" -v o="$sum_o" -v before="$before" -v after="$after" -v n=$((2 * BIG_MGET_N)) 'BEGIN {
		split(before, b, " "); split(after, a, " ")
		printf "%-16s %9.3f %9.3f %7.2f %10.0f %9.1f\n", step, d / 2, o / 2, o / d, (a[1] - b[1]) / 1e3 / n, (a[2] - b[2]) / n
	}'
}

echo
echo "nutcracker bench, one MGET of $BIG_MGET_KEYS keys by state: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $BIG_MGET_N MGETs a run (p50, ms), $LOAD_N GET and SET per load at -P 16 from $CLIENTS clients, settled $SETTLE s;" \
	"ours: $ours_bin ${OURS_ARGS:-(no flags)}"
printf '%-16s %9s %9s %7s %10s %9s\n' step direct ours ratio "us/MGET" "faults"
step fresh
load "$port"
step proxy-load
sleep "$SETTLE"
step proxy-settled
load "$b1"
load "$b2"
step machine-load
sleep "$SETTLE"
step machine-settled
