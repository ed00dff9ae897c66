# shellcheck shell=bash
# Helpers shared by scripts/run.sh and the benchmark scripts (sourced, not run).

# bench_defaults N: the environment the benchmark scripts share (each script's header lists it),
# unset values set to their defaults: N requests per -P 1 run (QUICK=1: 10000, N_PIPE 50000 and one
# round), N_PIPE per -P 16 run, ROUNDS, CLIENTS, KEYSPACE, the cores, the time limits and
# Debian's twemproxy.
bench_defaults() {
	QUICK=${QUICK:-0}
	if [ "$QUICK" = 1 ]; then
		ROUNDS=${ROUNDS:-1}
		N=${N:-10000}
		N_PIPE=${N_PIPE:-50000}
	fi
	ROUNDS=${ROUNDS:-3}
	N=${N:-$1}
	N_PIPE=${N_PIPE:-500000}
	CLIENTS=${CLIENTS:-50}
	KEYSPACE=${KEYSPACE:-100000}
	LOAD_CPU=${LOAD_CPU:-0}
	SERVER_CPU=${SERVER_CPU:-1}
	RUN_TIMEOUT=${RUN_TIMEOUT:-120}
	MAX_SECONDS=${MAX_SECONDS:-240}
	TWEMPROXY_BIN=${TWEMPROXY_BIN:-/usr/sbin/nutcracker}
}

# port_busy PORT: something accepts connections on 127.0.0.1:PORT (bash's /dev/tcp, no extra tools).
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port PID PORT: wait up to 5 s for PORT to accept while PID is alive; fails otherwise.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		port_busy "$2" && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# stop_pids PID...: SIGTERM, up to 5 s to exit, then SIGKILL for what is left; reaps our children.
stop_pids() {
	local pid
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	await_exit "$@"
	wait 2>/dev/null || true
}

# await_exit PID...: up to 5 s for every PID to exit, then SIGKILL for those left.
await_exit() {
	local pid i alive
	for ((i = 0; i < 50; i++)); do
		alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# ---------------------------------------------------------------- for scripts/bench*.sh

# build_ours OUT: build the proxy into OUT as packaging/build-deb.sh ships it, without cgo. A cgo
# build maps libc and ld.so and starts its threads through them: 1.9 MB more RSS at start (12.9 MB
# against 11.0 MB, measured), which no installed proxy pays.
build_ours() {
	CGO_ENABLED=0 go build -o "$1" ./cmd/nutcracker
}

# These read or set the globals tmp (temp dir), pids (processes to stop on exit) and KEYSPACE,
# N, N_PIPE, N_MGET, MGET_KEYS, CLIENTS, RUN_TIMEOUT (the benchmark's settings).

# pin_setup: the arrays pin_load and pin_server, taskset commands for LOAD_CPU and SERVER_CPU; both
# empty (and said so) on a one-core machine.
# shellcheck disable=SC2034 # used by the scripts that source this
pin_setup() {
	if [ "$(nproc)" -ge 2 ]; then
		pin_load=(taskset -c "$LOAD_CPU")
		pin_server=(taskset -c "$SERVER_CPU")
	else
		log "only one core: running unpinned"
		pin_load=()
		pin_server=()
	fi
}

# raise_fd_limit: ulimit -n up to the hard limit (for this shell and what it starts); prints the
# limit then in force.
raise_fd_limit() {
	[ "$(ulimit -n)" = unlimited ] || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	ulimit -n
}

# wait_line FILE REGEX SECONDS [PID]: wait for a line matching REGEX in FILE; fails after SECONDS,
# or as soon as PID, when given, has exited without writing it.
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		[ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || break
		sleep 0.05
	done
	grep -qE "$2" "$1" 2>/dev/null
}

# log MSG...: MSG on stderr after the script's name ("bench: ..." for scripts/bench.sh).
log() {
	local name=${0##*/}
	echo "${name%.sh}: $*" >&2
}
die() {
	log "$*"
	exit 1
}

# tmp_setup NAME: a new temp dir in tmp and an empty pids; on exit (also by INT, TERM or HUP) the
# processes in pids are stopped and the dir removed.
tmp_setup() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pids=()
	trap tmp_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}
# shellcheck disable=SC2317 # run by the EXIT trap
tmp_cleanup() {
	trap - EXIT INT TERM HUP
	stop_pids "${pids[@]}"
	rm -rf "$tmp"
}

# alloc_port VAR: store in VAR a loopback port that nobody uses and we have not handed out.
# Ports come from below the ephemeral range: a port there can be held by a client socket or a
# TIME-WAIT left by an earlier run, and then a server's bind fails although nothing listens on it.
alloc_port() {
	if [ -z "${next_port:-}" ]; then
		read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_lo=32768
		next_port=$((eph_lo - 8000 + RANDOM % 6000))
	fi
	while port_used "$next_port"; do next_port=$((next_port + 1)); done
	((next_port < eph_lo)) || die "no free port below $eph_lo"
	printf -v "$1" %d "$next_port"
	next_port=$((next_port + 1))
}
port_used() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
	else
		port_busy "$1"
	fi
}

