#!/usr/bin/env bash
# make bench, second part: latency and memory of redis/memcached direct, Debian's twemproxy and our
# nutcracker, on loopback, in the pinned layout of scripts/bench.sh (load on LOAD_CPU, proxies and
# backends on SERVER_CPU). Three figures, each its own table:
#
# 1. Latency: the redis workloads of bench.sh (GET and SET with -P 1 and -P 16, MGET of MGET_KEYS
#    random keys; redis-benchmark, CLIENTS connections, all KEYSPACE keys preloaded on both
#    backends), each run reporting redis-benchmark's p50 and p99 (--csv, columns found by name).
#    Per round and workload the order is direct, twemproxy, ours, ours, twemproxy, direct; the
#    table gives the medians over the 2*ROUNDS samples of each target.
# 2. One MGET of BIG_MGET_KEYS (10000) keys, all preloaded: redis-benchmark -c 1 -n BIG_MGET_N
#    sends the same command BIG_MGET_N times in a row on one connection (after a warm-up run of 10
#    and a check that the reply holds every value); a run's figure is its p50, the table gives the
#    median (min-max) over 2*ROUNDS runs in the same interleaved order, and the ratio to direct.
# 3. Memory of the proxies, PSS from /proc/PID/smaps_rollup summed over the process tree (ours: master
#    and worker; PSS counts the pages they share, the binary's, once), for the redis and the memcache
#    pool, each on a freshly started proxy (with VmRSS summed too for the conns step):
#    idle      after start and a smoke check of a few requests
#    conns     with CONNS (5000) idle client connections open (held by a python3 client, once the
#              proxy has accepted them all, counted by its open file descriptors)
#    in flight both backends SIGSTOPped, then INFLIGHT_CONNS (50) connections each write
#              INFLIGHT_PER_CONN (2000) pipelined SETs of VALUE_SIZE (100) bytes without waiting for
#              replies (100000 requests in flight); once everything is written, RSS is polled
#              until it has not grown for HOLD seconds: the figure is the peak, shown with the
#              bytes the kernel then still holds unread by the proxy (a proxy that stops reading
#              its clients keeps them there) and by the stopped backends
#    after     SIGCONT, every reply read (counted: replies/errors), AFTER seconds later
#
# Our binary runs as master + 1 worker (OURS_ARGS default "-n 1"), the closest to twemproxy's single
# process; its memory figures cover both processes. The pools are those of bench.sh (ketama,
# fnv1a_64, two backends) except for timeout: POOL_TIMEOUT (30000 ms), so no request times out
# while the backends are stopped.
#
# Environment (defaults in brackets):
#   ROUNDS [2]            rounds of the interleaved order (latency and big MGET)
#   QUICK=1               smoke run (under a minute): 1 round, a tenth of the requests, 2000 conns,
#                         HOLD=1 AFTER=1
#   CLIENTS [50], KEYSPACE [100000], N [100000], N_PIPE [500000], N_MGET [20000], MGET_KEYS [100]
#                         as in scripts/bench.sh
#   BIG_MGET_KEYS [10000], BIG_MGET_N [50]
#   CONNS [5000]          idle client connections (ulimit -n is raised as needed, up to the hard limit)
#   INFLIGHT_CONNS [50], INFLIGHT_PER_CONN [2000], VALUE_SIZE [100]
#   HOLD [2], AFTER [5]   seconds, see above
#   POOL_TIMEOUT [30000]  the pools' timeout, ms
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   RUN_TIMEOUT [120]     seconds before one redis-benchmark run or memory step is abandoned
#   MAX_SECONDS [150]     no new latency or big-MGET round starts after this many seconds of runs
#   TWEMPROXY_BIN [/usr/sbin/nutcracker]
#   NUTCRACKER_BIN        our binary; default: build bin/nutcracker
#   OURS_ARGS [-n 1]      flags for our binary only
#   RESULTS               also write the raw samples (TSV) to RESULTS.latency, .bigmget and .rss
#
# A target that cannot start (or fails its smoke check, or dies) is reported as n/a; the others go on.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1}
	N=${N:-10000}
	N_PIPE=${N_PIPE:-50000}
	N_MGET=${N_MGET:-2000}
	CONNS=${CONNS:-2000} # a loopback connect takes up to 1 ms on a small VM
	HOLD=${HOLD:-1}
	AFTER=${AFTER:-1}
