#!/usr/bin/env bash
# make bench, second part: how our nutcracker scales with its worker processes. The same proxy
# binary and config run as four targets, each its own process tree with its own listen and stats
# port, in front of the same two redis-server backends (one pool, ketama, fnv1a_64, timeout 5000):
#   n0     -n 0        one process, no master
#   n1     -n 1        master + 1 worker
#   n2     -n 2        master + 2 workers (GOMAXPROCS split between them by the master)
#   n2M3   -n 2 -M 3   master + 2 workers, worker 1 pinned to cpu 0, worker 2 to cpu 1
# Load from redis-benchmark: GET and SET, -P 1 and -P 16, CLIENTS connections, random keys of
# KEYSPACE, all preloaded on both backends (as scripts/bench.sh does).
#
# Layout: NOTHING is pinned (unlike scripts/bench.sh): load generator, backends and proxies share
# every core, since the question is which -n uses the machine's cores best, not the cost of one
# proxy on a core of its own. The numbers therefore include the scheduler's placement, and vary
# more than bench.sh's. Per round and workload the targets run in the order
# n0 n1 n2 n2M3 n2M3 n2 n1 n0; each run is one sample, so every target gets 2*ROUNDS samples per
# workload. utime+stime of the proxy's process tree (master and workers) is read from /proc
# before and after each run, giving CPU microseconds per request; for the 2-worker targets the
# busiest worker's share of the workers' CPU shows how evenly the connections spread (50% = even).
#
# Environment (defaults in brackets):
#   ROUNDS [3]          rounds of the interleaved order
#   QUICK=1             smoke run: 1 round, a tenth of the requests (seconds, not minutes)
#   CLIENTS [50]        redis-benchmark connections
#   KEYSPACE [100000]   -r: keys key:000000000000 .. key:<KEYSPACE-1>, all preloaded
#   N [100000]          requests per GET/SET -P 1 run
#   N_PIPE [500000]     requests per GET/SET -P 16 run
#   RUN_TIMEOUT [120]   seconds before one redis-benchmark run is abandoned
#   MAX_SECONDS [240]   no new round starts after this many seconds of runs
#   NUTCRACKER_BIN      our binary; default: build bin/nutcracker
#   OURS_ARGS           extra flags for every target
#   RESULTS             also write the raw samples (TSV) to this file
#
# A target that cannot start (or fails its smoke check, or dies) is reported as n/a; the others go on.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 100000

TARGETS=(n0 n1 n2 n2M3)
ORDER=(n0 n1 n2 n2M3 n2M3 n2 n1 n0)
declare -A FLAGS=([n0]="-n 0" [n1]="-n 1" [n2]="-n 2" [n2M3]="-n 2 -M 3")
declare -A WORKERS=([n0]=0 [n1]=1 [n2]=2 [n2M3]=2)
WORKLOADS=(get_p1 set_p1 get_p16 set_p16)


bash scripts/deps.sh

tmp_setup nutcracker-bench-workers

# ---------------------------------------------------------------- helpers

clk_tck=$(getconf CLK_TCK)

# children PID: the number of live direct children of PID.
children() {
	proc_table | awk -v root="$1" '$2 == root && $3 != "Z" { n++ } END { print n + 0 }'
}

declare -A PORT # target -> listen port
declare -A PID  # target -> pid of its process (the master, or the only one for n0)
declare -A NA   # target -> why it is not measured

label() {
	case $1 in
	get_p1) echo "GET -P 1" ;;
	set_p1) echo "SET -P 1" ;;
	get_p16) echo "GET -P 16" ;;
	set_p16) echo "SET -P 16" ;;
	esac
}

# ---------------------------------------------------------------- backends and proxies

b1='' b2=''
alloc_port b1
alloc_port b2
start_redis "$b1"
start_redis "$b2"
redis_preload "$b1"
redis_preload "$b2"

build_na=
if [ -n "${NUTCRACKER_BIN:-}" ]; then
	bin=$NUTCRACKER_BIN
else
	bin=bin/nutcracker
	build_ours bin/nutcracker >"$tmp/build.log" 2>&1 || build_na="build failed: $(head -n 1 "$tmp/build.log")"
