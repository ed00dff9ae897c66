#!/usr/bin/env bash
# make run: a local demo. Starts two redis-server (127.0.0.1:6380, :6381) and two memcached
# (127.0.0.1:11212, :11213) in a temp dir, then runs nutcracker with conf/nutcracker.yml until
# Ctrl-C or until the proxy exits; either way every process started here is stopped and the
# temp dir removed.
#
# Environment:
#   NUTCRACKER_BIN   proxy binary to run instead of building bin/nutcracker
#                    (e.g. NUTCRACKER_BIN=/usr/sbin/nutcracker to try Debian's twemproxy)
#   NUTCRACKER_CONF  config file (default conf/nutcracker.yml)
#   STATS_PORT       stats port (default 22222, or the next free one when 22222 is busy)
#   NUTCRACKER_ARGS  extra flags for the proxy (e.g. "-v 6")
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

REDIS_PORTS=(6380 6381)
MEMCACHED_PORTS=(11212 11213)
conf=${NUTCRACKER_CONF:-conf/nutcracker.yml}

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

die() {
	echo "run.sh: $*" >&2
	exit 1
}

# need_port PID PORT NAME: PORT accepts within 5 s, or the demo stops with a reason.
need_port() {
	wait_port "$1" "$2" && return 0
	kill -0 "$1" 2>/dev/null || die "$3 exited during startup (logs in $tmp)"
	die "$3 did not listen on 127.0.0.1:$2 within 5s"
}

bash scripts/deps.sh demo

if [ -n "${NUTCRACKER_BIN:-}" ]; then
	bin=$NUTCRACKER_BIN
else
	echo "building bin/nutcracker"
	go build -o bin/nutcracker ./cmd/nutcracker || die "build failed"
	bin=bin/nutcracker
fi
[ -x "$bin" ] || die "$bin is not executable"
[ -f "$conf" ] || die "config $conf not found"

# The pools in the config, one "name port redis|memcache" line each, read from simple
# "listen: host:port" and "redis: true" lines (unix-socket listeners are skipped).
pools=$(awk '
	function flush() { if (name != "" && port != "") print name, port, (redis ? "redis" : "memcache") }
	/^[^[:space:]#][^:]*:[[:space:]]*$/ { flush(); name = $1; sub(/:$/, "", name); port = ""; redis = 0; next }
	/^[[:space:]]+listen:/ {
		l = $0; sub(/^[[:space:]]+listen:[[:space:]]*/, "", l); gsub(/["\047[:space:]]/, "", l)
		n = split(l, a, ":"); if (l !~ /\// && a[n] ~ /^[0-9]+$/) port = a[n]
	}
	/^[[:space:]]+redis:[[:space:]]*true/ { redis = 1 }
	END { flush() }' "$conf")
listen_ports=$(echo "$pools" | awk '{ print $2 }')

# Fail before starting anything if a fixed port is taken: the backends and the proxy's listeners.
for port in "${REDIS_PORTS[@]}" "${MEMCACHED_PORTS[@]}" $listen_ports; do
	port_busy "$port" && die "port 127.0.0.1:$port is busy (needed by the demo); stop what uses it and retry"
done

if [ -n "${STATS_PORT:-}" ]; then
	port_busy "$STATS_PORT" && die "stats port $STATS_PORT is busy"
	stats_port=$STATS_PORT
else
	stats_port=22222
	while port_busy "$stats_port"; do
		stats_port=$((stats_port + 1))
		((stats_port < 22300)) || die "no free stats port in 22222-22299"
	done
	[ "$stats_port" = 22222 ] || echo "run.sh: port 22222 is busy, using stats port $stats_port"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nutcracker-run.XXXXXX")
pids=()
proxy_pid=

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	trap - EXIT INT TERM HUP
	stop_pids ${proxy_pid:+"$proxy_pid"} "${pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "run.sh: stopping"; exit 130' INT
trap 'exit 143' TERM HUP

for port in "${REDIS_PORTS[@]}"; do
	redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
		--daemonize no --logfile "$tmp/redis-$port.log" </dev/null &
	pids+=($!)
	need_port $! "$port" "redis-server :$port"
done
memcached_user=()
[ "$(id -u)" -eq 0 ] && memcached_user=(-u root) # memcached refuses to run as root without -u
for port in "${MEMCACHED_PORTS[@]}"; do
	memcached -l 127.0.0.1 -p "$port" -U 0 -m 64 "${memcached_user[@]}" \
		</dev/null >"$tmp/memcached-$port.log" 2>&1 &
	pids+=($!)
	need_port $! "$port" "memcached :$port"
done
echo "backends: redis-server 127.0.0.1:${REDIS_PORTS[0]},${REDIS_PORTS[1]}; memcached 127.0.0.1:${MEMCACHED_PORTS[0]},${MEMCACHED_PORTS[1]} (temp dir $tmp)"

# shellcheck disable=SC2086 # NUTCRACKER_ARGS is a list of flags
"$bin" -c "$conf" -s "$stats_port" ${NUTCRACKER_ARGS:-} </dev/null &
proxy_pid=$!
for port in $listen_ports; do
	need_port "$proxy_pid" "$port" "$bin"
done

echo
echo "nutcracker is running (pid $proxy_pid, config $conf). Connect with:"
while read -r name port kind; do
	[ -n "$name" ] || continue
	if [ "$kind" = redis ]; then
		printf '  %-26s redis-cli -p %s\n' "pool $name (redis):" "$port"
	else
		printf '  %-26s printf '\''set k 0 0 1\\r\\nv\\r\\nget k\\r\\n'\'' | nc -q 1 127.0.0.1 %s\n' "pool $name (memcache):" "$port"
		printf '  %-26s telnet 127.0.0.1 %s\n' "" "$port"
	fi
done <<<"$pools"
printf '  %-26s nc 127.0.0.1 %s\n' "stats:" "$stats_port"
echo "Press Ctrl-C to stop the proxy and the backends."
echo

set +e
wait "$proxy_pid"
rc=$?
set -e
proxy_pid=
echo "run.sh: nutcracker exited with status $rc; stopping the backends"
exit "$rc"
