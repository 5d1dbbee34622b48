package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A challengeTest is a clause of phoneauth.ChallengeStore.
type challengeTest struct {
	name string
	fn   func(t *testing.T, s phoneauth.ChallengeStore)
}

// challengeTests are the clauses of phoneauth.ChallengeStore.
var challengeTests = []challengeTest{
	{"PutGet", testPutGet},
	{"GetMissing", testGetMissing},
	{"ExpiredAtExpiresAt", testChallengeExpiry},
	{"GetExpiredFirstCall", testGetExpiredFirstCall},
	{"AttemptExpiredFirstCall", testAttemptExpiredFirstCall},
	{"DeleteExpired", testDeleteExpired},
	{"NewestOnly", testNewestOnly},
	{"KeysIsolated", testKeysIsolated},
	{"NoAliasing", testChallengeNoAliasing},
	{"AttemptCounts", testAttemptCounts},
	{"AttemptAnyID", testAttemptAnyID},
	{"AttemptWrongID", testAttemptWrongID},
	{"AttemptMissing", testAttemptMissing},
	{"AttemptExhausted", testAttemptExhausted},
	{"DeleteOnce", testDeleteOnce},
	{"DeleteWrongID", testDeleteWrongID},
	{"DeleteReplaced", testDeleteReplaced},
	{"DeleteMissing", testDeleteMissing},
	{"ConcurrentDelete", testConcurrentDelete},
	{"ConcurrentAttemptsCapped", testConcurrentAttemptsCapped},
	{"ConcurrentAttemptsCounted", testConcurrentAttemptsCounted},
	{"ConcurrentDeleteRounds", testConcurrentDeleteRounds},
	{"ConcurrentAttemptRounds", testConcurrentAttemptRounds},
}

// rounds is how many short rounds the *Rounds clauses run: a
// check-then-write with only a narrow gap between the check and the write
// is rarely caught by one round of many goroutines, and often by many
// rounds of a few.
const rounds, roundGoroutines = 100, 4

// put stores c or fails t.
func put(t *testing.T, s phoneauth.ChallengeStore, c phoneauth.Challenge) {
	t.Helper()
	noErr(t, "PutChallenge", s.PutChallenge(ctx, c))
}

// Every field is stored as given, Attempts included, and returned by
// GetChallenge.
func testPutGet(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	c.UserID = "user-" + randomString(10)
	c.Key = "phone-verification:" + c.UserID + ":" + c.Phone
	c.Channel = phoneauth.WhatsApp
	c.Attempts = 2
	c.CreateUser = true
	c.Metadata = map[string]any{"name": "Ada", "plan": "pro"}
	put(t, s, c)
	got, err := s.GetChallenge(ctx, c.Key, start.Add(time.Second))
	noErr(t, "GetChallenge", err)
	checkChallenge(t, "GetChallenge", got, c)

	// A challenge without metadata, another channel and no user.
	plain := newChallenge(start)
	put(t, s, plain)
	got, err = s.GetChallenge(ctx, plain.Key, start)
	noErr(t, "GetChallenge of a plain challenge", err)
	checkChallenge(t, "GetChallenge of a plain challenge", got, plain)
}

func testGetMissing(t *testing.T, s phoneauth.ChallengeStore) {
	_, err := s.GetChallenge(ctx, "login:"+randomPhone(), start)
	wantErr(t, "GetChallenge of a key never put", err, phoneauth.ErrNotFound)
}

// A challenge is valid until just before ExpiresAt and absent from it on,
// for GetChallenge and AttemptChallenge alike.
func testChallengeExpiry(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	put(t, s, c)
	justBefore := c.ExpiresAt.Add(-time.Millisecond)
	if _, err := s.GetChallenge(ctx, c.Key, justBefore); err != nil {
		t.Fatalf("GetChallenge 1ms before ExpiresAt: %v", err)
	}
	if _, err := s.AttemptChallenge(ctx, c.Key, c.ID, justBefore); err != nil {
		t.Fatalf("AttemptChallenge 1ms before ExpiresAt: %v", err)
	}
	_, err := s.GetChallenge(ctx, c.Key, c.ExpiresAt)
	wantErr(t, "GetChallenge at exactly ExpiresAt", err, phoneauth.ErrNotFound)
	_, err = s.AttemptChallenge(ctx, c.Key, c.ID, c.ExpiresAt)
	wantErr(t, "AttemptChallenge at exactly ExpiresAt", err, phoneauth.ErrNotFound)
	_, err = s.GetChallenge(ctx, c.Key, c.ExpiresAt.Add(time.Hour))
	wantErr(t, "GetChallenge an hour after ExpiresAt", err, phoneauth.ErrNotFound)

	// An expired challenge does not block a new one under its key.
	later := start.Add(time.Hour)
	next := newChallenge(later)
	next.Key = c.Key
	put(t, s, next)
	got, err := s.GetChallenge(ctx, next.Key, later)
	noErr(t, "GetChallenge of a new challenge put after the old one expired", err)
	checkChallenge(t, "new challenge after expiry", got, next)
}

