package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/faultproxy"
)

// serverScript starts and stops throwaway PostgreSQL servers.
var serverScript = filepath.Join("..", "scripts", "postgres-test-server.sh")

// ownServer starts a PostgreSQL server of t's own with serverScript (in a
// directory under the system's temporary directory, which the script's
// unprivileged user can reach) and returns its URL and a function that runs
// the script's commands on it. The server is destroyed when t ends.
func ownServer(t *testing.T) (url string, script func(cmd string)) {
	t.Helper()
	if os.Getenv(urlEnv) == "" && os.Getenv("CI") != "true" {
		t.Skipf("%s is not set: skipping the PostgreSQL tests", urlEnv)
	}
	dir, err := os.MkdirTemp("", "pgstore-fault-")
	must(t, err)
	run := func(cmd string) (string, error) {
		out, err := exec.Command(serverScript, cmd, dir).Output()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = fmt.Errorf("%w: %s", err, exitErr.Stderr)
		}
		return strings.TrimSpace(string(out)), err
	}
	url, err = run("start")
	if err != nil {
		os.RemoveAll(dir)
		needServer(t, "%s start: %v", serverScript, err)
	}
	t.Cleanup(func() {
		if _, err := run("destroy"); err != nil {
			t.Errorf("%s destroy: %v", serverScript, err)
		}
		os.RemoveAll(dir)
	})
	return url, func(cmd string) {
		t.Helper()
		if _, err := run(cmd); err != nil {
			t.Fatalf("%s %s: %v", serverScript, cmd, err)
		}
	}
}

// TestServerDown stops the database in the middle of a run of operations:
// every call fails with an error matching ErrStoreUnavailable (none
// panics, none hangs past its context), no code is consumed twice, and once
// the server is back the same Store works again by itself.
func TestServerDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL server")
	}
	url, script := ownServer(t)
	cfg, err := pgxpool.ParseConfig(url)
	must(t, err)
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	s, err := New(pool, Options{})
	must(t, err)
	must(t, s.Migrate(ctx))
	lim := s.Limiter()

	c := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))
	_, err = s.AttemptChallenge(ctx, c.Key, c.ID, t0)
	must(t, err)
	sess := newSession(t0)
	must(t, s.CreateSession(ctx, sess))

	// Load: goroutines run operations until told to stop, and keep what
	// went wrong.
	var (
		stop       atomic.Bool
		wg         sync.WaitGroup
		mu         sync.Mutex
		okCalls    int
		downCalls  int
		unexpected []error
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			okCalls++
		case errors.Is(err, phoneauth.ErrStoreUnavailable):
			downCalls++
		default:
			unexpected = append(unexpected, err)
		}
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				key := fmt.Sprintf("fault:%d:%d", i, n)
				_, _, err := lim.Allow(cctx, key, phoneauth.Limit{Events: 5, Per: time.Minute}, t0)
				record(err)
				ch := newChallenge(t0)
				err = s.PutChallenge(cctx, ch)
				record(err)
				if err == nil {
					_, err = s.AttemptChallenge(cctx, ch.Key, ch.ID, t0)
					record(err)
				}
				cancel()
			}
		}()
	}

	script("stop")
	// Every operation fails, as ErrStoreUnavailable, while it is down.
	for _, call := range everyCall(s, c, sess) {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := call.Run(dctx); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrStoreUnavailable", call.Name, err)
		}
		cancel()
	}

	script("start") // on the same port: the pool's URL stays valid
	// The pool reconnects by itself: wait (bounded) for a first success.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s.GetSession(ctx, sess.ID, t0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover after the server restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // real time: a server restarting
	}
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	t.Logf("load during the outage: %d calls succeeded, %d failed as unavailable", okCalls, downCalls)
	if len(unexpected) > 0 {
		t.Errorf("%d calls failed with other errors than ErrStoreUnavailable, e.g. %v", len(unexpected), unexpected[0])
	}
	if okCalls == 0 || downCalls == 0 {
		t.Errorf("load during the outage: %d calls succeeded, %d failed as unavailable; want some of each", okCalls, downCalls)
	}
	mu.Unlock()

	// The code attempted before the outage is consumed exactly once.
	must(t, s.DeleteChallenge(ctx, c.Key, c.ID))
	wantErr(t, "consuming the code a second time", s.DeleteChallenge(ctx, c.Key, c.ID), phoneauth.ErrNotFound)
	// And everything works again.
	_, _, err = rotate(s, sess.ID, sess.RefreshHash, t0, 0)
	must(t, err)
	ok, _, err := lim.Allow(ctx, "after", phoneauth.Limit{Events: 1, Per: time.Minute}, t0)
	if err != nil || !ok {
		t.Fatalf("Limiter.Allow after the restart: %v, %v", ok, err)
	}
}

