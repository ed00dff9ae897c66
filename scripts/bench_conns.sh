#!/usr/bin/env bash
# make bench, connections part: what many client connections cost a proxy, on loopback, for ours
# (-n 0: one process), Debian's twemproxy and predixy (when PREDIXY_BIN names a binary), each in
# front of two redis-server backends (all keys preloaded), in bench.sh's layout: the load on
# LOAD_CPU, proxy and backends on SERVER_CPU. The load is cmd/connload: connections spread
# round-robin over the source addresses 127.0.0.2-127.0.0.5 (past one address's ephemeral ports),
# 64 connects in flight at a time.
#
# Every step runs on a freshly started proxy (a proxy keeps memory it once used, so steps sharing
# one would measure the one before), which is stopped after it. Two tables:
#
# 1. Memory: VmRSS of the proxy, MB,
#    start     after start and a smoke check (a SET and an MGET through it), 0.5 s later
#    idle      MEM_CONNS (5000) connections open, accepted by the proxy (counted by its
#              descriptors), 0.5 s later
#    ping      MEM_CONNS connections, each sent one PING at once and read its reply: RSS read right
#              after the last reply, before an idle client can be parked (ours parks after 1-2 s)
# 2. Scaling: SCALE_CONNS (1000, 10000, 50000) connections, of which BUSY_FRACTION (10%) send GETs
#    of random keys back to back (-P 1) for BUSY_SECONDS (10) while the rest idle: the proxy's peak
#    RSS, sampled every 0.5 s while the busy ones run, and the busy connections' request rate and
#    latency p50 / p99 (connload's log-linear histogram, to 1.6%). "direct" is one backend, as a
#    floor for the latency (its RSS is not a proxy's, and is not shown).
# A step that cannot run (too few file descriptors or ports, a connect refused, a step over
# STEP_TIMEOUT) is n/a with the reason; the script goes on.
#
# Environment (defaults in brackets):
#   QUICK=1             smoke run (one or two minutes): SCALE_CONNS "1000 5000", BUSY_SECONDS 3
#   MEM_CONNS [5000]    connections of the memory steps
#   SCALE_CONNS ["1000 10000 50000"], BUSY_FRACTION [0.1], BUSY_SECONDS [10]
#   STEP_TIMEOUT [120]  seconds one step may take
#   KEYSPACE [100000]   keys preloaded and read (key:000000000000 ..)
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   TWEMPROXY_BIN [/usr/sbin/nutcracker]; PREDIXY_BIN (optional); NUTCRACKER_BIN (default: build)
#   OURS_ARGS [-n 0]    flags for our binary only
#   TARGETS ["direct twemproxy predixy ours"]   the targets to run, e.g. TARGETS=ours after a change
#   RESULTS             also write the steps (TSV: target, step, rss_kb, conns, busy, requests,
#                       rps, p50_us, p99_us, note) to RESULTS.conns
#
# The file limit is raised to the hard limit (ulimit -n); every target inherits it: twemproxy
# takes its client limit from it (client_connections 0: no limit of its own), ours and connload
# raise their own soft limits. Each needs a descriptor per connection.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 0
if [ "$QUICK" = 1 ]; then
	SCALE_CONNS=${SCALE_CONNS:-1000 5000}
	BUSY_SECONDS=${BUSY_SECONDS:-3}
fi
MEM_CONNS=${MEM_CONNS:-5000}
SCALE_CONNS=${SCALE_CONNS:-1000 10000 50000}
BUSY_FRACTION=${BUSY_FRACTION:-0.1}
BUSY_SECONDS=${BUSY_SECONDS:-10}
STEP_TIMEOUT=${STEP_TIMEOUT:-120}
OURS_ARGS=${OURS_ARGS--n 0}
SOURCES=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5

# shellcheck disable=SC2206 # a list of names
TARGETS=(${TARGETS:-direct twemproxy predixy ours})

bash scripts/deps.sh bench
tmp_setup nutcracker-bench-conns
pin_setup
fd_limit=$(raise_fd_limit)
read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range

declare -A NA # target -> why it is not measured
ours_build || NA[ours]=$OURS_NA
go build -o "$tmp/connload" ./cmd/connload >"$tmp/build-connload.log" 2>&1 ||
	die "building cmd/connload failed: $(head -n 3 "$tmp/build-connload.log")"
