#!/usr/bin/env bash
# The whole test suite of every module: gofmt, go vet, staticcheck and
# go test -race, against a real Redis, a real Redis Cluster (three masters)
# and a real PostgreSQL that this script starts on loopback and stops at the
# end.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -short     # extra flags go to every `go test`
#
# Under CI=true the Redis, Redis Cluster and Postgres tests fail instead of
# skipping when their server cannot be started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$(go env GOPATH)/bin:$PATH"

modules=(. examples redisstore pgstore sqlitestore otelphoneauth)
staticcheck_version=v0.8.2

tmp=$(mktemp -d /tmp/phoneauth-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	[ -f scripts/redis-test-server.sh ] && bash scripts/redis-test-server.sh stop "$tmp/redis" >/dev/null 2>&1 || true
	[ -f scripts/redis-cluster-test-server.sh ] && bash scripts/redis-cluster-test-server.sh stop "$tmp/redis-cluster" >/dev/null 2>&1 || true
	[ -f scripts/postgres-test-server.sh ] && bash scripts/postgres-test-server.sh stop "$tmp/postgres" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }

step "tools"
if ! command -v staticcheck >/dev/null 2>&1; then
	go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi
staticcheck -version
# The sign-in page's browser test drives Debian's Chromium.
bash scripts/install-chromium.sh || echo "chromium: could not be installed; the browser test will skip (or fail under CI=true)"

step "test servers"
if [ -f scripts/redis-test-server.sh ]; then
	if url=$(bash scripts/redis-test-server.sh start "$tmp/redis"); then
		export PHONEAUTH_TEST_REDIS_URL="$url"
		echo "redis: $url"
	else
		echo "redis: could not be started; its tests will skip (or fail under CI=true)"
	fi
fi
if [ -f scripts/redis-cluster-test-server.sh ]; then
	if addrs=$(bash scripts/redis-cluster-test-server.sh start "$tmp/redis-cluster"); then
		export PHONEAUTH_TEST_REDIS_CLUSTER_ADDRS="$addrs"
		echo "redis cluster: $addrs"
	else
		echo "redis cluster: could not be started; its tests will skip (or fail under CI=true)"
	fi
fi
if [ -f scripts/postgres-test-server.sh ]; then
	if url=$(bash scripts/postgres-test-server.sh start "$tmp/postgres"); then
		export PHONEAUTH_TEST_POSTGRES_URL="$url"
		echo "postgres: $url"
	else
		echo "postgres: could not be started; its tests will skip (or fail under CI=true)"
	fi
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

for m in "${modules[@]}"; do
	[ -f "$m/go.mod" ] || continue
	[ -n "$(cd "$m" && go list ./... 2>/dev/null)" ] || continue
	step "module $m: vet"
	(cd "$m" && go vet ./...)
	step "module $m: staticcheck"
	(cd "$m" && staticcheck ./...)
	step "module $m: test -race"
	(cd "$m" && go test -race -count=1 "$@" ./...)
done
step "all modules passed"
