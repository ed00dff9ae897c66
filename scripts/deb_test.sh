#!/usr/bin/env bash
# make deb-test: the Debian package as an operator meets it, on a real dpkg and a real redis-server.
#
#  1. Fresh install: dpkg -i; the files, their owners and the user; the man page and the unit
#     (systemd-analyze verify); `nutcracker -t` finds the shipped /etc/nutcracker/nutcracker.yml by
#     the packaged default. A configuration written over the conffile, DAEMON_OPTS in
#     /etc/default/nutcracker, then the service started as the unit starts it: by systemctl where
#     systemd runs, else the unit's ExecStart with the EnvironmentFile's DAEMON_OPTS, as its User.
#     PING and SET through the proxy to redis; a pool added and the unit's reload (ExecReload,
#     SIGHUP) serves it; logrotate with the shipped snippet rotates the log and the proxy reopens
#     it; the unit's stop (SIGTERM) ends it cleanly. dpkg -r removes the files and keeps the
#     conffiles; dpkg -P removes those, the logs and the user.
#  2. From Debian's twemproxy package (when apt can fetch it): an operator's configuration and
#     DAEMON_OPTS under Debian's nutcracker, then ours installed over it: Debian's package is
#     removed (Conflicts/Replaces), the operator's files are kept byte for byte and run unchanged.
#
# dpkg changes the system it runs on. With CI=true (a throwaway container) or DEB_TEST_IN_PLACE=1
# the test runs on the system itself, and puts back Debian's nutcracker if it found it installed.
# Otherwise it runs as root in a sandbox: a private mount namespace whose / is an overlay on the
# real one, discarded at the end, so a developer's machine is left as it was. Without root it
# uses sudo when there is one. DEB_TEST_SYSTEMD=1 boots systemd in that sandbox, as in a container,
# and the unit runs under it (hardening, Type=notify, systemctl reload and stop). DEB=path tests
# that package instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
PATH=$PATH:/usr/sbin:/sbin

# download DIR PACKAGE: PACKAGE's .deb from the apt repositories into DIR, after an apt-get update
# when the package lists do not have it (a fresh container's are empty).
download() {
	(cd "$1" && apt-get download -qq "$2") >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && (cd "$1" && apt-get download -qq "$2") >/dev/null 2>&1; }
}

