package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/faultproxy"
)

// In a batch of writes sharing one transaction, a write that fails after
// writing is rolled back alone, a write whose context is done is skipped,
// and the others are committed.
func TestBatchIsolatesWrites(t *testing.T) {
	s := openStore(t, newFile(t), Options{})
	put := func(c phoneauth.Challenge) func(tx) error {
		return func(t tx) error {
			_, err := t.exec(putChallengeSQL, c.Key, c.ID, c.Phone, c.UserID, string(c.Channel), c.CodeHash,
				c.Attempts, c.MaxAttempts, c.CreateUser, nil, micros(c.CreatedAt), micros(c.ExpiresAt))
			return err
		}
	}
	failing := errors.New("fails after writing")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cs := []phoneauth.Challenge{raceChallenge("44", 0), raceChallenge("44", 1), raceChallenge("44", 2), raceChallenge("44", 3)}
	batch := []*writeOp{
		{ctx: ctx, fn: put(cs[0])},
		{ctx: ctx, fn: func(t tx) error { _ = put(cs[1])(t); return failing }},
		{ctx: cancelled, fn: put(cs[2])},
		{ctx: ctx, fn: put(cs[3])},
	}
	for _, w := range batch {
		w.done = make(chan error, 1)
	}
	commits := s.commits.Load()
	s.commit(batch)
	if n := s.commits.Load() - commits; n != 1 {
		t.Errorf("a batch of 4 writes made %d commits, want 1", n)
	}
	errs := make([]error, len(batch))
	for i, w := range batch {
		errs[i] = <-w.done
	}
	if errs[0] != nil || !errors.Is(errs[1], failing) || !errors.Is(errs[2], phoneauth.ErrStoreUnavailable) || !errors.Is(errs[2], context.Canceled) || errs[3] != nil {
		t.Fatalf("results %v; want nil, the write's error, cancelled (store unavailable), nil", errs)
	}
	for i, c := range cs {
		_, err := s.GetChallenge(ctx, c.Key, raceTime)
		if kept := err == nil; kept != (i == 0 || i == 3) {
			t.Errorf("write %d: stored %v (GetChallenge: %v)", i, kept, err)
		}
	}
}

// After Close, every call fails as the store being unavailable.
func TestClosed(t *testing.T) {
	s, err := Open(ctx, newFile(t), Options{})
	must(t, err)
	must(t, s.Close())
	must(t, s.Close()) // again: the first result
	if err := s.PutChallenge(ctx, raceChallenge("43", 0)); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Errorf("PutChallenge after Close: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.GetSession(ctx, "x", raceTime); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Errorf("GetSession after Close: %v, want ErrStoreUnavailable", err)
	}
}

// While another process holds the file's write lock longer than a call's
// deadline, each write returns ErrStoreUnavailable by its deadline, not
// when the busy timeout (here far longer) runs out, also with writes
// queued behind the one that waits for the lock; once the lock is
// released, the same Store writes again.
func TestWriteLockedByAnotherProcess(t *testing.T) {
	path := newFile(t)
	s := openStore(t, path, Options{BusyTimeout: 10 * time.Second})
	must(t, s.PutChallenge(ctx, raceChallenge("45", 0)))
	other, err := sql.Open("sqlite", path)
	must(t, err)
	defer other.Close()
	lock, err := other.Conn(ctx)
	must(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(ctx, "BEGIN IMMEDIATE")
	must(t, err)
	c, sess := raceChallenge("45", 1), raceSession("45", 0)
	lim := s.Limiter()
	checks := []phoneauth.LimitCheck{{Key: "k", Limit: phoneauth.Limit{Events: 5, Per: time.Minute}}}
	faultproxy.CheckDeadlines(t, []faultproxy.Call{
		{Name: "PutChallenge", Run: func(ctx context.Context) error { return s.PutChallenge(ctx, c) }},
		{Name: "AttemptChallenge", Run: func(ctx context.Context) error {
			_, err := s.AttemptChallenge(ctx, raceChallenge("45", 0).Key, "45-c0", raceTime)
			return err
		}},
		{Name: "CreateSession", Run: func(ctx context.Context) error { return s.CreateSession(ctx, sess) }},
		{Name: "AllowAll", Run: func(ctx context.Context) error {
			_, _, err := lim.AllowAll(ctx, checks, raceTime)
			return err
		}},
	}, phoneauth.ErrStoreUnavailable, 250*time.Millisecond, 2*time.Second, 8)
	_, err = lock.ExecContext(ctx, "ROLLBACK")
	must(t, err)
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatalf("PutChallenge after the lock was released: %v", err)
	}
}