fi
ROUNDS=${ROUNDS:-2}
N=${N:-100000}
N_PIPE=${N_PIPE:-500000}
N_MGET=${N_MGET:-20000}
MGET_KEYS=${MGET_KEYS:-100}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
CONNS=${CONNS:-5000}
INFLIGHT_CONNS=${INFLIGHT_CONNS:-50}
INFLIGHT_PER_CONN=${INFLIGHT_PER_CONN:-2000}
VALUE_SIZE=${VALUE_SIZE:-100}
HOLD=${HOLD:-2}
AFTER=${AFTER:-5}
POOL_TIMEOUT=${POOL_TIMEOUT:-30000}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
MAX_SECONDS=${MAX_SECONDS:-150}
TWEMPROXY_BIN=${TWEMPROXY_BIN:-/usr/sbin/nutcracker}
OURS_ARGS=${OURS_ARGS--n 1}

ORDER=(direct twemproxy ours ours twemproxy direct)
PROXIES=(twemproxy ours)
PROTOCOLS=(redis memcache)
WORKLOADS=(get_p1 set_p1 get_p16 set_p16 mget)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

big_mget_defaults

bash scripts/deps.sh bench

tmp_setup nutcracker-bench-extra
stopped=() # backends under SIGSTOP: resumed on any exit, before the cleanup stops them
# shellcheck disable=SC2317 # run by the EXIT trap
extra_cleanup() {
	[ ${#stopped[@]} -eq 0 ] || kill -CONT "${stopped[@]}" 2>/dev/null || true
	tmp_cleanup
}
trap extra_cleanup EXIT

# Enough descriptors for CONNS connections in the client and in the proxy (which inherit it).
need_fds=$((CONNS + 256))
if [ "$(ulimit -n)" != unlimited ] && (($(ulimit -n) < need_fds)); then
	ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	if [ "$(ulimit -n)" != unlimited ] && (($(ulimit -n) < need_fds)); then
		CONNS=$(($(ulimit -n) - 256))
		log "ulimit -n is $(ulimit -n) at most: CONNS lowered to $CONNS"
	fi
fi

pin_setup

have_python=0
python3 -c 'import selectors, socket' 2>/dev/null && have_python=1

declare -A PORT # "proto/target" -> listen port (direct: a backend)
declare -A PID  # "proto/target" -> pid of a running proxy
declare -A NA   # target or "proto/target" -> why it is not measured

# ---------------------------------------------------------------- backends

declare -A BACKEND_PIDS # proto -> "pid pid"
declare -A BACKENDS     # proto -> "port port"
# start_backends PROTO START: two backends of PROTO (START is start_redis or start_memcached) on
# free ports, pinned; sets BACKENDS[PROTO] and BACKEND_PIDS[PROTO].
start_backends() {
	local port i
	for i in 1 2; do
		alloc_port port
		"$2" "$port" "${pin_server[@]}"
		BACKENDS[$1]+="${BACKENDS[$1]:+ }$port"
		BACKEND_PIDS[$1]+="${BACKEND_PIDS[$1]:+ }${pids[-1]}"
	done
}
start_backends redis start_redis
start_backends memcache start_memcached
read -r r1 r2 <<<"${BACKENDS[redis]}"
PORT[redis/direct]=$r1
redis_preload "$r1"
redis_preload "$r2"

# ---------------------------------------------------------------- proxies

if [ -n "${NUTCRACKER_BIN:-}" ]; then
	ours_bin=$NUTCRACKER_BIN
else
	ours_bin=bin/nutcracker
	if ! build_ours bin/nutcracker >"$tmp/build.log" 2>&1; then
		NA[ours]="build failed: $(head -n 1 "$tmp/build.log")"
	fi
fi
[ -n "${NA[ours]:-}" ] || [ -x "$ours_bin" ] || NA[ours]="$ours_bin not found"
[ -x "$TWEMPROXY_BIN" ] || NA[twemproxy]="$TWEMPROXY_BIN not found"
for t in "${PROXIES[@]}"; do [ -z "${NA[$t]:-}" ] || log "$t: n/a (${NA[$t]})"; done

# start_proxy PROTO TARGET: a fresh proxy process (tree) with the PROTO pool on a new port, pinned,
# stats on a free port; on success PID[PROTO/TARGET] is set, else NA[PROTO/TARGET] says why.
start_proxy() {
	local proto=$1 t=$2 bin=$TWEMPROXY_BIN args=() stats pid name conf b
	unset "PID[$proto/$t]" "NA[$proto/$t]"
	[ -z "${NA[$t]:-}" ] || return 0
	# shellcheck disable=SC2206 # OURS_ARGS is a list of flags
	[ "$t" = twemproxy ] || bin=$ours_bin args=(${OURS_ARGS})
	alloc_port "PORT[$proto/$t]"
	alloc_port stats
	name=$proto-$t-${PORT[$proto/$t]}
	conf=$tmp/$name.yml
	{
		echo "bench_$proto:"
		echo "  listen: 127.0.0.1:${PORT[$proto/$t]}"
		echo "  hash: fnv1a_64"
		echo "  distribution: ketama"
		echo "  timeout: $POOL_TIMEOUT"
		echo "  redis: $([ "$proto" = redis ] && echo true || echo false)"
		echo "  servers:"
		for b in ${BACKENDS[$proto]}; do echo "   - 127.0.0.1:$b:1"; done
	} >"$conf"
	"${pin_server[@]}" "$bin" -c "$conf" -s "$stats" -a 127.0.0.1 -o "$tmp/$name.log" "${args[@]}" </dev/null \
		>"$tmp/$name.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if ! wait_port "$pid" "${PORT[$proto/$t]}"; then
		NA[$proto/$t]="exited or did not listen on port ${PORT[$proto/$t]}"
	elif ! "${proto}_smoke" "${PORT[$proto/$t]}"; then
		NA[$proto/$t]="failed the $proto smoke check"
	else
		PID[$proto/$t]=$pid
		return 0
	fi
	log "$t ($proto pool): ${NA[$proto/$t]}; its output:"
	tail -n 5 "$tmp/$name.out" "$tmp/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
	stop_tree "$pid"
}

stop_proxy() { # stop_proxy PROTO TARGET
	[ -z "${PID[$1/$2]:-}" ] || stop_tree "${PID[$1/$2]}"
	unset "PID[$1/$2]"
}

# ---------------------------------------------------------------- 1. latency, 2. big MGET

lat_samples=$tmp/latency.tsv
big_samples=$tmp/bigmget.tsv
printf 'workload\ttarget\tround\trps\tp50_ms\tp99_ms\n' >"$lat_samples"
printf 'target\tround\trequests\tavg_ms\tp50_ms\tp99_ms\n' >"$big_samples"
runs=0

# usable TARGET: the redis target is up (direct always is); marks a proxy that died.
usable() {
	[ "$1" = direct ] && return 0
	[ -n "${PID[redis/$1]:-}" ] || return 1
	kill -0 "${PID[redis/$1]}" 2>/dev/null && return 0
	NA[redis/$1]="died during the runs"
	log "$1 (redis pool): ${NA[redis/$1]}"
	unset "PID[redis/$1]"
	return 1
}

# lat_sample WORKLOAD TARGET ROUND
lat_sample() {
	local w=$1 t=$2 out lat
	usable "$t" || return 0
	runs=$((runs + 1))
	if ! out=$(redis_load "$w" "${PORT[redis/$t]}" "$tmp/run-$runs.log" "${pin_load[@]}") ||
		! lat=$(bench_csv "$tmp/run-$runs.log" p50_latency_ms p99_latency_ms); then
		log "$(redis_label "$w") on $t: run failed: $(run_error "$tmp/run-$runs.log")"
		usable "$t" || true
		return 0
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" "$3" "${out#* }" "${lat% *}" "${lat#* }" >>"$lat_samples"
}

big_mget_keys "$BIG_MGET_KEYS"

# big_sample TARGET ROUND
big_sample() {
	local t=$1 lat
	usable "$t" || return 0
	[ -z "${NA[big/$t]:-}" ] || return 0
	runs=$((runs + 1))
	if ! big_mget "${PORT[redis/$t]}" "$BIG_MGET_N" "$tmp/run-$runs.log" ||
		! lat=$(bench_csv "$tmp/run-$runs.log" avg_latency_ms p50_latency_ms p99_latency_ms); then
		log "MGET $BIG_MGET_KEYS keys on $t: run failed: $(run_error "$tmp/run-$runs.log" | cut -c1-100)"
		usable "$t" || true
		return 0
	fi
	printf '%s\t%s\t%s\t%s\n' "$t" "$2" "$BIG_MGET_N" "${lat// /$'\t'}" >>"$big_samples"
}

for t in "${PROXIES[@]}"; do start_proxy redis "$t"; done
# Where the tables' "ours" comes from: the processes of its tree.
ours_procs=n/a
[ -z "${PID[redis/ours]:-}" ] || ours_procs=$(tree_pids "${PID[redis/ours]}" | wc -l)

log "latency: rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE n_mget=$N_MGET (load on cpu ${pin_load[2]:-any}, servers on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
lat_rounds=0
for ((round = 1; round <= ROUNDS; round++)); do
	if ((SECONDS - start > MAX_SECONDS)); then
		log "over MAX_SECONDS=$MAX_SECONDS after $lat_rounds rounds: stopping early"
		break
	fi
	for w in "${WORKLOADS[@]}"; do
		log "round $round/$ROUNDS: $(redis_label "$w")"
		for t in "${ORDER[@]}"; do lat_sample "$w" "$t" "$round"; done
	done
	lat_rounds=$round
done
lat_seconds=$((SECONDS - start))

# The SET runs wrote random values: back to "xxx", which the checks below expect.
redis_preload "$r1"
redis_preload "$r2"
log "MGET of $BIG_MGET_KEYS keys: check and warm-up"
for t in direct "${PROXIES[@]}"; do
	usable "$t" || continue
	got=$(timeout 30 redis-cli -p "${PORT[redis/$t]}" mget "${big_keys[@]}" 2>&1 | grep -c '^xxx$') || true
	if [ "$got" != "$BIG_MGET_KEYS" ]; then
		NA[big/$t]="the reply held $got of the $BIG_MGET_KEYS values"
	elif ! big_mget "${PORT[redis/$t]}" 10 "$tmp/warmup-$t.log"; then
		NA[big/$t]="warm-up failed: $(run_error "$tmp/warmup-$t.log" | cut -c1-100)"
	fi
	[ -z "${NA[big/$t]:-}" ] || log "MGET $BIG_MGET_KEYS keys on $t: n/a (${NA[big/$t]})"
done
start=$SECONDS
big_rounds=0
for ((round = 1; round <= ROUNDS; round++)); do
	((SECONDS - start <= MAX_SECONDS)) || break
	log "round $round/$ROUNDS: MGET $BIG_MGET_KEYS keys x $BIG_MGET_N"
	for t in "${ORDER[@]}"; do big_sample "$t" "$round"; done
	big_rounds=$round
done

for t in "${PROXIES[@]}"; do stop_proxy redis "$t"; done

# ---------------------------------------------------------------- 3. memory

rss_samples=$tmp/rss.tsv
printf 'protocol\ttarget\tidle_kb\tconns_kb\tconns_open\tinflight_kb\tunread_by_proxy_b\tunread_by_backends_b\tafter_kb\treplies\terrors\tnote\tconns_rss_kb\n' >"$rss_samples"

cat >"$tmp/client.py" <<'PY'
# hold HOST PORT N SECONDS: open N connections, print "ready K", keep them open for SECONDS (or until killed).
# inflight HOST PORT PROTO CONNS PER SIZE SECONDS: CONNS connections each write PER pipelined SETs of
# SIZE bytes without waiting; prints "written" once all is written, then "done REPLIES ERRORS" once
# every reply is read (a reply is a line, an error one that is not +OK / STORED), or at SECONDS.
import os, selectors, socket, sys, time

def hold(host, port, n, secs):
    # Non-blocking connects, 256 at a time (within any listen backlog), each batch connected
    # before the next starts.
    end = time.time() + secs
    socks = []
    try:
        while len(socks) < n and time.time() < end:
            sel = selectors.DefaultSelector()
            for _ in range(min(256, n - len(socks))):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((host, port))
                sel.register(s, selectors.EVENT_WRITE)
            while sel.get_map():
                ready = sel.select(timeout=max(0, min(5, end - time.time())))
                if not ready:
                    raise OSError("connect timed out")
                for key, _ in ready:
                    s = key.fileobj
                    sel.unregister(s)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    socks.append(s)
    except OSError as e:
        print("error after %d connections: %s" % (len(socks), e), flush=True)
    print("ready %d" % len(socks), flush=True)
    time.sleep(max(0, end - time.time()))

def inflight(host, port, proto, conns, per, size, secs):
    end = time.time() + secs
    value = b"v" * size
    ok = b"+OK" if proto == "redis" else b"STORED"
    sel = selectors.DefaultSelector()
    state = {}
    for c in range(conns):
        out = bytearray()
        for i in range(per):
            key = b"inflight:%07d" % (c * per + i)
            if proto == "redis":
                out += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, size, value)
            else:
                out += b"set %s 0 0 %d\r\n%s\r\n" % (key, size, value)
        s = socket.create_connection((host, port), timeout=5)
        s.setblocking(False)
        state[s] = {"out": memoryview(out), "off": 0, "part": b""}
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    total = conns * per
    pending, replies, errors, written = conns, 0, 0, False
    while replies < total and sel.get_map() and time.time() < end:
        for key, ev in sel.select(timeout=0.2):
            s, st = key.fileobj, state[key.fileobj]
            if ev & selectors.EVENT_WRITE and st["off"] < len(st["out"]):
                try:
                    st["off"] += s.send(st["out"][st["off"]:st["off"] + 262144])
                except BlockingIOError:
                    pass
                if st["off"] == len(st["out"]):
                    sel.modify(s, selectors.EVENT_READ)
                    pending -= 1
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(262144)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    continue
                lines = (st["part"] + data).split(b"\r\n")
                st["part"] = lines.pop()
                replies += len(lines)
                errors += sum(1 for l in lines if l != ok)
        if pending == 0 and not written:
            print("written", flush=True)
            written = True
    print("done %d %d" % (replies, errors), flush=True)

if sys.argv[1] == "hold":
    hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
else:
    inflight(sys.argv[2], int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:9]))
