package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/faultproxy"
	"github.com/redis/go-redis/v9"
)

// A privateServer is a redis-server of one test, which the test may stop
// and start again on the same port.
type privateServer struct {
	t    *testing.T
	bin  string
	port string
	dir  string
	args []string // more than the defaults: no persistence
	cmd  *exec.Cmd
}

func newPrivateServer(t *testing.T, args ...string) *privateServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, "redisstore: fault test needs redis-server on the PATH (apt-get install -y redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &privateServer{t: t, bin: bin, port: port, dir: t.TempDir(), args: args}
	t.Cleanup(s.stop)
	s.start()
	return s
}

func (s *privateServer) addr() string { return "127.0.0.1:" + s.port }

func (s *privateServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, append([]string{"--bind", "127.0.0.1", "--port", s.port,
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning"}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	probe := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer probe.Close()
	for range 100 {
		if probe.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // a real server starting: no clock to advance
	}
	s.t.Fatalf("redis-server on port %s did not start", s.port)
}

// stop kills the server, as a crash would.
func (s *privateServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// TestRedisDown stops Redis in the middle of a run: every call fails with
// ErrStoreUnavailable (none panics, none half-succeeds), and when Redis is
// back the same Store and Limiter work again on their own.
func TestRedisDown(t *testing.T) {
	srv := newPrivateServer(t)
	rdb := redis.NewClient(&redis.Options{
		Addr:        srv.addr(),
		DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond,
		MaxRetries:  -1,
	})
	defer rdb.Close()
	s := New(rdb, Options{Clock: phoneauth.NewManualClock(t0)})
	lim := NewLimiter(rdb, Options{})
	ctx := context.Background()
	limit := phoneauth.Limit{Events: 1 << 30, Per: time.Second}

	c := testChallenge("login:+15550000006")
	c.MaxAttempts = 1 << 30
	sess := testSession("user-1", t0)
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	// Load in the background while the server goes away and comes back.
	var ok, failed atomic.Int64
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				_, err := s.AttemptChallenge(ctx, c.Key, "", t0)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, phoneauth.ErrStoreUnavailable), errors.Is(err, phoneauth.ErrNotFound):
					failed.Add(1)
					time.Sleep(time.Millisecond) // no busy loop while Redis is down
				default:
					t.Errorf("under load: unexpected error %v", err)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	srv.stop()

	for _, call := range everyCall(s, lim, c, sess) {
		if err := call.Run(ctx); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s with Redis down: err = %v, want ErrStoreUnavailable", call.Name, err)
		}
	}
	failedWhileDown := failed.Load()

	srv.start()
	// go-redis notices by itself: after failed dials its pool probes the
	// server once a second.
	restarted := time.Now()
	for lim.Reset(ctx, "probe") != nil {
		if time.Since(restarted) > 10*time.Second {
			t.Fatal("no recovery 10 s after Redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovered %v after Redis came back", time.Since(restarted).Round(time.Millisecond))
	// The restarted server has no data (no persistence) and no scripts:
	// what was pending is gone, which fails closed, and the scripts load
	// again on their own (EVALSHA → NOSCRIPT → EVAL).
	if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("AttemptChallenge of a lost challenge: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, sess.ID, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("session after a restart without persistence: err = %v, want ErrNotFound", err)
	}
	fresh := testChallenge("login:+15550000007")
	if err := s.PutChallenge(ctx, fresh); err != nil {
		t.Fatalf("PutChallenge after restart: %v", err)
	}
	if _, err := s.AttemptChallenge(ctx, fresh.Key, fresh.ID, t0); err != nil {
		t.Errorf("AttemptChallenge after restart: %v", err)
	}
	if err := s.DeleteChallenge(ctx, fresh.Key, fresh.ID); err != nil {
		t.Errorf("DeleteChallenge after restart: %v", err)
	}
	sess = testSession("user-1", t0)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession after restart: %v", err)
	}
	rot := phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash, NewHash: []byte("n"),
		NewExpiresAt: t0.Add(time.Hour), Now: t0}
	if _, err := s.RotateRefresh(ctx, rot); err != nil {
		t.Errorf("RotateRefresh after restart: %v", err)
	}
	if allowed, _, err := lim.Allow(ctx, "k", limit, t0); !allowed || err != nil {
		t.Errorf("Limiter.Allow after restart: %v, %v", allowed, err)
	}

	// The background load recovers too.
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	okBefore := ok.Load()
	deadline := time.Now().Add(5 * time.Second)
	for ok.Load() == okBefore && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stopLoad)
	wg.Wait()
	if ok.Load() == okBefore {
		t.Error("background load did not recover after the restart")
	}
	if failedWhileDown == 0 {
		t.Error("background load saw no failure while Redis was down")
	}
	t.Logf("background load: %d calls succeeded, %d failed closed", ok.Load(), failed.Load())
}

