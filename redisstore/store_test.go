package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// t0 is the tests' clock: far in the past of Redis's own clock, which
// proves that TTLs do not depend on the caller's clock agreeing with Redis.
var t0 = time.Date(2001, 2, 3, 4, 5, 6, 789000, time.UTC)

func newTestStore(t *testing.T, hooks ...redis.Hook) (*Store, *redis.Client) {
	t.Helper()
	rdb, prefix := testClient(t, hooks...)
	return New(rdb, Options{Prefix: prefix, Clock: phoneauth.NewManualClock(t0)}), rdb
}

func testChallenge(key string) phoneauth.Challenge {
	return phoneauth.Challenge{
		Key:         key,
		ID:          "req-" + randomHex(4),
		Phone:       "+923012345678",
		UserID:      "user-1",
		Channel:     phoneauth.WhatsApp,
		CodeHash:    []byte{0, 1, 2, 0xff, '{', '}', 0},
		MaxAttempts: 5,
		CreateUser:  true,
		Metadata:    map[string]any{"name": "Ada", "tags": []any{"a", "b"}, "n": 1.5},
		CreatedAt:   t0,
		ExpiresAt:   t0.Add(5 * time.Minute),
	}
}

func TestChallengeRoundTrip(t *testing.T) {
	s, rdb := newTestStore(t)
	ctx := context.Background()
	want := testChallenge("login:+923012345678")
	if err := s.PutChallenge(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetChallenge(ctx, want.Key, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetChallenge = %+v\nwant %+v", got, want)
	}

	// Native TTL: the challenge's lifetime plus the margin, relative to
	// Redis's clock although the caller's clock is 25 years behind.
	pttl, err := rdb.PTTL(ctx, s.keys.challenge(want.Key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if max := 5*time.Minute + ttlMargin; pttl <= max-10*time.Second || pttl > max {
		t.Errorf("PTTL = %v, want about %v", pttl, max)
	}

	// Expiry is exclusive and judged by the caller's now.
	if _, err := s.GetChallenge(ctx, want.Key, want.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	if _, err := s.GetChallenge(ctx, want.Key, want.ExpiresAt); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AttemptChallenge(ctx, want.Key, want.ID, want.ExpiresAt); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("attempt at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetChallenge(ctx, "login:+10000000000", t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("missing: err = %v, want ErrNotFound", err)
	}

	// A nil map and no hash survive as such.
	bare := phoneauth.Challenge{Key: "bare", ID: "x", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := s.PutChallenge(ctx, bare); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetChallenge(ctx, "bare", t0)
	if err != nil || got.Metadata != nil || len(got.CodeHash) != 0 || got.UserID != "" {
		t.Errorf("bare challenge = %+v, %v", got, err)
	}
}

func TestChallengeReplaceAttemptDelete(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	old := testChallenge("login:+15550000001")
	newer := testChallenge(old.Key)
	newer.Attempts = 2
	newer.MaxAttempts = 3
	newer.Metadata = nil
	for _, c := range []phoneauth.Challenge{old, newer} {
		if err := s.PutChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The old challenge's fields must not survive the replacement.
	got, err := s.GetChallenge(ctx, old.Key, t0)
	if err != nil || got.ID != newer.ID || got.Metadata != nil || got.Attempts != 2 {
		t.Fatalf("after replace: %+v, %v", got, err)
	}
	if _, err := s.AttemptChallenge(ctx, old.Key, old.ID, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("attempt with replaced id: err = %v, want ErrNotFound", err)
	}
	got, err = s.AttemptChallenge(ctx, old.Key, "", t0) // any id
	if err != nil || got.Attempts != 3 || got.ID != newer.ID {
		t.Fatalf("attempt = %+v, %v; want attempts 3", got, err)
	}
	if _, err := s.AttemptChallenge(ctx, old.Key, newer.ID, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("attempt past max: err = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetChallenge(ctx, old.Key, t0); got.Attempts != 3 {
		t.Errorf("a refused attempt changed the count to %d", got.Attempts)
	}

	if err := s.DeleteChallenge(ctx, old.Key, old.ID); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("delete replaced id: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteChallenge(ctx, old.Key, newer.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	if err := s.DeleteChallenge(ctx, old.Key, newer.ID); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestChallengeConcurrency(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	c := testChallenge("login:+15550000002")
	c.MaxAttempts = 7
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	var attempts, deletes atomic.Int64
	parallel(50, func(int) {
		if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); err == nil {
			attempts.Add(1)
		} else if !errors.Is(err, phoneauth.ErrNotFound) {
			t.Error(err)
		}
	})
	if attempts.Load() != 7 {
		t.Errorf("%d attempts succeeded, want MaxAttempts = 7", attempts.Load())
	}
	parallel(50, func(int) {
		if err := s.DeleteChallenge(ctx, c.Key, c.ID); err == nil {
			deletes.Add(1)
		} else if !errors.Is(err, phoneauth.ErrNotFound) {
			t.Error(err)
		}
	})
	if deletes.Load() != 1 {
		t.Errorf("%d deletes succeeded, want 1", deletes.Load())
	}
}

func testSession(user string, created time.Time) phoneauth.Session {
	return phoneauth.Session{
		ID:     randomHex(16),
		UserID: user,
		Phone:  "+923012345678",
		Device: phoneauth.Device{ID: "dev-1", Type: "android", Name: "Pixel", PlatformVersion: "14",
			PushToken: "fcm"},
		CreatedAt:        created,
		ExpiresAt:        created.Add(30 * 24 * time.Hour),
		RefreshHash:      []byte("hash-0"),
		RefreshedAt:      created,
		RefreshExpiresAt: created.Add(7 * 24 * time.Hour),
	}
}

func TestSessionRoundTrip(t *testing.T) {
	s, rdb := newTestStore(t)
	ctx := context.Background()
	want := testSession("user-1", t0)
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx, want.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSession = %+v\nwant %+v", got, want)
	}
	if err := s.CreateSession(ctx, want); err == nil || errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Errorf("duplicate id: err = %v, want a plain error", err)
	}
	if _, err := s.GetSession(ctx, want.ID, want.ExpiresAt); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("at expiry: err = %v, want ErrNotFound", err)
	}
	for _, key := range []string{s.keys.session(want.ID), s.keys.userSessions(want.UserID)} {
		pttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if max := 30*24*time.Hour + ttlMargin; pttl <= max-10*time.Second || pttl > max {
			t.Errorf("PTTL(%s) = %v, want about %v", key, pttl, max)
		}
	}
	if err := s.DeleteSession(ctx, want.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, want.ID); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, want.ID, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("deleted: err = %v, want ErrNotFound", err)
	}
}

func TestRotateRefresh(t *testing.T) {
	s, rdb := newTestStore(t)
	ctx := context.Background()
	sess := testSession("user-1", t0)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	rot := func(old, new string, at time.Time, grace time.Duration) (phoneauth.Session, error) {
		return s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID, OldHash: []byte(old),
			NewHash: []byte(new), NewExpiresAt: at.Add(7 * 24 * time.Hour), Now: at, Grace: grace})
	}

	got, err := rot("hash-0", "hash-1", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.RefreshHash, []byte("hash-1")) || !got.RefreshedAt.Equal(now) ||
		!got.RefreshExpiresAt.Equal(now.Add(7*24*time.Hour)) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("rotated session = %+v", got)
	}
	// The token set shares the session's slot and TTL.
	if pttl := rdb.PTTL(ctx, s.keys.tokens(sess.ID)).Val(); pttl < 29*24*time.Hour {
		t.Errorf("token set PTTL = %v", pttl)
	}
	if _, err := rot("nonsense", "x", now, time.Hour); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}
	// Within grace the old token works once more; the token it replaces
	// becomes a past token too.
	now = now.Add(time.Second)
	if _, err := rot("hash-0", "hash-2", now, 2*time.Second); err != nil {
		t.Fatalf("old token within grace: %v", err)
	}
	// An expired current token is nothing to rotate.
	if _, err := rot("hash-2", "hash-3", now.Add(8*24*time.Hour), 0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("expired current token: err = %v, want ErrNotFound", err)
	}
	// After the grace: reuse. The session goes, with its token set.
	if _, err := rot("hash-1", "hash-9", now.Add(3*time.Second), 2*time.Second); !errors.Is(err, phoneauth.ErrTokenReused) {
		t.Fatalf("reused token: err = %v, want ErrTokenReused", err)
	}
	if n := rdb.Exists(ctx, s.keys.session(sess.ID), s.keys.tokens(sess.ID)).Val(); n != 0 {
		t.Errorf("%d keys of the revoked session left", n)
	}
	if _, err := rot("hash-2", "hash-3", now, 0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("revoked session: err = %v, want ErrNotFound", err)
	}
}