PY

# rss_run PROTO TARGET: the memory steps on a fresh proxy; one line to rss_samples.
rss_run() {
	local proto=$1 t=$2 pid idle=NA conns=NA open=NA peak=NA after=NA replies=NA errors=NA note='' fd0 cpid out kb i still
	local q_proxy=NA q_backends=NA conns_rss=NA
	start_proxy "$proto" "$t"
	pid=${PID[$proto/$t]:-}
	[ -n "$pid" ] || return 0
	sleep 0.5
	idle=$(pss_kb "$pid")
	if ((have_python)); then
		# conns: CONNS idle connections, counted in the proxy's descriptors.
		fd0=$(fd_count "$pid")
		"${pin_load[@]}" timeout "$RUN_TIMEOUT" python3 "$tmp/client.py" hold 127.0.0.1 "${PORT[$proto/$t]}" \
			"$CONNS" "$RUN_TIMEOUT" >"$tmp/hold-$proto-$t.out" 2>&1 &
		cpid=$!
		pids+=("$cpid")
		if wait_line "$tmp/hold-$proto-$t.out" '^ready' 60; then
			wait_fds "$pid" $((fd0 + CONNS)) 1000000 10 || note+="not all $CONNS connections accepted; "
			sleep 0.5
			conns=$(pss_kb "$pid") conns_rss=$(rss_kb "$pid")
			open=$(($(fd_count "$pid") - fd0))
		else
			note+="connections not ready in 60 s; "
		fi
		grep -q '^error' "$tmp/hold-$proto-$t.out" && note+="client: $(grep -m 1 '^error' "$tmp/hold-$proto-$t.out"); "
		stop_tree "$cpid"
		wait_fds "$pid" 0 $((fd0 + 10)) 10 || note+="connections not all closed after 10 s; "

		# in flight: backends stopped, INFLIGHT_CONNS x INFLIGHT_PER_CONN pipelined SETs.
		read -r -a stopped <<<"${BACKEND_PIDS[$proto]}"
		kill -STOP "${stopped[@]}"
		out=$tmp/inflight-$proto-$t.out
		"${pin_load[@]}" timeout "$RUN_TIMEOUT" python3 "$tmp/client.py" inflight 127.0.0.1 "${PORT[$proto/$t]}" \
			"$proto" "$INFLIGHT_CONNS" "$INFLIGHT_PER_CONN" "$VALUE_SIZE" $((RUN_TIMEOUT - 5)) >"$out" 2>&1 &
		cpid=$!
		pids+=("$cpid")
		wait_line "$out" '^written' 30 || note+="requests not all written in 30 s; "
		# The peak: polled until it has not grown for HOLD seconds (30 s at most), then what
		# the kernel still holds: unread by the proxy, unread by the stopped backends.
		peak=0
		for ((i = 0, still = 0; still < HOLD * 10 && i < 300; i++, still++)); do
			kb=$(pss_kb "$pid")
			((kb <= peak)) || peak=$kb still=0
			sleep 0.1
		done
		# shellcheck disable=SC2086 # a list of ports
		q_proxy=$(queued_bytes "${PORT[$proto/$t]}") q_backends=$(queued_bytes ${BACKENDS[$proto]})
		kill -CONT "${stopped[@]}"
		stopped=()
		if wait_line "$out" '^done' $((RUN_TIMEOUT - 5)); then
			read -r _ replies errors < <(grep -m 1 '^done' "$out")
		else
			note+="replies not all read; "
		fi
		stop_tree "$cpid"
		sleep "$AFTER"
		after=$(pss_kb "$pid")
	else
		note="no python3: idle only; "
	fi
	kill -0 "$pid" 2>/dev/null || note+="proxy died; "
	stop_proxy "$proto" "$t"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proto" "$t" "$idle" "$conns" "$open" "$peak" \
		"$q_proxy" "$q_backends" "$after" "$replies" "$errors" "${note%; }" "$conns_rss" >>"$rss_samples"
}