# ------------------------------------------------------------------- outside: build, then enter
if [ -z "${DEB_TEST_INNER:-}" ]; then
	if [ -z "${DEB:-}" ]; then
		DEB=$repo/$(make --no-print-directory deb GO="${GO:-go}" VERSION="${VERSION:-}" | tail -n 1)
	fi
	[ -f "$DEB" ] || die "no package at $DEB"
	DEB=$(realpath "$DEB")
	bash scripts/deps.sh
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "dpkg -i needs root: run as root or install sudo"
		exec sudo env DEB="$DEB" CI="${CI:-}" DEB_TEST_IN_PLACE="${DEB_TEST_IN_PLACE:-}" \
			DEB_TEST_SYSTEMD="${DEB_TEST_SYSTEMD:-}" bash "$repo/scripts/deb_test.sh"
	fi
	if [ "${CI:-}" = true ] || [ -n "${DEB_TEST_IN_PLACE:-}" ]; then
		exec env DEB_TEST_INNER=1 DEB="$DEB" bash "$repo/scripts/deb_test.sh"
	fi
	box=$(mktemp -d "${TMPDIR:-/tmp}/deb-test-root.XXXXXX")
	trap 'rm -rf "$box"' EXIT
	mkdir -p "$box/upper" "$box/work" "$box/root" "$box/debs"
	log "sandbox: / is an overlay in $box, discarded afterwards (DEB_TEST_IN_PLACE=1: the system itself)"
	# The packages the test installs, bound in at /deb-test: ours, Debian's nutcracker and
	# logrotate (the sandbox may have no network).
	cp "$DEB" "$box/debs/"
	download "$box/debs" nutcracker || true
	command -v logrotate >/dev/null || download "$box/debs" logrotate || true
	inner=(env DEB_TEST_INNER=1 DEB_TEST_SANDBOX=1 DEB="/deb-test/$(basename "$DEB")" bash "$repo/scripts/deb_test.sh")
	# shellcheck disable=SC2016 # run by an inner bash, with its $box and $repo
	mounts='
		box=$1 repo=$2
		mount -t overlay overlay -o "lowerdir=/,upperdir=$box/upper,workdir=$box/work" "$box/root"
		mkdir -p "$box/root/deb-test" && mount --bind "$box/debs" "$box/root/deb-test"
		mount --rbind /dev "$box/root/dev"
		mount --rbind "$repo" "$box/root$repo"'
	if [ -z "${DEB_TEST_SYSTEMD:-}" ]; then
		# shellcheck disable=SC2016 # expanded by the inner bash
		unshare --mount --propagation private -- bash -euc "$mounts"'
			mount --rbind /proc "$box/root/proc" && mount --rbind /sys "$box/root/sys"
			shift 2 && exec chroot "$box/root" "$@"' sandbox "$box" "$repo" "${inner[@]}"
		exit 0
	fi

	# DEB_TEST_SYSTEMD=1: systemd boots in the sandbox as in a container (its own pid, network,
	# mount and cgroup namespaces, a read-only /sys), so the unit runs under systemd itself.
	cgroups=()
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then # cgroup v2 only
		cgroups=("/sys/fs/cgroup/${box##*/}")
		# shellcheck disable=SC2016
		cgmount='mount -t cgroup2 cgroup2 "$box/root/sys/fs/cgroup"'
	else # hybrid: systemd's named v1 hierarchy and v2 in unified/
		cgroups=("/sys/fs/cgroup/systemd/${box##*/}" "/sys/fs/cgroup/unified/${box##*/}")
		# shellcheck disable=SC2016
		cgmount='mount -t tmpfs tmpfs "$box/root/sys/fs/cgroup"
			mkdir "$box/root/sys/fs/cgroup/systemd" "$box/root/sys/fs/cgroup/unified"
			mount -t cgroup -o none,name=systemd cgroup "$box/root/sys/fs/cgroup/systemd"
			mount -t cgroup2 cgroup2 "$box/root/sys/fs/cgroup/unified"'
	fi
	(
		# In fresh cgroups, which its cgroup namespace shows systemd as the root.
		for cg in "${cgroups[@]}"; do mkdir "$cg" && echo "$BASHPID" >"$cg/cgroup.procs"; done
		# shellcheck disable=SC2016 # expanded by the inner bash
		exec unshare --mount --pid --fork --net --uts --ipc --cgroup --propagation private -- bash -euc "$mounts"'
			mount -t proc proc "$box/root/proc"
			mount -t sysfs -o ro sysfs "$box/root/sys"
			'"$cgmount"'
			mount -t tmpfs tmpfs "$box/root/run" && mount -t tmpfs tmpfs "$box/root/tmp"
			exec chroot "$box/root" env container=deb-test /lib/systemd/systemd --system' \
			sandbox "$box" "$repo"
	) >"$box/systemd.log" 2>&1 &
	ns_leader=$!
	# shellcheck disable=SC2317 # run by the EXIT trap
	stop_systemd() {
		local pid
		# systemd, pid 1 of the namespace: all in it die with it.
		read -r pid _ <"/proc/$ns_leader/task/$ns_leader/children" || true
		[ -n "$pid" ] && kill -KILL "$pid"
		wait "$ns_leader" 2>/dev/null || true
		for cg in "${cgroups[@]}"; do
			[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		rm -rf "$box"
	}
	trap stop_systemd EXIT
	sd=
	for ((i = 0; i < 100; i++)); do
		read -r sd _ <"/proc/$ns_leader/task/$ns_leader/children" || true
		# Its pid is bash's, which mounts, then executes systemd.
		[ -n "$sd" ] && [ "$(cat "/proc/$sd/comm" 2>/dev/null)" = systemd ] && break
		sd=
		sleep 0.1
	done
	[ -n "$sd" ] || die "systemd did not start: $(cat "$box/systemd.log")"
	# Booted when it says so; its bus comes up first.
	for ((i = 0; i < 600; i++)); do
		state=$(nsenter -t "$sd" -a -r -w systemctl is-system-running 2>&1) || true
		case $state in running | degraded) break ;; esac
		sleep 0.1
	done
	case $state in
	running | degraded) log "systemd booted in the sandbox ($state)" ;;
	*) die "systemd in the sandbox: ${state:-no answer}: $(tail -n 20 "$box/systemd.log")" ;;
	esac
	nsenter -t "$sd" -a -r -w "${inner[@]}"
	exit 0
