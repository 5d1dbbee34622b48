#!/usr/bin/env bash
# redis-cluster-test-server.sh — a throwaway Redis Cluster for phoneauth's
# tests.
#
#   scripts/redis-cluster-test-server.sh start DIR   # prints the nodes' addresses
#   scripts/redis-cluster-test-server.sh addrs DIR   # prints them again (cluster running)
#   scripts/redis-cluster-test-server.sh stop DIR    # stops every node
#
# start installs redis-server when it is missing (apt-get, as root or
# through sudo), starts three redis-server nodes with cluster-enabled yes,
# daemonised on 127.0.0.1 only, without persistence (no RDB snapshots, no
# AOF: a test cluster, never a real one), on free ports from
# $PHONEAUTH_REDIS_CLUSTER_PORT (default 17001) upwards, each with its
# cluster bus port (port + 10000) free too. It joins them into a cluster of
# three masters and no replicas (redis-cli --cluster create), each master
# owning a third of the 16384 slots, waits until every node reports
# cluster_state:ok and prints ONLY the nodes' addresses, comma-separated:
#
#   127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#
# Every command is idempotent and quiet: start on a running cluster prints
# its addresses, stop on a stopped one does nothing. A cluster that is only
# partly up is stopped and created afresh. A restarted cluster gets its
# previous ports back when they are free, so addresses handed out stay
# valid. Node N keeps its pid, log, port and nodes.conf in DIR/nodeN; the
# output of the cluster's creation goes to DIR/create.log.
#
# Use it from a shell:
#
#   export PHONEAUTH_TEST_REDIS_CLUSTER_ADDRS=$(scripts/redis-cluster-test-server.sh start .tmp/redis-cluster)
#   (cd redisstore && go test -race ./...)
#   scripts/redis-cluster-test-server.sh stop .tmp/redis-cluster
set -euo pipefail

die() {
	echo "redis-cluster-test-server: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|addrs|stop DIR"
}

[[ $# -eq 2 ]] || usage
cmd=$1
mkdir -p -- "$2" 2>/dev/null || die "cannot create $2"
dir=$(cd -- "$2" && pwd -P)
nodes=(1 2 3)

# shellcheck source=redis-lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/redis-lib.sh"

cli() {
	local port=$1
	shift
	redis-cli -h 127.0.0.1 -p "$port" "$@" </dev/null 2>/dev/null
}

port_of() { cat "$dir/node$1/port" 2>/dev/null; }

# node_up reports whether node $1 is alive and answering on its port (it,
# not another server that won the port).
node_up() {
	local d=$dir/node$1 pid info
	[[ -f $d/redis.pid && -f $d/port ]] || return 1
	pid=$(cat "$d/redis.pid")
	alive "$pid" || return 1
	info=$(cli "$(port_of "$1")" info server | tr -d '\r') || return 1
	grep -qx "process_id:$pid" <<<"$info"
}

# node_ok reports whether node $1 sees a healthy cluster of all the nodes.
node_ok() {
	local info
	info=$(cli "$(port_of "$1")" cluster info | tr -d '\r') || return 1
	grep -qx 'cluster_state:ok' <<<"$info" &&
		grep -qx 'cluster_slots_ok:16384' <<<"$info" &&
		grep -qx "cluster_known_nodes:${#nodes[@]}" <<<"$info"
}

running() {
	local n
	for n in "${nodes[@]}"; do
		node_up "$n" && node_ok "$n" || return 1
	done
}

addrs() {
	local n out=()
	for n in "${nodes[@]}"; do out+=("127.0.0.1:$(port_of "$n")"); done
	(
		IFS=,
		echo "${out[*]}"
	)
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# usable reports whether port $1 and its cluster bus port are free and not
# taken by another node of this cluster.
usable() {
	local p=$1 n
	((p + 10000 <= 65535)) || die "no free port pair below 55535"
	for n in "${@:2}"; do [[ $n == "$p" ]] && return 1; done
	port_free "$p" && port_free $((p + 10000))
}

stop_node() {
	local d=$dir/node$1 pid
	[[ -d $d ]] || return 0
	if node_up "$1"; then
		cli "$(port_of "$1")" shutdown nosave >/dev/null || true
	fi
	if [[ -f $d/redis.pid ]]; then
		pid=$(cat "$d/redis.pid")
		for _ in $(seq 50); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f -- "$d/redis.pid"
	fi
}

stop_all() {
	local n
	for n in "${nodes[@]}"; do stop_node "$n"; done
}

# start_node starts node $1 on a usable port (its previous one if it can),
# avoiding the ports in $2...
start_node() {
	local n=$1 d=$dir/node$1 port=$((${PHONEAUTH_REDIS_CLUSTER_PORT:-17001} + $1 - 1)) tries=0 prev
	shift
	mkdir -p -- "$d"
	prev=$(port_of "$n" || true)
	if [[ -n $prev ]] && usable "$prev" "$@"; then
		port=$prev
	fi
	# A fresh node: no cluster state from an earlier run.
	rm -f -- "$d/nodes.conf" "$d/dump.rdb" "$d/redis.pid"
	while :; do
		while ! usable "$port" "$@"; do port=$((port + 1)); done
		echo "$port" >"$d/port"
		redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
			--cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 5000 \
			--save '' --appendonly no --daemonize yes \
			--dir "$d" --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
			</dev/null >>"$d/redis.log" 2>&1 || true
		# Daemonised, redis-server forks (and writes its pid file) before it
		# binds the ports: a lost race for a port only shows as a server
		# that dies or never answers. Wait up to 5 s for it to answer.
		for _ in $(seq 50); do
			node_up "$n" && return
			sleep 0.1
		done
		stop_node "$n"
		rm -f -- "$d/nodes.conf"
		tries=$((tries + 1))
		((tries < 5)) || die "redis-server did not start, see $d/redis.log"
		port=$((port + 1))
	done
}

start_cluster() {
	local n taken=() members=()
	stop_all
	for n in "${nodes[@]}"; do
		start_node "$n" "${taken[@]}"
		taken+=("$(port_of "$n")")
		members+=("127.0.0.1:$(port_of "$n")")
	done
	redis-cli --cluster create "${members[@]}" --cluster-replicas 0 --cluster-yes \
		</dev/null >"$dir/create.log" 2>&1 ||
		die "redis-cli --cluster create failed, see $dir/create.log"
	# create returns once the nodes agree on the slots; wait up to 10 s for
	# every node to call the cluster ok as well.
	for _ in $(seq 100); do
		running && return
		sleep 0.1
	done
	die "the cluster did not reach cluster_state:ok, see $dir/node*/redis.log"
}

case $cmd in
start)
	if ! running; then
		install
		start_cluster
	fi
	addrs
	;;
addrs)
	running || die "no cluster running in $dir"
	addrs
	;;
stop)
	stop_all
	;;
*)
	usage
	;;
esac