start=$SECONDS
for proto in "${PROTOCOLS[@]}"; do
	for t in "${PROXIES[@]}"; do
		log "memory: $t, $proto pool"
		rss_run "$proto" "$t"
	done
done
rss_seconds=$((SECONDS - start))

# ---------------------------------------------------------------- report

if [ -n "${RESULTS:-}" ]; then
	cp "$lat_samples" "$RESULTS.latency"
	cp "$big_samples" "$RESULTS.bigmget"
	cp "$rss_samples" "$RESULTS.rss"
fi

echo
echo "nutcracker bench, latency and memory: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "  $(redis-server --version | cut -d' ' -f1-3), $(redis-benchmark --version | cut -d' ' -f1-2), $(memcached -V 2>&1 | head -n 1)," \
	"twemproxy $("$TWEMPROXY_BIN" -V 2>&1 | sed -n 's/.*nutcracker-//p' | head -n 1)"
echo "  ours: $ours_bin ${OURS_ARGS:-(no flags)} ($ours_procs processes: figures sum the tree); twemproxy: one process"
echo "  (scripts/bench.sh runs ours with -n 1 too, unless OURS_ARGS says otherwise)"
echo "  pinned: clients on cpu ${pin_load[2]:-any}, proxies and backends on cpu ${pin_server[2]:-any}; pool timeout $POOL_TIMEOUT ms"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
for t in "${PROXIES[@]}"; do
	[ -z "${NA[$t]:-}" ] || echo "  $t: n/a (${NA[$t]})"
	for k in redis/$t memcache/$t big/$t; do [ -z "${NA[$k]:-}" ] || echo "  $t, ${k%/*}: n/a (${NA[$k]})"; done