[ -x "$TWEMPROXY_BIN" ] || NA[twemproxy]="$TWEMPROXY_BIN not found"
predixy_resolve || NA[predixy]=$PREDIXY_NA

# Both backends take every client the file limit allows (redis's own default is 10000), so direct
# runs the largest steps too, and from any loopback address (protected mode admits 127.0.0.1 only).
redis_args=(--maxclients "$((fd_limit - 64))" --protected-mode no)
alloc_port r1
alloc_port r2
# shellcheck disable=SC2154 # r1 and r2 are set by alloc_port
for port in "$r1" "$r2"; do
	start_redis "$port" "${pin_server[@]}"
	redis_preload "$port"
done

# conf_for TARGET PORT: the target's configuration of one pool of both backends, listening on PORT.
conf_for() {
	case $1 in
	predixy)
		# predixy has no ketama: its own crc16 and modula place keys, which changes no cost here.
		cat <<EOF
Bind 127.0.0.1:$2
WorkerThreads 1
ClientTimeout 0
LogVerbSample 0
LogDebugSample 0
LogInfoSample 0
LogNoticeSample 1
LogWarnSample 1
LogErrorSample 1
StandaloneServerPool {
    Hash crc16
    Distribution modula
    RefreshMethod fixed
    ServerTimeout 5
    Group shard1 {
        + 127.0.0.1:$r1
    }
    Group shard2 {
        + 127.0.0.1:$r2
    }
}
EOF
		;;
	*) redis_pool_yaml bench_conns "$2" "$r1" "$r2" ;;
	esac
}

# start_target TARGET STEP: a fresh proxy for the step (its pid in proxy_pid, its port in
# proxy_port), smoke-checked; for direct, the first backend (proxy_pid empty). Fails with the
# reason in why.
start_target() {
	local t=$1 name=$1-$2 stats cmd
	proxy_pid=''
	if [ "$t" = direct ]; then
		proxy_port=$r1
		return 0
	fi
	alloc_port proxy_port
	conf_for "$t" "$proxy_port" >"$tmp/$name.conf"
	case $t in
	twemproxy)
		alloc_port stats
		cmd=("$TWEMPROXY_BIN" -c "$tmp/$name.conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$name.log")
		;;
	predixy) cmd=("$PREDIXY_BIN" "$tmp/$name.conf") ;;
	ours)
		alloc_port stats
		# shellcheck disable=SC2206 # OURS_ARGS is a list of flags
		cmd=("$ours_bin" -c "$tmp/$name.conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$name.log" $OURS_ARGS)
		;;
	esac
	"${pin_server[@]}" "${cmd[@]}" </dev/null >"$tmp/$name.out" 2>&1 &
	proxy_pid=$!
	pids+=("$proxy_pid")
	if ! wait_port "$proxy_pid" "$proxy_port"; then
		why="did not listen on port $proxy_port: $(tail -q -n 1 "$tmp/$name.out" "$tmp/$name.log" 2>/dev/null | tr '\n' ' ' | cut -c1-100)"
	elif ! redis_smoke "$proxy_port"; then
		why="failed the smoke check"
	else
		sleep 0.5
		return 0
	fi
	stop_tree "$proxy_pid"
	return 1
}

# conns_na CONNS: why CONNS connections cannot be opened here, or nothing.
conns_na() {
	local ports=$((eph_hi - eph_lo + 1)) sources
	sources=$(tr ',' '\n' <<<"$SOURCES" | wc -l)
	if (($1 + 64 > fd_limit)); then
		echo "$1 connections need $(($1 + 64)) descriptors in the client and the proxy each; ulimit -n is at most $fd_limit"
	elif (($1 > ports * sources)); then
		echo "$1 connections need more than the $ports ephemeral ports of $sources source addresses"
	fi
}

# record TARGET STEP RSS_KB CONNS BUSY REQUESTS RPS P50_US P99_US NOTE: one line of the TSV.
record() {
	local IFS=$'\t'
	echo "$*" >>"$steps"
}

# record_na TARGET STEP CONNS WHY: a step that did not run.
record_na() {
	record "$1" "$2" NA "$3" NA NA NA NA NA "$4"
}
# memory_na TARGET WHY: none of the memory steps ran.
memory_na() {
	record_na "$1" start 0 "$2"
	record_na "$1" "idle$MEM_CONNS" "$MEM_CONNS" "$2"
	record_na "$1" "ping$MEM_CONNS" "$MEM_CONNS" "$2"
}