// GetChallenge, as the first call on an entry, finds nothing at or after
// its ExpiresAt: no earlier call has had a chance to remove it.
func testGetExpiredFirstCall(t *testing.T, s phoneauth.ChallengeStore) {
	for _, after := range []time.Duration{0, time.Millisecond, time.Hour} {
		c := newChallenge(start)
		put(t, s, c)
		_, err := s.GetChallenge(ctx, c.Key, c.ExpiresAt.Add(after))
		wantErr(t, fmt.Sprintf("GetChallenge %s after ExpiresAt, the first call on the entry", after), err, phoneauth.ErrNotFound)
	}
}

// AttemptChallenge, as the first call on an entry, refuses it at or after
// its ExpiresAt, with its id or with any id.
func testAttemptExpiredFirstCall(t *testing.T, s phoneauth.ChallengeStore) {
	for _, after := range []time.Duration{0, time.Millisecond, time.Hour} {
		for _, anyID := range []bool{false, true} {
			c := newChallenge(start)
			put(t, s, c)
			id := c.ID
			if anyID {
				id = ""
			}
			_, err := s.AttemptChallenge(ctx, c.Key, id, c.ExpiresAt.Add(after))
			wantErr(t, fmt.Sprintf("AttemptChallenge (id %q) %s after ExpiresAt, the first call on the entry", id, after), err, phoneauth.ErrNotFound)
		}
	}
}

// DeleteChallenge takes no time, so it cannot know that a challenge has
// expired: of a stored, expired challenge it returns nil (deleted) or
// ErrNotFound (the backend had removed it already), never another error.
// Either way nothing is left under the key afterwards, not even for a
// reader whose clock is behind.
func testDeleteExpired(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	c.ExpiresAt = start.Add(time.Millisecond)
	put(t, s, c)
	if err := s.DeleteChallenge(ctx, c.Key, c.ID); err != nil && !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("DeleteChallenge of an expired challenge: %v, want nil or ErrNotFound", err)
	}
	_, err := s.GetChallenge(ctx, c.Key, start)
	wantErr(t, "GetChallenge, at a time before its expiry, of a challenge deleted after it", err, phoneauth.ErrNotFound)
	wantErr(t, "a second DeleteChallenge of an expired challenge", s.DeleteChallenge(ctx, c.Key, c.ID), phoneauth.ErrNotFound)
}

// Putting a challenge under a key replaces the one there: only the newest is
// valid, with its own attempt count.
func testNewestOnly(t *testing.T, s phoneauth.ChallengeStore) {
	old := newChallenge(start)
	put(t, s, old)
	for range 3 {
		_, err := s.AttemptChallenge(ctx, old.Key, old.ID, start)
		noErr(t, "AttemptChallenge of the first challenge", err)
	}
	now := start.Add(30 * time.Second)
	newer := newChallenge(now)
	newer.Key = old.Key
	put(t, s, newer)

	got, err := s.GetChallenge(ctx, old.Key, now)
	noErr(t, "GetChallenge after the replacement", err)
	checkChallenge(t, "GetChallenge after the replacement (the newest, Attempts 0)", got, newer)
	_, err = s.AttemptChallenge(ctx, old.Key, old.ID, now)
	wantErr(t, "AttemptChallenge with the replaced challenge's id", err, phoneauth.ErrNotFound)
	got, err = s.AttemptChallenge(ctx, old.Key, newer.ID, now)
	noErr(t, "AttemptChallenge of the newest challenge", err)
	if got.Attempts != 1 {
		t.Fatalf("first attempt of the newest challenge: Attempts = %d, want 1", got.Attempts)
	}
}

