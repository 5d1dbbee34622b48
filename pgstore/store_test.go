package pgstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

var ctx = context.Background()

// t0 is the start of the tests' time: a fixed instant, in whole
// microseconds (PostgreSQL's precision).
var t0 = time.Date(2031, time.May, 6, 7, 8, 9, 0, time.UTC)

func randomHash() []byte { return []byte(rand.Text() + rand.Text())[:32] }

func newChallenge(now time.Time) phoneauth.Challenge {
	phone := "+999" + rand.Text()[:11]
	return phoneauth.Challenge{
		Key: "login:" + phone, ID: rand.Text(), Phone: phone, Channel: phoneauth.WhatsApp,
		CodeHash: randomHash(), MaxAttempts: 3, CreateUser: true,
		Metadata:  map[string]any{"name": "Ada", "plan": "pro"},
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	}
}

func newSession(now time.Time) phoneauth.Session {
	return phoneauth.Session{
		ID: rand.Text(), UserID: "user-" + rand.Text(), Phone: "+999" + rand.Text()[:11],
		Device:    phoneauth.Device{ID: "d1", Type: "ios", Name: "iPhone", PlatformVersion: "18", PushToken: "apns"},
		CreatedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour),
		RefreshHash: randomHash(), RefreshedAt: now, RefreshExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func TestChallengeRoundTrip(t *testing.T) {
	s := newTestStore(t, nil)
	c := newChallenge(t0)
	c.UserID = "u-42"
	must(t, s.PutChallenge(ctx, c))
	got, err := s.GetChallenge(ctx, c.Key, t0)
	must(t, err)
	if got.Key != c.Key || got.ID != c.ID || got.Phone != c.Phone || got.UserID != c.UserID ||
		got.Channel != c.Channel || !bytes.Equal(got.CodeHash, c.CodeHash) || got.Attempts != 0 ||
		got.MaxAttempts != 3 || !got.CreateUser || got.Metadata["name"] != "Ada" || len(got.Metadata) != 2 ||
		!got.CreatedAt.Equal(c.CreatedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("GetChallenge = %+v, want %+v", got, c)
	}

	// No metadata stays no metadata.
	c2 := newChallenge(t0)
	c2.Metadata = nil
	must(t, s.PutChallenge(ctx, c2))
	got, err = s.GetChallenge(ctx, c2.Key, t0)
	must(t, err)
	if got.Metadata != nil {
		t.Fatalf("Metadata = %#v, want nil", got.Metadata)
	}

	// Expired at ExpiresAt, not a microsecond later.
	_, err = s.GetChallenge(ctx, c.Key, c.ExpiresAt)
	wantErr(t, "GetChallenge at ExpiresAt", err, phoneauth.ErrNotFound)
	_, err = s.GetChallenge(ctx, c.Key, c.ExpiresAt.Add(-time.Microsecond))
	must(t, err)

	// Metadata that JSON cannot hold is refused, not stored.
	bad := newChallenge(t0)
	bad.Metadata = map[string]any{"f": func() {}}
	if err := s.PutChallenge(ctx, bad); err == nil || errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("PutChallenge with a func in Metadata: got %v, want a metadata error", err)
	}
}

func TestAttemptChallenge(t *testing.T) {
	s := newTestStore(t, nil)
	c := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))

	_, err := s.AttemptChallenge(ctx, c.Key, "another-id", t0)
	wantErr(t, "attempt with another ID", err, phoneauth.ErrNotFound)
	for i := 1; i <= 3; i++ {
		got, err := s.AttemptChallenge(ctx, c.Key, map[bool]string{true: c.ID, false: ""}[i%2 == 0], t0)
		must(t, err)
		if got.Attempts != i {
			t.Fatalf("attempt %d: Attempts = %d", i, got.Attempts)
		}
	}
	_, err = s.AttemptChallenge(ctx, c.Key, c.ID, t0)
	wantErr(t, "4th attempt of 3", err, phoneauth.ErrNotFound)

	c2 := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c2))
	_, err = s.AttemptChallenge(ctx, c2.Key, c2.ID, c2.ExpiresAt)
	wantErr(t, "attempt at ExpiresAt", err, phoneauth.ErrNotFound)
	got, err := s.GetChallenge(ctx, c2.Key, t0)
	must(t, err)
	if got.Attempts != 0 {
		t.Fatalf("a refused attempt counted: Attempts = %d", got.Attempts)
	}
}