# result_field LINE KEY: KEY's value in connload's "result k=v ... [first_error="..."]" LINE
# (first_error, last, runs to the end of the line).
result_field() {
	awk -v key="$2" '{
		if (key == "first_error") { if ((i = index($0, " first_error=")) > 0) print substr($0, i + 13); exit }
		for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
	}' <<<"$1"
}

# load_start MODE...: connload against proxy_port, pinned, its stdin a fifo this shell holds open
# (closing it, load_stop, ends connload); its pid in load_pid, its output in load_out.
load_start() {
	load_out=$tmp/load-$((++load_runs)).out
	rm -f "$tmp/load.fifo"
	mkfifo "$tmp/load.fifo"
	"${pin_load[@]}" timeout "$STEP_TIMEOUT" "$tmp/connload" -addr "127.0.0.1:$proxy_port" \
		-sources "$SOURCES" -keys "$KEYSPACE" "$@" <"$tmp/load.fifo" >"$load_out" 2>&1 &
	load_pid=$!
	pids+=("$load_pid")
	exec 4>"$tmp/load.fifo"
}
load_stop() {
	exec 4>&-
	stop_tree "$load_pid"
}
# load_error: connload's own complaint, or that the step ran out of time.
load_error() {
	if grep -q '^connload: ' "$load_out"; then
		grep -m 1 '^connload: ' "$load_out" | sed 's/^connload: //' | cut -c1-140
	else
		echo "not done within STEP_TIMEOUT=$STEP_TIMEOUT s"
	fi
}

# memory_steps TARGET: start and idle on one fresh proxy, ping on another.
memory_steps() {
	local t=$1 start_kb fd0 why='' rss
	if ! start_target "$t" idle; then
		memory_na "$t" "$why"
		return
	fi
	start_kb=$(rss_kb "$proxy_pid")
	record "$t" start "$start_kb" 0 NA NA NA NA NA ''
	fd0=$(fd_count "$proxy_pid")
	load_start -n "$MEM_CONNS" idle
	rss=NA
	if ! wait_line "$load_out" '^open ' "$STEP_TIMEOUT" "$load_pid"; then
		why=$(load_error)
	elif ! wait_fds "$proxy_pid" $((fd0 + MEM_CONNS)) 10000000 10; then
		why="the proxy did not accept all $MEM_CONNS connections in 10 s"
	else
		sleep 0.5
		rss=$(rss_kb "$proxy_pid")
	fi
	record "$t" "idle$MEM_CONNS" "$rss" "$MEM_CONNS" NA NA NA NA NA "$why"
	load_stop
	stop_tree "$proxy_pid"

	why='' rss=NA
	if start_target "$t" ping; then
		load_start -n "$MEM_CONNS" ping
		if wait_line "$load_out" '^all answered' "$STEP_TIMEOUT" "$load_pid"; then
			rss=$(rss_kb "$proxy_pid")
		else
			why=$(load_error)
		fi
		load_stop
		stop_tree "$proxy_pid"
	fi
	record "$t" "ping$MEM_CONNS" "$rss" "$MEM_CONNS" NA NA NA NA NA "$why"
}

# scaling_step TARGET CONNS: CONNS connections, BUSY_FRACTION of them busy, on a fresh proxy.
scaling_step() {
	local t=$1 n=$2 why peak=NA kb line
	why=$(conns_na "$n")
	if [ -z "$why" ] && start_target "$t" "conns$n"; then
		load_start -n "$n" busy "$BUSY_FRACTION" "$BUSY_SECONDS"
		if wait_line "$load_out" '^busy ' "$STEP_TIMEOUT" "$load_pid"; then
			[ -z "$proxy_pid" ] || peak=0
			until grep -q '^result ' "$load_out" || ! kill -0 "$load_pid" 2>/dev/null; do
				if [ -n "$proxy_pid" ]; then
					kb=$(rss_kb "$proxy_pid")
					((kb <= peak)) || peak=$kb
				fi
				sleep 0.5
			done
		fi
		line=$(grep -m 1 '^result ' "$load_out" || true)
		if [ -z "$line" ]; then
			record_na "$t" "conns$n" "$n" "$(load_error)"
		else
			[ "$(result_field "$line" errors)" = 0 ] || why="$(result_field "$line" errors) busy connections failed: $(result_field "$line" first_error)"
			record "$t" "conns$n" "$peak" "$n" "$(result_field "$line" busy)" "$(result_field "$line" requests)" \
				"$(result_field "$line" rps)" "$(result_field "$line" p50_us)" "$(result_field "$line" p99_us)" "$why"
		fi
		load_stop
		[ -z "$proxy_pid" ] || stop_tree "$proxy_pid"
		return
	fi
	record_na "$t" "conns$n" "$n" "$why"
}

