package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// At MaxChallenges the expired challenges go first, then the oldest: the
// newest stay, and the store never holds more than the cap.
func TestMemoryStoreChallengeCap(t *testing.T) {
	ctx := context.Background()
	const limit = 16 * 8 // eight per shard: one evicted at a time
	s := &phoneauth.MemoryStore{MaxChallenges: limit}

	// Long-lived challenges first, then a stream of short-lived ones, each
	// expired by the time the next comes: the expired ones make the room,
	// so the old long-lived ones all stay.
	const long = 40
	for i := range long {
		if err := s.PutChallenge(ctx, challenge(i, t0, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	at := t0
	for i := long; i < 1000; i++ {
		at = at.Add(time.Second)
		if err := s.PutChallenge(ctx, challenge(i, at, time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := phoneauth.StatsOf(s).Challenges; got > limit {
			t.Fatalf("%d challenges stored, over the cap of %d", got, limit)
		}
	}
	for i := range long {
		if _, err := s.GetChallenge(ctx, challenge(i, t0, 0).Key, at); err != nil {
			t.Fatalf("long-lived challenge %d was evicted while expired ones were there: %v", i, err)
		}
	}

	// Without expired ones, the oldest go: of a thousand live challenges
	// the newest of every shard stay, among them the last seven put.
	s = &phoneauth.MemoryStore{MaxChallenges: limit}
	const n = 1000
	for i := range n {
		if err := s.PutChallenge(ctx, challenge(i, t0.Add(time.Duration(i)*time.Millisecond), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if got := phoneauth.StatsOf(s).Challenges; got > limit || got < limit*7/8 {
		t.Fatalf("%d challenges stored after %d puts, want between %d and the cap of %d", got, n, limit*7/8, limit)
	}
	for i := n - 7; i < n; i++ {
		if _, err := s.GetChallenge(ctx, challenge(i, t0, 0).Key, t0); err != nil {
			t.Fatalf("one of the newest challenges, %d, was evicted: %v", i, err)
		}
	}
	if _, err := s.GetChallenge(ctx, challenge(0, t0, 0).Key, t0); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("the oldest challenge is still there: %v", err)
	}
}

// At MaxSessions the expired sessions go first, then the least recently
// refreshed.
func TestMemoryStoreSessionCap(t *testing.T) {
	ctx := context.Background()
	s := &phoneauth.MemoryStore{MaxSessions: 8} // one evicted at a time
	for i := range 8 {
		if err := s.CreateSession(ctx, session(i, "u", t0.Add(time.Duration(i)*time.Minute), 24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// Session 0, the oldest, is refreshed: session 1 is now the one least
	// recently refreshed.
	now := t0.Add(time.Hour)
	if _, err := s.RotateRefresh(ctx, phoneauth.Rotation{SessionID: "s0", OldHash: []byte("hash-0-0"), NewHash: []byte("hash-0-1"), NewExpiresAt: now.Add(time.Hour), Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, session(8, "u", now, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	live := func(i int) bool {
		_, err := s.GetSession(ctx, fmt.Sprintf("s%d", i), now)
		return err == nil
	}
	if live(1) || !live(0) || !live(8) {
		t.Fatalf("after a session over the cap: s0 %v, s1 %v, s8 %v; want s1, the least recently refreshed, evicted", live(0), live(1), live(8))
	}
	if list, _ := s.ListSessions(ctx, "u", now); len(list) != 8 {
		t.Fatalf("the user lists %d sessions, want the cap, 8", len(list))
	}

	// An expired session goes before any live one.
	s = &phoneauth.MemoryStore{MaxSessions: 8}
	for i := range 8 {
		ttl := 24 * time.Hour
		if i == 5 {
			ttl = time.Minute
		}
		if err := s.CreateSession(ctx, session(i, "u", t0.Add(time.Duration(i)*time.Second), ttl)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, session(8, "u", now, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !live(0) || live(5) {
		t.Fatalf("s0 live %v, s5 (expired) present %v: the expired session should have made the room", live(0), live(5))
	}
}

// Users are never evicted: at MaxUsers CreateUser fails for a new phone,
// and existing users still work.
func TestMemoryStoreUserCap(t *testing.T) {
	ctx := context.Background()
	s := &phoneauth.MemoryStore{MaxUsers: 3}
	var first phoneauth.User
	for i := range 3 {
		u, created, err := s.CreateUser(ctx, fmt.Sprintf("+92301000000%d", i), nil)
		if err != nil || !created {
			t.Fatalf("user %d: %v, created %v", i, err, created)
		}
		if i == 0 {
			first = u
		}
	}
	if _, _, err := s.CreateUser(ctx, "+923010000009", nil); err == nil || errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("a user over the cap: %v, want an error", err)
	}
	if u, created, err := s.CreateUser(ctx, first.Phone, nil); err != nil || created || u.ID != first.ID {
		t.Fatalf("an existing user at the cap: %+v, created %v, %v", u, created, err)
	}
	if err := s.SetPhone(ctx, first.ID, "+923010000008"); err != nil {
		t.Fatalf("SetPhone at the cap: %v", err)
	}
	if got := phoneauth.StatsOf(s).Users; got != 3 {
		t.Fatalf("%d users, want 3", got)
	}
}

// Under concurrent writes the store stays within its caps.
func TestMemoryStoreCapsConcurrent(t *testing.T) {
	ctx := context.Background()
	const limit = 64
	s := &phoneauth.MemoryStore{MaxChallenges: limit, MaxSessions: limit}
	const workers, each = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				i := w*each + j
				at := t0.Add(time.Duration(j) * time.Millisecond)
				if err := s.PutChallenge(ctx, challenge(i, at, time.Hour)); err != nil {
					t.Error(err)
				}
				if err := s.CreateSession(ctx, session(i, fmt.Sprintf("u%d", w), at, time.Hour)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	st := phoneauth.StatsOf(s)
	if st.Challenges > limit || st.Sessions > limit {
		t.Fatalf("%d challenges and %d sessions after %d of each, want at most %d", st.Challenges, st.Sessions, workers*each, limit)
	}
	total := 0
	for w := range workers {
		list, err := s.ListSessions(ctx, fmt.Sprintf("u%d", w), t0)
		if err != nil {
			t.Fatal(err)
		}
		total += len(list)
	}
	if total != st.Sessions {
		t.Fatalf("users list %d sessions, the store holds %d: the user index and the sessions disagree", total, st.Sessions)
	}
}

// BenchmarkMemoryStorePutAtCap measures PutChallenge of new keys into a
// store held at its cap, where every put beyond it pays its share of an
// eviction.
func BenchmarkMemoryStorePutAtCap(b *testing.B) {
	ctx := context.Background()
	const limit = 16 * 1024
	s := &phoneauth.MemoryStore{MaxChallenges: limit}
	for i := range limit {
		if err := s.PutChallenge(ctx, challenge(i, t0, time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	cs := make([]phoneauth.Challenge, 4096)
	for i := range cs {
		cs[i] = challenge(limit+i, t0.Add(time.Duration(i)*time.Millisecond), time.Hour)
	}
	i := 0
	for b.Loop() {
		c := cs[i%len(cs)]
		c.Key = fmt.Sprintf("login:+%d", i) // a new key each time
		c.CreatedAt = t0.Add(time.Duration(i) * time.Millisecond)
		if err := s.PutChallenge(ctx, c); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if got := phoneauth.StatsOf(s).Challenges; got > limit {
		b.Fatalf("%d challenges, over the cap of %d", got, limit)
	}
}