// everyCall returns a call of every operation of s and lim, on the
// challenge c and the session sess where they need one.
func everyCall(s *Store, lim *Limiter, c phoneauth.Challenge, sess phoneauth.Session) []faultproxy.Call {
	limit := phoneauth.Limit{Events: 1 << 30, Per: time.Second}
	rot := phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash, NewHash: []byte("n"),
		NewExpiresAt: t0.Add(time.Hour), Now: t0}
	return []faultproxy.Call{
		{Name: "PutChallenge", Run: func(ctx context.Context) error { return s.PutChallenge(ctx, c) }},
		{Name: "GetChallenge", Run: func(ctx context.Context) error { _, err := s.GetChallenge(ctx, c.Key, t0); return err }},
		{Name: "AttemptChallenge", Run: func(ctx context.Context) error { _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); return err }},
		{Name: "DeleteChallenge", Run: func(ctx context.Context) error { return s.DeleteChallenge(ctx, c.Key, c.ID) }},
		{Name: "CreateSession", Run: func(ctx context.Context) error { return s.CreateSession(ctx, testSession("user-1", t0)) }},
		{Name: "GetSession", Run: func(ctx context.Context) error { _, err := s.GetSession(ctx, sess.ID, t0); return err }},
		{Name: "RotateRefresh", Run: func(ctx context.Context) error { _, err := s.RotateRefresh(ctx, rot); return err }},
		{Name: "DeleteSession", Run: func(ctx context.Context) error { return s.DeleteSession(ctx, sess.ID) }},
		{Name: "ListSessions", Run: func(ctx context.Context) error { _, err := s.ListSessions(ctx, "user-1", t0); return err }},
		{Name: "UserByPhone", Run: func(ctx context.Context) error { _, err := s.UserByPhone(ctx, "+15550000001"); return err }},
		{Name: "CreateUser", Run: func(ctx context.Context) error { _, _, err := s.CreateUser(ctx, "+15550000001", nil); return err }},
		{Name: "SetPhone", Run: func(ctx context.Context) error { return s.SetPhone(ctx, "u", "+15550000001") }},
		{Name: "Limiter.Allow", Run: func(ctx context.Context) error { _, _, err := lim.Allow(ctx, "k", limit, t0); return err }},
		{Name: "Limiter.AllowAll", Run: func(ctx context.Context) error {
			_, _, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: "k", Limit: limit}}, t0)
			return err
		}},
		{Name: "Limiter.Refund", Run: func(ctx context.Context) error { return lim.Refund(ctx, "k", limit, t0) }},
		{Name: "Limiter.Reset", Run: func(ctx context.Context) error { return lim.Reset(ctx, "k") }},
	}
}

// newPausableClient returns a client, with ContextTimeoutEnabled and a
// pool of 4, of a private server behind a faultproxy that can pause its
// traffic. Both are closed at the end of the test.
func newPausableClient(t *testing.T) (*faultproxy.Proxy, *redis.Client) {
	t.Helper()
	srv := newPrivateServer(t)
	proxy, err := faultproxy.Start(srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, PoolSize: 4})
	t.Cleanup(func() { rdb.Close() })
	return proxy, rdb
}