fi
[ -n "$build_na" ] || [ -x "$bin" ] || build_na="$bin not found"

# start_target TARGET: the proxy with TARGET's flags, generated config, stats on its own port;
# waits for the listen port, the expected number of workers and a correct smoke check.
start_target() {
	local t=$1 stats pid i
	local conf=$tmp/$t.yml
	alloc_port "PORT[$t]"
	alloc_port stats
	cat >"$conf" <<EOF
bench_redis:
  listen: 127.0.0.1:${PORT[$t]}
  hash: fnv1a_64
  distribution: ketama
  timeout: 5000
  redis: true
  servers:
   - 127.0.0.1:$b1:1
   - 127.0.0.1:$b2:1
EOF
	# shellcheck disable=SC2086 # FLAGS and OURS_ARGS are lists of flags
	"$bin" -c "$conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$t.log" ${FLAGS[$t]} ${OURS_ARGS:-} </dev/null \
		>"$tmp/$t.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$pid" "${PORT[$t]}"; then
		NA[$t]="exited or did not listen on port ${PORT[$t]}"
	else
		for ((i = 0; i < 100; i++)); do
			[ "$(children "$pid")" -lt "${WORKERS[$t]}" ] || break
			sleep 0.05
		done
		if [ "$(children "$pid")" -ne "${WORKERS[$t]}" ]; then
			NA[$t]="has $(children "$pid") worker processes, not ${WORKERS[$t]}"
		elif ! redis_smoke "${PORT[$t]}"; then
			NA[$t]="failed the smoke check"
		fi
	fi
	if [ -n "${NA[$t]:-}" ]; then
		log "$t: ${NA[$t]}; its output:"
		tail -n 5 "$tmp/$t.out" "$tmp/$t.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		kill -TERM "$pid" 2>/dev/null || true
		return
	fi
	PID[$t]=$pid
}

for t in "${TARGETS[@]}"; do
	if [ -n "$build_na" ]; then
		NA[$t]=$build_na
	elif [ "$t" = n2M3 ] && [ "$(nproc)" -lt 2 ]; then
		NA[$t]="needs 2 cores"
	else
		start_target "$t"
		continue
	fi
	log "$t: n/a (${NA[$t]})"
done

# ---------------------------------------------------------------- runs

samples=$tmp/samples.tsv
printf 'workload\ttarget\tround\trequests\trps\tcpu_us_per_req\ttop_worker_pct\n' >"$samples"
runs=0
start=$SECONDS

# run_sample WORKLOAD TARGET ROUND
run_sample() {
	local w=$1 t=$2 pid=${PID[$2]:-} before after out
	[ -n "$pid" ] && [ -z "${NA[$t]:-}" ] || return 0
	before=$(cpu_ticks "$pid" subtrees)
	runs=$((runs + 1))
	if ! out=$(redis_load "$w" "${PORT[$t]}" "$tmp/run-$runs.log"); then
		log "$(label "$w") on $t: run failed: $(run_error "$tmp/run-$runs.log")"
		if ! kill -0 "$pid" 2>/dev/null; then
			NA[$t]="died during the runs"
			log "$t: ${NA[$t]}"
		fi
		return 0
	fi
	after=$(cpu_ticks "$pid" subtrees)
	local n=${out% *} rps=${out#* }
	# CPU per request over the whole tree; busiest worker's share of the workers' CPU (NA for n0).
	awk -v b="$before" -v a="$after" -v hz="$clk_tck" -v n="$n" \
		-v lead="$w	$t	$3	$n	$rps" 'BEGIN {
			nb = split(b, B, " "); na = split(a, A, " ")
			for (i = 2; i <= nb; i++) { split(B[i], kv, ":"); prev[kv[1]] = kv[2] }
			for (i = 2; i <= na; i++) { split(A[i], kv, ":"); d = kv[2] - prev[kv[1]]; tot += d; if (d > top) top = d; nw++ }
			share = (nw >= 2 && tot > 0) ? sprintf("%.0f", 100 * top / tot) : "NA"
			printf "%s\t%.2f\t%s\n", lead, (A[1] - B[1]) / hz * 1e6 / n, share
		}' >>"$samples"
}

