#!/usr/bin/env bash
# postgres-test-server.sh — a throwaway PostgreSQL for phoneauth's tests.
#
#   scripts/postgres-test-server.sh start DIR   # prints the database URL
#   scripts/postgres-test-server.sh url DIR     # prints it again (server running)
#   scripts/postgres-test-server.sh stop DIR    # stops the server (data kept)
#   scripts/postgres-test-server.sh destroy DIR # stops it, deletes its files
#
# start initialises a cluster in DIR/pgdata on first use (initdb), starts it
# on 127.0.0.1 only, on a free port from $PHONEAUTH_PG_PORT (default 15432)
# upwards, with trust authentication for loopback and PostgreSQL's durable
# defaults (fsync, synchronous_commit and full_page_writes on, as single use
# of codes requires: see docs/operations.md), creates the database
# phoneauth_test and prints ONLY its URL:
#
#   postgres://postgres@127.0.0.1:PORT/phoneauth_test?sslmode=disable
#
# Every command is idempotent and quiet: start on a running server prints
# its URL, stop on a stopped one does nothing. A restarted server gets its
# previous port back when that port is free, so URLs handed out stay valid.
# Server output goes to DIR/postgres.log.
#
# initdb refuses to run as root. As root the script runs the server binaries
# as an unprivileged system user, $PHONEAUTH_PG_OS_USER (default
# phoneauth-pg, created with useradd when missing), through runuser, and
# makes DIR owned by that user. DIR's parent directories must be traversable
# by it: /work/main/.tmp/... and mktemp -d under /tmp both work (the script
# creates DIR itself; a directory made by Go's t.TempDir is NOT traversable,
# its parent is 0700). Run as any other user, the binaries run as that user.
#
# Needs initdb, pg_ctl and postgres (PostgreSQL 15) and psql on the PATH.
set -euo pipefail

die() {
	echo "postgres-test-server: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|url|stop|destroy DIR"
}

[[ $# -eq 2 ]] || usage
cmd=$1
case $cmd in
start) mkdir -p -- "$2" 2>/dev/null || die "cannot create $2" ;;
stop | destroy) [[ -d $2 ]] || exit 0 ;;
url) [[ -d $2 ]] || die "no server in $2" ;;
*) usage ;;
esac
dir=$(cd -- "$2" && pwd -P)
data=$dir/pgdata
log=$dir/postgres.log
portfile=$dir/port
db=phoneauth_test
dbuser=postgres

for bin in initdb pg_ctl postgres psql; do
	command -v "$bin" >/dev/null || die "$bin not found on the PATH"
done

# as runs a command as the unprivileged server user.
if [[ $(id -u) -eq 0 ]]; then
	osuser=${PHONEAUTH_PG_OS_USER:-phoneauth-pg}
	if ! id -u "$osuser" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$osuser" >/dev/null 2>&1 ||
			id -u "$osuser" >/dev/null 2>&1 || die "cannot create user $osuser"
	fi
	as() { runuser -u "$osuser" -- "$@"; }
	chown "$osuser" "$dir"
	chmod 0700 "$dir"
	as test -w "$dir" || die "$osuser cannot reach $dir (is a parent directory private?)"
else
	as() { "$@"; }
fi

running() {
	[[ -f $data/PG_VERSION ]] && as pg_ctl -D "$data" status >/dev/null 2>&1
}

url() {
	printf 'postgres://%s@127.0.0.1:%s/%s?sslmode=disable\n' "$dbuser" "$(cat "$portfile")" "$db"
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

psql_q() {
	psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$portfile")" -U "$dbuser" -d postgres -c "$1"
}

init_cluster() {
	[[ -f $data/PG_VERSION ]] && return
	rm -rf -- "$data"
	as initdb -D "$data" --auth=trust --username="$dbuser" --encoding=UTF8 \
		--locale=C --no-sync >>"$log" 2>&1 || die "initdb failed, see $log"
	as tee -a "$data/postgresql.conf" >/dev/null <<-EOF
		# postgres-test-server.sh: a throwaway test server
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		fsync = on
		synchronous_commit = on
		full_page_writes = on
		max_connections = 200
		log_min_messages = warning
	EOF
}

start_server() {
	local port=${PHONEAUTH_PG_PORT:-15432} tries=0
	if [[ -f $portfile ]] && port_free "$(cat "$portfile")"; then
		port=$(cat "$portfile")
	fi
	while :; do
		while ! port_free "$port"; do port=$((port + 1)); done
		echo "$port" >"$portfile"
		if as pg_ctl -D "$data" -l "$log" -w -t 60 -o "-p $port" start >>"$log" 2>&1; then
			return
		fi
		# Lost a race for the port (or something else broke): try the next one.
		tries=$((tries + 1))
		((tries < 5)) || die "pg_ctl start failed, see $log"
		port=$((port + 1))
	done
}

case $cmd in
start)
	touch "$log"
	[[ $(id -u) -eq 0 ]] && chown "$osuser" "$log"
	if ! running; then
		init_cluster
		start_server
	fi
	for _ in $(seq 100); do
		psql_q 'SELECT 1' >/dev/null 2>&1 && break
		sleep 0.1
	done
	if [[ -z $(psql_q "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>>"$log") ]]; then
		psql_q "CREATE DATABASE $db" >>"$log" 2>&1 ||
			[[ -n $(psql_q "SELECT 1 FROM pg_database WHERE datname = '$db'") ]] ||
			die "cannot create database $db, see $log"
	fi
	url
	;;
url)
	running || die "no server running in $dir"
	url
	;;
stop)
	if running; then
		as pg_ctl -D "$data" -w -t 60 -m fast stop >>"$log" 2>&1 || die "pg_ctl stop failed, see $log"
	fi
	;;
destroy)
	if running; then
		as pg_ctl -D "$data" -w -t 60 -m immediate stop >>"$log" 2>&1 || die "pg_ctl stop failed, see $log"
	fi
	rm -rf -- "$data" "$log" "$portfile"
	rmdir -- "$dir" 2>/dev/null || true
	;;
*)
	usage
	;;
esac