steps=$tmp/conns.tsv
printf 'target\tstep\trss_kb\tconns\tbusy\trequests\trps\tp50_us\tp99_us\tnote\n' >"$steps"
load_runs=0
log "file limit $fd_limit, ephemeral ports $eph_lo-$eph_hi, sources $SOURCES; memory: $MEM_CONNS conns;" \
	"scaling: $SCALE_CONNS conns, $BUSY_FRACTION busy for $BUSY_SECONDS s (load on cpu ${pin_load[2]:-any}, servers on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
for t in "${TARGETS[@]}"; do
	if [ -n "${NA[$t]:-}" ]; then
		log "$t: n/a (${NA[$t]})"
		memory_na "$t" "${NA[$t]}"
		for n in $SCALE_CONNS; do record_na "$t" "conns$n" "$n" "${NA[$t]}"; done
		continue
	fi
	if [ "$t" != direct ]; then
		log "$t: memory"
		memory_steps "$t"
	fi
	for n in $SCALE_CONNS; do
		log "$t: $n connections"
		scaling_step "$t" "$n"
	done
done

# ---------------------------------------------------------------- report

[ -z "${RESULTS:-}" ] || cp "$steps" "$RESULTS.conns"

echo
echo "nutcracker bench, connections: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $((SECONDS - start)) s"
echo "  ours: $ours_bin $OURS_ARGS; twemproxy: $TWEMPROXY_BIN; predixy: ${PREDIXY_BIN:-none}; file limit $fd_limit"
echo "  pinned: connload on cpu ${pin_load[2]:-any}, proxies and backends on cpu ${pin_server[2]:-any};" \
	"load average before: $load_before"
echo
echo "Proxy memory, VmRSS MB, a fresh proxy per step: at start (after a smoke check), with $MEM_CONNS idle"
echo "  client connections, with $MEM_CONNS that have each just answered one PING (all at once)"
awk -F'\t' -v conns="$MEM_CONNS" -v targets="${TARGETS[*]}" '
	NR == 1 || $2 ~ /^conns/ { next }
	{ val[$1, $2] = $3 }
	$10 != "" && !(($1, $10) in said) { said[$1, $10] = 1; note[$1] = note[$1] (note[$1] == "" ? "" : "; ") $2 ": " $10 }
	function mb(kb) { return kb == "" || kb == "NA" ? "n/a" : sprintf("%.1f", kb / 1024) }
	END {
		fmt = "%-10s %8s %12s %12s%s\n"
		printf fmt, "target", "start", "idle " conns, "ping " conns, ""
		n = split(targets, T, " ")
		for (i = 1; i <= n; i++) {
			if ((t = T[i]) == "direct") continue
			printf fmt, t, mb(val[t, "start"]), mb(val[t, "idle" conns]), mb(val[t, "ping" conns]), note[t] == "" ? "" : "  (" note[t] ")"
		}
	}' "$steps"
echo
echo "Connections scaling: $BUSY_FRACTION of them sending GETs back to back (-P 1) for $BUSY_SECONDS s, the rest idle;"
echo "  RSS: the proxy's peak VmRSS meanwhile, MB; rps, p50, p99: of the busy connections' GETs"
awk -F'\t' '
	NR == 1 { next }
	$2 ~ /^conns/ {
		rss = $3 == "NA" ? ($1 == "direct" ? "-" : "n/a") : sprintf("%.1f", $3 / 1024)
		if ($6 == "NA") { rps = p50 = p99 = "n/a" } else { rps = $7; p50 = sprintf("%.3f", $8 / 1000); p99 = sprintf("%.3f", $9 / 1000) }
		printf "%-10s %7s %6s %8s %9s %9s %9s%s\n", $1, $4, $5 == "NA" ? "n/a" : $5, rss, rps, p50, p99, $10 == "" ? "" : "  (" $10 ")"
	}
	BEGIN { printf "%-10s %7s %6s %8s %9s %9s %9s\n", "target", "conns", "busy", "RSS MB", "rps", "p50 ms", "p99 ms" }
' "$steps"