done
[ -z "${NA[big/direct]:-}" ] || echo "  direct, big MGET: n/a (${NA[big/direct]})"
echo

echo "Latency, ms: redis-benchmark's p50 / p99 per run, median over $((2 * lat_rounds)) runs per target ($lat_rounds of $ROUNDS rounds, $lat_seconds s); $CLIENTS clients"
for w in "${WORKLOADS[@]}"; do printf '%s\t%s\n' "$w" "$(redis_label "$w")"; done >"$tmp/labels.tsv"
awk -F'\t' "$report_awk"'
	function ms(key, m) { m = median(key); return m == "" ? "n/a" : sprintf("%.3f", m) }
	function pair(k, t) { return ms(k SUBSEP t SUBSEP "p50") " / " ms(k SUBSEP t SUBSEP "p99") }
	FILENAME == ARGV[1] { label[++nw] = $2; wkey[nw] = $1; next }
	FNR == 1 { next }
	{ add($1 SUBSEP $2 SUBSEP "p50", $5); add($1 SUBSEP $2 SUBSEP "p99", $6) }
	END {
		fmt = "%-20s %-17s %-17s %-17s %12s %12s\n"
		printf fmt, "workload", "direct p50 / p99", "twemproxy", "ours", "ours/tw p50", "ours/tw p99"
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			printf fmt, label[i], pair(k, "direct"), pair(k, "twemproxy"), pair(k, "ours"),
				ratio(median(k SUBSEP "ours" SUBSEP "p50"), median(k SUBSEP "twemproxy" SUBSEP "p50")),
				ratio(median(k SUBSEP "ours" SUBSEP "p99"), median(k SUBSEP "twemproxy" SUBSEP "p99"))
		}
	}' "$tmp/labels.tsv" "$lat_samples"
