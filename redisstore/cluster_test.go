package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
	"github.com/redis/go-redis/v9"
)

// The cluster tests need a real Redis Cluster of several masters. They find
// it through PHONEAUTH_TEST_REDIS_CLUSTER_ADDRS, its nodes' addresses
// separated by commas:
//
//	export PHONEAUTH_TEST_REDIS_CLUSTER_ADDRS=$(../scripts/redis-cluster-test-server.sh start ../.tmp/redis-cluster)
//	go test -race -run Cluster ./...
const clusterEnv = "PHONEAUTH_TEST_REDIS_CLUSTER_ADDRS"

// testCluster finds the test cluster once per test binary.
var testCluster = sync.OnceValues(func() (*redis.ClusterOptions, string) {
	addrs := os.Getenv(clusterEnv)
	if addrs == "" {
		return nil, "redisstore: no Redis Cluster to test against: " + clusterEnv + " is not set; " +
			"start one with: export " + clusterEnv + "=$(scripts/redis-cluster-test-server.sh start .tmp/redis-cluster)"
	}
	opts := &redis.ClusterOptions{
		Addrs:           strings.Split(addrs, ","),
		DisableIdentity: true, // no CLIENT SETINFO on each new connection
	}
	probe := redis.NewClusterClient(cloneClusterOptions(opts))
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fail := func(what string, err error) (*redis.ClusterOptions, string) {
		return nil, fmt.Sprintf("redisstore: no Redis Cluster to test against: %s=%s: %s: %v", clusterEnv, addrs, what, err)
	}
	info, err := probe.ClusterInfo(ctx).Result()
	if err != nil {
		return fail("CLUSTER INFO", err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fail("not a healthy cluster", errors.New(strings.TrimSpace(info)))
	}
	if err := probe.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	}); err != nil {
		return fail("a master does not answer", err)
	}
	return opts, ""
})

func cloneClusterOptions(o *redis.ClusterOptions) *redis.ClusterOptions {
	c := *o
	c.Addrs = slices.Clone(o.Addrs)
	return &c
}

// testClusterClient returns a client of the test cluster, closed at the end
// of the test, and a key prefix of its own whose keys are deleted at the
// end. It skips the test (or fails it, in CI) when there is no cluster. The
// hooks are added to the client of every node, so that they see each
// command and pipeline as the node receives it.
func testClusterClient(tb testing.TB, hooks ...redis.Hook) (*redis.ClusterClient, string) {
	tb.Helper()
	opts, msg := testCluster()
	if opts == nil {
		skipOrFail(tb, msg)
	}
	o := cloneClusterOptions(opts)
	o.NewClient = func(opt *redis.Options) *redis.Client {
		c := redis.NewClient(opt)
		for _, h := range hooks {
			c.AddHook(h)
		}
		return c
	}
	rdb := redis.NewClusterClient(o)
	prefix := "phoneauth-test-" + randomHex(6)
	tb.Cleanup(func() {
		defer rdb.Close()
		_ = rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
			iter := m.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				m.Unlink(ctx, iter.Val())
			}
			return iter.Err()
		})
	})
	return rdb, prefix
}

// keySlot returns the slot of key as the cluster computes it.
func keySlot(tb testing.TB, rdb *redis.ClusterClient, key string) int64 {
	tb.Helper()
	n, err := rdb.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	return n
}

// TestClusterConformance runs phoneauth's whole conformance suite on a Redis
// Cluster: the Store with its Users, the Limiter with BatchLimiter's
// clauses, and two replicas end to end, each subtest with a prefix (and a
// cluster client) of its own. A cluster refuses a script or a MULTI whose
// keys hash to different slots (CROSSSLOT, see TestClusterCrossSlot), so the
// suite passing here shows that every operation keeps to its hash tags.
func TestClusterConformance(t *testing.T) {
	testClusterClient(t) // skip (or fail in CI) once rather than in every subtest
	t.Run("Store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) phoneauth.Store {
			rdb, prefix := testClusterClient(t)
			return New(rdb, Options{Prefix: prefix})
		})
	})
	t.Run("Limiter", func(t *testing.T) {
		storetest.RunLimiter(t, func(t *testing.T) phoneauth.Limiter {
			rdb, prefix := testClusterClient(t)
			return NewLimiter(rdb, Options{Prefix: prefix})
		})
	})
	t.Run("Replicas", func(t *testing.T) {
		storetest.RunReplicas(t, func(t *testing.T) (phoneauth.Store, phoneauth.Limiter) {
			rdb, prefix := testClusterClient(t)
			return New(rdb, Options{Prefix: prefix}), NewLimiter(rdb, Options{Prefix: prefix})
		})
	})
}

