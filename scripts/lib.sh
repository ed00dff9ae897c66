# shellcheck shell=bash
# Helpers shared by scripts/run.sh and scripts/bench.sh (sourced, not run).

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
	local pid i alive
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do
		alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
