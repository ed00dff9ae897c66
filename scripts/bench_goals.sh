#!/usr/bin/env bash
# make bench, last part: the goals table of issue 21, one line per goal with the measured value,
# the goal, and whether it is met. Targets, on the same two redis-server backends:
#   direct     one of the backends itself
#   twemproxy  Debian's (TWEMPROXY_BIN), one pool of both backends, ketama, fnv1a_64, timeout 5000
#   predixy    optional (PREDIXY_BIN, or PREDIXY_SRC built once into PREDIXY_CACHE; see lib.sh): one
#              worker thread, one pool of both backends, crc16 with modula (it has no ketama)
#   ours       this tree's binary as one process (-n 0), the pool of twemproxy
# Layout as scripts/bench.sh: load generator on LOAD_CPU, proxies and backends on SERVER_CPU.
#
# Six workloads from redis-benchmark (CLIENTS connections, random keys of KEYSPACE, all preloaded on
# both backends): GET and SET at -P 1 and -P 16, MGET and MSET of MGET_KEYS keys. Per round and
# workload the targets run in the order direct, twemproxy, predixy, ours, ours, predixy, twemproxy,
# direct; a run gives rps, redis-benchmark's p99, for a proxy its utime+stime per request and its
# stime alone (from /proc, its whole process), and the CPU time per request of both backends. Then,
# per round in the same order, BIG_MGET_N MGETs of BIG_MGET_KEYS keys in a row on one connection:
# that run's p50, and the CPU time per MGET of the proxy and of the backends (from schedstat).
#
# After the table, the figures that bound the rows where the proxy shares a core with the backends:
# at -P 1, the proxies' kernel time per request (what ours would cost with no user-space time at
# all); at -P 16 and for the big MGET, the backends' own CPU per request direct and through ours,
# which on one saturated core gives ours/direct ~ direct / (backends + ours), and that ratio with
# ours at its kernel time alone.
#
# Every ratio is the median over the rounds of a per-round ratio, each round's figure being the mean
# of its two runs of a target. The geometric means are over the six workloads' ratios.
# The RSS rows are read from RESULTS.conns, which scripts/bench_conns.sh writes (see "RSS rows").
#
# Environment (defaults in brackets):
#   ROUNDS [3]          rounds of the interleaved order
#   QUICK=1             smoke run: 1 round, a tenth of the requests
#   CLIENTS [50], KEYSPACE [100000], N [100000], N_PIPE [500000]   as in scripts/bench.sh
#   N_MGET [20000]      requests per MGET and MSET run
#   MGET_KEYS [100]     keys per MGET and MSET
#   BIG_MGET_KEYS [10000], BIG_MGET_N [50]   the big MGET (QUICK=1: 20 in a row)
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   RUN_TIMEOUT [120]   seconds before one redis-benchmark run is abandoned
#   MAX_SECONDS [480]   no new round starts after this many seconds of runs
#   TWEMPROXY_BIN [/usr/sbin/nutcracker]
#   NUTCRACKER_BIN      our binary; default: build bin/nutcracker
#   OURS_ARGS [-n 0]    flags for our binary only
#   PREDIXY_BIN         a predixy binary; else PREDIXY_SRC, its source tree or git repository,
#   PREDIXY_CACHE       built once into PREDIXY_CACHE [~/.cache/nutcracker/predixy]
#   RESULTS             also write the raw samples (TSV) to RESULTS.goals and RESULTS.goals-bigmget,
#                       and read the RSS rows from RESULTS.conns
#
# A target that cannot start (or fails its smoke check, or dies) is n/a, and so is every figure
# that needs it; the others go on.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
MAX_SECONDS=${MAX_SECONDS:-480}
bench_defaults 100000
if [ "$QUICK" = 1 ]; then
	N_MGET=${N_MGET:-2000}