func TestAttemptChallengeConcurrent(t *testing.T) {
	s := newTestStore(t, nil)
	c := newChallenge(t0)
	c.MaxAttempts = 20
	must(t, s.PutChallenge(ctx, c))
	var ok, notFound atomic.Int64
	run(40, func(int) {
		_, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0)
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, phoneauth.ErrNotFound):
			notFound.Add(1)
		default:
			t.Error(err)
		}
	})
	if ok.Load() != 20 || notFound.Load() != 20 {
		t.Fatalf("40 concurrent attempts with MaxAttempts 20: %d succeeded, %d not found", ok.Load(), notFound.Load())
	}
	got, err := s.GetChallenge(ctx, c.Key, t0)
	must(t, err)
	if got.Attempts != 20 {
		t.Fatalf("Attempts = %d, want 20", got.Attempts)
	}
}

func TestDeleteChallengeOnce(t *testing.T) {
	s := newTestStore(t, nil)
	c := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))
	wantErr(t, "delete with another ID", s.DeleteChallenge(ctx, c.Key, "x"), phoneauth.ErrNotFound)
	var winners atomic.Int64
	run(30, func(int) {
		switch err := s.DeleteChallenge(ctx, c.Key, c.ID); {
		case err == nil:
			winners.Add(1)
		case !errors.Is(err, phoneauth.ErrNotFound):
			t.Error(err)
		}
	})
	if winners.Load() != 1 {
		t.Fatalf("%d of 30 concurrent deletes succeeded, want 1", winners.Load())
	}

	// A replaced challenge cannot be consumed by its old ID.
	c2 := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c2))
	c3 := c2
	c3.ID = rand.Text()
	must(t, s.PutChallenge(ctx, c3))
	wantErr(t, "delete a replaced challenge", s.DeleteChallenge(ctx, c2.Key, c2.ID), phoneauth.ErrNotFound)
	must(t, s.DeleteChallenge(ctx, c3.Key, c3.ID))
}

func TestSessions(t *testing.T) {
	s := newTestStore(t, nil)
	a := newSession(t0)
	must(t, s.CreateSession(ctx, a))
	if err := s.CreateSession(ctx, a); err == nil {
		t.Fatal("CreateSession with a duplicate ID: got nil error")
	}
	got, err := s.GetSession(ctx, a.ID, t0)
	must(t, err)
	if got.ID != a.ID || got.UserID != a.UserID || got.Phone != a.Phone || got.Device != a.Device ||
		!bytes.Equal(got.RefreshHash, a.RefreshHash) || !got.ExpiresAt.Equal(a.ExpiresAt) ||
		!got.RefreshExpiresAt.Equal(a.RefreshExpiresAt) || !got.RefreshedAt.Equal(a.RefreshedAt) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("GetSession = %+v, want %+v", got, a)
	}
	_, err = s.GetSession(ctx, a.ID, a.ExpiresAt)
	wantErr(t, "GetSession at ExpiresAt", err, phoneauth.ErrNotFound)

	// Listing: the user's live sessions, oldest first.
	b := newSession(t0.Add(time.Second))
	b.UserID = a.UserID
	old := newSession(t0.Add(-time.Hour))
	old.UserID = a.UserID
	old.ExpiresAt = t0.Add(time.Minute)
	for _, x := range []phoneauth.Session{b, old} {
		must(t, s.CreateSession(ctx, x))
	}
	list, err := s.ListSessions(ctx, a.UserID, t0.Add(2*time.Minute))
	must(t, err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListSessions = %v, want [%s %s]", ids(list), a.ID, b.ID)
	}
	list, err = s.ListSessions(ctx, "nobody-"+rand.Text(), t0)
	must(t, err)
	if list == nil || len(list) != 0 {
		t.Fatalf("ListSessions of a user without sessions = %#v, want an empty list", list)
	}

	must(t, s.DeleteSession(ctx, a.ID))
	wantErr(t, "DeleteSession twice", s.DeleteSession(ctx, a.ID), phoneauth.ErrNotFound)
	_, err = s.GetSession(ctx, a.ID, t0)
	wantErr(t, "GetSession after DeleteSession", err, phoneauth.ErrNotFound)
}

