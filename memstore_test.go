package phoneauth_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) phoneauth.Store { return phoneauth.NewMemoryStore() })
}

// A shared store runs the suite as a database backend does: with no cleanup
// between subtests.
func TestMemoryStoreConformanceShared(t *testing.T) {
	shared := phoneauth.NewMemoryStore()
	storetest.Run(t, func(t *testing.T) phoneauth.Store { return shared })
}

// The zero MemoryStore is ready to use.
func TestMemoryStoreZeroValueConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) phoneauth.Store { return new(phoneauth.MemoryStore) })
}

// Two Authenticators on one MemoryStore and one MemoryLimiter behave as
// one, as replicas on a shared backend must.
func TestMemoryStoreReplicas(t *testing.T) {
	storetest.RunReplicas(t, func(t *testing.T) (phoneauth.Store, phoneauth.Limiter) {
		return phoneauth.NewMemoryStore(), phoneauth.NewMemoryLimiter(0)
	})
}

func TestMemoryLimiterConformance(t *testing.T) {
	storetest.RunLimiter(t, func(t *testing.T) phoneauth.Limiter { return phoneauth.NewMemoryLimiter(0) })
}

var t0 = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// challenge returns the i-th challenge of a test, issued at now, valid for
// ttl.
func challenge(i int, now time.Time, ttl time.Duration) phoneauth.Challenge {
	phone := fmt.Sprintf("+9230%08d", i)
	return phoneauth.Challenge{
		Key:         "login:" + phone,
		ID:          fmt.Sprintf("%026d", i),
		Phone:       phone,
		Channel:     phoneauth.SMS,
		CodeHash:    make([]byte, 32),
		MaxAttempts: 5,
		CreatedAt:   now,
		ExpiresAt:   now.Add(ttl),
	}
}

// session returns the i-th session of a test, of user, signed in at now for
// ttl.
func session(i int, user string, now time.Time, ttl time.Duration) phoneauth.Session {
	return phoneauth.Session{
		ID:               fmt.Sprintf("s%d", i),
		UserID:           user,
		CreatedAt:        now,
		ExpiresAt:        now.Add(ttl),
		RefreshHash:      []byte(fmt.Sprintf("hash-%d-0", i)),
		RefreshedAt:      now,
		RefreshExpiresAt: now.Add(ttl),
	}
}