log "rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE (unpinned: load, backends and proxies share all $(nproc) cores)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_rounds

# ---------------------------------------------------------------- report

[ -z "${RESULTS:-}" ] || cp "$samples" "$RESULTS"

echo
echo "nutcracker workers bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "  $(redis-server --version | cut -d' ' -f1-3), two backends; targets: n0 = -n 0, n1 = -n 1, n2 = -n 2, n2M3 = -n 2 -M 3"
echo "  UNPINNED: redis-benchmark, the backends and the proxy share all $(nproc) cores"
echo "  $rounds_done of $ROUNDS rounds x 2 samples per target, $CLIENTS clients, -r $KEYSPACE, $((SECONDS - start)) s of runs"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
echo "  rps: median (min-max) over the samples; ratios of medians; us/req: proxy tree utime+stime per"
echo "  request, median; top%: busiest worker's share of the 2 workers' CPU, median (50 = even)"
for t in "${TARGETS[@]}"; do
	[ -z "${NA[$t]:-}" ] || echo "  $t: n/a (${NA[$t]})"
done
echo

labels=$tmp/labels.tsv
: >"$labels"
for w in "${WORKLOADS[@]}"; do printf '%s\t%s\n' "$w" "$(label "$w")" >>"$labels"; done

awk -F'\t' "$report_awk"'
	function numcol(key, f, m) { m = median(key); return m == "" ? "n/a" : sprintf(f, m) }
	FILENAME == ARGV[1] { label[++nw] = $2; wkey[nw] = $1; next }
	FNR == 1 { next }
	{ add($1 SUBSEP $2 SUBSEP "rps", $5); add($1 SUBSEP $2 SUBSEP "cpu", $6); add($1 SUBSEP $2 SUBSEP "top", $7) }
	END {
		nt = split("n0 n1 n2 n2M3", T, " ")
		fmt = "%-10s %-24s %-24s %-24s %-24s %5s %5s %7s %6s %6s %6s %6s %6s %8s\n"
		printf fmt, "workload", "n0 rps", "n1 rps", "n2 rps", "n2M3 rps", "n1/n0", "n2/n0", "n2M3/n0",
			"n0 us", "n1 us", "n2 us", "n2M3 us", "n2 top%", "n2M3 top%"
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			for (j = 1; j <= nt; j++) m[T[j]] = median(k SUBSEP T[j] SUBSEP "rps")
			printf fmt, label[i],
				rpscol(k SUBSEP "n0" SUBSEP "rps"), rpscol(k SUBSEP "n1" SUBSEP "rps"),
				rpscol(k SUBSEP "n2" SUBSEP "rps"), rpscol(k SUBSEP "n2M3" SUBSEP "rps"),
				ratio(m["n1"], m["n0"]), ratio(m["n2"], m["n0"]), ratio(m["n2M3"], m["n0"]),
				numcol(k SUBSEP "n0" SUBSEP "cpu", "%.1f"), numcol(k SUBSEP "n1" SUBSEP "cpu", "%.1f"),
				numcol(k SUBSEP "n2" SUBSEP "cpu", "%.1f"), numcol(k SUBSEP "n2M3" SUBSEP "cpu", "%.1f"),
				numcol(k SUBSEP "n2" SUBSEP "top", "%.0f"), numcol(k SUBSEP "n2M3" SUBSEP "top", "%.0f")
			for (j = 2; j <= nt; j++) if (m[T[j]] != "" && m["n0"] != "" && m["n0"] > 0) { lsum[T[j]] += log(m[T[j]] / m["n0"]); nr[T[j]]++ }
		}
		printf "\ngeometric means over the workloads:"
		for (j = 2; j <= nt; j++) printf " %s/n0 %s", T[j], nr[T[j]] ? sprintf("%.2f (%d)", exp(lsum[T[j]] / nr[T[j]]), nr[T[j]]) : "n/a"
		printf "\n"
	}' "$labels" "$samples"