fi

# ------------------------------------------------------------------- inside: as root
export DEBIAN_FRONTEND=noninteractive
tmp_setup deb-test
restore_debian=
cleanup() {
	local rc=$?
	# The proxy with the redis: stop_pids waits for every child.
	[ -n "${proxy_pid:-}" ] && pids+=("$proxy_pid")
	stop_pids "${pids[@]}"
	pids=()
	((rc == 0)) || log "failed (exit status $rc)"
	if ((rc != 0)) && [ -f /var/log/nutcracker/nutcracker.log ]; then
		log "the proxy's log:"
		tail -n 30 /var/log/nutcracker/nutcracker.log >&2
	fi
	if ((rc != 0)) && [ -n "${systemd:-}" ]; then
		journalctl -u nutcracker.service --no-pager -n 30 >&2 || true
	fi
	dpkg -P nutcracker-go >/dev/null 2>&1 || true
	if [ -n "$restore_debian" ]; then
		log "putting back Debian's nutcracker"
		dpkg -i "$restore_debian" >/dev/null || log "could not: dpkg -i $restore_debian"
	fi
	tmp_cleanup
	exit "$rc"
}
trap cleanup EXIT

if ! command -v logrotate >/dev/null 2>&1; then
	logrotate_deb=$(find /deb-test -name 'logrotate_*.deb' 2>/dev/null | head -n 1 || true)
	if [ -n "$logrotate_deb" ]; then
		dpkg -i "$logrotate_deb" >/dev/null
	else
		apt-get update -qq && apt-get install -y -qq --no-install-recommends logrotate >/dev/null
	fi || die "logrotate is missing and could not be installed"
fi
systemd=
if [ "$(systemctl is-system-running 2>/dev/null || true)" = running ] ||
	[ "$(systemctl is-system-running 2>/dev/null || true)" = degraded ]; then
	systemd=1
fi

# fail MSG: the check failed.
fail() { die "FAIL: $*"; }
pass() { log "ok: $*"; }
# eventually SECONDS CMD...: CMD succeeds within SECONDS (polled every 0.1 s).
eventually() {
	local deadline=$((SECONDS + $1)) && shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
owner() { stat -c '%U:%G %a' "$1"; }
# exited PID: PID is gone or a zombie waiting for us.
exited() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
status() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true; }
answers() { [ "$(redis-cli -p "$1" "${@:2}" 2>&1)" = "${expect:-PONG}" ]; }
unit=/lib/systemd/system/nutcracker.service
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }

# Debian's twemproxy package, for the second part (and to put it back where it was installed).
debian_deb=$(find /deb-test /var/cache/apt/archives -name 'nutcracker_*.deb' 2>/dev/null | sort | tail -n 1 || true)
if [ -z "$debian_deb" ] && download "$tmp" nutcracker; then
	debian_deb=$(ls "$tmp"/nutcracker_*.deb)
fi
if [ "$(status nutcracker)" = "install ok installed" ]; then
	if [ -z "${DEB_TEST_SANDBOX:-}" ]; then
		[ -n "$debian_deb" ] || die "Debian's nutcracker is installed and apt-get cannot fetch it to put it back"
		restore_debian=$debian_deb
	fi
	dpkg -r nutcracker >/dev/null
fi
dpkg -P nutcracker nutcracker-go >/dev/null 2>&1 || true

# Set by alloc_port.
redis_port='' pool1='' pool2='' pool3='' stats_port=''
alloc_port redis_port
start_redis "$redis_port"

# write_config PORT...: pools p1, p2... listening on 127.0.0.1:PORT, all to our redis.
write_config() {
	local i=0 port
	for port in "$@"; do
		i=$((i + 1))
		printf 'p%d:\n  listen: 127.0.0.1:%d\n  redis: true\n  servers:\n   - 127.0.0.1:%d:1\n' \
			"$i" "$port" "$redis_port"
	done >/etc/nutcracker/nutcracker.yml
}