// Expired challenges go away with a write a sweep interval later, even if
// nobody reads them again; live ones stay.
func TestMemoryStoreSweepsChallenges(t *testing.T) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	const n = 5000
	for i := range n {
		if err := s.PutChallenge(ctx, challenge(i, t0, 5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if got := phoneauth.StatsOf(s).Challenges; got != n {
		t.Fatalf("after %d puts: %d challenges, want %d", n, got, n)
	}

	// Ten minutes on, all of them have expired. One write per shard's worth
	// of keys sweeps its shard: put enough live challenges to reach all.
	later := t0.Add(10 * time.Minute)
	const live = 200
	for i := range live {
		if err := s.PutChallenge(ctx, challenge(n+i, later, 5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if got := phoneauth.StatsOf(s).Challenges; got != live {
		t.Fatalf("after a later write to every shard: %d challenges, want the %d live ones", got, live)
	}

	// A write within the sweep interval does not sweep (sweeps are
	// amortised): an expired challenge stays stored, though absent.
	short := challenge(n+live, later, time.Second)
	if err := s.PutChallenge(ctx, short); err != nil {
		t.Fatal(err)
	}
	soon := later.Add(2 * time.Second)
	if err := s.PutChallenge(ctx, challenge(n+live+1, soon, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := phoneauth.StatsOf(s).Challenges; got != live+2 {
		t.Fatalf("a sweep ran within the interval: %d challenges, want %d", got, live+2)
	}
	if _, err := s.GetChallenge(ctx, short.Key, soon); err != phoneauth.ErrNotFound {
		t.Fatalf("GetChallenge of an expired, unswept challenge: %v, want ErrNotFound", err)
	}
	if got := phoneauth.StatsOf(s).Challenges; got != live+1 {
		t.Fatalf("GetChallenge of an expired challenge did not remove it: %d challenges, want %d", got, live+1)
	}
}

// Waves of challenges that expire do not make the store grow.
func TestMemoryStoreBoundedChallenges(t *testing.T) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	const perWave = 1000
	now := t0
	for wave := range 20 {
		for i := range perWave {
			if err := s.PutChallenge(ctx, challenge(wave*perWave+i, now, 5*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(3 * time.Minute)
	}
	// At most the waves of the last 5 minutes plus a sweep interval are
	// kept: 3 waves.
	if got := phoneauth.StatsOf(s).Challenges; got > 3*perWave {
		t.Fatalf("after 20 waves of %d challenges living 5 minutes, 3 minutes apart: %d stored, want at most %d", perWave, got, 3*perWave)
	}
}

// Expired sessions, and the rotated tokens of live ones that would have
// expired, go away with a write a sweep interval later.
func TestMemoryStoreSweepsSessions(t *testing.T) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	const n = 1000
	for i := range n {
		if err := s.CreateSession(ctx, session(i, fmt.Sprintf("u%d", i%10), t0, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	keep := session(n, "keeper", t0, 30*24*time.Hour)
	keep.RefreshExpiresAt = t0.Add(time.Hour)
	if err := s.CreateSession(ctx, keep); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		if _, err := s.RotateRefresh(ctx, phoneauth.Rotation{
			SessionID:    keep.ID,
			OldHash:      []byte(fmt.Sprintf("hash-%d-%d", n, i-1)),
			NewHash:      []byte(fmt.Sprintf("hash-%d-%d", n, i)),
			NewExpiresAt: now.Add(time.Hour),
			Now:          now,
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := phoneauth.StatsOf(s); got.Sessions != n+1 || got.PastTokens != 10 {
		t.Fatalf("before expiry: %+v, want %d sessions and 10 past tokens", got, n+1)
	}

	later := t0.Add(3 * time.Hour)
	if err := s.CreateSession(ctx, session(n+1, "late", later, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := phoneauth.StatsOf(s); got.Sessions != 2 || got.PastTokens != 0 {
		t.Fatalf("after a write three hours later: %+v, want 2 sessions and no past tokens", got)
	}
	for i := range 10 {
		list, err := s.ListSessions(ctx, fmt.Sprintf("u%d", i), later)
		if err != nil || len(list) != 0 {
			t.Fatalf("ListSessions of a user whose sessions expired: %d sessions, %v", len(list), err)
		}
	}
}

// The store keeps copies: changing what went in or came out changes
// nothing inside.
func TestMemoryStoreNoAliasing(t *testing.T) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	c := challenge(1, t0, time.Minute)
	c.Metadata = map[string]any{"name": "Ada"}
	if err := s.PutChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.CodeHash[0], c.Metadata["name"] = 1, "Eve"
	for range 2 {
		got, err := s.GetChallenge(ctx, c.Key, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.CodeHash[0] != 0 || got.Metadata["name"] != "Ada" {
			t.Fatalf("stored challenge changed through an alias: CodeHash[0] = %d, name = %v", got.CodeHash[0], got.Metadata["name"])
		}
		got.CodeHash[0], got.Metadata["name"] = 2, "Mallory"
	}
}

// Users get ids from crypto/rand and dates from the store's Clock.
func TestMemoryStoreUsersClock(t *testing.T) {
	clock := phoneauth.NewManualClock(t0)
	s := &phoneauth.MemoryStore{Clock: clock}
	clock.Advance(time.Hour)
	u, created, err := s.CreateUser(context.Background(), "+923001234567", nil)
	if err != nil || !created {
		t.Fatalf("CreateUser: created %v, %v", created, err)
	}
	if !u.CreatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("CreatedAt = %s, want the clock's %s", u.CreatedAt, t0.Add(time.Hour))
	}
	if len(u.ID) != 26 {
		t.Fatalf("user ID %q: want 26 base32 characters", u.ID)
	}
}

func BenchmarkMemoryStorePutChallenge(b *testing.B) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	const keys = 1 << 16
	cs := make([]phoneauth.Challenge, keys)
	for i := range cs {
		cs[i] = challenge(i, t0, 5*time.Minute)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.PutChallenge(ctx, cs[i%keys]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// One verification's store work: an attempt, then consuming the challenge,
// then putting the next one.
func BenchmarkMemoryStoreAttempt(b *testing.B) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	c := challenge(1, t0, 5*time.Minute)
	c.MaxAttempts = 1 << 62
	if err := s.PutChallenge(ctx, c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryStoreRotate(b *testing.B) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	sess := session(1, "u", t0, 100*365*24*time.Hour)
	if err := s.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	// A refresh a minute with tokens valid for ten: the session remembers
	// about ten rotated tokens, forgetting one per rotation as a real
	// session does.
	hashes := [2][]byte{sess.RefreshHash, []byte("hash-1-1")}
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Minute)
		if _, err := s.RotateRefresh(ctx, phoneauth.Rotation{
			SessionID:    sess.ID,
			OldHash:      hashes[i%2],
			NewHash:      hashes[(i+1)%2],
			NewExpiresAt: now.Add(10 * time.Minute),
			Now:          now,
		}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryStoreChallengeMemory measures the heap a pending challenge
// takes: a million login challenges with realistic keys and ids, after GC.
// The figure is the metric bytes/challenge (the target is 512). Run it
// once: go test -run '^$' -bench ChallengeMemory -benchtime 1x .
func BenchmarkMemoryStoreChallengeMemory(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := phoneauth.NewMemoryStore()
		for i := range n {
			// Strings built by the caller, as the Authenticator's are: the
			// store keeps them, so they count.
			phone := fmt.Sprintf("+92301%07d", i)
			c := phoneauth.Challenge{
				Key:         "login:" + phone,
				ID:          fmt.Sprintf("%026d", i), // 128 bits of base32
				Phone:       phone,
				Channel:     phoneauth.SMS,
				CodeHash:    make([]byte, 32),
				MaxAttempts: 5,
				CreatedAt:   t0,
				ExpiresAt:   t0.Add(5 * time.Minute),
			}
			if err := s.PutChallenge(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := phoneauth.StatsOf(s).Challenges; got != n {
			b.Fatalf("%d challenges stored, want %d", got, n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/challenge")
		runtime.KeepAlive(s)
	}
}

// The suite's mode for limiters on their own clock, run with the memory
// limiter fed the real time. It waits about two seconds of real time.
func TestMemoryLimiterConformanceOwnClock(t *testing.T) {
	if testing.Short() {
		t.Skip("waits in real time")
	}
	storetest.RunLimiterWith(t, func(t *testing.T) phoneauth.Limiter { return phoneauth.NewMemoryLimiter(0) },
		storetest.LimiterOptions{OwnClock: true})
}

// A session ID in use is refused; once that session has expired it can be
// used again.
func TestMemoryStoreDuplicateSession(t *testing.T) {
	ctx := context.Background()
	s := phoneauth.NewMemoryStore()
	first := session(1, "u1", t0, time.Hour)
	if err := s.CreateSession(ctx, first); err != nil {
		t.Fatal(err)
	}
	dup := session(1, "u2", t0.Add(time.Minute), time.Hour)
	if err := s.CreateSession(ctx, dup); err == nil {
		t.Fatal("CreateSession with the ID of a live session: nil error")
	}
	if got, err := s.GetSession(ctx, first.ID, t0); err != nil || got.UserID != "u1" {
		t.Fatalf("the first session after a refused duplicate: %+v, %v", got, err)
	}
	again := session(1, "u3", t0.Add(time.Hour), time.Hour)
	if err := s.CreateSession(ctx, again); err != nil {
		t.Fatalf("CreateSession with the ID of an expired session: %v", err)
	}
	if list, _ := s.ListSessions(ctx, "u1", t0); len(list) != 0 {
		t.Fatalf("the expired session is still listed for its user: %d sessions", len(list))
	}
	if list, _ := s.ListSessions(ctx, "u3", again.CreatedAt); len(list) != 1 {
		t.Fatalf("the new session is not listed: %d sessions", len(list))
	}
}