// TestRedisPaused holds back all traffic to Redis (a proxy keeps every
// byte, as a server stopped with SIGSTOP or a dead network would): with
// ContextTimeoutEnabled, every operation returns ErrStoreUnavailable by
// its context's deadline, also with more callers than the pool has
// connections, and once traffic flows again the same client works.
func TestRedisPaused(t *testing.T) {
	proxy, rdb := newPausableClient(t)
	s := New(rdb, Options{Clock: phoneauth.NewManualClock(t0)})
	lim := NewLimiter(rdb, Options{})
	ctx := context.Background()
	c, sess := testChallenge("login:+15550000008"), testSession("user-1", t0)
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	proxy.Pause()
	faultproxy.CheckDeadlines(t, everyCall(s, lim, c, sess), phoneauth.ErrStoreUnavailable,
		250*time.Millisecond, time.Second, 12)

	proxy.Resume()
	for _, call := range everyCall(s, lim, c, sess) {
		if err := call.Run(ctx); errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s after the pause: %v", call.Name, err)
		}
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.PutChallenge(ctx, testChallenge("login:+15550000009")); err != nil {
				t.Errorf("concurrent PutChallenge after the pause: %v", err)
			}
		}()
	}
	wg.Wait()
}

// TestCheckSettings reads the settings of servers set both ways: without
// persistence, durable, with a lax fsync and eviction, and with CONFIG
// disabled.
func TestCheckSettings(t *testing.T) {
	ctx := context.Background()
	check := func(addr string, contextTimeout bool) ([]string, string) {
		t.Helper()
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: contextTimeout})
		defer rdb.Close()
		var logs strings.Builder
		warnings, err := CheckSettings(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("CheckSettings: %v", err)
		}
		var got []string
		for _, w := range warnings {
			got = append(got, w.Setting+"="+w.Value)
			if !strings.Contains(logs.String(), "setting="+w.Setting) {
				t.Errorf("warning %+v not logged: %s", w, logs.String())
			}
		}
		return got, logs.String()
	}
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: warnings %q, want %q", what, got, want)
		}
	}

	srv := newPrivateServer(t)
	got, logs := check(srv.addr(), false)
	want("no persistence, no context deadlines", got, "ContextTimeoutEnabled=false", "appendonly=no")
	if !strings.Contains(logs, "a used code can verify a second time") {
		t.Errorf("the logs do not name the risk: %s", logs)
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer admin.Close()
	set := func(name, value string) {
		t.Helper()
		if err := admin.ConfigSet(ctx, name, value).Err(); err != nil {
			t.Fatal(err)
		}
	}
	set("appendonly", "yes")
	got, logs = check(srv.addr(), true)
	want("durable", got)
	if logs != "" {
		t.Errorf("durable: logged %s", logs)
	}
	set("appendfsync", "always")
	got, _ = check(srv.addr(), true)
	want("appendfsync always", got)
	set("appendfsync", "no")
	set("maxmemory-policy", "volatile-lru")
	got, _ = check(srv.addr(), true)
	want("lax fsync, eviction", got, "appendfsync=no", "maxmemory-policy=volatile-lru")

	// Without CONFIG, INFO persistence tells whether the AOF is on.
	noConfig := newPrivateServer(t, "--rename-command", "CONFIG", "")
	got, _ = check(noConfig.addr(), true)
	want("CONFIG disabled, no AOF", got, "appendonly=no")
	durable := newPrivateServer(t, "--rename-command", "CONFIG", "", "--appendonly", "yes")
	got, logs = check(durable.addr(), true)
	want("CONFIG disabled, AOF on", got, "appendfsync=unknown")
	if !strings.Contains(logs, "could not be read") {
		t.Errorf("CONFIG disabled: the logs do not say what could not be checked: %s", logs)
	}
}