// Keys are independent: attempts and deletes under one never touch another.
func testKeysIsolated(t *testing.T, s phoneauth.ChallengeStore) {
	a, b := newChallenge(start), newChallenge(start)
	b.ID = a.ID // the same id under two keys must not confuse the store
	put(t, s, a)
	put(t, s, b)
	_, err := s.AttemptChallenge(ctx, a.Key, a.ID, start)
	noErr(t, "AttemptChallenge of a", err)
	got, err := s.GetChallenge(ctx, b.Key, start)
	noErr(t, "GetChallenge of b", err)
	checkChallenge(t, "b after an attempt on a", got, b)

	noErr(t, "DeleteChallenge of a", s.DeleteChallenge(ctx, a.Key, a.ID))
	got, err = s.GetChallenge(ctx, b.Key, start)
	noErr(t, "GetChallenge of b after deleting a", err)
	checkChallenge(t, "b after deleting a", got, b)

	c := newChallenge(start)
	c.Key = "phone-verification:user-" + randomString(10) + ":" + b.Phone // same phone, other key
	put(t, s, c)
	got, err = s.GetChallenge(ctx, b.Key, start)
	noErr(t, "GetChallenge of b after a put under another key for its phone", err)
	checkChallenge(t, "b after a put under another key for its phone", got, b)
}

// Changing what was put, or what was returned, does not change the store.
func testChallengeNoAliasing(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	c.Metadata = map[string]any{"name": "Ada"}
	want := c
	want.CodeHash = bytes.Clone(c.CodeHash)
	want.Metadata = map[string]any{"name": "Ada"}
	put(t, s, c)
	c.CodeHash[0] ^= 0xff
	c.Metadata["name"] = "Eve"

	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	checkChallenge(t, "after changing the put challenge's slices", got, want)
	got.CodeHash[0] ^= 0xff
	got.Metadata["name"] = "Eve"
	got, err = s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	checkChallenge(t, "after changing a returned challenge's slices", got, want)

	got, err = s.AttemptChallenge(ctx, c.Key, c.ID, start)
	noErr(t, "AttemptChallenge", err)
	got.CodeHash[0] ^= 0xff
	got.Metadata["name"] = "Eve"
	want.Attempts = 1
	got, err = s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	checkChallenge(t, "after changing an attempted challenge's slices", got, want)
}

// Each attempt increments Attempts and returns the whole challenge with the
// new count; GetChallenge sees it.
func testAttemptCounts(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	c.Metadata = map[string]any{"name": "Ada"}
	put(t, s, c)
	for i := 1; i <= c.MaxAttempts; i++ {
		now := start.Add(time.Duration(i) * time.Second)
		got, err := s.AttemptChallenge(ctx, c.Key, c.ID, now)
		noErr(t, "AttemptChallenge", err)
		want := c
		want.Attempts = i
		checkChallenge(t, "challenge returned by AttemptChallenge", got, want)
		got, err = s.GetChallenge(ctx, c.Key, now)
		noErr(t, "GetChallenge", err)
		checkChallenge(t, "GetChallenge after an attempt", got, want)
	}
}

// An empty id attempts whatever challenge is stored under the key.
func testAttemptAnyID(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	put(t, s, c)
	got, err := s.AttemptChallenge(ctx, c.Key, "", start)
	noErr(t, "AttemptChallenge with an empty id", err)
	if got.ID != c.ID || got.Attempts != 1 {
		t.Fatalf("AttemptChallenge with an empty id: ID %q Attempts %d, want %q and 1", got.ID, got.Attempts, c.ID)
	}
}

// An attempt naming another challenge id fails and counts nothing.
func testAttemptWrongID(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	put(t, s, c)
	_, err := s.AttemptChallenge(ctx, c.Key, randomString(26), start)
	wantErr(t, "AttemptChallenge with another id", err, phoneauth.ErrNotFound)
	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	if got.Attempts != 0 {
		t.Fatalf("an attempt with a wrong id was counted: Attempts = %d, want 0", got.Attempts)
	}
}

func testAttemptMissing(t *testing.T, s phoneauth.ChallengeStore) {
	_, err := s.AttemptChallenge(ctx, "login:"+randomPhone(), "", start)
	wantErr(t, "AttemptChallenge of a key never put", err, phoneauth.ErrNotFound)
}