# start_service: as the unit does. Without systemd: the EnvironmentFile read, $DAEMON_OPTS split
# into words as systemd splits an unquoted $VAR, the RuntimeDirectory made for the User, and
# ExecStart run as User and Group; proxy_pid is then its main pid.
start_service() {
	if [ -n "$systemd" ]; then
		log "systemctl restart nutcracker.service"
		systemctl restart nutcracker.service
		proxy_pid=$(systemctl show -p MainPID --value nutcracker.service)
		return
	fi
	local DAEMON_OPTS='' env_file user group words=() word opts
	env_file=$(unit_value EnvironmentFile)
	# shellcheck disable=SC1090
	[ -f "${env_file#-}" ] && . "${env_file#-}"
	user=$(unit_value User) group=$(unit_value Group)
	install -d -o "$user" -g "$group" -m 0755 "/run/$(unit_value RuntimeDirectory)"
	read -ra opts <<<"$DAEMON_OPTS"
	for word in $(unit_value ExecStart); do
		# shellcheck disable=SC2016 # the unit's text
		case $word in
		'$DAEMON_OPTS' | '${DAEMON_OPTS}') words+=("${opts[@]}") ;;
		*) words+=("$word") ;;
		esac
	done
	log "starting as $user: ${words[*]}"
	setpriv --reuid="$user" --regid="$group" --init-groups -- "${words[@]}" </dev/null \
		>>"$tmp/service.out" 2>&1 &
	proxy_pid=$!
}

# reload_service: systemctl reload, or the unit's ExecReload with $MAINPID.
reload_service() {
	if [ -n "$systemd" ]; then
		systemctl reload nutcracker.service
	else
		MAINPID=$proxy_pid bash -c "$(unit_value ExecReload)"
	fi
}

# stop_service: systemctl stop, or SIGTERM to the main process alone (KillMode=mixed), which must
# end it well within TimeoutStopSec.
stop_service() {
	if [ -n "$systemd" ]; then
		systemctl stop nutcracker.service
	else
		kill -TERM "$proxy_pid"
		eventually 20 exited "$proxy_pid" || fail "still running 20 s after SIGTERM"
		wait "$proxy_pid" || fail "exit status $? after SIGTERM"
	fi
	proxy_pid=
}

# serve_checks PORT: PING and SET through the proxy reach the redis.
serve_checks() {
	eventually 10 answers "$1" PING || fail "no PONG through the proxy on port $1"
	expect=OK answers "$1" SET deb-test "$1" || fail "SET through the proxy on port $1"
	expect=$1 answers "$redis_port" GET deb-test || fail "the SET through port $1 did not reach redis"
	pass "PING and SET through the proxy on port $1 reach redis"
}

# ------------------------------------------------------------------- 1. fresh install
log "1. dpkg -i $(basename "$DEB")"
dpkg -i "$DEB" >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i"; }
[ "$(status nutcracker-go)" = "install ok installed" ] || fail "nutcracker-go: $(status nutcracker-go)"
for f in /usr/sbin/nutcracker "$unit" /etc/nutcracker/nutcracker.yml /etc/default/nutcracker \
	/etc/logrotate.d/nutcracker /usr/share/man/man8/nutcracker.8.gz; do
	[ -f "$f" ] || fail "$f not installed"
done
[ -x /usr/sbin/nutcracker ] || fail "/usr/sbin/nutcracker is not executable"
[ "$(dpkg-query -W -f='${Conffiles}' nutcracker-go | awk 'NF { print $1 }' | sort | tr '\n' ' ')" = \
	"/etc/default/nutcracker /etc/logrotate.d/nutcracker /etc/nutcracker/nutcracker.yml " ] ||
	fail "conffiles: $(dpkg-query -W -f='${Conffiles}' nutcracker-go)"