# proc_table: a line "PID PPID STATE TICKS UTIME STIME" per process, TICKS = utime+stime in clock
# ticks (proc_stats of every process).
proc_table() {
	proc_stats /proc/[0-9]*/stat
}

# proc_stats FILE...: proc_table's lines for the /proc/PID/stat FILEs (those gone are skipped).
proc_stats() {
	{ cat "$@" 2>/dev/null || true; } | awk '{
		p = 0; while ((q = index(substr($0, p + 1), ")")) > 0) p += q # comm may hold ")"
		split(substr($0, p + 2), f, " ")                            # f[1] = field 3 (state)
		print $1, f[2], f[1], f[12] + f[13], f[12], f[13]            # ppid, utime + stime, each
	}'
}

# cpu_ticks PID [subtrees]: utime+stime of PID and all its descendants, in clock ticks; with
# "subtrees", followed by " CHILDPID:TICKS" for each direct child's subtree (the workers).
cpu_ticks() {
	proc_table | awk -v root="$1" -v subtrees="${2:-}" '
		{ parent[$1] = $2; ticks[$1] = $4 }
		END {
			in_tree[root] = 1; sum = ticks[root]
			do {
				grew = 0
				for (pid in parent) if (!(pid in in_tree) && (parent[pid] in in_tree)) {
					in_tree[pid] = 1; sum += ticks[pid]; grew = 1
					top[pid] = parent[pid] == root ? pid : top[parent[pid]]
					grp[top[pid]] += ticks[pid]
				}
			} while (grew)
			out = sum + 0
			if (subtrees != "") for (pid in grp) out = out " " pid ":" grp[pid]
			print out
		}'
}

# load_with_cpu PID LOAD ARGS...: runs LOAD ARGS (redis_load or the like, printing "requests rps")
# and prints "requests rps cpu", cpu being the µs of CPU time PID and its descendants spent per
# request over the run (NA when PID is empty). clk_tck: the caller's $(getconf CLK_TCK).
# shellcheck disable=SC2154 # clk_tck: set by the caller
load_with_cpu() {
	local pid=$1 before after out
	shift
	[ -z "$pid" ] || before=$(cpu_ticks "$pid")
	out=$("$@") || return 1
	if [ -z "$pid" ]; then
		echo "$out NA"
		return
	fi
	after=$(cpu_ticks "$pid")
	awk -v d=$((after - before)) -v hz="$clk_tck" -v out="$out" \
		'BEGIN { split(out, f, " "); printf "%s %.3f\n", out, d / hz * 1e6 / f[1] }'
}

# start_redis PORT [WRAPPER...]: a redis-server on 127.0.0.1:PORT (run through WRAPPER, e.g. taskset),
# its pid added to pids, dir and log in tmp; the array redis_args, when set, adds directives.
# shellcheck disable=SC2154 # redis_args: set by the caller, if at all
start_redis() {
	"${@:2}" redis-server --port "$1" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
		--daemonize no --logfile "$tmp/redis-$1.log" ${redis_args[@]+"${redis_args[@]}"} </dev/null &
	pids+=($!)
	wait_port $! "$1" || die "redis-server on port $1 did not start (see $tmp/redis-$1.log)"
}

# redis_pool_yaml NAME PORT BACKEND_PORT...: the configuration of a pool NAME listening on
# 127.0.0.1:PORT, of the redis-servers on 127.0.0.1:BACKEND_PORT... (weight 1), with the settings
# the benchmarks compare (ketama, fnv1a_64, timeout 5000).
redis_pool_yaml() {
	printf '%s:\n  listen: 127.0.0.1:%s\n  hash: fnv1a_64\n  distribution: ketama\n  timeout: 5000\n  redis: true\n  servers:\n' "$1" "$2"
	shift 2
	printf '   - 127.0.0.1:%s:1\n' "$@"
}