// MaxAttempts attempts succeed, the next fails and changes nothing.
func testAttemptExhausted(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	c.MaxAttempts = 3
	put(t, s, c)
	for i := 1; i <= 3; i++ {
		_, err := s.AttemptChallenge(ctx, c.Key, c.ID, start)
		noErr(t, "AttemptChallenge within MaxAttempts", err)
	}
	for range 2 {
		_, err := s.AttemptChallenge(ctx, c.Key, c.ID, start)
		wantErr(t, "4th attempt with MaxAttempts 3", err, phoneauth.ErrNotFound)
	}
	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge of an exhausted challenge", err)
	if got.Attempts != 3 {
		t.Fatalf("exhausted challenge: Attempts = %d, want 3", got.Attempts)
	}

	// A challenge put with Attempts = MaxAttempts is born exhausted.
	dead := newChallenge(start)
	dead.Attempts = dead.MaxAttempts
	put(t, s, dead)
	_, err = s.AttemptChallenge(ctx, dead.Key, dead.ID, start)
	wantErr(t, "AttemptChallenge of a challenge put with Attempts = MaxAttempts", err, phoneauth.ErrNotFound)
}

// DeleteChallenge consumes a challenge exactly once.
func testDeleteOnce(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	put(t, s, c)
	noErr(t, "DeleteChallenge", s.DeleteChallenge(ctx, c.Key, c.ID))
	wantErr(t, "second DeleteChallenge", s.DeleteChallenge(ctx, c.Key, c.ID), phoneauth.ErrNotFound)
	_, err := s.GetChallenge(ctx, c.Key, start)
	wantErr(t, "GetChallenge after DeleteChallenge", err, phoneauth.ErrNotFound)
	_, err = s.AttemptChallenge(ctx, c.Key, c.ID, start)
	wantErr(t, "AttemptChallenge after DeleteChallenge", err, phoneauth.ErrNotFound)
}

// DeleteChallenge with another id deletes nothing.
func testDeleteWrongID(t *testing.T, s phoneauth.ChallengeStore) {
	c := newChallenge(start)
	put(t, s, c)
	wantErr(t, "DeleteChallenge with another id", s.DeleteChallenge(ctx, c.Key, randomString(26)), phoneauth.ErrNotFound)
	wantErr(t, "DeleteChallenge with an empty id", s.DeleteChallenge(ctx, c.Key, ""), phoneauth.ErrNotFound)
	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge after DeleteChallenge with a wrong id", err)
	checkChallenge(t, "challenge after DeleteChallenge with a wrong id", got, c)
}

// A replaced challenge cannot be consumed, and consuming it does not remove
// its replacement.
func testDeleteReplaced(t *testing.T, s phoneauth.ChallengeStore) {
	old := newChallenge(start)
	put(t, s, old)
	newer := newChallenge(start.Add(time.Second))
	newer.Key = old.Key
	put(t, s, newer)
	wantErr(t, "DeleteChallenge of the replaced challenge", s.DeleteChallenge(ctx, old.Key, old.ID), phoneauth.ErrNotFound)
	got, err := s.GetChallenge(ctx, old.Key, start.Add(time.Second))
	noErr(t, "GetChallenge of the replacement", err)
	checkChallenge(t, "replacement after deleting the replaced id", got, newer)
	noErr(t, "DeleteChallenge of the replacement", s.DeleteChallenge(ctx, newer.Key, newer.ID))
}

func testDeleteMissing(t *testing.T, s phoneauth.ChallengeStore) {
	err := s.DeleteChallenge(ctx, "login:"+randomPhone(), randomString(26))
	wantErr(t, "DeleteChallenge of a key never put", err, phoneauth.ErrNotFound)
}

// 50 goroutines consuming one challenge: exactly one wins.
func testConcurrentDelete(t *testing.T, s phoneauth.ChallengeStore) {
	const n = 50
	c := newChallenge(start)
	put(t, s, c)
	errs := make([]error, n)
	concurrently(n, func(i int) { errs[i] = s.DeleteChallenge(ctx, c.Key, c.ID) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, phoneauth.ErrNotFound):
			t.Errorf("concurrent DeleteChallenge: unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent DeleteChallenge of one challenge: %d returned nil, want exactly 1", n, wins)
	}
}