func ids(list []phoneauth.Session) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

// rotate rotates sess's token old at now into a new one, with grace.
func rotate(s *Store, id string, old []byte, now time.Time, grace time.Duration) (phoneauth.Session, []byte, error) {
	next := randomHash()
	got, err := s.RotateRefresh(ctx, phoneauth.Rotation{
		SessionID: id, OldHash: old, NewHash: next, NewExpiresAt: now.Add(30 * 24 * time.Hour), Now: now, Grace: grace,
	})
	return got, next, err
}

// pastTokens returns how many rotated tokens of session id are stored.
func pastTokens(t *testing.T, s *Store, id string) int {
	t.Helper()
	var n int
	must(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table("refresh_tokens")+" WHERE session_id = $1", id).Scan(&n))
	return n
}

func TestRotateRefresh(t *testing.T) {
	s := newTestStore(t, nil)

	t.Run("Rotate", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		now := t0.Add(time.Minute)
		got, next, err := rotate(s, a.ID, a.RefreshHash, now, 0)
		must(t, err)
		if !bytes.Equal(got.RefreshHash, next) || !got.RefreshedAt.Equal(now) || !got.RefreshExpiresAt.Equal(now.Add(30*24*time.Hour)) ||
			got.UserID != a.UserID || got.Device != a.Device || !got.ExpiresAt.Equal(a.ExpiresAt) {
			t.Fatalf("RotateRefresh = %+v", got)
		}
		stored, err := s.GetSession(ctx, a.ID, now)
		must(t, err)
		if !bytes.Equal(stored.RefreshHash, next) || !stored.RefreshedAt.Equal(now) {
			t.Fatalf("stored session after rotation = %+v", stored)
		}
		if n := pastTokens(t, s, a.ID); n != 1 {
			t.Fatalf("%d past tokens after one rotation, want 1", n)
		}
	})

	t.Run("ReuseRevokesTheFamily", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, h1, err := rotate(s, a.ID, a.RefreshHash, t0.Add(time.Minute), 0)
		must(t, err)
		_, _, err = rotate(s, a.ID, h1, t0.Add(2*time.Minute), 0)
		must(t, err)
		_, _, err = rotate(s, a.ID, a.RefreshHash, t0.Add(3*time.Minute), time.Second)
		wantErr(t, "reusing the first token", err, phoneauth.ErrTokenReused)
		_, err = s.GetSession(ctx, a.ID, t0)
		wantErr(t, "GetSession after reuse", err, phoneauth.ErrNotFound)
		if n := pastTokens(t, s, a.ID); n != 0 {
			t.Fatalf("%d token hashes left after the session was revoked", n)
		}
	})

	t.Run("ReuseOfTheLastRotatedToken", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, _, err := rotate(s, a.ID, a.RefreshHash, t0, 0)
		must(t, err)
		_, _, err = rotate(s, a.ID, a.RefreshHash, t0, 0)
		wantErr(t, "presenting a rotated token at once, without grace", err, phoneauth.ErrTokenReused)
	})

	// rotateTo rotates sess's token old at now into next, with grace.
	rotateTo := func(id string, old, next []byte, now time.Time, grace time.Duration) (phoneauth.Session, error) {
		return s.RotateRefresh(ctx, phoneauth.Rotation{
			SessionID: id, OldHash: old, NewHash: next, NewExpiresAt: now.Add(30 * 24 * time.Hour), Now: now, Grace: grace,
		})
	}

	t.Run("Grace", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, h1, err := rotate(s, a.ID, a.RefreshHash, t0, 10*time.Second)
		must(t, err)
		// The client lost the response and sends the same rotation again.
		got, err := rotateTo(a.ID, a.RefreshHash, h1, t0.Add(9*time.Second), 10*time.Second)
		must(t, err)
		if !bytes.Equal(got.RefreshHash, h1) || !got.RefreshedAt.Equal(t0) || pastTokens(t, s, a.ID) != 1 {
			t.Fatalf("the same rotation again changed the session: %+v", got)
		}
		// Another new hash for the old token, within the grace, is reuse.
		_, _, err = rotate(s, a.ID, a.RefreshHash, t0.Add(9*time.Second), 10*time.Second)
		wantErr(t, "the old token to another new hash", err, phoneauth.ErrTokenReused)
	})

	t.Run("GraceEndsAtGrace", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, h1, err := rotate(s, a.ID, a.RefreshHash, t0, 0)
		must(t, err)
		_, err = rotateTo(a.ID, a.RefreshHash, h1, t0.Add(10*time.Second), 10*time.Second)
		wantErr(t, "the same rotation exactly Grace after it", err, phoneauth.ErrTokenReused)
	})

	t.Run("OlderPastTokenIsReuseWithinGrace", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, h1, err := rotate(s, a.ID, a.RefreshHash, t0, 0)
		must(t, err)
		_, _, err = rotate(s, a.ID, h1, t0.Add(time.Second), 0)
		must(t, err)
		// The first token, rotated 2 s ago, is in refresh_tokens only.
		_, err = rotateTo(a.ID, a.RefreshHash, h1, t0.Add(2*time.Second), 10*time.Second)
		wantErr(t, "the first token two rotations back", err, phoneauth.ErrTokenReused)
	})

	t.Run("UnknownAndExpired", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		_, _, err := rotate(s, a.ID, randomHash(), t0, time.Minute)
		wantErr(t, "a token of no session", err, phoneauth.ErrNotFound)
		_, _, err = rotate(s, a.ID, a.RefreshHash, a.RefreshExpiresAt, 0)
		wantErr(t, "the current token at its expiry", err, phoneauth.ErrNotFound)
		_, _, err = rotate(s, "missing-"+rand.Text(), a.RefreshHash, t0, 0)
		wantErr(t, "a missing session", err, phoneauth.ErrNotFound)
		_, _, err = rotate(s, a.ID, a.RefreshHash, a.ExpiresAt, 0)
		wantErr(t, "an expired session", err, phoneauth.ErrNotFound)
		// Nothing changed: the token still rotates.
		_, _, err = rotate(s, a.ID, a.RefreshHash, t0, 0)
		must(t, err)
	})

	t.Run("ConcurrentRotationsOneWinner", func(t *testing.T) {
		for range 5 {
			a := newSession(t0)
			must(t, s.CreateSession(ctx, a))
			var won, reused atomic.Int64
			run(20, func(int) {
				_, _, err := rotate(s, a.ID, a.RefreshHash, t0, 0)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, phoneauth.ErrTokenReused):
					reused.Add(1)
				case !errors.Is(err, phoneauth.ErrNotFound): // after the session was revoked
					t.Error(err)
				}
			})
			if won.Load() != 1 || reused.Load() < 1 {
				t.Fatalf("20 concurrent rotations of one token: %d won, %d saw a reuse; want 1 and at least 1", won.Load(), reused.Load())
			}
		}
	})

	t.Run("ConcurrentSameRotationWithGrace", func(t *testing.T) {
		a := newSession(t0)
		must(t, s.CreateSession(ctx, a))
		next := randomHash()
		var won atomic.Int64
		run(10, func(int) {
			if _, err := rotateTo(a.ID, a.RefreshHash, next, t0, time.Minute); err == nil {
				won.Add(1)
			} else {
				t.Error(err)
			}
		})
		// One rotated; the others were the same rotation again.
		if won.Load() != 10 || pastTokens(t, s, a.ID) != 1 {
			t.Fatalf("won %d, %d past tokens; want 10 and 1", won.Load(), pastTokens(t, s, a.ID))
		}
	})
}

