#!/usr/bin/env bash
# loadgen-store.sh runs examples/loadgen against examples/server on one
# store and prints, for each run, the flows per second and the CPU time per
# flow of the server and of the database (user + system, from /proc: the
# database's process with all its children, live or ended, so that a
# PostgreSQL backend that exits is still counted). A flow is one request
# and one verify.
#
#   scripts/loadgen-store.sh SERVER LOADGEN STORE-URL DB-PID [ROUNDS] [CLIENTS] [DURATION] [POOL]
#
# DB-PID is the PostgreSQL postmaster's or the Redis server's process id
# (0 for the memory store). Build the binaries first:
#
#   (cd examples && go build -o /tmp/server ./server && go build -o /tmp/loadgen ./loadgen)
#   scripts/loadgen-store.sh /tmp/server /tmp/loadgen \
#     'postgres://postgres@127.0.0.1:15432/phoneauth_test?sslmode=disable&schema=bench' \
#     "$(head -1 /tmp/pg/pgdata/postmaster.pid)" 3 32 10s 32
set -euo pipefail

server=$1 loadgen=$2 store=$3 dbpid=$4 rounds=${5:-3} clients=${6:-32} duration=${7:-10s} pool=${8:-32}
tick=$(getconf CLK_TCK)

# tree_ticks PID: CPU ticks of PID, of its children it has waited for, and
# of its live children, recursively.
tree_ticks() {
	local pid=$1 stat total child
	# A process may end while it is read: it then counts in its parent.
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || {
		echo 0
		return
	}
	# Fields after the ")" that ends the command name: utime is the 12th.
	total=$(sed 's/^.*) //' <<<"$stat" | awk '{ print $12 + $13 + $14 + $15 }')
	for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		total=$((total + $(tree_ticks "$child")))
	done
	echo "$total"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for _ in $(seq "$rounds"); do
	port=$(free_port)
	"$server" -addr "127.0.0.1:$port" -global-limit -1 -pool "$pool" -store "$store" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/.well-known/jwks.json" && break
		sleep 0.1
	done
	db_before=0
	[ "$dbpid" = 0 ] || db_before=$(tree_ticks "$dbpid")
	before=$(tree_ticks "$pid")
	out=$("$loadgen" -url "http://127.0.0.1:$port" -c "$clients" -duration "$duration" 2>&1)
	after=$(tree_ticks "$pid")
	# The backends of the requests cut off at the end exit now: counted
	# once the database has reaped them, not while they are ending.
	sleep 1
	db_after=0
	[ "$dbpid" = 0 ] || db_after=$(tree_ticks "$dbpid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	flows=$(sed -n 's/^flows: \([0-9]*\) ok.*/\1/p' <<<"$out")
	secs=$(sed -n 's/^flows: .* in \([0-9.]*\)s.*/\1/p' <<<"$out")
	awk -v f="$flows" -v s="$secs" -v c="$((after - before))" -v d="$((db_after - db_before))" -v t="$tick" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
		'BEGIN { cs = c * 1000 / t / f; cd = d * 1000 / t / f
			printf "%d flows/s\tCPU ms/flow: server %.3f + database %.3f = %.3f\t(load %s)\n", f / s, cs, cd, cs + cd, l }'
done