echo

echo "One MGET of $BIG_MGET_KEYS keys, ms: $BIG_MGET_N in a row on one connection per run, after a warm-up;"
echo "  p50 of each run, median (min-max) over $((2 * big_rounds)) runs per target; p99 and avg: medians"
awk -F'\t' "$report_awk"'
	function ms(key, m) { m = median(key); return m == "" ? "n/a" : sprintf("%.3f", m) }
	NR == 1 { next }
	{ add($1 SUBSEP "avg", $4); add($1 SUBSEP "p50", $5); add($1 SUBSEP "p99", $6) }
	END {
		fmt = "%-10s %-22s %8s %8s %10s\n"
		printf fmt, "target", "p50 (min-max)", "p99", "avg", "p50/direct"
		d = median("direct" SUBSEP "p50")
		n = split("direct twemproxy ours", T, " ")
		for (i = 1; i <= n; i++) {
			m = median(T[i] SUBSEP "p50")
			printf fmt, T[i], m == "" ? "n/a" : sprintf("%.3f (%.3f-%.3f)", m, lo[T[i] SUBSEP "p50"], hi[T[i] SUBSEP "p50"]),
				ms(T[i] SUBSEP "p99"), ms(T[i] SUBSEP "avg"), ratio(m, d)
		}
	}' "$big_samples"
