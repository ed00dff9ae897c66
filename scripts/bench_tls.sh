#!/usr/bin/env bash
# make bench, TLS part: our nutcracker speaking TLS on both sides against what a twemproxy user
# runs today, stunnel beside Debian's twemproxy, and against our own plaintext, on loopback.
#
# Backends: two redis-server, each listening on a plaintext port and a TLS port (--tls-port, no
# client certificates asked), KEYSPACE keys key:000000000000 .. key:<KEYSPACE-1> preloaded on both.
# The script makes its certificates with openssl: a test CA and a server certificate for 127.0.0.1
# and localhost (ECDSA P-256), used by every TLS endpoint below. Targets:
#   stunnel-twemproxy  stunnel (Debian's stunnel4, one process) accepts TLS and passes the bytes
#                      to twemproxy (/usr/sbin/nutcracker); twemproxy cannot speak TLS to its
#                      servers, so each of its two servers is a client-mode tunnel of the same
#                      stunnel to a backend's TLS port, verifying the backend's certificate
#   ours-tls           our proxy, one pool with a TLS listener (tls_cert_file, tls_key_file) and
#                      TLS to the backends' TLS ports (server_tls, server_tls_ca_cert_file)
#   ours-plain         our proxy, plaintext on both sides, to the backends' plaintext ports
# Every pool is ketama/fnv1a_64, timeout 5000. Load from redis-benchmark: GET and SET, -P 1 and
# -P 16, CLIENTS connections, -r KEYSPACE; with --tls --cacert for the two TLS targets (each
# connection's handshake is inside the timed run: 50 handshakes against at least 10000 requests).
#
# Layout (2 cores), as scripts/bench.sh: redis-benchmark runs on LOAD_CPU (0); the backends, the
# proxies and stunnel share SERVER_CPU (1), so a proxy's cost (TLS included) shows up as lost
# throughput. Per round and workload the targets run in the order stunnel-twemproxy, ours-tls,
# ours-plain, ours-plain, ours-tls, stunnel-twemproxy; each run is one sample, so every target gets
# 2*ROUNDS samples per workload. utime+stime is read from /proc before and after each run, giving
# CPU microseconds per request: for ours the proxy's process tree (master and worker), for
# stunnel-twemproxy the stunnel process (all its threads) plus twemproxy, with stunnel's part
# shown beside it. Under the table, per workload: ours-tls/stunnel-twemproxy rps (issue 19's goal:
# at least 1.5) and ours-tls/ours-plain rps (goal on -P 16: at least 0.6).
#
# Environment (defaults in brackets):
#   ROUNDS [3]          rounds of the interleaved order
#   QUICK=1             smoke run: 1 round, N=10000 and N_PIPE=50000 (seconds, not minutes)
#   CLIENTS [50]        redis-benchmark connections
#   KEYSPACE [100000]   -r, and the keys preloaded
#   N [50000]           requests per GET/SET -P 1 run (half of bench.sh's: stunnel-twemproxy
#                       serves -P 1 at a few thousand rps, so a run of it lasts over 10 s)
#   N_PIPE [500000]     requests per GET/SET -P 16 run
#   LOAD_CPU [0], SERVER_CPU [1]   taskset cores (no pinning on a 1-core machine)
#   RUN_TIMEOUT [120]   seconds before one redis-benchmark run is abandoned
#   MAX_SECONDS [240]   no new round starts after this many seconds of runs
#   TWEMPROXY_BIN [/usr/sbin/nutcracker]
#   NUTCRACKER_BIN      our binary; default: build bin/nutcracker
#   OURS_ARGS [-n 1]    flags for our binary, both ours targets (default: master + one worker)
#   RESULTS             also write the raw samples (TSV) to this file
#
# A target that cannot start (or fails its smoke check, or dies) is reported as n/a; the others
# go on. Backends that do not start, or certificates openssl cannot make, stop the script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
bench_defaults 50000

TARGETS=(stunnel-twemproxy ours-tls ours-plain)
ORDER=(stunnel-twemproxy ours-tls ours-plain ours-plain ours-tls stunnel-twemproxy)
WORKLOADS=(get_p1 set_p1 get_p16 set_p16)


bash scripts/deps.sh bench

tmp_setup nutcracker-bench-tls

# ---------------------------------------------------------------- helpers

pin_setup
clk_tck=$(getconf CLK_TCK)

declare -A PORT      # target -> the port redis-benchmark is given
declare -A CPU_PIDS  # target -> the processes whose trees' CPU a request costs
declare -A NA        # target -> why it is not measured
stunnel_pid=

label() {
	case $1 in
	get_p1) echo "GET -P 1" ;;
	set_p1) echo "SET -P 1" ;;
	get_p16) echo "GET -P 16" ;;
	set_p16) echo "SET -P 16" ;;
	esac
}

