#!/usr/bin/env bash
# adapter-instructions.sh measures the adapter's own work per call in
# instructions, which, unlike times, do not depend on what else the machine
# runs. For Request and Verify it runs the direct benchmark and the
# bare-writer one (the same calls through the Handler, with a reused
# ResponseWriter that keeps nothing) under callgrind at two iteration
# counts: the difference between the counts cancels start-up and set-up,
# and the difference between the benchmarks is the adapter's own work.
# GOMAXPROCS=1 keeps idle threads from spinning, and GOGC=off leaves out
# the collector, whose start would decide more than the code does (the
# benchmarks' B/op and allocs/op show what it is given).
#
#   scripts/adapter-instructions.sh TEST-BINARY...
#
# where each TEST-BINARY is built with
#   (cd httpadapter && go test -c -o /tmp/ha.test .)
set -euo pipefail

# count BINARY BENCHMARK N: the instructions of one run of N iterations.
count() {
	GOMAXPROCS=1 GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$1" -test.run XXX -test.bench "^Benchmark$2\$" -test.benchtime "$3x" 2>&1 |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# perop BINARY BENCHMARK N1 N2: instructions per iteration.
perop() {
	local a b
	a=$(count "$1" "$2" "$3")
	b=$(count "$1" "$2" "$4")
	echo $(((b - a) / ($4 - $3)))
}

for bin in "$@"; do
	for spec in Request:1000:2000 Verify:300:600; do
		IFS=: read -r name n1 n2 <<<"$spec"
		direct=$(perop "$bin" "Direct$name" "$n1" "$n2")
		http=$(perop "$bin" "HTTP${name}BareWriter" "$n1" "$n2")
		echo "$bin $name: direct $direct, through the adapter $http, adapter $((http - direct)) instructions/call"
	done
done