// TestServerPaused holds back all traffic to the database (a proxy keeps
// every byte, as a server stopped with SIGSTOP or a dead network would):
// every operation returns ErrStoreUnavailable by its context's deadline,
// also with more callers than the pool has connections, and once traffic
// flows again the same pool works, without a restart.
func TestServerPaused(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses a PostgreSQL connection for seconds")
	}
	cfg := testPoolConfig(t)
	proxy, err := faultproxy.Start(net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	must(t, err)
	t.Cleanup(func() { proxy.Close() })
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", uint16(proxyPort(t, proxy))
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	s, err := New(pool, Options{Schema: testSchema.name})
	must(t, err)
	must(t, s.Migrate(ctx))
	c, sess := newChallenge(t0), newSession(t0)
	must(t, s.PutChallenge(ctx, c))
	must(t, s.CreateSession(ctx, sess))

	proxy.Pause()
	// More callers than connections: those waiting for one give up by
	// their deadline too.
	faultproxy.CheckDeadlines(t, everyCall(s, c, sess), phoneauth.ErrStoreUnavailable,
		250*time.Millisecond, time.Second, 3*int(cfg.MaxConns))

	proxy.Resume()
	// The pool is not wedged: every operation answers (what the held-back
	// statements did meanwhile may make some of them ErrNotFound), and so
	// do more concurrent callers than it has connections.
	for _, call := range everyCall(s, c, sess) {
		if _, err := faultproxy.Timed(call.Run, 10*time.Second); errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s after the pause: %v", call.Name, err)
		}
	}
	var wg sync.WaitGroup
	for range 3 * int(cfg.MaxConns) {
		wg.Go(func() {
			if err := s.PutChallenge(ctx, newChallenge(t0)); err != nil {
				t.Errorf("concurrent PutChallenge after the pause: %v", err)
			}
		})
	}
	wg.Wait()
}

// testPoolConfig returns the pool configuration of the test server, or
// skips (see needServer) when there is none.
func testPoolConfig(t *testing.T) *pgxpool.Config {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		needServer(t, "%s is not set", urlEnv)
	}
	cfg, err := pgxpool.ParseConfig(url)
	must(t, err)
	return cfg
}

// proxyPort returns the port clients of p connect to.
func proxyPort(t *testing.T, p *faultproxy.Proxy) int {
	t.Helper()
	_, port, err := net.SplitHostPort(p.Addr())
	must(t, err)
	n, err := strconv.Atoi(port)
	must(t, err)
	return n
}

