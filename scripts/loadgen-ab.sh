#!/usr/bin/env bash
# loadgen-ab.sh runs examples/loadgen against two builds of examples/server,
# alternating A and B, on the memory store, and prints for each run the
# flows per second and the server's CPU time per flow (user + system, from
# /proc). A flow is one request and one verify.
#
#   scripts/loadgen-ab.sh A-SERVER B-SERVER LOADGEN [ROUNDS] [CLIENTS] [DURATION]
#
# Build the binaries first, for example A at an older commit:
#
#   git worktree add --detach /tmp/base <commit>
#   (cd /tmp/base/examples && go build -o /tmp/ab/server-a ./server)
#   (cd examples && go build -o /tmp/ab/server-b ./server && go build -o /tmp/ab/loadgen ./loadgen)
#   scripts/loadgen-ab.sh /tmp/ab/server-a /tmp/ab/server-b /tmp/ab/loadgen 5 32 10s
set -euo pipefail

a=$1 b=$2 loadgen=$3 rounds=${4:-5} clients=${5:-32} duration=${6:-10s}
tick=$(getconf CLK_TCK)

cpu_ms() { # user + system CPU of a process, in milliseconds
	awk -v t="$tick" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run() { # run NAME SERVER
	local name=$1 server=$2 port pid out flows secs before after
	port=$(free_port)
	"$server" -addr "127.0.0.1:$port" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/.well-known/jwks.json" && break
		sleep 0.1
	done
	before=$(cpu_ms "$pid")
	out=$("$loadgen" -url "http://127.0.0.1:$port" -c "$clients" -duration "$duration" 2>&1)
	after=$(cpu_ms "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	flows=$(sed -n 's/^flows: \([0-9]*\) ok.*/\1/p' <<<"$out")
	secs=$(sed -n 's/^flows: .* in \([0-9.]*\)s.*/\1/p' <<<"$out")
	awk -v n="$name" -v f="$flows" -v s="$secs" -v c="$((after - before))" \
		'BEGIN { printf "%s\t%d flows/s\t%.3f server CPU ms/flow\t%.3f ms/operation\n", n, f / s, c / f, c / f / 2 }'
}

for _ in $(seq "$rounds"); do
	run A "$a"
	run B "$b"
done