# tls_target TARGET: TARGET's clients speak TLS.
tls_target() { [ "$1" != ours-plain ]; }

# tls_smoke PORT: redis_smoke over TLS: a SET, then an MGET of preloaded keys.
tls_smoke() {
	local cli=(timeout 5 redis-cli --tls --cacert "$tmp/ca.crt" -p "$1") out
	out=$("${cli[@]}" set key:000000000000 xxx 2>&1) && [ "$out" = OK ] || return 1
	out=$("${cli[@]}" mget key:000000000000 key:000000000001 key:000000000002 key:000000000003 2>&1) || return 1
	[ "$(printf '%s' "$out" | tr '\n' ' ')" = "xxx xxx xxx xxx" ]
}

# started TARGET PID PORT: PID listens on PORT and TARGET answers its smoke check (a few tries:
# the TLS pools connect to their servers as they start); else TARGET is n/a, with its logs shown.
started() {
	local t=$1 i smoke=redis_smoke
	tls_target "$t" && smoke=tls_smoke
	if ! wait_port "$2" "$3"; then
		NA[$t]="exited or did not listen on port $3"
	else
		for ((i = 0; i < 20; i++)); do
			"$smoke" "${PORT[$t]}" && break
			sleep 0.1
		done
		((i < 20)) || NA[$t]="failed the smoke check"
	fi
	[ -n "${NA[$t]:-}" ] || return 0
	log "$t: ${NA[$t]}; its output:"
	tail -n 5 "$tmp/$t.out" "$tmp/$t.log" "$tmp/$t.stunnel.out" 2>/dev/null | sed 's/^/    /' >&2 || true
	return 1
}

# ---------------------------------------------------------------- certificates and backends

(
	cd "$tmp"
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
		-subj "/CN=nutcracker bench CA" -keyout ca.key -out ca.crt
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-subj "/CN=localhost" -keyout server.key -out server.csr
	printf '%s\n' "subjectAltName = IP:127.0.0.1, DNS:localhost" "extendedKeyUsage = serverAuth" >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt
) >"$tmp/openssl.log" 2>&1 || die "openssl could not make the test certificates: $(run_error "$tmp/openssl.log")"

backends=() tls_backends=()
for i in 1 2; do
	plain='' secure=''
	alloc_port plain
	alloc_port secure
	"${pin_server[@]}" redis-server --port "$plain" --tls-port "$secure" --bind 127.0.0.1 \
		--tls-cert-file "$tmp/server.crt" --tls-key-file "$tmp/server.key" \
		--tls-ca-cert-file "$tmp/ca.crt" --tls-auth-clients no \
		--dir "$tmp" --save '' --appendonly no --daemonize no --logfile "$tmp/redis-$plain.log" </dev/null &
	pids+=($!)
	if ! wait_port $! "$plain" || ! wait_port $! "$secure"; then
		die "redis-server on ports $plain and $secure did not start (see $tmp/redis-$plain.log)"
	fi
	redis_preload "$plain"
	backends+=("$plain") tls_backends+=("$secure")
done

# redis-benchmark's TLS flags, put before its others by a wrapper so lib.sh's redis_load runs
# the TLS targets unchanged (the wrapper goes after taskset, as the last of redis_load's WRAPPER).
with_tls=$tmp/with-tls
cat >"$with_tls" <<EOF
#!/bin/sh
cmd=\$1
shift
exec "\$cmd" --tls --cacert "$tmp/ca.crt" "\$@"
EOF
chmod +x "$with_tls"

# pool_conf LISTEN_PORT SERVER_PORT... <MORE_KEYS: the one pool of a proxy's config, with the
# pool keys read from stdin (the TLS ones) added to the common ones.
pool_conf() {
	local listen=$1 p
	shift
	printf '%s\n' "bench_tls:" "  listen: 127.0.0.1:$listen" "  hash: fnv1a_64" "  distribution: ketama" \
		"  timeout: 5000" "  redis: true"
	cat
	echo "  servers:"
	for p in "$@"; do echo "   - 127.0.0.1:$p:1"; done
}

# ---------------------------------------------------------------- stunnel and twemproxy