fi
N_MGET=${N_MGET:-20000}
MGET_KEYS=${MGET_KEYS:-100}
big_mget_defaults
OURS_ARGS=${OURS_ARGS--n 0}
POOL_TIMEOUT=5000


PROXIES=(twemproxy predixy ours)
ORDER=(direct twemproxy predixy ours ours predixy twemproxy direct)
WORKLOADS=(get_p1 set_p1 get_p16 set_p16 mget mset)

bash scripts/deps.sh bench

tmp_setup nutcracker-bench-goals
pin_setup
clk_tck=$(getconf CLK_TCK)

declare -A PORT # target -> listen port
declare -A PID  # proxy target -> pid
declare -A NA   # target -> why it is not measured

# ---------------------------------------------------------------- backends and proxies

b1='' b2=''
alloc_port b1
alloc_port b2
start_redis "$b1" "${pin_server[@]}"
start_redis "$b2" "${pin_server[@]}"
backend_pids=("${pids[@]: -2}")
redis_preload "$b1"
redis_preload "$b2"
PORT[direct]=$b1

ours_build || NA[ours]=$OURS_NA
[ -x "$TWEMPROXY_BIN" ] || NA[twemproxy]="$TWEMPROXY_BIN not found"
predixy_resolve || NA[predixy]=$PREDIXY_NA
for t in "${PROXIES[@]}"; do [ -z "${NA[$t]:-}" ] || log "$t: ${NA[$t]}"; done

# start_proxy TARGET: the proxy on a free port, pinned, its pool of both backends; on success
# PID[TARGET] is set, else NA[TARGET] says why.
start_proxy() {
	local t=$1 stats pid conf cmd
	alloc_port "PORT[$t]"
	case $t in
	predixy)
		conf=$tmp/predixy.conf
		predixy_conf "${PORT[$t]}" "$POOL_TIMEOUT" "$b1" "$b2" >"$conf"
		cmd=("$PREDIXY_BIN" "$conf")
		;;
	*)
		conf=$tmp/$t.yml
		cat >"$conf" <<EOF
bench_redis:
  listen: 127.0.0.1:${PORT[$t]}
  hash: fnv1a_64
  distribution: ketama
  timeout: $POOL_TIMEOUT
  redis: true
  servers:
   - 127.0.0.1:$b1:1
   - 127.0.0.1:$b2:1
EOF
		alloc_port stats
		cmd=("$TWEMPROXY_BIN" -c "$conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$t.log")
		# shellcheck disable=SC2206 # OURS_ARGS is a list of flags
		[ "$t" = twemproxy ] || cmd=("$ours_bin" "${cmd[@]:1}" $OURS_ARGS)
		;;
	esac
	"${pin_server[@]}" "${cmd[@]}" </dev/null >"$tmp/$t.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$pid" "${PORT[$t]}"; then
		NA[$t]="exited or did not listen on port ${PORT[$t]}"
	elif ! redis_smoke "${PORT[$t]}"; then
		NA[$t]="failed the redis smoke check"
	else
		PID[$t]=$pid
		return 0
	fi
	log "$t: ${NA[$t]}; its output:"
	tail -n 5 "$tmp/$t.out" "$tmp/$t.log" 2>/dev/null | sed 's/^/    /' >&2 || true
	stop_tree "$pid"
}
for t in "${PROXIES[@]}"; do [ -n "${NA[$t]:-}" ] || start_proxy "$t"; done

# usable TARGET: the target is up (direct always is); marks a proxy that died.
usable() {
	[ "$1" = direct ] && return 0
	[ -n "${PID[$1]:-}" ] || return 1
	kill -0 "${PID[$1]}" 2>/dev/null && return 0
	NA[$1]="died during the runs"
	log "$1: ${NA[$1]}"
	unset "PID[$1]"
	return 1
}

# ---------------------------------------------------------------- runs