// 50 concurrent attempts on a challenge with MaxAttempts 5: exactly 5
// succeed, with the counts 1 to 5, and 5 is stored.
func testConcurrentAttemptsCapped(t *testing.T, s phoneauth.ChallengeStore) {
	const n = 50
	c := newChallenge(start)
	c.MaxAttempts = 5
	put(t, s, c)
	counts := make([]int, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		got, err := s.AttemptChallenge(ctx, c.Key, c.ID, start)
		counts[i], errs[i] = got.Attempts, err
	})
	seen := make(map[int]bool)
	for i, err := range errs {
		switch {
		case err == nil:
			if seen[counts[i]] || counts[i] < 1 || counts[i] > 5 {
				t.Errorf("concurrent AttemptChallenge returned Attempts %d twice or out of 1..5", counts[i])
			}
			seen[counts[i]] = true
		case !errors.Is(err, phoneauth.ErrNotFound):
			t.Errorf("concurrent AttemptChallenge: unexpected error %v", err)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("%d concurrent AttemptChallenge with MaxAttempts 5: %d succeeded, want exactly 5", n, len(seen))
	}
	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	if got.Attempts != 5 {
		t.Fatalf("after %d concurrent attempts with MaxAttempts 5: stored Attempts = %d, want 5", n, got.Attempts)
	}
}

// Concurrent attempts under a high MaxAttempts: no increment is lost.
func testConcurrentAttemptsCounted(t *testing.T, s phoneauth.ChallengeStore) {
	const goroutines, each = 20, 10
	c := newChallenge(start)
	c.MaxAttempts = 1000
	put(t, s, c)
	counts := make([][]int, goroutines)
	errs := make([]error, goroutines)
	concurrently(goroutines, func(i int) {
		for range each {
			got, err := s.AttemptChallenge(ctx, c.Key, c.ID, start)
			if err != nil {
				errs[i] = err
				return
			}
			counts[i] = append(counts[i], got.Attempts)
		}
	})
	seen := make(map[int]bool)
	for i := range goroutines {
		if errs[i] != nil {
			t.Fatalf("concurrent AttemptChallenge under MaxAttempts 1000: %v", errs[i])
		}
		for _, n := range counts[i] {
			if seen[n] {
				t.Fatalf("two concurrent attempts both returned Attempts %d: an increment was lost", n)
			}
			seen[n] = true
		}
	}
	got, err := s.GetChallenge(ctx, c.Key, start)
	noErr(t, "GetChallenge", err)
	if want := goroutines * each; got.Attempts != want {
		t.Fatalf("after %d concurrent attempts: stored Attempts = %d, want %d (increments lost)", want, got.Attempts, want)
	}
}

// In each of many rounds, a few goroutines consume one new challenge:
// exactly one of them wins every round.
func testConcurrentDeleteRounds(t *testing.T, s phoneauth.ChallengeStore) {
	for round := range rounds {
		c := newChallenge(start)
		put(t, s, c)
		errs := make([]error, roundGoroutines)
		concurrently(roundGoroutines, func(i int) { errs[i] = s.DeleteChallenge(ctx, c.Key, c.ID) })
		if wins := countWins(t, "concurrent DeleteChallenge", errs, phoneauth.ErrNotFound); wins != 1 {
			t.Fatalf("round %d: %d concurrent DeleteChallenge of one challenge: %d returned nil, want exactly 1", round, roundGoroutines, wins)
		}
	}
}

// In each of many rounds, a few goroutines attempt one new challenge that
// allows a single attempt: exactly one of them succeeds every round.
func testConcurrentAttemptRounds(t *testing.T, s phoneauth.ChallengeStore) {
	for round := range rounds {
		c := newChallenge(start)
		c.MaxAttempts = 1
		put(t, s, c)
		errs := make([]error, roundGoroutines)
		concurrently(roundGoroutines, func(i int) { _, errs[i] = s.AttemptChallenge(ctx, c.Key, c.ID, start) })
		if wins := countWins(t, "concurrent AttemptChallenge", errs, phoneauth.ErrNotFound); wins != 1 {
			t.Fatalf("round %d: %d concurrent AttemptChallenge with MaxAttempts 1: %d succeeded, want exactly 1", round, roundGoroutines, wins)
		}
	}
}

// countWins counts the nil errors of concurrent calls, and fails t (not at
// once) for errors that match none of the expected ones.
func countWins(t *testing.T, what string, errs []error, expected ...error) int {
	t.Helper()
	wins := 0
next:
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		for _, e := range expected {
			if errors.Is(err, e) {
				continue next
			}
		}
		t.Errorf("%s: unexpected error %v", what, err)
	}
	return wins
}
