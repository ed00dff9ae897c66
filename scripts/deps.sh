#!/usr/bin/env bash
# Install the Debian packages that the tests, the demo (make run) and the benchmark need, when missing.
#
#   scripts/deps.sh          test deps: redis-server redis-sentinel memcached redis-tools
#   scripts/deps.sh demo     test deps + netcat-openbsd (nc, used in the connection hints)
#   scripts/deps.sh bench    test deps + nutcracker (Debian's twemproxy) libmemcached-tools
#                            stunnel4 openssl (the TLS bench: stunnel beside twemproxy, test certificates)
#   scripts/deps.sh clients  test deps + nodejs npm python3-redis python3-memcache python3-pylibmc
#   scripts/deps.sh prometheus  test deps + prometheus (prometheus and promtool)
#   scripts/deps.sh browser  test deps + chromium chromium-driver (the status page's browser test)
#
# Prints nothing when everything is present. Runs `apt-get update` once before installing,
# non-interactively, through sudo when not root.
set -euo pipefail

# "command package" pairs: a package counts as present when its command is found, or for
# "py:MODULE", when Debian's python3 imports MODULE.
want=(
	"redis-server redis-server"
	"redis-sentinel redis-sentinel"
	"memcached memcached"
	"redis-cli redis-tools"
	"redis-benchmark redis-tools"
)
for group in "$@"; do
	case "$group" in
	test) ;;
	demo) want+=("nc netcat-openbsd") ;;
	bench) want+=("/usr/sbin/nutcracker nutcracker" "memcslap libmemcached-tools" "stunnel4 stunnel4" "openssl openssl") ;;
	prometheus) want+=("prometheus prometheus" "promtool prometheus") ;;
	clients) want+=("node nodejs" "npm npm" "py:redis python3-redis" "py:memcache python3-memcache" "py:pylibmc python3-pylibmc") ;;
	browser) want+=("chromium chromium" "chromedriver chromium-driver") ;;
	*)
		echo "usage: $0 [test|demo|bench|clients|prometheus|browser]..." >&2
		exit 2
		;;
	esac
done

# /usr/sbin is not on every user's PATH; memcached lives in /usr/bin but check both anyway.
PATH=$PATH:/usr/sbin:/sbin
missing=()
for pair in "${want[@]}"; do
	cmd=${pair% *}
	pkg=${pair#* }
	if [[ $cmd == py:* ]]; then
		/usr/bin/python3 -c "import ${cmd#py:}" >/dev/null 2>&1 && continue
	elif command -v "$cmd" >/dev/null 2>&1; then
		continue
	fi
	case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing ${missing[*]} and apt-get is not available: install them by hand" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: missing ${missing[*]}: run as root or install sudo" >&2
		exit 1
	fi
	sudo=(sudo -n)
	# -n never prompts (CI has no stdin); an interactive user with a password gets a prompt instead.
	[ -t 0 ] && sudo=(sudo)
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