# start_stunnel_twemproxy: twemproxy on a plaintext port, its servers two stunnel client tunnels
# to the backends' TLS ports; stunnel accepting the clients' TLS in front of it.
start_stunnel_twemproxy() {
	local t=stunnel-twemproxy front tunnels=() p stats pid
	[ -x "$TWEMPROXY_BIN" ] || {
		NA[$t]="$TWEMPROXY_BIN not found"
		return
	}
	alloc_port "PORT[$t]"
	alloc_port front
	alloc_port stats
	for _ in "${tls_backends[@]}"; do alloc_port "tunnels[${#tunnels[@]}]"; done
	{
		printf '%s\n' "foreground = yes" "syslog = no" "debug = warning" "pid =" \
			"[clients]" "accept = 127.0.0.1:${PORT[$t]}" "connect = 127.0.0.1:$front" \
			"cert = $tmp/server.crt" "key = $tmp/server.key"
		for i in "${!tunnels[@]}"; do
			printf '%s\n' "[backend$i]" "client = yes" "accept = 127.0.0.1:${tunnels[$i]}" \
				"connect = 127.0.0.1:${tls_backends[$i]}" "CAfile = $tmp/ca.crt" "verifyChain = yes" \
				"checkIP = 127.0.0.1"
		done
	} >"$tmp/$t.stunnel.conf"
	"${pin_server[@]}" stunnel4 "$tmp/$t.stunnel.conf" </dev/null >"$tmp/$t.stunnel.out" 2>&1 &
	stunnel_pid=$!
	pids+=("$stunnel_pid")
	# twemproxy connects to its servers on the first request, so the tunnels must listen before.
	for p in "${tunnels[@]}"; do
		wait_port "$stunnel_pid" "$p" || {
			NA[$t]="stunnel did not listen on port $p"
			log "$t: ${NA[$t]}; its output:"
			tail -n 5 "$tmp/$t.stunnel.out" | sed 's/^/    /' >&2 || true
			return
		}
	done
	pool_conf "$front" "${tunnels[@]}" </dev/null >"$tmp/$t.yml"
	"${pin_server[@]}" "$TWEMPROXY_BIN" -c "$tmp/$t.yml" -s "$stats" -a 127.0.0.1 -o "$tmp/$t.log" </dev/null \
		>"$tmp/$t.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_port "$pid" "$front" || {
		NA[$t]="twemproxy exited or did not listen on port $front"
		log "$t: ${NA[$t]}; its output:"
		tail -n 5 "$tmp/$t.out" "$tmp/$t.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		return
	}
	started "$t" "$stunnel_pid" "${PORT[$t]}" || return 0
	CPU_PIDS[$t]="$stunnel_pid $pid"
}

# ---------------------------------------------------------------- ours

if [ -n "${NUTCRACKER_BIN:-}" ]; then
	bin=$NUTCRACKER_BIN
else
	bin=bin/nutcracker
	go build -o bin/nutcracker ./cmd/nutcracker >"$tmp/build.log" 2>&1 || build_na="build failed: $(head -n 1 "$tmp/build.log")"
fi
[ -n "${build_na:-}" ] || [ -x "$bin" ] || build_na="$bin not found"

# start_ours TARGET: our proxy with TARGET's pool, generated config, pinned, stats on a free port.
start_ours() {
	local t=$1 stats pid
	if [ -n "${build_na:-}" ]; then
		NA[$t]=$build_na
		return
	fi
	alloc_port "PORT[$t]"
	alloc_port stats
	if [ "$t" = ours-tls ]; then
		printf '%s\n' "  tls_cert_file: $tmp/server.crt" "  tls_key_file: $tmp/server.key" \
			"  server_tls: true" "  server_tls_ca_cert_file: $tmp/ca.crt" |
			pool_conf "${PORT[$t]}" "${tls_backends[@]}" >"$tmp/$t.yml"
	else
		pool_conf "${PORT[$t]}" "${backends[@]}" </dev/null >"$tmp/$t.yml"
	fi
	# shellcheck disable=SC2086 # OURS_ARGS is a list of flags
	"${pin_server[@]}" "$bin" -c "$tmp/$t.yml" -s "$stats" -a 127.0.0.1 -o "$tmp/$t.log" ${OURS_ARGS--n 1} </dev/null \
		>"$tmp/$t.out" 2>&1 &
	pid=$!
	pids+=("$pid")
	if started "$t" "$pid" "${PORT[$t]}"; then
		CPU_PIDS[$t]=$pid
	else
		kill -KILL "$pid" 2>/dev/null || true
	fi
}

start_stunnel_twemproxy
start_ours ours-tls
start_ours ours-plain
for t in "${TARGETS[@]}"; do
	[ -z "${NA[$t]:-}" ] || log "$t: n/a (${NA[$t]})"
done

# ---------------------------------------------------------------- runs

samples=$tmp/samples.tsv
printf 'workload\ttarget\tround\trequests\trps\tcpu_us_per_req\tstunnel_us_per_req\n' >"$samples"
runs=0
start=$SECONDS

# ticks TARGET: the CPU ticks of TARGET's processes, and of stunnel alone (0 when it has none).
ticks() {
	local p sum=0 st=0 n
	for p in ${CPU_PIDS[$1]}; do
		n=$(cpu_ticks "$p")
		sum=$((sum + n))
		[ "$p" != "$stunnel_pid" ] || st=$n
	done
	echo "$sum $st"
}