pass "files installed, three conffiles"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd nutcracker) || fail "no user nutcracker"
[ "$(getent group nutcracker | cut -d: -f3)" = "$gid" ] || fail "the user's group is not nutcracker"
((uid < 1000)) || fail "nutcracker is not a system user (uid $uid)"
if [ "$home" != /nonexistent ] || [[ $shell != */nologin && $shell != */false ]]; then
	fail "nutcracker's home $home, shell $shell"
fi
[ "$(owner /var/log/nutcracker)" = "nutcracker:adm 2755" ] ||
	fail "/var/log/nutcracker is $(owner /var/log/nutcracker)"
pass "system user and group nutcracker (uid $uid), /var/log/nutcracker nutcracker:adm 2755"

if command -v groff >/dev/null 2>&1; then
	warnings=$(zcat /usr/share/man/man8/nutcracker.8.gz | groff -man -Tutf8 -ww -z 2>&1)
	[ -z "$warnings" ] || fail "man page: $warnings"
	zcat /usr/share/man/man8/nutcracker.8.gz | groff -man -Tutf8 -P-cbou 2>/dev/null | grep -q '/etc/nutcracker/nutcracker.yml' ||
		fail "the man page does not name /etc/nutcracker/nutcracker.yml"
	pass "man page renders without warnings"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
	if grep -q nutcracker <<<"$out"; then fail "systemd-analyze verify: $out"; fi
	pass "systemd-analyze verify $unit"
fi

out=$(/usr/sbin/nutcracker -t 2>&1) || fail "nutcracker -t: $out"
[ "$out" = "nutcracker: configuration file '/etc/nutcracker/nutcracker.yml' syntax is ok" ] ||
	fail "nutcracker -t: $out"
pass "nutcracker -t reads /etc/nutcracker/nutcracker.yml by default: syntax is ok"

alloc_port pool1
alloc_port pool2
alloc_port stats_port
write_config "$pool1"
cat >/etc/default/nutcracker <<EOF
DAEMON_OPTS="-n 1 -s $stats_port -a 127.0.0.1 -o /var/log/nutcracker/nutcracker.log -p /run/nutcracker/nutcracker.pid"
EOF
start_service
eventually 10 test -s /run/nutcracker/nutcracker.pid || fail "no pid file /run/nutcracker/nutcracker.pid"
[ "$(cat /run/nutcracker/nutcracker.pid)" = "$proxy_pid" ] || fail "the pid file names $(cat /run/nutcracker/nutcracker.pid), not $proxy_pid"
[ "$(stat -c %U "/proc/$proxy_pid")" = nutcracker ] || fail "the service runs as $(stat -c %U "/proc/$proxy_pid")"
serve_checks "$pool1"
stats=$(timeout 5 bash -c "cat </dev/tcp/127.0.0.1/$stats_port") || fail "nothing on the stats port $stats_port"
grep -q '"p1"' <<<"$stats" || fail "the stats document has no pool p1: $stats"
# The group is the directory's (setgid adm), as with Debian's package.
[ "$(owner /var/log/nutcracker/nutcracker.log | cut -d' ' -f1)" = nutcracker:adm ] ||
	fail "log file $(owner /var/log/nutcracker/nutcracker.log)"
pass "runs as nutcracker with the unit's command line; stats on $stats_port; logs in /var/log/nutcracker"

write_config "$pool1" "$pool2"
reload_service
eventually 10 answers "$pool2" PING || fail "the pool added before the reload does not answer"
serve_checks "$pool1"
pass "reload ($([ -n "$systemd" ] && echo systemctl reload || echo ExecReload)): the added pool on $pool2 answers"

logrotate -f -s "$tmp/logrotate.state" /etc/logrotate.d/nutcracker || fail "logrotate"
[ -f /var/log/nutcracker/nutcracker.log.1 ] || fail "logrotate made no nutcracker.log.1"
eventually 10 grep -q 'reopening log file' /var/log/nutcracker/nutcracker.log ||
	fail "the proxy did not reopen its log after logrotate"
if grep -q 'reloading the configuration' /var/log/nutcracker/nutcracker.log; then
	fail "logrotate's signal reloaded the configuration"
fi
[ "$(owner /var/log/nutcracker/nutcracker.log)" = "nutcracker:adm 640" ] ||
	fail "the new log is $(owner /var/log/nutcracker/nutcracker.log)"
