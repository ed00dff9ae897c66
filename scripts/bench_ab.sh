#!/usr/bin/env bash
# make bench-ab: this nutcracker against another build of it (a git revision, or a binary), for a
# change's before and after. Both run as master + one worker (-n 1) in front of the same two
# redis-server backends, and the runs alternate A B B A per round, so that a shared, noisy
# machine weighs on both alike. Per workload it prints the median rps and the median CPU time
# of each proxy's process tree per request (utime+stime from /proc, as scripts/bench.sh), with
# their ranges and the ratios B/A. Same pinning as scripts/bench.sh: load on LOAD_CPU, proxies
# and backends on SERVER_CPU.
#
#   BASE=<git revision>   build A from that revision (in a temporary git worktree)
#   A_BIN, B_BIN          binaries to compare instead (B defaults to a build of the work tree)
#   ROUNDS [5]            rounds of A B B A: 2*ROUNDS samples per target and workload
#   WORKLOADS [get_p1 set_p1 get_p16 mget]   of scripts/lib.sh's redis_load, each also as NAME_resp3 (over RESP3)
#   N [100000], N_PIPE [500000], N_MGET [20000], MGET_KEYS [10], CLIENTS [50], KEYSPACE [100000]
#   LOAD_CPU [0], SERVER_CPU [1], RUN_TIMEOUT [120]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-5}
N=${N:-100000}
N_PIPE=${N_PIPE:-500000}
N_MGET=${N_MGET:-20000}
MGET_KEYS=${MGET_KEYS:-10}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
read -ra workloads <<<"${WORKLOADS:-get_p1 set_p1 get_p16 mget}"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

bash scripts/deps.sh bench
tmp_setup nutcracker-ab

pin_setup

# ---------------------------------------------------------------- the two binaries

a_bin=${A_BIN:-}
b_bin=${B_BIN:-}
if [ -z "$a_bin" ]; then
	[ -n "${BASE:-}" ] || die "set BASE=<git revision> (or A_BIN=<binary>) to compare with"
	git worktree add -q --detach "$tmp/base" "$BASE" || die "no revision $BASE"
	trap 'git -C "$root" worktree remove --force "$tmp/base" 2>/dev/null; tmp_cleanup' EXIT
	(cd "$tmp/base" && go build -o "$tmp/a" ./cmd/nutcracker) || die "building $BASE failed"
	a_bin=$tmp/a
fi
if [ -z "$b_bin" ]; then
	go build -o "$tmp/b" ./cmd/nutcracker || die "building the work tree failed"
	b_bin=$tmp/b
fi

# ---------------------------------------------------------------- backends and proxies

alloc_port r1
alloc_port r2
start_redis "$r1" "${pin_server[@]}"
start_redis "$r2" "${pin_server[@]}"
redis_preload "$r1"
redis_preload "$r2"

declare -A PORT PID
for t in A B; do
	bin=$a_bin
	[ "$t" = A ] || bin=$b_bin
	alloc_port "PORT[$t]"
	alloc_port stats
	cat >"$tmp/$t.yml" <<EOF
ab:
  listen: 127.0.0.1:${PORT[$t]}
  hash: fnv1a_64
  distribution: ketama
  timeout: 5000
  redis: true
  servers:
   - 127.0.0.1:$r1:1
   - 127.0.0.1:$r2:1
EOF
	"${pin_server[@]}" "$bin" -n 1 -c "$tmp/$t.yml" -s "$stats" -a 127.0.0.1 -o "$tmp/$t.log" \
		</dev/null >"$tmp/$t.out" 2>&1 &
	PID[$t]=$!
	pids+=("$!")
	wait_port "${PID[$t]}" "${PORT[$t]}" || die "$t ($bin) did not listen; see $tmp/$t.log"
	redis_smoke "${PORT[$t]}" || die "$t ($bin) failed the smoke check"
done

# ---------------------------------------------------------------- runs

hz=$(getconf CLK_TCK)
samples=$tmp/samples
: >"$samples"
log "A: $a_bin${BASE:+ ($BASE)}; B: $b_bin; $ROUNDS rounds of A B B A; load on cpu ${pin_load[2]:-any}"
for w in "${workloads[@]}"; do
	for ((round = 1; round <= ROUNDS; round++)); do
		log "$w: round $round/$ROUNDS"
		for t in A B B A; do
			before=$(cpu_ticks "${PID[$t]}")
			out=$(redis_load "$w" "${PORT[$t]}" "$tmp/run.log" "${pin_load[@]}") ||
				die "$w on $t failed: $(run_error "$tmp/run.log")"
			after=$(cpu_ticks "${PID[$t]}")
			awk -v w="$w" -v t="$t" -v n="${out% *}" -v rps="${out#* }" -v d=$((after - before)) -v hz="$hz" \
				'BEGIN { printf "%s\t%s\t%s\t%.3f\n", w, t, rps, d / hz * 1e6 / n }' >>"$samples"
		done
	done
done

# ---------------------------------------------------------------- report

echo
echo "nutcracker A/B: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  A: $a_bin${BASE:+ (revision $BASE)}"
echo "  B: $b_bin"
echo "  $ROUNDS rounds of A B B A, $CLIENTS clients, MGET of $MGET_KEYS keys; medians (min-max) of $((2 * ROUNDS)) samples"
echo
awk -F'\t' '
	function sortv(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
	function med(key,   n, i, a) { n = split(vals[key], a, " "); sortv(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function lo(key,   n, a) { n = split(vals[key], a, " "); sortv(a, n); return a[1] }
	function hi(key,   n, a) { n = split(vals[key], a, " "); sortv(a, n); return a[n] }
	{ if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 }
	  vals[$1 SUBSEP $2 SUBSEP "rps"] = vals[$1 SUBSEP $2 SUBSEP "rps"] " " $3
	  vals[$1 SUBSEP $2 SUBSEP "cpu"] = vals[$1 SUBSEP $2 SUBSEP "cpu"] " " $4 }
	END {
		fmt = "%-9s %-26s %-26s %6s   %-20s %-20s %6s\n"
		printf fmt, "workload", "A rps", "B rps", "B/A", "A us/req", "B us/req", "B/A"
		for (i = 1; i <= nw; i++) {
			w = order[i]
			ra = w SUBSEP "A" SUBSEP "rps"; rb = w SUBSEP "B" SUBSEP "rps"
			ca = w SUBSEP "A" SUBSEP "cpu"; cb = w SUBSEP "B" SUBSEP "cpu"
			printf fmt, w,
				sprintf("%d (%d-%d)", med(ra), lo(ra), hi(ra)), sprintf("%d (%d-%d)", med(rb), lo(rb), hi(rb)),
				sprintf("%.3f", med(rb) / med(ra)),
				sprintf("%.2f (%.2f-%.2f)", med(ca), lo(ca), hi(ca)), sprintf("%.2f (%.2f-%.2f)", med(cb), lo(cb), hi(cb)),
				(med(ca) > 0 ? sprintf("%.3f", med(cb) / med(ca)) : "n/a")
		}
	}' "$samples"