// everyCall returns a call of every operation of s and its Limiter, on
// the challenge c and the session sess where they need one.
func everyCall(s *Store, c phoneauth.Challenge, sess phoneauth.Session) []faultproxy.Call {
	lim := s.Limiter()
	limit := phoneauth.Limit{Events: 1, Per: time.Minute}
	rot := phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash, NewHash: randomHash(),
		NewExpiresAt: t0.Add(time.Hour), Now: t0}
	return []faultproxy.Call{
		{Name: "GetChallenge", Run: func(ctx context.Context) error { _, err := s.GetChallenge(ctx, c.Key, t0); return err }},
		{Name: "AttemptChallenge", Run: func(ctx context.Context) error { _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); return err }},
		{Name: "DeleteChallenge", Run: func(ctx context.Context) error { return s.DeleteChallenge(ctx, c.Key, c.ID) }},
		{Name: "PutChallenge", Run: func(ctx context.Context) error { return s.PutChallenge(ctx, newChallenge(t0)) }},
		{Name: "CreateSession", Run: func(ctx context.Context) error { return s.CreateSession(ctx, newSession(t0)) }},
		{Name: "GetSession", Run: func(ctx context.Context) error { _, err := s.GetSession(ctx, sess.ID, t0); return err }},
		{Name: "RotateRefresh", Run: func(ctx context.Context) error { _, err := s.RotateRefresh(ctx, rot); return err }},
		{Name: "ListSessions", Run: func(ctx context.Context) error { _, err := s.ListSessions(ctx, sess.UserID, t0); return err }},
		{Name: "DeleteSession", Run: func(ctx context.Context) error { return s.DeleteSession(ctx, sess.ID) }},
		{Name: "CreateUser", Run: func(ctx context.Context) error { _, _, err := s.CreateUser(ctx, "+99912345", nil); return err }},
		{Name: "UserByPhone", Run: func(ctx context.Context) error { _, err := s.UserByPhone(ctx, "+99912345"); return err }},
		{Name: "SetPhone", Run: func(ctx context.Context) error { return s.SetPhone(ctx, "u", "+99912345") }},
		{Name: "Limiter.Allow", Run: func(ctx context.Context) error { _, _, err := lim.Allow(ctx, "k", limit, t0); return err }},
		{Name: "Limiter.AllowAll", Run: func(ctx context.Context) error {
			_, _, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: "k", Limit: limit}}, t0)
			return err
		}},
		{Name: "Limiter.Refund", Run: func(ctx context.Context) error { return lim.Refund(ctx, "k", limit, t0) }},
		{Name: "Limiter.Reset", Run: func(ctx context.Context) error { return lim.Reset(ctx, "k") }},
		{Name: "Cleanup", Run: func(ctx context.Context) error { _, err := s.Cleanup(ctx, t0); return err }},
		{Name: "Migrate", Run: s.Migrate},
	}
}

// TestCheckSettings reads the settings on a server set both ways: durable
// (the test server's settings), then with synchronous_commit off for the
// Store's connections, and with fsync and full_page_writes off for the
// whole server.
func TestCheckSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	url, _ := ownServer(t)
	check := func(params map[string]string) ([]SettingWarning, string) {
		t.Helper()
		cfg, err := pgxpool.ParseConfig(url)
		must(t, err)
		for k, v := range params {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		must(t, err)
		defer pool.Close()
		s, err := New(pool, Options{})
		must(t, err)
		var logs strings.Builder
		warnings, err := s.CheckSettings(ctx, slog.New(slog.NewTextHandler(&logs, nil)))
		must(t, err)
		return warnings, logs.String()
	}
	settings := func(warnings []SettingWarning) []string {
		var names []string
		for _, w := range warnings {
			names = append(names, w.Setting+"="+w.Value)
		}
		return names
	}

	if w, logs := check(nil); len(w) != 0 || logs != "" {
		t.Errorf("durable server: warnings %v, logs %q; want none", settings(w), logs)
	}
	w, logs := check(map[string]string{"synchronous_commit": "off"})
	if got := settings(w); !slices.Equal(got, []string{"synchronous_commit=off"}) {
		t.Errorf("synchronous_commit off: warnings %v", got)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "setting=synchronous_commit") ||
		!strings.Contains(logs, "a used code can verify a second time") {
		t.Errorf("synchronous_commit off: logs %q do not name the setting and the risk", logs)
	}
	if w, _ := check(map[string]string{"synchronous_commit": "local"}); len(w) != 0 {
		t.Errorf("synchronous_commit local: warnings %v; want none", settings(w))
	}

	cfg, err := pgxpool.ParseConfig(url)
	must(t, err)
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	must(t, err)
	defer conn.Close(ctx)
	for _, sql := range []string{"ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET full_page_writes = off", "SELECT pg_reload_conf()"} {
		_, err := conn.Exec(ctx, sql)
		must(t, err)
	}
	// The server reloads its configuration on its own time: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		w, _ := check(nil)
		if got := settings(w); slices.Equal(got, []string{"fsync=off", "full_page_writes=off"}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("fsync and full_page_writes off: warnings %v", got)
		}
	}
}

