#!/usr/bin/env bash
# redis-test-server.sh — a throwaway Redis for phoneauth's tests.
#
#   scripts/redis-test-server.sh start DIR   # prints the server's URL
#   scripts/redis-test-server.sh url DIR     # prints it again (server running)
#   scripts/redis-test-server.sh stop DIR    # stops the server
#
# start installs redis-server when it is missing (apt-get, as root or
# through sudo), starts it daemonised on 127.0.0.1 only, on a free port from
# $PHONEAUTH_REDIS_PORT (default 16379) upwards, without persistence (no RDB
# snapshots, no AOF: a test server, never a real one), waits until it answers
# PING and prints ONLY its URL:
#
#   redis://127.0.0.1:PORT/0
#
# Every command is idempotent and quiet: start on a running server prints
# its URL, stop on a stopped one does nothing. A restarted server gets its
# previous port back when that port is free, so URLs handed out stay valid.
# The server's pid, log and port live in DIR (redis.pid, redis.log, port).
#
# Use it from a shell:
#
#   export PHONEAUTH_TEST_REDIS_URL=$(scripts/redis-test-server.sh start .tmp/redis)
#   (cd redisstore && go test -race ./...)
#   scripts/redis-test-server.sh stop .tmp/redis
set -euo pipefail

die() {
	echo "redis-test-server: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|url|stop DIR"
}

[[ $# -eq 2 ]] || usage
cmd=$1
mkdir -p -- "$2" 2>/dev/null || die "cannot create $2"
dir=$(cd -- "$2" && pwd -P)
pidfile=$dir/redis.pid
log=$dir/redis.log
portfile=$dir/port

# shellcheck source=redis-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/redis-lib.sh"

ping() {
	[[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

# running reports whether the server of DIR is alive and answering.
running() {
	[[ -f $pidfile && -f $portfile ]] || return 1
	alive "$(cat "$pidfile")" || return 1
	ping "$(cat "$portfile")"
}

url() {
	printf 'redis://127.0.0.1:%s/0\n' "$(cat "$portfile")"
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_server() {
	local port=${PHONEAUTH_REDIS_PORT:-16379} tries=0
	if [[ -f $portfile ]] && port_free "$(cat "$portfile")"; then
		port=$(cat "$portfile")
	fi
	while :; do
		while ! port_free "$port"; do port=$((port + 1)); done
		echo "$port" >"$portfile"
		rm -f -- "$pidfile"
		redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
			--save '' --appendonly no --daemonize yes \
			--dir "$dir" --pidfile "$pidfile" --logfile "$log" >>"$log" 2>&1 || true
		# Daemonised, redis-server forks before it binds the port: a lost
		# race for the port only shows as a server that dies or never
		# answers. Wait up to 10 s for PONG.
		for _ in $(seq 100); do
			ping "$port" && return
			sleep 0.1
		done
		if [[ -f $pidfile ]] && alive "$(cat "$pidfile")"; then
			kill "$(cat "$pidfile")" 2>/dev/null || true
		fi
		tries=$((tries + 1))
		((tries < 5)) || die "redis-server did not start, see $log"
		port=$((port + 1))
	done
}

case $cmd in
start)
	if ! running; then
		install
		start_server
	fi
	url
	;;
url)
	running || die "no server running in $dir"
	url
	;;
stop)
	if running; then
		redis-cli -h 127.0.0.1 -p "$(cat "$portfile")" shutdown nosave >/dev/null 2>&1 || true
	fi
	if [[ -f $pidfile ]]; then
		pid=$(cat "$pidfile")
		for _ in $(seq 50); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f -- "$pidfile"
	fi
	;;
*)
	usage
	;;
esac