serve_checks "$pool2"
pass "logrotate: rotated, the proxy reopened the new file (SIGUSR1) without a reload"

stop_service
[ ! -e /run/nutcracker/nutcracker.pid ] || fail "pid file left after the stop"
tail -n 1 /var/log/nutcracker/nutcracker.log | grep -q 'done, rabbit done' || fail "no clean exit in the log"
pass "stopped cleanly ($([ -n "$systemd" ] && echo systemctl stop || echo SIGTERM))"

dpkg -r nutcracker-go >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -r"; }
for f in /usr/sbin/nutcracker "$unit" /usr/share/man/man8/nutcracker.8.gz; do
	[ ! -e "$f" ] || fail "$f left after dpkg -r"
done
[ "$(status nutcracker-go)" = "deinstall ok config-files" ] || fail "after dpkg -r: $(status nutcracker-go)"
grep -q "127.0.0.1:$pool2" /etc/nutcracker/nutcracker.yml || fail "dpkg -r lost the edited configuration"
grep -q "$stats_port" /etc/default/nutcracker || fail "dpkg -r lost /etc/default/nutcracker"
getent passwd nutcracker >/dev/null || fail "dpkg -r removed the user"
pass "dpkg -r: the files are gone, the conffiles and the user stay"

dpkg -P nutcracker-go >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -P"; }
for f in /etc/nutcracker/nutcracker.yml /etc/default/nutcracker /etc/logrotate.d/nutcracker /var/log/nutcracker; do
	[ ! -e "$f" ] || fail "$f left after dpkg -P"
done
if getent passwd nutcracker >/dev/null; then fail "dpkg -P left the user"; fi
pass "dpkg -P: conffiles, logs and the user are gone"

# ------------------------------------------------------------------- 2. from Debian's package
if [ -z "$debian_deb" ]; then
	log "2. skipped: apt-get cannot fetch Debian's nutcracker package"
	exit 0
fi
log "2. from $(basename "$debian_deb")"
dpkg -i "$debian_deb" >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i Debian's nutcracker"; }
alloc_port pool3
write_config "$pool3"
# An operator's DAEMON_OPTS as twemproxy takes them (no -n: ours runs a worker per CPU).
cat >/etc/default/nutcracker <<EOF
# extra daemon options; see nutcracker --help
DAEMON_OPTS="-s $stats_port -a 127.0.0.1 -o /var/log/nutcracker/nutcracker.log -v 6"
EOF
before=$(sha256sum /etc/nutcracker/nutcracker.yml /etc/default/nutcracker)
debian_uid=$(id -u nutcracker)
# --force-confold: keep the operator's files without asking, as the prompt's default does.
dpkg --force-confold -i "$DEB" >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i over Debian's package"; }
grep -q "Removing nutcracker " "$tmp/dpkg.out" || { cat "$tmp/dpkg.out" >&2; fail "Debian's package was not removed"; }
# dpkg leaves the selection as it was ("install") for a package it removed by a conflict.
case $(status nutcracker) in
*" ok config-files" | *" ok not-installed" | "") ;;
*) fail "Debian's nutcracker is $(status nutcracker)" ;;
esac
[ "$(status nutcracker-go)" = "install ok installed" ] || fail "nutcracker-go: $(status nutcracker-go)"
[ "$(sha256sum /etc/nutcracker/nutcracker.yml /etc/default/nutcracker)" = "$before" ] ||
	fail "the operator's configuration or /etc/default/nutcracker changed"
[ "$(id -u nutcracker)" = "$debian_uid" ] || fail "the nutcracker user changed"
[ ! -x /etc/init.d/nutcracker ] || fail "Debian's init script is still executable"
/usr/sbin/nutcracker -h 2>&1 | grep -q -- --worker-num || fail "/usr/sbin/nutcracker is not ours"
pass "ours replaced Debian's package; the operator's files are unchanged"
start_service
serve_checks "$pool3"
stop_service
dpkg -P nutcracker-go nutcracker >"$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -P"; }
pass "the operator's DAEMON_OPTS and configuration run unchanged"
log "all passed"