# redis_preload PORT: SET key:000000000000 .. key:<KEYSPACE-1> to "xxx" on the redis at PORT.
redis_preload() {
	awk -v n="$KEYSPACE" 'BEGIN { for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$3\r\nxxx\r\n", i }' |
		redis-cli -p "$1" --pipe >"$tmp/preload-$1.log" 2>&1 || die "preloading 127.0.0.1:$1 failed"
}

# redis_smoke PORT: a SET, then an MGET of preloaded keys, answered correctly through the target.
redis_smoke() {
	local out
	out=$(timeout 5 redis-cli -p "$1" set key:000000000000 xxx 2>&1) && [ "$out" = OK ] || return 1
	out=$(timeout 5 redis-cli -p "$1" mget key:000000000000 key:000000000001 key:000000000002 key:000000000003 2>&1) || return 1
	[ "$(printf '%s' "$out" | tr '\n' ' ')" = "xxx xxx xxx xxx" ]
}

# redis_load WORKLOAD PORT LOG [WRAPPER...]: one redis-benchmark run (through WRAPPER, e.g.
# taskset) of WORKLOAD (get_p1 set_p1 get_p16 set_p16, and mget and mset of MGET_KEYS random keys,
# mset writing "xxx" as the preload and -t set do; each also with _resp3 appended: the
# same over RESP3, every connection opening with HELLO 3; or with _cluster appended: redis-benchmark
# --cluster, PORT being a node of a Redis Cluster); prints "requests rps".
redis_load() {
	local w=$1 n i args=()
	case $w in *_cluster) args=(--cluster) w=${w%_cluster} ;; esac
	case $w in *_resp3) args+=(-3) w=${w%_resp3} ;; esac
	case $w in
	get_p1) n=$N args+=(-t get -P 1) ;;
	set_p1) n=$N args+=(-t set -P 1) ;;
	get_p16) n=$N_PIPE args+=(-t get -P 16) ;;
	set_p16) n=$N_PIPE args+=(-t set -P 16) ;;
	mget)
		n=$N_MGET args+=(MGET)
		for ((i = 0; i < MGET_KEYS; i++)); do args+=("key:__rand_int__"); done
		;;
	mset)
		n=$N_MGET args+=(MSET)
		for ((i = 0; i < MGET_KEYS; i++)); do args+=("key:__rand_int__" xxx); done
		;;
	esac
	timeout "$RUN_TIMEOUT" "${@:4}" redis-benchmark -h 127.0.0.1 -p "$2" -c "$CLIENTS" -n "$n" \
		-r "$KEYSPACE" --csv "${args[@]}" >"$3" 2>&1 || return 1
	# An error reply or a dropped connection makes the sample worthless.
	grep -qiE '^(error|.*error from server)' "$3" && return 1
	local rps
	rps=$(awk -F'","' 'NR > 1 && NF >= 2 { r = $2 } END { print r }' "$3")
	[ -n "$rps" ] || return 1
	echo "$n $rps"
}

# big_mget_defaults: BIG_MGET_KEYS [10000] keys per big MGET, BIG_MGET_N [50; QUICK=1: 20] MGETs
# a run; after bench_defaults (KEYSPACE), which must hold the keys, as they are preloaded.
big_mget_defaults() {
	if [ "$QUICK" = 1 ]; then
		BIG_MGET_N=${BIG_MGET_N:-20}
	fi
	BIG_MGET_KEYS=${BIG_MGET_KEYS:-10000}
	BIG_MGET_N=${BIG_MGET_N:-50}
	((BIG_MGET_KEYS <= KEYSPACE)) || die "BIG_MGET_KEYS=$BIG_MGET_KEYS needs KEYSPACE >= it (the keys are preloaded)"
}

# big_mget_keys N: the keys of the big MGET in the array big_keys, "key:%012d" from 0, so that
# redis_preload with KEYSPACE >= N has set them all to "xxx".
big_mget_keys() {
	local i
	big_keys=()
	for ((i = 0; i < $1; i++)); do printf -v 'big_keys[i]' 'key:%012d' "$i"; done
}

