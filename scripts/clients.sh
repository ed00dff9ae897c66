#!/usr/bin/env bash
# shellcheck disable=SC2154 # the ports, which alloc_port assigns
# make clients: real Redis and memcached clients, each on its default options, through the proxy.
#
# Starts two redis-servers, a third one with a password (for a pool with redis_auth), two
# memcacheds, and bin/nutcracker over them (NUTCRACKER_BIN= for another binary), first with -n 0,
# then with the default number of workers. In each mode it runs every script of scripts/clients/
# (ioredis 5 and 6, node-redis 4, 5 and 6 (RESP3), Debian's redis-py, python-memcached and pylibmc, and
# redis-cli), prints a matrix of client, version, mode and result, and exits 1 when any failed,
# after showing that run's output.
#
# Installs what it needs when missing: Debian's nodejs, npm, python3-redis, python3-memcache and
# python3-pylibmc (scripts/deps.sh clients), and with npm the Node.js clients of
# scripts/clients/package.json into scripts/clients/node_modules (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

bin=${NUTCRACKER_BIN:-bin/nutcracker}
[ -x "$bin" ] || die "no $bin: run make build first (make clients does)"
bash scripts/deps.sh clients </dev/null
PATH=$PATH:/usr/sbin:/sbin
# Debian's python3 is the one with Debian's client packages, whatever python3 PATH finds first.
python=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in scripts/clients

clients=scripts/clients
if ! [ "$clients/node_modules/.package-lock.json" -nt "$clients/package.json" ]; then
	log "installing the Node.js clients with npm"
	timeout 300 npm install --prefix "$clients" --no-audit --no-fund --no-package-lock --loglevel=error \
		</dev/null >&2 || die "npm install in $clients failed"
fi

tmp_setup clients
password=s3cret
alloc_port redis1
alloc_port redis2
alloc_port redis_auth
alloc_port mc1
alloc_port mc2
alloc_port listen_redis
alloc_port listen_auth
alloc_port listen_mc
alloc_port stats_port
start_redis "$redis1"
start_redis "$redis2"
redis-server --port "$redis_auth" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
	--requirepass "$password" --logfile "$tmp/redis-$redis_auth.log" </dev/null &
pids+=($!)
wait_port $! "$redis_auth" || die "redis-server on port $redis_auth did not start"
start_memcached "$mc1"
start_memcached "$mc2"

cat >"$tmp/nutcracker.yml" <<EOF
redis:
  listen: 127.0.0.1:$listen_redis
  redis: true
  hash_tag: "{}"
  servers:
   - 127.0.0.1:$redis1:1 r1
   - 127.0.0.1:$redis2:1 r2
auth:
  listen: 127.0.0.1:$listen_auth
  redis: true
  redis_auth: $password
  servers:
   - 127.0.0.1:$redis_auth:1
memcache:
  listen: 127.0.0.1:$listen_mc
  servers:
   - 127.0.0.1:$mc1:1 m1
   - 127.0.0.1:$mc2:1 m2
EOF

node_version() { node -p "require('./$clients/node_modules/$1/package.json').version"; }
py_version() { "$python" -c "import $1; print($1.__version__)"; }

# The matrix's rows: "name|version|command", the command run with its arguments split on spaces.
# redis-cli runs first, on an empty keyspace: it counts keys with DBSIZE.
rows=(
	"redis-cli|$(redis-cli --version | awk '{ print $2 }')|bash $clients/redis-cli.sh $listen_redis $listen_auth $password"
	"ioredis|$(node_version ioredis5)|node $clients/ioredis.js ioredis5 $listen_redis $listen_auth $password"
	"ioredis|$(node_version ioredis6)|node $clients/ioredis.js ioredis6 $listen_redis $listen_auth $password"
	"node-redis|$(node_version redis4)|node $clients/node-redis.js redis4 $listen_redis $listen_auth $password"
	"node-redis|$(node_version redis5)|node $clients/node-redis.js redis5 $listen_redis $listen_auth $password"
	"node-redis|$(node_version redis6)|node $clients/node-redis.js redis6 $listen_redis $listen_auth $password"
	"redis-py|$(py_version redis)|$python $clients/redis-py.py $listen_redis $listen_auth $password"
	"python-memcached|$(py_version memcache)|$python $clients/python-memcached.py $listen_mc"
	"pylibmc|$(py_version pylibmc)|$python $clients/pylibmc-check.py $listen_mc"
)

matrix=()
failed=0
for mode in n0 workers; do
	args=()
	[ "$mode" = workers ] || args=(-n 0)
	for port in "$redis1" "$redis2"; do
		redis-cli -p "$port" FLUSHALL >/dev/null || die "FLUSHALL on 127.0.0.1:$port failed"
	done
	"$bin" -c "$tmp/nutcracker.yml" -o "$tmp/nutcracker-$mode.log" -s "$stats_port" -a 127.0.0.1 "${args[@]}" </dev/null &
	proxy=$!
	pids+=("$proxy")
	for port in "$listen_redis" "$listen_auth" "$listen_mc"; do
		wait_port "$proxy" "$port" || die "nutcracker ($mode) does not listen on $port: $(tail -n 5 "$tmp/nutcracker-$mode.log")"
	done
	for row in "${rows[@]}"; do
		IFS='|' read -r name version command <<<"$row"
		out="$tmp/$name-$version-$mode.out"
		rc=0
		# shellcheck disable=SC2086 # the command's words
		timeout 120 $command </dev/null >"$out" 2>&1 || rc=$?
		if ((rc == 0)); then
			result=pass
		else
			# The failed steps' names: every script prints "FAIL <step>: why".
			steps=$(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$out" | paste -sd '|' | sed 's/|/, /g')
			result="FAIL: ${steps:-exit $rc}"
			((rc != 124)) || result+=" (killed after 120 s)"
			failed=$((failed + 1))
			{
				echo "---- $name $version ($mode) failed:"
				cat "$out"
				echo "----"
			} >&2
		fi
		matrix+=("$name|$version|$mode|$result")
	done
	stop_tree "$proxy"
done

{
	printf '%-18s %-8s %-8s %s\n' client version mode result
	for line in "${matrix[@]}"; do
		IFS='|' read -r name version mode result <<<"$line"
		printf '%-18s %-8s %-8s %s\n' "$name" "$version" "$mode" "$result"
	done
	echo "clients: $((${#matrix[@]} - failed)) passed, $failed failed"
}
((failed == 0))