echo

echo "Proxy memory, MB (PSS summed over the proxy's processes), a fresh proxy per pool ($rss_seconds s):"
echo "  idle: after start; conns: $CONNS idle client connections (KB/conn: their cost; RSS: VmRSS summed,"
echo "  the pages master and worker share counted twice); in flight: backends"
echo "  stopped, $INFLIGHT_CONNS x $INFLIGHT_PER_CONN pipelined SETs of $VALUE_SIZE B written, peak once it stopped growing for"
echo "  $HOLD s, with the bytes then left in the kernel unread by the proxy and by the backends (q->proxy,"
echo "  q->backends, MB); after: $AFTER s after the last reply; replies/errors: as the clients counted them"
awk -F'\t' '
	function mb(b, unit) { return b == "NA" ? "n/a" : sprintf("%.1f", b / unit) }
	NR == 1 { next }
	{
		per = ($3 == "NA" || $4 == "NA" || $5 == "NA" || $5 <= 0) ? "n/a" : sprintf("%.1f", ($4 - $3) / $5)
		rep = $10 == "NA" ? "n/a" : $10 "/" $11
		printf "%-20s %7s %7s %8s %7s %10s %9s %12s %7s %15s%s\n", $1 " " $2, mb($3, 1024), mb($4, 1024), per, mb($13, 1024), mb($6, 1024),
			mb($7, 1048576), mb($8, 1048576), mb($9, 1024), rep, $12 == "" ? "" : "  (" $12 ")"
	}
	BEGIN {
		printf "%-20s %7s %7s %8s %7s %10s %9s %12s %7s %15s\n", "pool, proxy", "idle", "conns", "KB/conn", "RSS", "in flight",
			"q->proxy", "q->backends", "after", "replies/errors"
	}
' "$rss_samples"
