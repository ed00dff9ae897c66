#!/usr/bin/env bash
# redis-cli through the proxy: --pipe of 10,000 keys (which ends with an ECHO it waits for),
# INFO, DBSIZE, SCAN and KEYS, and PING before AUTH on a pool with redis_auth.
#   bash redis-cli.sh PORT AUTH_PORT PASSWORD
# Every step runs and prints "ok <name>" or "FAIL <name>: what it got"; exits 1 when any failed.
set -uo pipefail
port=$1 auth_port=$2 password=$3
cli=(timeout 10 redis-cli -h 127.0.0.1 -p "$port")
keys=10000
failed=0

step() {
	local name=$1 why
	shift
	if why=$("$@" 2>&1); then
		echo "ok $name"
	else
		echo "FAIL $name: $why"
		failed=$((failed + 1))
	fi
}

# --pipe sends everything, then an ECHO of 20 random bytes, and exits once that comes back.
pipe() {
	local out start ms
	start=$(date +%s%N)
	out=$(awk -v n="$keys" 'BEGIN { for (i = 0; i < n; i++) { k = "cli:" i; printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", length(k), k } }' |
		"${cli[@]}" --pipe 2>&1) || {
		echo "exit $?: $out"
		return 1
	}
	ms=$((($(date +%s%N) - start) / 1000000))
	[[ $out == *"errors: 0, replies: $keys"* ]] || {
		echo "$out"
		return 1
	}
	((ms < 5000)) || {
		echo "took $ms ms"
		return 1
	}
}

dbsize() {
	local out
	out=$("${cli[@]}" DBSIZE)
	if [ "$out" != "$1" ]; then
		echo "DBSIZE: $out, want $1"
		return 1
	fi
}

info() {
	local out
	out=$("${cli[@]}" INFO | tr -d '\r')
	if ! grep -q '^redis_version:7\.' <<<"$out" || ! grep -qx 'loading:0' <<<"$out"; then
		echo "INFO lacks redis_version:7. or loading:0: $out"
		return 1
	fi
}

# Every key once, and KEYS lists the same keys.
scan_keys() {
	local scanned listed
	scanned=$("${cli[@]}" --scan --pattern 'cli:*' | sort)
	[ "$(grep -c . <<<"$scanned")" = "$keys" ] || {
		echo "--scan returned $(grep -c . <<<"$scanned") keys, want $keys: $(head -3 <<<"$scanned")"
		return 1
	}
	[ -z "$(uniq -d <<<"$scanned")" ] || {
		echo "--scan returned keys twice: $(uniq -d <<<"$scanned" | head -3)"
		return 1
	}
	listed=$("${cli[@]}" KEYS 'cli:*' | sort)
	[ "$listed" = "$scanned" ] || {
		echo "KEYS cli:* gave $(grep -c . <<<"$listed") keys, not the scan's: $(head -3 <<<"$listed")"
		return 1
	}
}

noauth() {
	local out
	out=$(timeout 10 redis-cli -h 127.0.0.1 -p "$auth_port" PING 2>&1)
	[ "$out" = "NOAUTH Authentication required." ] || {
		echo "PING before AUTH: $out"
		return 1
	}
	out=$(timeout 10 redis-cli -h 127.0.0.1 -p "$auth_port" -a "$password" --no-auth-warning PING 2>&1)
	[ "$out" = PONG ] || {
		echo "PING with -a: $out"
		return 1
	}
}

# The keyspace starts empty (scripts/clients.sh flushes it), so DBSIZE counts --pipe's keys.
step "--pipe of $keys keys" pipe
step "DBSIZE" dbsize "$keys"
step "INFO" info
step "SCAN to the end and KEYS" scan_keys
step "PING before AUTH gets NOAUTH" noauth
((failed == 0))
