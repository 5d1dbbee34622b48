package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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
	other := want
	other.RefreshHash = []byte("another session's refresh token hash")
	if err := s.CreateSession(ctx, other); err == nil || errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Errorf("duplicate id: err = %v, want a plain error", err)
	}
	if err := s.CreateSession(ctx, want); err != nil { // go-redis sending it again
		t.Errorf("the same session again: %v, want nil (its own repetition)", err)
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
	// The same rotation again within the grace, as a client retry or
	// go-redis re-sending a command would send it, is not reuse.
	if again, err := rot("hash-0", "hash-1", now, time.Second); err != nil || !bytes.Equal(again.RefreshHash, []byte("hash-1")) {
		t.Fatalf("repeated rotation: %+v, %v; want the rotated session", again, err)
	}
	// The token set shares the session's slot and TTL.
	if pttl := rdb.PTTL(ctx, s.keys.tokens(sess.ID)).Val(); pttl < 29*24*time.Hour {
		t.Errorf("token set PTTL = %v", pttl)
	}
	if _, err := rot("nonsense", "x", now, time.Hour); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}
	// The current token rotates on.
	now = now.Add(time.Second)
	if _, err := rot("hash-1", "hash-2", now, 2*time.Second); err != nil {
		t.Fatalf("current token: %v", err)
	}
	// An expired current token is nothing to rotate.
	if _, err := rot("hash-2", "hash-3", now.Add(8*24*time.Hour), 0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("expired current token: err = %v, want ErrNotFound", err)
	}
	// The same rotation after the grace: reuse. The session goes, with its
	// token set.
	if _, err := rot("hash-1", "hash-2", now.Add(3*time.Second), 2*time.Second); !errors.Is(err, phoneauth.ErrTokenReused) {
		t.Fatalf("reused token: err = %v, want ErrTokenReused", err)
	}
	if n := rdb.Exists(ctx, s.keys.session(sess.ID), s.keys.tokens(sess.ID)).Val(); n != 0 {
		t.Errorf("%d keys of the revoked session left", n)
	}
	if _, err := rot("hash-2", "hash-3", now, 0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("revoked session: err = %v, want ErrNotFound", err)
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

// TestUserMetadata checks where signup metadata goes: JSON in the
// metadata table, for the application to read (Users has no getter).
func TestUserMetadata(t *testing.T) {
	s, rdb := newTestStore(t)
	ctx := context.Background()
	u, created, err := s.CreateUser(ctx, "+15550000001", map[string]any{"name": "Ada"})
	if err != nil || !created || !u.CreatedAt.Equal(t0) {
		t.Fatalf("CreateUser = %+v, %v, %v; want created at the Options.Clock's time", u, created, err)
	}
	if got := rdb.HGet(ctx, s.keys.users("metadata"), u.ID).Val(); got != `{"name":"Ada"}` {
		t.Errorf("stored metadata = %q", got)
	}
	if u2, _, _ := s.CreateUser(ctx, "+15550000002", nil); rdb.HExists(ctx, s.keys.users("metadata"), u2.ID).Val() {
		t.Error("metadata stored for a user without any")
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
// slot, whatever the ids hold, and no two entries ever share a key.
func TestKeysShareSlots(t *testing.T) {
	k := keys{"app"}
	ids := []string{"abc", "a}b", "{x}", "", "}:t", "abc}:t", ":t"}
	owner := map[string]string{} // key → what it stores
	for _, id := range ids {
		if slot(k.session(id)) != slot(k.tokens(id)) {
			t.Errorf("session %q: %s and %s hash to different slots", id, k.session(id), k.tokens(id))
		}
		for what, key := range map[string]string{
			"challenge": k.challenge(id), "session": k.session(id), "tokens": k.tokens(id),
			"user sessions": k.userSessions(id), "users": k.users(id), "limit": k.limit(id),
		} {
			if prev, ok := owner[key]; ok {
				t.Errorf("key %s is both %s and %s %q", key, prev, what, id)
			}
			owner[key] = what + " " + id
		}
	}
	users := map[string]bool{}
	for _, table := range []string{"by-phone", "phone", "created", "metadata"} {
		users[slot(k.users(table))] = true
	}
	if len(users) != 1 {
		t.Errorf("user tables span %d slots, want 1", len(users))
	}
	// The route scripts (routes.go) rely on these sharing a slot.
	if got, want := slot(k.challenge("login:+1555")), slot(k.limit("phoneauth:cooldown:+1555")); got != want || got != "app:l" {
		t.Errorf("challenge hash tag = %q, limiter's %q, want both app:l", got, want)
	}
	if got, want := slot(k.userSessions("user-1")), slot(k.users("by-phone")); got != want || got != "app:u" {
		t.Errorf("user sessions hash tag = %q, users' %q, want both app:u", got, want)
	}
}

// TestRoundTrips counts the round trips of each operation with a go-redis
// hook: one each, except ListSessions.
func TestRoundTrips(t *testing.T) {
	var rt roundTrips
	s, rdb := newTestStore(t, &rt)
	lim := NewLimiter(rdb, Options{Prefix: s.keys.prefix})
	checkRoundTrips(t, &rt, roundTripOps(s, lim, func(...string) int64 { return 1 }))
}

// A roundTripOp is an operation and the round trips it costs once the
// connections are open and the server knows the scripts.
type roundTripOp struct {
	name string
	want func() int64 // asked right after op
	op   func() error
}

// roundTripOps returns the operations of s and lim that the round-trip
// tests count. servers(keys...) says how many servers hold the given keys,
// that is how many round trips (made concurrently) a pipeline over them
// costs: always one on a single Redis.
func roundTripOps(s *Store, lim *Limiter, servers func(keys ...string) int64) []roundTripOp {
	ctx := context.Background()
	c := testChallenge("login:+15550000005")
	sess := testSession("user-rt", t0)
	sess.RefreshHash = []byte("h0")
	next := 0
	rotate := func() error {
		next++
		_, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: sess.ID,
			OldHash: fmt.Appendf(nil, "h%d", next-1), NewHash: fmt.Appendf(nil, "h%d", next),
			NewExpiresAt: t0.Add(time.Hour), Now: t0})
		return err
	}
	limit := phoneauth.Limit{Events: 1000, Per: time.Second}
	var uid string
	one := func() int64 { return 1 }
	// ListSessions reads the index, then the sessions it names: here the
	// one session of sess.UserID, live or (after DeleteSession) stale.
	list := func() int64 { return 1 + servers(s.keys.session(sess.ID)) }
	return []roundTripOp{
		{"PutChallenge", one, func() error { return s.PutChallenge(ctx, c) }},
		{"GetChallenge", one, func() error { _, err := s.GetChallenge(ctx, c.Key, t0); return err }},
		{"AttemptChallenge", one, func() error { _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); return err }},
		{"DeleteChallenge", one, func() error { return s.DeleteChallenge(ctx, c.Key, c.ID) }},
		{"CreateSession", func() int64 { return servers(s.keys.session(sess.ID), s.keys.userSessions(sess.UserID)) },
			func() error { sess.ID = randomHex(8); next = 0; return s.CreateSession(ctx, sess) }},
		{"GetSession", one, func() error { _, err := s.GetSession(ctx, sess.ID, t0); return err }},
		{"RotateRefresh", one, rotate},
		{"ListSessions", list, func() error { _, err := s.ListSessions(ctx, sess.UserID, t0); return err }},
		{"DeleteSession", one, func() error { return s.DeleteSession(ctx, sess.ID) }},
		{"ListSessions (prunes a deleted id)", func() int64 { return list() + 1 },
			func() error { _, err := s.ListSessions(ctx, sess.UserID, t0); return err }},
		{"CreateUser", one, func() error {
			u, _, err := s.CreateUser(ctx, "+1555000"+randomHex(2), nil)
			uid = u.ID
			return err
		}},
		{"UserByPhone", one, func() error { _, err := s.UserByPhone(ctx, "+15550000001"); return ignoreNotFound(err) }},
		{"SetPhone", one, func() error { return s.SetPhone(ctx, uid, "+1555111"+randomHex(2)) }},
		{"Limiter.Allow", one, func() error { _, _, err := lim.Allow(ctx, "k", limit, t0); return err }},
		{"Limiter.AllowAll", one, func() error {
			_, _, err := lim.AllowAll(ctx, []phoneauth.LimitCheck{{Key: "k1", Limit: limit}, {Key: "k2", Limit: limit}}, t0)
			return err
		}},
		{"Limiter.Refund", one, func() error { return lim.Refund(ctx, "k", limit, t0) }},
		{"Limiter.Reset", one, func() error { return lim.Reset(ctx, "k") }},
	}
}

// checkRoundTrips runs ops twice, counting their round trips with rt. The
// first pass opens the connections and, on a server that has not seen them
// yet, teaches it the scripts (EVALSHA fails with NOSCRIPT once, then
// EVAL); the second pass is what every later call costs.
func checkRoundTrips(t *testing.T, rt *roundTrips, ops []roundTripOp) {
	t.Helper()
	for pass := range 2 {
		for _, o := range ops {
			var err error
			n := rt.count(func() { err = o.op() })
			if err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			if pass == 0 {
				t.Logf("%s: first call, %d round trips", o.name, n)
			} else if want := o.want(); n != want {
				t.Errorf("%s: %d round trips, want %d", o.name, n, want)
			}
		}
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, phoneauth.ErrNotFound) {
		return nil
	}
	return err
}

// TestCanceledContext checks that a call cut short by its context fails
// with both ErrStoreUnavailable and the context's error.
func TestCanceledContext(t *testing.T) {
	s, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.AttemptChallenge(ctx, "k", "", t0)
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrStoreUnavailable and context.Canceled", err)
	}
}