func TestUsers(t *testing.T) {
	clock := phoneauth.NewManualClock(t0)
	base := newTestStore(t, nil)
	s, err := New(base.pool, Options{Schema: base.Schema(), Clock: clock})
	must(t, err)

	phone := "+999" + rand.Text()[:11]
	_, err = s.UserByPhone(ctx, phone)
	wantErr(t, "UserByPhone before signup", err, phoneauth.ErrNotFound)
	u, created, err := s.CreateUser(ctx, phone, map[string]any{"name": "Ada"})
	must(t, err)
	if !created || u.Phone != phone || u.ID == "" || !u.CreatedAt.Equal(t0) {
		t.Fatalf("CreateUser = %+v, %v", u, created)
	}
	again, created, err := s.CreateUser(ctx, phone, nil)
	must(t, err)
	if created || again.ID != u.ID {
		t.Fatalf("second CreateUser = %+v, %v; want %s, false", again, created, u.ID)
	}
	byPhone, err := s.UserByPhone(ctx, phone)
	must(t, err)
	if byPhone.ID != u.ID {
		t.Fatalf("UserByPhone = %+v", byPhone)
	}

	// Concurrent signups of one phone: one user.
	phone2 := "+999" + rand.Text()[:11]
	var mu sync.Mutex
	seen := map[string]int{}
	var createdN atomic.Int64
	run(20, func(int) {
		u, created, err := s.CreateUser(ctx, phone2, nil)
		if err != nil {
			t.Error(err)
			return
		}
		if created {
			createdN.Add(1)
		}
		mu.Lock()
		seen[u.ID]++
		mu.Unlock()
	})
	if createdN.Load() != 1 || len(seen) != 1 {
		t.Fatalf("20 concurrent signups: %d created, ids %v", createdN.Load(), seen)
	}

	phone3 := "+999" + rand.Text()[:11]
	must(t, s.SetPhone(ctx, u.ID, phone3))
	must(t, s.SetPhone(ctx, u.ID, phone3)) // its own phone already
	wantErr(t, "SetPhone to another user's phone", s.SetPhone(ctx, u.ID, phone2), phoneauth.ErrPhoneTaken)
	wantErr(t, "SetPhone of a missing user", s.SetPhone(ctx, "nobody", "+999"+rand.Text()[:11]), phoneauth.ErrNotFound)
	_, err = s.UserByPhone(ctx, phone)
	wantErr(t, "UserByPhone of the old phone", err, phoneauth.ErrNotFound)
}