func TestRotateRefreshConcurrent(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	sess := testSession("user-1", t0)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	var wins, reused atomic.Int64
	parallel(50, func(i int) {
		_, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID, OldHash: []byte("hash-0"),
			NewHash: fmt.Appendf(nil, "new-%d", i), NewExpiresAt: t0.Add(time.Hour), Now: t0})
		switch {
		case err == nil:
			wins.Add(1)
		case errors.Is(err, phoneauth.ErrTokenReused):
			reused.Add(1)
		case !errors.Is(err, phoneauth.ErrNotFound):
			t.Error(err)
		}
	})
	// One winner; the first loser finds a rotated token (grace 0) and
	// revokes the session; the others find no session.
	if wins.Load() != 1 || reused.Load() != 1 {
		t.Errorf("wins = %d, reuse detections = %d; want 1 and 1", wins.Load(), reused.Load())
	}
}

func TestListSessions(t *testing.T) {
	s, rdb := newTestStore(t)
	ctx := context.Background()
	var all []phoneauth.Session
	for i, d := range []time.Duration{3, 1, 2, 4} {
		sess := testSession("user-1", t0.Add(d*time.Minute))
		if i == 3 {
			sess.ExpiresAt = t0.Add(10 * time.Minute) // short-lived
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		all = append(all, sess)
	}
	if err := s.CreateSession(ctx, testSession("user-2", t0)); err != nil {
		t.Fatal(err)
	}
	ids := func(list []phoneauth.Session) (ids []string) {
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		return ids
	}

	got, err := s.ListSessions(ctx, "user-1", t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := ids([]phoneauth.Session{all[1], all[2], all[0], all[3]}); !reflect.DeepEqual(ids(got), want) {
		t.Errorf("ListSessions = %v, want oldest first %v", ids(got), want)
	}
	if !reflect.DeepEqual(got[0], all[1]) {
		t.Errorf("listed session = %+v\nwant %+v", got[0], all[1])
	}

	// Deleted and expired sessions leave the list, and the index.
	if err := s.DeleteSession(ctx, all[2].ID); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListSessions(ctx, "user-1", t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := ids([]phoneauth.Session{all[1], all[0]}); !reflect.DeepEqual(ids(got), want) {
		t.Errorf("ListSessions = %v, want %v", ids(got), want)
	}
	if n := rdb.ZCard(ctx, s.keys.userSessions("user-1")).Val(); n != 2 {
		t.Errorf("index holds %d ids after pruning, want 2", n)
	}

	got, err = s.ListSessions(ctx, "nobody", t0)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListSessions(nobody) = %#v, %v; want an empty list", got, err)
	}
}

func TestUsers(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	if _, err := s.UserByPhone(ctx, "+15550000001"); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("unknown phone: err = %v, want ErrNotFound", err)
	}
	u, created, err := s.CreateUser(ctx, "+15550000001", map[string]any{"name": "Ada"})
	if err != nil || !created || u.ID == "" || u.Phone != "+15550000001" || !u.CreatedAt.Equal(t0) {
		t.Fatalf("CreateUser = %+v, %v, %v", u, created, err)
	}
	again, created, err := s.CreateUser(ctx, "+15550000001", nil)
	if err != nil || created || again != u {
		t.Errorf("CreateUser again = %+v, %v, %v; want %+v, false", again, created, err, u)
	}
	if got, err := s.UserByPhone(ctx, "+15550000001"); err != nil || got != u {
		t.Errorf("UserByPhone = %+v, %v; want %+v", got, err, u)
	}

	other, _, err := s.CreateUser(ctx, "+15550000002", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPhone(ctx, other.ID, "+15550000001"); !errors.Is(err, phoneauth.ErrPhoneTaken) {
		t.Errorf("taken phone: err = %v, want ErrPhoneTaken", err)
	}
	if err := s.SetPhone(ctx, "nobody", "+15550000009"); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}
	if err := s.SetPhone(ctx, u.ID, "+15550000001"); err != nil {
		t.Errorf("own phone again: %v", err)
	}
	if err := s.SetPhone(ctx, u.ID, "+15550000003"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByPhone(ctx, "+15550000003"); err != nil || got.ID != u.ID || got.Phone != "+15550000003" {
		t.Errorf("UserByPhone(new phone) = %+v, %v", got, err)
	}
	if _, err := s.UserByPhone(ctx, "+15550000001"); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("old phone: err = %v, want ErrNotFound", err)
	}
	if err := s.SetPhone(ctx, other.ID, "+15550000001"); err != nil {
		t.Errorf("freed phone: %v", err)
	}

	// Concurrent signups of one phone: one user.
	var mu sync.Mutex
	ids := map[string]int{}
	var createdCount atomic.Int64
	parallel(20, func(int) {
		u, created, err := s.CreateUser(ctx, "+15550000004", nil)
		if err != nil {
			t.Error(err)
			return
		}
		if created {
			createdCount.Add(1)
		}
		mu.Lock()
		ids[u.ID]++
		mu.Unlock()
	})
	if len(ids) != 1 || createdCount.Load() != 1 {
		t.Errorf("concurrent CreateUser: ids %v, %d created; want one id, created once", ids, createdCount.Load())
	}
}

// slot returns the part of key that Redis Cluster hashes: the hash tag.
func slot(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestKeysShareSlots checks the hash tags: every script's keys share one
// slot, whatever the ids hold, and the namespaces never collide.
func TestKeysShareSlots(t *testing.T) {
	k := keys{"app"}
	for _, id := range []string{"abc", "a}b", "{x}", "", "}:t"} {
		if slot(k.session(id)) != slot(k.tokens(id)) {
			t.Errorf("session %q: %s and %s hash to different slots", id, k.session(id), k.tokens(id))
		}
		if k.session(id) == k.tokens("abc") || k.tokens(id) == k.session("abc") && id != "abc" {
			t.Errorf("session %q collides", id)
		}
	}
	users := map[string]bool{}
	for _, table := range []string{"by-phone", "phone", "created", "metadata"} {
		users[slot(k.users(table))] = true
	}
	if len(users) != 1 {
		t.Errorf("user tables span %d slots, want 1", len(users))
	}
	if got := slot(k.challenge("login:+1555")); got != "app:c:login:+1555" {
		t.Errorf("challenge hash tag = %q", got)
	}
	names := []string{k.challenge("x"), k.session("x"), k.tokens("x"), k.userSessions("x"), k.users("x"), k.limit("x")}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("key %s is used by two namespaces", n)
		}
		seen[n] = true
	}
}

// parallel runs f(0)…f(n-1) concurrently and waits for them all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
