package pgstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
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
	down := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, phoneauth.ErrStoreUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrStoreUnavailable", what, err)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = s.GetChallenge(dctx, c.Key, t0)
	down("GetChallenge", err)
	_, err = s.AttemptChallenge(dctx, c.Key, c.ID, t0)
	down("AttemptChallenge", err)
	down("DeleteChallenge", s.DeleteChallenge(dctx, c.Key, c.ID))
	down("PutChallenge", s.PutChallenge(dctx, newChallenge(t0)))
	down("CreateSession", s.CreateSession(dctx, newSession(t0)))
	_, err = s.GetSession(dctx, sess.ID, t0)
	down("GetSession", err)
	_, _, err = rotate(s, sess.ID, sess.RefreshHash, t0, 0)
	down("RotateRefresh", err)
	_, err = s.ListSessions(dctx, sess.UserID, t0)
	down("ListSessions", err)
	down("DeleteSession", s.DeleteSession(dctx, sess.ID))
	_, _, err = s.CreateUser(dctx, "+99912345", nil)
	down("CreateUser", err)
	_, err = s.UserByPhone(dctx, "+99912345")
	down("UserByPhone", err)
	down("SetPhone", s.SetPhone(dctx, "u", "+99912345"))
	_, _, err = lim.Allow(dctx, "k", phoneauth.Limit{Events: 1, Per: time.Minute}, t0)
	down("Limiter.Allow", err)
	_, _, err = lim.AllowAll(dctx, []phoneauth.LimitCheck{{Key: "k", Limit: phoneauth.Limit{Events: 1, Per: time.Minute}}}, t0)
	down("Limiter.AllowAll", err)
	down("Limiter.Refund", lim.Refund(dctx, "k", phoneauth.Limit{Events: 1, Per: time.Minute}, t0))
	down("Limiter.Reset", lim.Reset(dctx, "k"))
	_, err = s.Cleanup(dctx, t0)
	down("Cleanup", err)
	down("Migrate", s.Migrate(dctx))

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