# big_mget PORT N LOG: one redis-benchmark run of N MGETs of the big_keys in a row on one connection
# to 127.0.0.1:PORT, from the load core (pin_load), its --csv output in LOG; fails on an error reply.
# shellcheck disable=SC2154 # pin_load: set by pin_setup
big_mget() {
	timeout "$RUN_TIMEOUT" "${pin_load[@]}" redis-benchmark -h 127.0.0.1 -p "$1" -c 1 -n "$2" \
		--csv MGET "${big_keys[@]}" >"$3" 2>&1 || return 1
	! grep -qiE '^(error|.*error from server)' "$3"
}

# run_error LOG: the first error line of a failed run's LOG (else its last line), one line, cut short.
run_error() {
	{ grep -i -m 1 error "$1" || grep -v '^WARNING' "$1" | tail -n 1; } | tr -d '\r' | cut -c1-160
}

# report_awk: awk functions for the reports. add(KEY, X) a sample (not "NA"); median(KEY), also
# setting lo[KEY] and hi[KEY]; rpscol(KEY) "median (min-max)"; ratio(A, B) A/B to 2 decimals.
# shellcheck disable=SC2034 # used by the scripts that source this
report_awk='
	function median(key,    n, i, j, v, t) {
		n = cnt[key]; if (n == 0) return ""
		for (i = 1; i <= n; i++) v[i] = val[key, i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		lo[key] = v[1]; hi[key] = v[n]
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function add(key, x) { if (x != "NA") val[key, ++cnt[key]] = x }
	function rpscol(key, m) { m = median(key); return m == "" ? "n/a" : sprintf("%d (%d-%d)", m, lo[key], hi[key]) }
	function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "n/a" : sprintf("%.2f", a / b) }
'

# ---------------------------------------------------------------- for scripts/bench_extra.sh

# tree_pids PID: PID and all its descendants, one per line.
tree_pids() {
	proc_table | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			in_tree[root] = 1; print root
			do {
				grew = 0
				for (pid in parent) if (!(pid in in_tree) && (parent[pid] in in_tree)) { in_tree[pid] = 1; print pid; grew = 1 }
			} while (grew)
		}'
}

# tree_kb PID FILE FIELD: FIELD (in kB) of /proc/P/FILE summed over PID and its descendants.
tree_kb() {
	local p kb sum=0
	for p in $(tree_pids "$1"); do
		kb=$(awk -v field="$3:" '$1 == field { print $2 }' "/proc/$p/$2" 2>/dev/null) || kb=0
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}

# rss_kb PID: VmRSS of PID and its descendants, summed, in kB (pages shared between them, as the
# binary's, count once per process).
rss_kb() { tree_kb "$1" status VmRSS; }

# pss_kb PID: the proportional set size of PID and its descendants, summed, in kB: a page shared by
# k processes counts 1/k in each, so the tree's pages (the binary's, shared by master and workers)
# count once. VmRSS where smaps_rollup is missing.
pss_kb() {
	if [ -r /proc/self/smaps_rollup ]; then
		tree_kb "$1" smaps_rollup Pss
	else
		rss_kb "$1"
	fi
}