func TestCleanup(t *testing.T) {
	pool := openPool(t, nil)
	s := freshSchema(t, pool)
	must(t, s.Migrate(ctx))
	lim := s.Limiter()

	live, dead := newChallenge(t0), newChallenge(t0.Add(-time.Hour))
	must(t, s.PutChallenge(ctx, live))
	must(t, s.PutChallenge(ctx, dead))
	liveS, deadS := newSession(t0), newSession(t0)
	deadS.ExpiresAt = t0
	must(t, s.CreateSession(ctx, liveS))
	must(t, s.CreateSession(ctx, deadS))
	_, _, err := rotate(s, deadS.ID, deadS.RefreshHash, t0.Add(-time.Minute), 0)
	must(t, err)
	l := phoneauth.Limit{Events: 2, Per: time.Minute}
	for _, k := range []string{"full-again", "busy"} {
		_, _, err := lim.Allow(ctx, k, l, map[string]time.Time{"full-again": t0.Add(-time.Hour), "busy": t0}[k])
		must(t, err)
	}

	n, err := s.Cleanup(ctx, t0)
	must(t, err)
	if n != 3 {
		t.Fatalf("Cleanup deleted %d rows, want 3 (a challenge, a session, a bucket)", n)
	}
	_, err = s.GetChallenge(ctx, live.Key, t0)
	must(t, err)
	_, err = s.GetSession(ctx, liveS.ID, t0)
	must(t, err)
	if c := pastTokens(t, s, deadS.ID); c != 0 {
		t.Fatalf("%d token hashes of the deleted session left", c)
	}
	var buckets int
	must(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table("limiter_buckets")).Scan(&buckets))
	if buckets != 1 {
		t.Fatalf("%d limiter buckets left, want 1", buckets)
	}
	if n, err := s.Cleanup(ctx, t0); err != nil || n != 0 {
		t.Fatalf("second Cleanup = %d, %v; want 0, nil", n, err)
	}

	// More than a batch.
	for range cleanupBatch + 10 {
		must(t, s.PutChallenge(ctx, newChallenge(t0.Add(-time.Hour))))
	}
	if n, err := s.Cleanup(ctx, t0); err != nil || n != cleanupBatch+10 {
		t.Fatalf("Cleanup of %d challenges = %d, %v", cleanupBatch+10, n, err)
	}

	// Buckets over several ranges of blocks, each range with more than a
	// batch of them, every tenth one busy: all the others are deleted.
	const many = 80_000
	_, err = pool.Exec(ctx, "INSERT INTO "+s.table("limiter_buckets")+` (key, tat, allowed)
		SELECT 'many:' || i, CASE WHEN i % 10 = 0 THEN $1::bigint ELSE $2::bigint END, true FROM generate_series(1, $3) AS i`,
		t0.Add(time.Minute).UnixNano(), t0.Add(-time.Minute).UnixNano(), many)
	must(t, err)
	var blocks int64
	must(t, pool.QueryRow(ctx, s.q.bucketBlocks, s.table("limiter_buckets")).Scan(&blocks))
	if blocks < 2*cleanupBlocks {
		t.Fatalf("the buckets fill %d blocks, want at least %d (two ranges)", blocks, 2*cleanupBlocks)
	}
	if n, err := s.Cleanup(ctx, t0); err != nil || n != many-many/10 {
		t.Fatalf("Cleanup of %d buckets = %d, %v; want %d", many, n, err, many-many/10)
	}
	must(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table("limiter_buckets")).Scan(&buckets))
	if buckets != many/10+1 {
		t.Fatalf("%d limiter buckets left, want %d", buckets, many/10+1)
	}
}