# run_sample WORKLOAD TARGET ROUND
run_sample() {
	local w=$1 t=$2 before after out wrap=()
	[ -z "${NA[$t]:-}" ] || return 0
	tls_target "$t" && wrap=("$with_tls")
	before=$(ticks "$t")
	runs=$((runs + 1))
	if ! out=$(redis_load "$w" "${PORT[$t]}" "$tmp/run-$runs.log" "${pin_load[@]}" "${wrap[@]}"); then
		log "$(label "$w") on $t: run failed: $(run_error "$tmp/run-$runs.log")"
		local p
		for p in ${CPU_PIDS[$t]}; do
			kill -0 "$p" 2>/dev/null && continue
			NA[$t]="died during the runs"
			log "$t: ${NA[$t]}"
			break
		done
		return 0
	fi
	after=$(ticks "$t")
	awk -v b="$before" -v a="$after" -v hz="$clk_tck" -v n="${out% *}" -v st="$([ "$t" = stunnel-twemproxy ] && echo 1)" \
		-v lead="$w	$t	$3	${out% *}	${out#* }" 'BEGIN {
			split(b, B, " "); split(a, A, " ")
			printf "%s\t%.2f\t%s\n", lead, (A[1] - B[1]) / hz * 1e6 / n, st ? sprintf("%.2f", (A[2] - B[2]) / hz * 1e6 / n) : "NA"
		}' >>"$samples"
}

log "rounds=$ROUNDS clients=$CLIENTS keyspace=$KEYSPACE n=$N n_pipe=$N_PIPE (load on cpu ${pin_load[2]:-any}, backends, proxies and stunnel on cpu ${pin_server[2]:-any})"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_rounds

# ---------------------------------------------------------------- report

[ -z "${RESULTS:-}" ] || cp "$samples" "$RESULTS"

echo
echo "nutcracker TLS bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "  $(redis-server --version | cut -d' ' -f1-3) with --tls-port, two backends; $(stunnel4 -version 2>&1 | grep -m 1 '^stunnel' | cut -d' ' -f1-2)" \
	"and twemproxy $("$TWEMPROXY_BIN" -V 2>&1 | sed -n 's/.*nutcracker-//p' | head -n 1); $(openssl version | cut -d' ' -f1-2), ECDSA P-256 certificates"
echo "  stunnel-twemproxy: stunnel (TLS from clients, TLS tunnels to the backends) around twemproxy;"
echo "  ours-tls: TLS listener and server_tls; ours-plain: plaintext both sides; ours runs with ${OURS_ARGS--n 1}"
echo "  $rounds_done of $ROUNDS rounds x 2 samples per target, $CLIENTS clients, -r $KEYSPACE, $((SECONDS - start)) s of runs"
echo "  load average before the runs: $load_before (anything well above 0 means other work shared the cores)"
echo "  rps: median (min-max) over the samples; ratios of medians; us/req: utime+stime per request, median"
echo "  (stunnel-twemproxy: stunnel + twemproxy, stunnel's part in brackets)"
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
	{ add($1 SUBSEP $2 SUBSEP "rps", $5); add($1 SUBSEP $2 SUBSEP "cpu", $6); add($1 SUBSEP $2 SUBSEP "stunnel", $7) }
	END {
		fmt = "%-10s %-27s %-27s %-27s %17s %11s %11s\n"
		printf fmt, "workload", "stunnel-twemproxy rps", "ours-tls rps", "ours-plain rps", "st-tw us/req", "tls us/req", "plain us/req"
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			stcpu = cpucol(k SUBSEP "stunnel-twemproxy" SUBSEP "cpu")
			if (stcpu != "n/a") stcpu = stcpu " (" cpucol(k SUBSEP "stunnel-twemproxy" SUBSEP "stunnel") ")"
			printf fmt, label[i], rpscol(k SUBSEP "stunnel-twemproxy" SUBSEP "rps"), rpscol(k SUBSEP "ours-tls" SUBSEP "rps"),
				rpscol(k SUBSEP "ours-plain" SUBSEP "rps"), stcpu, cpucol(k SUBSEP "ours-tls" SUBSEP "cpu"), cpucol(k SUBSEP "ours-plain" SUBSEP "cpu")
		}
		print ""
		for (i = 1; i <= nw; i++) {
			k = wkey[i]
			st = median(k SUBSEP "stunnel-twemproxy" SUBSEP "rps"); ot = median(k SUBSEP "ours-tls" SUBSEP "rps"); op = median(k SUBSEP "ours-plain" SUBSEP "rps")
			printf "%-10s ours-tls/stunnel-twemproxy rps %s (goal: at least 1.5)\n", label[i], ratio(ot, st)
			printf "%-10s ours-tls/ours-plain rps %s%s\n", label[i], ratio(ot, op), k ~ /_p16$/ ? " (goal: at least 0.6)" : ""
		}
	}' "$labels" "$samples"
