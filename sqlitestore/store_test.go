package sqlitestore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/testutil"
)

// A pending code, a session and a user survive closing the store and
// opening the file again, as they survive a restart of the server.
func TestRestartKeepsEverything(t *testing.T) {
	path, prefix := newFile(t), "55"
	s := openStore(t, path, Options{})
	c := raceChallenge(prefix, 0)
	c.Metadata = map[string]any{"name": "Ada"}
	c.CreateUser = true
	must(t, s.PutChallenge(ctx, c))
	sess := raceSession(prefix, 0)
	must(t, s.CreateSession(ctx, sess))
	u, created, err := s.CreateUser(ctx, "+999"+prefix, map[string]any{"plan": "pro"})
	must(t, err)
	if !created {
		t.Fatal("CreateUser of a new phone: created false")
	}
	must(t, s.Close())

	s = openStore(t, path, Options{})
	got, err := s.AttemptChallenge(ctx, c.Key, c.ID, raceTime.Add(time.Minute))
	must(t, err)
	if got.Attempts != 1 || !bytes.Equal(got.CodeHash, c.CodeHash) || got.Metadata["name"] != "Ada" || !got.CreateUser || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("challenge after reopening: %+v, want %+v with one attempt", got, c)
	}
	gotSess, err := s.GetSession(ctx, sess.ID, raceTime)
	must(t, err)
	if !bytes.Equal(gotSess.RefreshHash, sess.RefreshHash) || gotSess.UserID != sess.UserID || !gotSess.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("session after reopening: %+v, want %+v", gotSess, sess)
	}
	gotUser, err := s.UserByPhone(ctx, u.Phone)
	must(t, err)
	if gotUser != u {
		t.Errorf("user after reopening: %+v, want %+v", gotUser, u)
	}
}

// logBuffer is a slog.Logger writing to a buffer that is safe to read.
type logBuffer struct{ testutil.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// The default settings are durable and Open says nothing; NORMAL is
// reported and warned about.
func TestDurability(t *testing.T) {
	for _, tc := range []struct {
		sync    string
		durable bool
	}{{"", true}, {"full", true}, {"EXTRA", true}, {"NORMAL", false}} {
		var log logBuffer
		s := openStore(t, newFile(t), Options{Synchronous: tc.sync, Logger: log.logger()})
		d := s.Durability()
		if d.Durable() != tc.durable || d.JournalMode != "wal" {
			t.Errorf("Synchronous %q: Durability() = %+v, durable %v; want WAL, durable %v", tc.sync, d, d.Durable(), tc.durable)
		}
		if warned := strings.Contains(log.String(), "not durable"); warned == tc.durable {
			t.Errorf("Synchronous %q: logged %q; want a warning only when not durable", tc.sync, log.String())
		}
	}
}

// Options and paths Open cannot use are configuration errors.
func TestOpenInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		opts Options
	}{
		{"", Options{}},
		{":memory:", Options{}},
		{"file:x.db", Options{}},
		{filepath.Join(dir, "a?mode=ro"), Options{}},
		{filepath.Join(dir, "a.db"), Options{Synchronous: "OFF"}},
	} {
		if _, err := Open(ctx, tc.path, tc.opts); !errors.Is(err, phoneauth.ErrInvalidConfig) {
			t.Errorf("Open(%q, %+v): %v, want ErrInvalidConfig", tc.path, tc.opts, err)
		}
	}
	s, err := Open(ctx, filepath.Join(dir, "missing", "a.db"), Options{})
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Errorf("Open in a missing directory: %v, want ErrStoreUnavailable", err)
	}
	// Closing what a failed Open returned (nil), or a zero Store, is an
	// error, not a panic: a deferred Close may come before the check.
	for _, s := range []*Store{s, {}} {
		if err := s.Close(); !errors.Is(err, phoneauth.ErrInvalidConfig) {
			t.Errorf("Close of a Store that Open did not make: %v, want ErrInvalidConfig", err)
		}
	}
}