# fd_count PID: open file descriptors of PID and its descendants.
fd_count() {
	local p n=0 fds
	for p in $(tree_pids "$1"); do
		fds=(/proc/"$p"/fd/*)
		[ -e "${fds[0]}" ] && n=$((n + ${#fds[@]}))
	done
	echo "$n"
}

# wait_fds PID MIN MAX SECONDS: wait until PID's tree has between MIN and MAX descriptors open.
wait_fds() {
	local i n
	for ((i = 0; i < $4 * 10; i++)); do
		n=$(fd_count "$1")
		((n >= $2 && n <= $3)) && return 0
		sleep 0.1
	done
	return 1
}

# stop_tree PID: SIGTERM to PID, up to 5 s for it and its descendants to exit, then SIGKILL for
# those left; reaps PID (and only PID, so the other background processes keep running) and drops
# it from pids.
stop_tree() {
	local root=$1 tree i
	mapfile -t tree < <(tree_pids "$root")
	kill -TERM "$root" 2>/dev/null || true
	await_exit "${tree[@]}"
	wait "$root" 2>/dev/null || true
	for i in "${!pids[@]}"; do [ "${pids[$i]}" != "$root" ] || unset 'pids[i]'; done
}

# bench_csv LOG COLUMN...: the values of the named columns (e.g. p50_latency_ms) in the last line
# of a redis-benchmark --csv LOG, space-separated. Columns are found by their header name and
# counted from the end of the line, since the first one (the test, for a custom command the whole
# command line) may hold anything; fails when a column or the data line is missing.
bench_csv() {
	local log=$1
	shift
	tr -d '\r' <"$log" | awk -v want="$*" '
		/^"test",/ { nh = split($0, h, ","); for (i = 1; i <= nh; i++) { gsub(/"/, "", h[i]); col[h[i]] = i }; next }
		nh && /^"/ { line = $0 }
		END {
			if (line == "") exit 1
			nf = split(line, f, ",")
			nw = split(want, w, " ")
			for (i = 1; i <= nw; i++) {
				if (!(w[i] in col)) exit 1
				v = f[nf - (nh - col[w[i]])]; gsub(/"/, "", v)
				if (v !~ /^[0-9.]+$/) exit 1
				out = out (i > 1 ? " " : "") v
			}
			print out
		}'
}

# queued_bytes PORT...: bytes that arrived on loopback connections to the local PORTs and that
# their owner has not read yet (Recv-Q summed over the established sockets); NA without ss.
queued_bytes() {
	command -v ss >/dev/null 2>&1 || {
		echo NA
		return
	}
	local p filter=''
	for p in "$@"; do filter+="${filter:+ or }sport = :$p"; done
	ss -Htn state established "( $filter )" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

# start_memcached PORT [WRAPPER...]: a memcached (-m 64, no UDP) on 127.0.0.1:PORT, run through
# WRAPPER (such as taskset), logging to $tmp, as a job in pids; dies when it does not listen.
start_memcached() {
	local user=()
	[ "$(id -u)" -ne 0 ] || user=(-u root) # memcached refuses to run as root without -u
	"${@:2}" memcached "${user[@]}" -l 127.0.0.1 -p "$1" -U 0 -m 64 </dev/null \
		>"$tmp/memcached-$1.log" 2>&1 &
	pids+=($!)
	wait_port $! "$1" || die "memcached on port $1 did not start (see $tmp/memcached-$1.log)"
}

# memcache_smoke PORT: four sets, then one multi-key get of them, answered correctly through the
# target. (A subshell, so the connection closes on every path; each read waits 5 s at most.)
memcache_smoke() (
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	local i line req='' want='' got=''
	for i in 0 1 2 3; do req+="set bench:smoke:$i 0 0 3\r\nxxx\r\n" want+="STORED "; done
	for i in 0 1 2 3; do want+="VALUE bench:smoke:$i 0 3 xxx "; done
	printf '%b' "${req}get bench:smoke:0 bench:smoke:1 bench:smoke:2 bench:smoke:3\r\n" >&3
	while IFS= read -r -t 5 line <&3; do
		line=${line%$'\r'}
		got+="$line "
		case $line in END | *ERROR*) break ;; esac
	done
	[ "$got" = "${want}END " ]
) 2>/dev/null

# redis_label WORKLOAD: the name a table shows for a redis workload of redis_load.
redis_label() {
	local resp3=''
	[ "${1%_resp3}" = "$1" ] || resp3=' RESP3'
	case ${1%_resp3} in
	get_p1) echo "redis GET -P 1$resp3" ;;
	set_p1) echo "redis SET -P 1$resp3" ;;
	get_p16) echo "redis GET -P 16$resp3" ;;
	set_p16) echo "redis SET -P 16$resp3" ;;
	mget) echo "redis MGET $MGET_KEYS keys$resp3" ;;
	mset) echo "redis MSET $MGET_KEYS keys$resp3" ;;
	esac
}

# run_rounds runs ROUNDS rounds of every workload of WORKLOADS, each one
# sample (run_sample WORKLOAD TARGET ROUND) per target of ORDER, with the
# caller's label and run_sample; no round starts once MAX_SECONDS of runs
# have passed since start. It sets rounds_done.
run_rounds() {
	rounds_done=0
	local round w t
	for ((round = 1; round <= ROUNDS; round++)); do
		if ((SECONDS - start > MAX_SECONDS)); then
			log "over MAX_SECONDS=$MAX_SECONDS after $rounds_done rounds: stopping early"
			break
		fi
		for w in "${WORKLOADS[@]}"; do
			log "round $round/$ROUNDS: $(label "$w")"
			for t in "${ORDER[@]}"; do run_sample "$w" "$t" "$round"; done
		done
		rounds_done=$round
	done
}

# ours_build: ours_bin set to our binary: NUTCRACKER_BIN, else bin/nutcracker built from this tree
# (its log in tmp); fails with the reason in OURS_NA.
ours_build() {
	OURS_NA=''
	ours_bin=${NUTCRACKER_BIN:-bin/nutcracker}
	if [ -z "${NUTCRACKER_BIN:-}" ] && ! build_ours bin/nutcracker >"$tmp/build.log" 2>&1; then
		OURS_NA="build failed: $(head -n 1 "$tmp/build.log")"
	elif [ ! -x "$ours_bin" ]; then
		OURS_NA="$ours_bin not found"
	fi
	[ -z "$OURS_NA" ]
}

# ---------------------------------------------------------------- predixy, an optional target
# predixy (C++, github.com/joyieldInc/predixy) is not in Debian: a benchmark measures it only when
# given a binary (PREDIXY_BIN) or its source (PREDIXY_SRC: a checkout, or a git repository whose HEAD
# is taken), which predixy_resolve builds once into PREDIXY_CACHE, outside this repository.

# predixy_resolve: PREDIXY_BIN set to a runnable predixy, built from PREDIXY_SRC unless the cache
# holds a build of that source already; fails with the reason in PREDIXY_NA.
predixy_resolve() {
	PREDIXY_NA=''
	if [ -n "${PREDIXY_BIN:-}" ]; then
		[ -x "$PREDIXY_BIN" ] || PREDIXY_NA="PREDIXY_BIN=$PREDIXY_BIN is not executable"
	elif [ -z "${PREDIXY_SRC:-}" ]; then
		PREDIXY_NA="not built: set PREDIXY_SRC or PREDIXY_BIN"
	else
		predixy_build
	fi
	[ -z "$PREDIXY_NA" ]
}

# predixy_build: PREDIXY_SRC built into PREDIXY_CACHE [${XDG_CACHE_HOME:-~/.cache}/nutcracker/predixy],
# in a copy of the source there; a build is reused while it was made from the same source (the
# tree's path with nothing in it newer than the binary, or the same git commit).
predixy_build() {
	local cache=${PREDIXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nutcracker/predixy} src=$PREDIXY_SRC from commit
	if [ -f "$src/src/Makefile" ]; then
		from="tree $(cd "$src" && pwd)"
	elif commit=$(git --git-dir="$src" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null); then
		from="git $commit"
	else
		PREDIXY_NA="PREDIXY_SRC=$src is neither predixy's source tree (src/Makefile) nor a git repository"
		return
	fi
	if [ -x "$cache/predixy" ] && [ "$(cat "$cache/built-from" 2>/dev/null)" = "$from" ] &&
		{ [ "${from%% *}" = git ] || [ -z "$(find "$src" -newer "$cache/predixy" -print -quit)" ]; }; then
		PREDIXY_BIN=$cache/predixy
		return
	fi
	log "predixy: building $src into $cache (once, about a minute)"
	rm -rf "$cache/build" "$cache/predixy" "$cache/built-from"
	mkdir -p "$cache/build"
	if [ "${from%% *}" = tree ]; then
		cp -R "$src/." "$cache/build"
	else
		git --git-dir="$src" archive "$commit" | tar -x -C "$cache/build"
	fi
	# Its own flags (-g -O3) plus -include ctime: String.h calls strftime and localtime_r without
	# including <ctime>, which g++ 12's C++ headers no longer bring in along the way.
	if ! make -C "$cache/build/src" -j "$(nproc)" LVL='-g -O3 -include ctime' >"$cache/build.log" 2>&1; then
		PREDIXY_NA="building $src failed (see $cache/build.log)"
		return
	fi
	cp "$cache/build/src/predixy" "$cache/predixy"
	echo "$from" >"$cache/built-from"
	rm -rf "$cache/build"
	PREDIXY_BIN=$cache/predixy
}

# predixy_conf PORT TIMEOUT_MS BACKEND_PORT...: a predixy config listening on 127.0.0.1:PORT, one
# worker thread, one pool of the redis backends on 127.0.0.1. predixy has no ketama and no fnv1a_64:
# crc16 with modula places keys otherwise than the twemproxy pools, as evenly.
predixy_conf() {
	local b i=0
	cat <<EOF
Name bench
Bind 127.0.0.1:$1
WorkerThreads 1
ClientTimeout 0
StandaloneServerPool {
    Hash crc16
    Distribution modula
    RefreshMethod fixed
    ServerTimeout ${2}ms
EOF
	for b in "${@:3}"; do printf '    Group shard%d {\n        + 127.0.0.1:%s\n    }\n' $((i++)) "$b"; done
	echo "}"
}