# stat_ticks PID...: "USER SYS", the clock ticks the processes PID... have run in user space and in
# the kernel (their threads, not their children).
stat_ticks() {
	local p files=()
	for p; do [ -z "$p" ] || files+=("/proc/$p/stat"); done
	((${#files[@]})) || files=(/dev/null)
	proc_stats "${files[@]}" | awk '{ u += $5; s += $6 } END { print u + 0, s + 0 }'
}

# run_ns PID...: the nanoseconds the processes PID... (all their threads) have run, from schedstat:
# finer than clock ticks, for the big MGET's short runs.
run_ns() {
	local p
	for p; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# per_req BEFORE AFTER N: the ticks from BEFORE to AFTER ("USER SYS" pairs) in µs per request of
# N, as "SYS BOTH".
per_req() {
	awk -v b="$1" -v a="$2" -v n="$3" -v hz="$clk_tck" 'BEGIN {
		split(b, x, " "); split(a, y, " "); k = 1e6 / hz / n
		printf "%.3f %.3f\n", (y[2] - x[2]) * k, (y[1] - x[1] + y[2] - x[2]) * k
	}'
}

samples=$tmp/samples.tsv
big_samples=$tmp/bigmget.tsv
printf 'workload\ttarget\tround\trequests\trps\tcpu_us_per_req\tp99_ms\tsys_us_per_req\tbackends_us_per_req\n' >"$samples"
printf 'target\tround\tp50_ms\tcpu_us_per_mget\tbackends_us_per_mget\n' >"$big_samples"
runs=0

label() { redis_label "$1"; }

# run_sample WORKLOAD TARGET ROUND: one run, a line of samples.
run_sample() {
	local w=$1 t=$2 out n rps cpu p99 log proxy0 backends0 sys _ backends
	usable "$t" || return 0
	runs=$((runs + 1))
	log=$tmp/run-$runs.log
	proxy0=$(stat_ticks "${PID[$t]:-}")
	backends0=$(stat_ticks "${backend_pids[@]}")
	if ! out=$(load_with_cpu "${PID[$t]:-}" redis_load "$w" "${PORT[$t]}" "$log" "${pin_load[@]}") ||
		! p99=$(bench_csv "$log" p99_latency_ms); then
		log "$(label "$w") on $t: run failed: $(run_error "$log" | cut -c1-100)"
		usable "$t" || true
		return 0
	fi
	read -r n rps cpu <<<"$out"
	read -r sys _ <<<"$(per_req "$proxy0" "$(stat_ticks "${PID[$t]:-}")" "$n")"
	[ -n "${PID[$t]:-}" ] || sys=NA
	read -r _ backends <<<"$(per_req "$backends0" "$(stat_ticks "${backend_pids[@]}")" "$n")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" "$3" "$n" "$rps" "$cpu" "$p99" "$sys" "$backends" >>"$samples"
}

log "rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE n_mget=$N_MGET (load on cpu ${pin_load[2]:-any}, servers on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
run_rounds
run_seconds=$((SECONDS - start))

# The big MGET: its keys back to "xxx" (redis-benchmark's SETs wrote random values), checked on
# each target.
KEYSPACE=$BIG_MGET_KEYS redis_preload "$b1"
KEYSPACE=$BIG_MGET_KEYS redis_preload "$b2"
big_mget_keys "$BIG_MGET_KEYS"
declare -A BIG_NA
for t in direct "${PROXIES[@]}"; do
	usable "$t" || continue
	got=$(timeout 30 redis-cli -p "${PORT[$t]}" mget "${big_keys[@]}" 2>&1 | grep -c '^xxx$') || true
	if [ "$got" != "$BIG_MGET_KEYS" ]; then
		BIG_NA[$t]="the reply held $got of the $BIG_MGET_KEYS values"
	elif ! big_mget "${PORT[$t]}" 10 "$tmp/warmup-$t.log"; then
		BIG_NA[$t]="warm-up failed: $(run_error "$tmp/warmup-$t.log" | cut -c1-100)"
	fi
	[ -z "${BIG_NA[$t]:-}" ] || log "MGET $BIG_MGET_KEYS keys on $t: n/a (${BIG_NA[$t]})"
done
for ((round = 1; round <= rounds_done; round++)); do
	log "round $round/$rounds_done: MGET $BIG_MGET_KEYS keys x $BIG_MGET_N"
	for t in "${ORDER[@]}"; do
		[ -z "${BIG_NA[$t]:-}" ] || continue
		usable "$t" || continue
		runs=$((runs + 1))
		proxy0=$(run_ns "${PID[$t]:-}")
		backends0=$(run_ns "${backend_pids[@]}")
		if ! big_mget "${PORT[$t]}" "$BIG_MGET_N" "$tmp/run-$runs.log" || ! p50=$(bench_csv "$tmp/run-$runs.log" p50_latency_ms); then
			log "MGET $BIG_MGET_KEYS keys on $t: run failed: $(run_error "$tmp/run-$runs.log" | cut -c1-100)"
			continue
		fi
		proxy_us=NA
		[ -z "${PID[$t]:-}" ] || proxy_us=$((($(run_ns "${PID[$t]}") - proxy0) / 1000 / BIG_MGET_N))
		backends_us=$((($(run_ns "${backend_pids[@]}") - backends0) / 1000 / BIG_MGET_N))
		printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$round" "$p50" "$proxy_us" "$backends_us" >>"$big_samples"
	done
done

# ---------------------------------------------------------------- RSS rows
# scripts/bench_conns.sh measures the proxies' RSS with many client connections and, given
# RESULTS, writes RESULTS.conns: a header line, then columns target (twemproxy, predixy, ours),
# step (start: after a smoke check; idle5000: 5,000 idle clients; ping5000: 5,000 clients that
# have each just answered one PING), rss_kb (NA for a step that did not run), and more that this
# table does not read. make bench runs it before this script with the same RESULTS; without the
# file these rows are n/a.
conns_tsv=/dev/null
conns_note="n/a: RESULTS unset, so no RESULTS.conns from scripts/bench_conns.sh"
if [ -n "${RESULTS:-}" ]; then
	conns_note="n/a: no $RESULTS.conns (scripts/bench_conns.sh writes it)"
	if [ -s "$RESULTS.conns" ]; then
		conns_tsv=$RESULTS.conns
		conns_note="from $RESULTS.conns, written $(date -u -r "$conns_tsv" +%H:%M:%SZ)"
	fi
fi

# ---------------------------------------------------------------- report

if [ -n "${RESULTS:-}" ]; then
	cp "$samples" "$RESULTS.goals"
	cp "$big_samples" "$RESULTS.goals-bigmget"
fi

echo
echo "nutcracker bench, issue 21's goals: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
predixy_version=n/a
[ -n "${NA[predixy]:-}" ] || predixy_version="$("$PREDIXY_BIN" --version 2>&1 | sed -n 's/.*predixy-//p' | head -n 1) ($PREDIXY_BIN)"
echo "  $(redis-server --version | cut -d' ' -f1-3), twemproxy $("$TWEMPROXY_BIN" -V 2>&1 | sed -n 's/.*nutcracker-//p' | head -n 1)," \
	"predixy $predixy_version"
echo "  ours: $ours_bin ${OURS_ARGS:-(no flags)}; predixy: 1 worker thread, crc16/modula where the others"
echo "  use ketama/fnv1a_64 (it has no ketama): keys land elsewhere, as evenly, so throughput compares"
echo "  $rounds_done of $ROUNDS rounds x 2 runs per target, $CLIENTS clients, -r $KEYSPACE, $run_seconds s of runs;" \
	"pinned: load on cpu ${pin_load[2]:-any}, proxies and backends on cpu ${pin_server[2]:-any}"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
for t in "${PROXIES[@]}"; do
	[ -z "${NA[$t]:-}" ] || echo "  $t: n/a (${NA[$t]})"
	[ -z "${BIG_NA[$t]:-}" ] || echo "  $t, MGET of $BIG_MGET_KEYS keys: n/a (${BIG_NA[$t]})"
done
echo "  ratios: median over the rounds of each round's ratio (a round's figure: the mean of its 2 runs)"
echo

for w in "${WORKLOADS[@]}"; do printf '%s\t%s\n' "$w" "$(label "$w")"; done >"$tmp/labels.tsv"
awk -F'\t' -v big_keys="$BIG_MGET_KEYS" -v conns_note="$conns_note" "$report_awk"'
	FILENAME == ARGV[1] { wl[++nw] = $1; label[$1] = $2; next }
	FNR == 1 { next }
	FILENAME == ARGV[2] {
		acc("rps", $1, $2, $3, $5); acc("cpu", $1, $2, $3, $6); acc("p99", $1, $2, $3, $7)
		add($1 SUBSEP $2 SUBSEP "rps", $5); add($1 SUBSEP $2 SUBSEP "cpu", $6)
		add($1 SUBSEP $2 SUBSEP "sys", $8); add($1 SUBSEP $2 SUBSEP "bk", $9)
		next
	}
	FILENAME == ARGV[3] {
		acc("big", "big", $1, $2, $3)
		add("big" SUBSEP $1 SUBSEP "cpu", $4); add("big" SUBSEP $1 SUBSEP "bk", $5)
		next
	}
	$3 ~ /^[0-9]+$/ { rss[$1, $2] = $3 }
	# acc(KIND, WORKLOAD, TARGET, ROUND, X): X summed into its round; rounds counts them.
	function acc(kind, w, t, r, x) {
		if (x == "NA") return
		sum[kind, w, t, r] += x; n[kind, w, t, r]++
		if (r > rounds) rounds = r
	}
	# rr(KIND, WORKLOAD, A, B): the median over the rounds of A / B, a round giving each its mean;
	# "" when no round has both. Sets rlo and rhi to the lowest and highest round ratio.
	function rr(kind, w, a, b,    r, c, v, i, j, t, x, y) {
		c = 0
		for (r = 1; r <= rounds; r++) {
			if (!n[kind, w, a, r] || !n[kind, w, b, r]) continue
			x = sum[kind, w, a, r] / n[kind, w, a, r]; y = sum[kind, w, b, r] / n[kind, w, b, r]
			if (y > 0) v[++c] = x / y
		}
		if (c == 0) return ""
		for (i = 2; i <= c; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		rlo = v[1]; rhi = v[c]
		return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
	}
	# geo(KIND, A, B): the geometric mean over the workloads of rr(KIND, w, A, B), with " (lowest:
	# X, WORKLOAD)" when lowest is set; sets gmean, gmin and gall (every workload measured).
	function geo(kind, a, b, lowest,    i, x, s, c, minw) {
		s = 0; c = 0; gmin = ""; gall = 1
		for (i = 1; i <= nw; i++) {
			x = rr(kind, wl[i], a, b)
			if (x == "") { gall = 0; continue }
			s += log(x); c++
			if (gmin == "" || x < gmin) { gmin = x; minw = label[wl[i]] }
		}
		if (c == 0) { gmean = ""; return "n/a" }
		gmean = exp(s / c)
		return sprintf("%.2f", gmean) (lowest ? sprintf(" (%.2f %s)", gmin, short(minw)) : "") (gall ? "" : sprintf(" [%d of %d]", c, nw))
	}
	function short(l) { sub(/^redis /, "", l); sub(/ keys$/, "", l); return l }
	function f2(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
	# med(WORKLOAD, TARGET, WHAT): the median over every run of a figure (cpu, sys, bk), "" if none.
	function med(w, t, what) { return median(w SUBSEP t SUBSEP what) }
	# pair(X, Y): "X / Y" to 2 decimals; q(A, B): A / B, "" when either is unknown.
	function pair(x, y) { return f2(x) " / " f2(y) }
	function q(a, b) { return a == "" || b == "" || b == 0 ? "" : a / b }
	function verdict(ok, known) { return !known ? "n/a" : ok ? "met" : "NOT MET" }
	function mb(t, step) { return (t, step) in rss ? sprintf("%.1f MB", rss[t, step] / 1024) : "n/a" }
	function row(figure, tw, pdx, ours, goal, v) { printf "%-50s %-22s %-22s %-22s %-22s %s\n", figure, tw, pdx, ours, goal, v }
	END {
		# Per workload: medians over every run, for orientation.
		split("direct twemproxy predixy ours", T, " ")
		fmt = "%-22s %10s %10s %10s %10s   %8s %8s %8s\n"
		printf fmt, "workload (median)", "direct rps", "twemproxy", "predixy", "ours", "tw us/rq", "pdx", "ours"
		for (i = 1; i <= nw; i++) {
			k = wl[i]
			for (j = 1; j <= 4; j++) {
				t = T[j]; m = median(k SUBSEP t SUBSEP "rps"); R[t] = m == "" ? "n/a" : sprintf("%d", m)
				m = median(k SUBSEP t SUBSEP "cpu"); C[t] = m == "" ? "n/a" : sprintf("%.2f", m)
			}
			printf fmt, label[k], R["direct"], R["twemproxy"], R["predixy"], R["ours"], C["twemproxy"], C["predixy"], C["ours"]
		}
		print ""

		row("figure", "twemproxy", "predixy", "ours", "goal", "ours")
		x = geo("rps", "predixy", "twemproxy", 1); y = geo("rps", "ours", "twemproxy", 1)
		row("throughput geomean of " nw " workloads, vs twemproxy", "1", x, y, ">= 1.25, none < 1.0",
			verdict(gall && gmean >= 1.25 && gmin >= 1.0, gmean != ""))
		x = geo("cpu", "predixy", "twemproxy", 0); y = geo("cpu", "ours", "twemproxy", 0)
		row("CPU per request, geomean vs twemproxy", "1", x, y, "<= 0.65", verdict(gall && gmean <= 0.65, gmean != ""))
		tg = rr("cpu", "get_p1", "twemproxy", "predixy"); ts = rr("cpu", "set_p1", "twemproxy", "predixy")
		og = rr("cpu", "get_p1", "ours", "predixy"); os = rr("cpu", "set_p1", "ours", "predixy")
		row("CPU per request at -P 1, vs predixy (GET/SET)", f2(tg) " / " f2(ts), "1", f2(og) " / " f2(os), "<= 0.9",
			verdict(og <= 0.9 && os <= 0.9, og != "" && os != ""))
		split("twemproxy predixy ours", P, " ")
		for (j = 1; j <= 3; j++) D[P[j]] = f2(rr("rps", "get_p16", P[j], "direct")) " / " f2(rr("rps", "set_p16", P[j], "direct"))
		og = rr("rps", "get_p16", "ours", "direct"); os = rr("rps", "set_p16", "ours", "direct")
		row("GET / SET -P 16, vs direct redis", D["twemproxy"], D["predixy"], D["ours"], ">= 0.75 each",
			verdict(og >= 0.75 && os >= 0.75, og != "" && os != ""))
		x = rr("p99", "get_p1", "predixy", "twemproxy"); y = rr("p99", "get_p1", "ours", "twemproxy")
		row("GET -P 1 p99, vs twemproxy", "1", f2(x), f2(y), "<= 0.85", verdict(y <= 0.85, y != ""))
		for (j = 1; j <= 3; j++) {
			x = rr("big", "big", P[j], "direct")
			B[P[j]] = x == "" ? "n/a" : rlo < rhi ? sprintf("%.2f (best %.2f)", rhi, rlo) : sprintf("%.2f", rhi)
			if (P[j] == "ours") { worst = x == "" ? "" : rhi }
		}
		row("one MGET of " big_keys " keys, vs direct, worst round", B["twemproxy"], B["predixy"], B["ours"], "<= 1.3 in every round",
			verdict(worst <= 1.3, worst != ""))
		split("ping5000 idle5000 start", S, " "); split("25 10 8", G, " ")
		split("RSS with 5,000 clients, each just answered a PING|RSS with 5,000 idle clients|RSS at start", F, "|")
		for (j = 1; j <= 3; j++) {
			known = ("ours", S[j]) in rss
			row(F[j], mb("twemproxy", S[j]), mb("predixy", S[j]), mb("ours", S[j]), "<= " G[j] " MB",
				verdict(rss["ours", S[j]] <= G[j] * 1024, known))
		}
		print "  RSS rows " conns_note

		# What bounds the CPU, -P 16 and big MGET rows: the time the proxies spend in the kernel
		# (stime) and the CPU time of both redis-servers, per request, medians over every run.
		print ""
		print "what bounds the CPU, -P 16 and big MGET rows (CPU µs per request, medians over every run; kernel = stime):"
		split("get_p1 set_p1", W1, " ")
		for (j = 1; j <= 2; j++) {
			PC[j] = med(W1[j], "predixy", "cpu"); PK[j] = med(W1[j], "predixy", "sys")
			OC[j] = med(W1[j], "ours", "cpu"); OK[j] = med(W1[j], "ours", "sys")
		}
		printf "  -P 1 GET / SET: predixy %s, of which kernel %s; ours %s, of which kernel %s\n", pair(PC[1], PC[2]), pair(PK[1], PK[2]), pair(OC[1], OC[2]), pair(OK[1], OK[2])
		printf "    ours with no user-space time at all: %s of predixy (goal 0.9)\n", pair(q(OK[1], PC[1]), q(OK[2], PC[2]))
		split("get_p16 set_p16", W16, " ")
		for (j = 1; j <= 2; j++) {
			D[j] = med(W16[j], "direct", "bk"); BK[j] = med(W16[j], "ours", "bk")
			OC[j] = med(W16[j], "ours", "cpu"); OK[j] = med(W16[j], "ours", "sys")
			MOD[j] = q(D[j], BK[j] + OC[j]); CEIL[j] = q(D[j], BK[j] + OK[j])
			if (D[j] == "" || BK[j] == "" || OC[j] == "") MOD[j] = CEIL[j] = ""
		}
		printf "  -P 16 GET / SET: direct redis %s; through ours the backends %s and ours %s, of which kernel %s\n", pair(D[1], D[2]), pair(BK[1], BK[2]), pair(OC[1], OC[2]), pair(OK[1], OK[2])
		printf "    one shared core: vs direct ~ direct / (backends + ours) = %s (measured %s); with ours at its kernel time alone %s (goal 0.75)\n", pair(MOD[1], MOD[2]), pair(rr("rps", "get_p16", "ours", "direct"), rr("rps", "set_p16", "ours", "direct")), pair(CEIL[1], CEIL[2])
		D[1] = med("big", "direct", "bk"); BK[1] = med("big", "ours", "bk"); OC[1] = med("big", "ours", "cpu")
		MOD[1] = D[1] == "" || BK[1] == "" || OC[1] == "" ? "" : q(BK[1] + OC[1], D[1])
		printf "  MGET of %s keys, µs per MGET: direct redis %s; through ours the backends %s and ours %s\n", big_keys, D[1] == "" ? "n/a" : sprintf("%d", D[1]), BK[1] == "" ? "n/a" : sprintf("%d", BK[1]), OC[1] == "" ? "n/a" : sprintf("%d", OC[1])
		printf "    one shared core: vs direct ~ (backends + ours) / direct = %s (goal 1.3 in every round)\n", f2(MOD[1])
	}' "$tmp/labels.tsv" "$samples" "$big_samples" "$conns_tsv"