// TestClusterCrossSlot checks the check: the test cluster refuses one of
// the store's own scripts given keys of two slots, as it would refuse any
// operation that strayed from its hash tags.
func TestClusterCrossSlot(t *testing.T) {
	rdb, prefix := testClusterClient(t)
	ctx := context.Background()
	a, b := keys{prefix}.limit("k"), keys{prefix + "-other"}.limit("k")
	if sa, sb := keySlot(t, rdb, a), keySlot(t, rdb, b); sa == sb {
		t.Fatalf("%s and %s share slot %d; pick keys of two slots", a, b, sa)
	}
	err := allowAll.Run(ctx, rdb, []string{a, b}, t0.UnixMicro(), 1, 1000, 1000, 1000, 1000).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a script over %s and %s: err = %v, want CROSSSLOT", a, b, err)
	}
}

// TestClusterSlots checks the hash tags with the cluster's own CLUSTER
// KEYSLOT, whatever the ids hold: the keys that one script touches share a
// slot, and challenges and sessions really spread over the masters, so that
// the other cluster tests do not run on one shard only.
func TestClusterSlots(t *testing.T) {
	rdb, prefix := testClusterClient(t)
	ctx := context.Background()
	k := keys{prefix}
	groups := map[string][]string{
		"user tables": {k.users("by-phone"), k.users("phone"), k.users("created"), k.users("metadata")},
		"limiter":     {k.limit("phone:+923012345678"), k.limit("ip:10.0.0.1"), k.limit("{x}"), k.limit("")},
	}
	for _, id := range []string{"abc", "a}b", "{x}", "", "}:t", "abc}:t", ":t", "{"} {
		groups[fmt.Sprintf("session %q", id)] = []string{k.session(id), k.tokens(id)}
	}
	for what, ks := range groups {
		want := keySlot(t, rdb, ks[0])
		for _, key := range ks[1:] {
			if got := keySlot(t, rdb, key); got != want {
				t.Errorf("%s: %s in slot %d, %s in slot %d", what, ks[0], want, key, got)
			}
		}
	}

	// Twenty challenges and twenty sessions; what lands where is decided
	// by the cluster, counted on each master.
	s := New(rdb, Options{Prefix: prefix})
	for i := range 20 {
		if err := s.PutChallenge(ctx, testChallenge(fmt.Sprintf("login:+1555%07d", i))); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, testSession(fmt.Sprintf("user-%d", i), t0)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	perMaster := map[string]int{}
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n := 0
		iter := m.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		defer mu.Unlock()
		perMaster[m.Options().Addr] = n
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var spread []string
	total, holding := 0, 0
	for addr, n := range perMaster {
		spread = append(spread, fmt.Sprintf("%s: %d", addr, n))
		total += n
		if n > 0 {
			holding++
		}
	}
	sort.Strings(spread)
	t.Logf("keys per master: %s", strings.Join(spread, ", "))
	switch {
	case len(perMaster) < 2:
		t.Fatalf("the cluster has %d master(s); the cluster tests need several", len(perMaster))
	case total < 60: // 20 challenges, 20 sessions, 20 user indexes
		t.Fatalf("found %d keys on the masters, want at least 60", total)
	case holding < 2:
		t.Errorf("all keys on one master of %d: the tests would not exercise the cluster", len(perMaster))
	}
}

// scripts are all the scripts of the package.
var scripts = []*redis.Script{
	attemptChallenge, deleteChallenge, createSession, indexSession, rotateRefresh,
	userByPhone, createUser, setPhone, allow, allowAll,
}

// TestClusterRoundTrips counts the round trips to the cluster's nodes:
// one per operation, to the node of its slot (no MOVED or ASK
// redirections), and for a pipeline over several slots one per node it
// touches, made concurrently.
func TestClusterRoundTrips(t *testing.T) {
	var rt roundTrips
	rdb, prefix := testClusterClient(t, &rt)
	s := New(rdb, Options{Prefix: prefix, Clock: phoneauth.NewManualClock(t0)})
	lim := NewLimiter(rdb, Options{Prefix: prefix})
	ctx := context.Background()
	// Session ids are random, so each pass may send a script to a node
	// that has not seen it yet: teach every master every script first.
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		for _, sc := range scripts {
			if err := sc.Load(ctx, m).Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	servers := func(keys ...string) int64 {
		masters := map[string]bool{}
		for _, key := range keys {
			m, err := rdb.MasterForKey(ctx, key)
			if err != nil {
				t.Fatalf("master of %s: %v", key, err)
			}
			masters[m.Options().Addr] = true
		}
		return int64(len(masters))
	}
	checkRoundTrips(t, &rt, roundTripOps(s, lim, servers))
}

// TestClusterCheckSettings checks the settings of every master: the test
// cluster runs without persistence, so each one is named.
func TestClusterCheckSettings(t *testing.T) {
	rdb, _ := testClusterClient(t)
	warnings, err := CheckSettings(context.Background(), rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	masters := map[string]bool{}
	var mu sync.Mutex // ForEachMaster calls in parallel
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[node.Options().Addr] = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if w.Setting == "appendonly" && w.Value == "no" {
			if _, ok := masters[w.Node]; !ok {
				t.Errorf("warning for %q, not a master of %v", w.Node, masters)
			}
			masters[w.Node] = true
		}
	}
	for addr, warned := range masters {
		if !warned {
			t.Errorf("master %s without AOF: no warning (warnings %+v)", addr, warnings)
		}
	}
}