// TestTablesLocked holds an exclusive lock on every table of the store (as
// a long migration or a LOCK TABLE by hand would): the server answers, but
// every statement waits. Every operation still returns by its deadline,
// and once the lock is released the store works.
func TestTablesLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for deadlines")
	}
	pool := openPool(t, nil)
	s := freshSchema(t, pool)
	must(t, s.Migrate(ctx))
	c, sess := newChallenge(t0), newSession(t0)
	must(t, s.PutChallenge(ctx, c))
	must(t, s.CreateSession(ctx, sess))

	locker, err := pool.Begin(ctx)
	must(t, err)
	defer locker.Rollback(ctx)
	tables := []string{"challenges", "sessions", "refresh_tokens", "users", "limiter_buckets", "schema_migrations"}
	for i, name := range tables {
		tables[i] = s.table(name)
	}
	_, err = locker.Exec(ctx, "LOCK TABLE "+strings.Join(tables, ", ")+" IN ACCESS EXCLUSIVE MODE")
	must(t, err)

	faultproxy.CheckDeadlines(t, everyCall(s, c, sess), phoneauth.ErrStoreUnavailable,
		250*time.Millisecond, time.Second, 8)

	must(t, locker.Rollback(ctx))
	for _, call := range everyCall(s, c, sess) {
		if _, err := faultproxy.Timed(call.Run, 10*time.Second); errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s after the lock: %v", call.Name, err)
		}
	}
}

// TestAbandonedStatementUnderLock gives up on a write that waits for a
// lock. pgx closes the connection and sends PostgreSQL a cancel request for
// the statement: the server stops waiting while the lock is still held, and
// once it is released the write has not happened.
func TestAbandonedStatementUnderLock(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for deadlines")
	}
	cfg := testPoolConfig(t)
	// One connection, on which PutChallenge's statement is prepared
	// already: it waits for the lock when it runs, not when pgx prepares it.
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	s := freshSchema(t, pool)
	must(t, s.Migrate(ctx))
	must(t, s.PutChallenge(ctx, newChallenge(t0)))

	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	must(t, err)
	defer conn.Close(ctx)
	locker, err := conn.Begin(ctx)
	must(t, err)
	defer locker.Rollback(ctx)
	_, err = locker.Exec(ctx, "LOCK TABLE "+s.table("challenges")+" IN ACCESS EXCLUSIVE MODE")
	must(t, err)
	c := newChallenge(t0)
	_, err = faultproxy.Timed(func(ctx context.Context) error { return s.PutChallenge(ctx, c) }, 250*time.Millisecond)
	wantErr(t, "PutChallenge with the table locked", err, phoneauth.ErrStoreUnavailable)

	// The server ends the abandoned statement while the lock is held.
	waiting := func() (n int) {
		must(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n))
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); waiting() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned statement still waits for the lock 10 s after its caller gave up")
		}
	}
	must(t, locker.Rollback(ctx))
	if _, err := s.GetChallenge(ctx, c.Key, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("after the lock: GetChallenge of the abandoned write = %v, want ErrNotFound", err)
	}
}