// Migrations are applied once, however many Stores open the file, at once
// or one after the other.
func TestMigrateOnce(t *testing.T) {
	path := newFile(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(ctx, path, Options{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	s := openStore(t, path, Options{})
	ms, err := migrations()
	must(t, err)
	var n, latest int
	must(t, s.r.QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &latest))
	if n != len(ms) || latest != ms[len(ms)-1].Version {
		t.Fatalf("schema_migrations: %d rows up to version %d, want %d up to %d", n, latest, len(ms), ms[len(ms)-1].Version)
	}
}

// count returns the number of rows of table.
func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	must(t, s.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n))
	return n
}

// Cleanup deletes what has expired, and nothing else.
func TestCleanup(t *testing.T) {
	s := openStore(t, newFile(t), Options{})
	now := raceTime.Add(2 * time.Hour)
	expired, live := raceChallenge("66", 0), raceChallenge("66", 1)
	live.ExpiresAt = now.Add(time.Second)
	must(t, s.PutChallenge(ctx, expired))
	must(t, s.PutChallenge(ctx, live))

	gone, kept := raceSession("66", 0), raceSession("66", 1)
	gone.ExpiresAt = now
	for _, sess := range []phoneauth.Session{gone, kept} {
		must(t, s.CreateSession(ctx, sess))
		// Rotate twice: the first token's expiry passes before now, the
		// second's after.
		r := phoneauth.Rotation{SessionID: sess.ID, OldHash: sess.RefreshHash, NewHash: raceHash(sess.ID, 1), NewExpiresAt: now.Add(time.Hour), Now: raceTime}
		_, err := s.RotateRefresh(ctx, r)
		must(t, err)
		r = phoneauth.Rotation{SessionID: sess.ID, OldHash: r.NewHash, NewHash: raceHash(sess.ID, 2), NewExpiresAt: now.Add(time.Hour), Now: raceTime}
		_, err = s.RotateRefresh(ctx, r)
		must(t, err)
	}
	lim := s.Limiter()
	for key, per := range map[string]time.Duration{"full-again": time.Minute, "still-limiting": 24 * time.Hour} {
		_, _, err := lim.Allow(ctx, key, phoneauth.Limit{Events: 1, Per: per}, raceTime)
		must(t, err)
	}

	deleted, err := s.Cleanup(ctx, now)
	must(t, err)
	// One challenge, one session with its two past tokens (by cascade, not
	// counted), the kept session's first past token, one bucket.
	if deleted != 4 {
		t.Errorf("Cleanup deleted %d rows, want 4", deleted)
	}
	for table, want := range map[string]int{"challenges": 1, "sessions": 1, "refresh_tokens": 1, "limiter_buckets": 1} {
		if n := count(t, s, table); n != want {
			t.Errorf("after Cleanup, %s has %d rows, want %d", table, n, want)
		}
	}
	if _, err := s.GetChallenge(ctx, live.Key, now); err != nil {
		t.Errorf("the live challenge after Cleanup: %v", err)
	}
	if _, err := s.GetSession(ctx, kept.ID, now); err != nil {
		t.Errorf("the live session after Cleanup: %v", err)
	}
	if ok, _, err := lim.Allow(ctx, "still-limiting", phoneauth.Limit{Events: 1, Per: 24 * time.Hour}, now); err != nil || ok {
		t.Errorf("a bucket still limiting after Cleanup: allowed %v, %v; want refused", ok, err)
	}
}

// A database file removed (or replaced) under a running Store is noticed by
// Cleanup, whose error RunCleanup logs: SQLite goes on writing to the
// deleted file, and all of it is lost when the Store closes.
func TestCleanupNoticesTheFileRemoved(t *testing.T) {
	path := newFile(t)
	s := openStore(t, path, Options{})
	if _, err := s.Cleanup(ctx, raceTime); err != nil {
		t.Fatalf("Cleanup with the file in place: %v", err)
	}
	must(t, os.RemoveAll(filepath.Dir(path)))
	if _, err := s.Cleanup(ctx, raceTime); !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, errFileGone) {
		t.Fatalf("Cleanup with the file removed: %v, want ErrStoreUnavailable and errFileGone", err)
	}
}
