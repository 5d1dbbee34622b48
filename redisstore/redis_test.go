package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// The tests need a real Redis. They find it through PHONEAUTH_TEST_REDIS_URL:
//
//	export PHONEAUTH_TEST_REDIS_URL=$(../scripts/redis-test-server.sh start ../.tmp/redis)
//	go test -race ./...
const urlEnv = "PHONEAUTH_TEST_REDIS_URL"

func TestMain(m *testing.M) {
	logging.Disable() // TestRedisDown would flood the output with refused dials
	os.Exit(m.Run())
}

// skipOrFail skips the test with msg, or fails it when CI=true: in CI the
// Redis tests must run.
func skipOrFail(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: a skip is a failure)")
	}
	tb.Skip(msg)
}

// testServer finds the test server once per test binary.
var testServer = sync.OnceValues(func() (*redis.Options, string) {
	url := os.Getenv(urlEnv)
	if url == "" {
		return nil, "redisstore: no Redis to test against: " + urlEnv + " is not set; " +
			"start one with: export " + urlEnv + "=$(scripts/redis-test-server.sh start .tmp/redis)"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Sprintf("redisstore: %s=%q: %v", urlEnv, url, err)
	}
	opts.DisableIdentity = true // no CLIENT SETINFO on each new connection
	probe := redis.NewClient(opts)
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err != nil {
		return nil, "redisstore: no Redis to test against: " + urlEnv + "=" + url + " does not answer: " + err.Error()
	}
	return opts, ""
})

// testOptions returns the client options of the test server, or skips (or
// fails, in CI) when there is none or it does not answer.
func testOptions(tb testing.TB) *redis.Options {
	tb.Helper()
	opts, msg := testServer()
	if opts == nil {
		skipOrFail(tb, msg)
	}
	o := *opts
	return &o
}

// testClient returns a client of the test server, closed at the end of the
// test, and a key prefix of its own whose keys are deleted at the end.
func testClient(tb testing.TB, hooks ...redis.Hook) (*redis.Client, string) {
	tb.Helper()
	rdb := redis.NewClient(testOptions(tb))
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	prefix := "phoneauth-test-" + randomHex(6)
	tb.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Unlink(ctx, iter.Val())
		}
	})
	return rdb, prefix
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// roundTrips is a go-redis hook that counts round trips: one per command
// sent on its own, one per pipeline (or MULTI/EXEC) however many commands it
// holds. Connection handshakes count too. CLUSTER commands do not: they are
// a cluster client's reads of the slot map, which it refreshes in the
// background. On a cluster, hook every node's client (see
// testClusterClient) to count the round trips to each node.
type roundTrips struct {
	n    atomic.Int64 // round trips
	cmds atomic.Int64 // commands sent, each command of a pipeline or transaction counted
}

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "cluster" {
			r.n.Add(1)
			r.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// count returns how many round trips f made.
func (r *roundTrips) count(f func()) int64 {
	before := r.n.Load()
	f()
	return r.n.Load() - before
}