func TestRunCleanup(t *testing.T) {
	pool := openPool(t, nil)
	base := freshSchema(t, pool)
	must(t, base.Migrate(ctx))
	logs := make(chan slog.Record, 10)
	s, err := New(pool, Options{
		Schema: base.Schema(),
		Clock:  phoneauth.NewManualClock(t0),
		Logger: slog.New(recordHandler(logs)),
	})
	must(t, err)
	must(t, s.PutChallenge(ctx, newChallenge(t0.Add(-time.Hour))))

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		s.RunCleanup(cctx, time.Hour)
		close(done)
	}()
	// RunCleanup cleans at once, at the Store's clock's now, and logs it.
	select {
	case r := <-logs:
		if r.Message != "pgstore: cleanup" {
			t.Fatalf("RunCleanup logged %q", r.Message)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunCleanup did not clean up")
	}
	if _, err := s.GetChallenge(ctx, "any", t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatal(err)
	}
	var n int
	must(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table("challenges")).Scan(&n))
	if n != 0 {
		t.Fatalf("%d challenges left after RunCleanup", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunCleanup did not return after its context was cancelled")
	}
}

// recordHandler is a slog.Handler that sends every record to ch.
type recordHandler chan<- slog.Record

func (h recordHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error { h <- r; return nil }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h recordHandler) WithGroup(string) slog.Handler                 { return h }

// run calls fn(i) on n goroutines released together and waits for them.
func run(n int, fn func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			fn(i)
		}()
	}
	close(gate)
	wg.Wait()
}
