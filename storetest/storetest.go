// Package storetest is the conformance suite of phoneauth backends: it holds
// a phoneauth.Store, a phoneauth.Users and a phoneauth.Limiter to the
// contracts written in their doc comments, with one named subtest per
// clause, concurrency included. phoneauth's memory store, sqlitestore,
// redisstore and pgstore all run it; run it against your own backend too.
//
// In a _test.go file of your backend:
//
//	func TestConformance(t *testing.T) {
//		db := openTestDatabase(t) // your set-up
//		storetest.Run(t, func(t *testing.T) phoneauth.Store {
//			return mystore.New(db)
//		})
//	}
//
//	func TestLimiterConformance(t *testing.T) {
//		storetest.RunLimiter(t, func(t *testing.T) phoneauth.Limiter {
//			return mystore.NewLimiter(db)
//		})
//	}
//
//	func TestReplicas(t *testing.T) {
//		storetest.RunReplicas(t, func(t *testing.T) (phoneauth.Store, phoneauth.Limiter) {
//			return mystore.New(db), mystore.NewLimiter(db)
//		})
//	}
//
// RunLimiter also checks phoneauth.BatchLimiter's AllowAll when the limiter
// has it. RunReplicas runs two Authenticators on one backend, as replicas
// behind a load balancer, and checks end to end that they behave as one.
// Flows counts the backend calls of each Authenticator operation
// (CheckCosts) and benchmarks the operations, given a driver hook that
// counts calls.
//
// Run calls newStore once per subtest, with that subtest's t (use
// t.Cleanup to release what it opens). It may return a new, empty store
// every time or the same shared one: every subtest uses its own random
// keys, challenge IDs, session IDs, user IDs and phone numbers, so a
// database needs no cleaning between subtests or between runs. If the store
// also implements phoneauth.Users, Run checks that too (RunUsers checks a
// Users on its own).
//
// Phone numbers are random E.164 numbers under +999 (a calling code no
// country has), "+999" and 11 digits: a Users backend that validates
// numbers must accept them.
//
// Time: Run and RunUsers never sleep and never read the clock. They pass
// explicit times, starting from a fixed instant in 2030 and moving forward
// in whole milliseconds, so a backend must compare the times it is given
// (now, ExpiresAt…), never its own clock; a backend that stores
// milliseconds (Redis) or microseconds (Postgres) round-trips them exactly.
// Native expiry (Redis TTLs, a cleanup job) may remove entries later but
// must not be the only check. A limiter that uses its own clock instead of
// Allow's now argument is checked with RunLimiterWith and
// LimiterOptions.OwnClock.
//
// Atomicity is checked twice: by one round of many goroutines on one entry
// (Concurrent*), and by many short rounds of a few goroutines on a new
// entry each (Concurrent*Rounds), which catch a check-then-write whose gap
// is too narrow for one round to hit. Expiry is probed by each method as
// the first call on its own new entry (*FirstCall), so that a backend whose
// reads delete what they find expired cannot hide a method that ignores
// expiry. The package's own tests run each such clause against a copy of
// the memory store with the bug it targets, and check that it fails.
//
// Each failure is reported in the subtest named after the clause it breaks
// (Challenges/AttemptExhausted, Sessions/ReuseGrace, Users/SetPhoneTaken,
// Limiter clauses such as Refill…), saying which call returned what.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// start is the instant the suite's time starts from: fixed, in the future
// (so that a backend's native TTLs never remove entries early), and a whole
// second.
var start = time.Date(2030, time.March, 4, 10, 20, 30, 0, time.UTC)

// Run checks a Store against the contracts of phoneauth.ChallengeStore and
// phoneauth.SessionStore, and of phoneauth.Users if the store implements
// it. newStore is called for every subtest; see the package documentation.
func Run(t *testing.T, newStore func(t *testing.T) phoneauth.Store) {
	t.Helper()
	t.Run("Challenges", func(t *testing.T) {
		for _, tc := range challengeTests {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
		}
	})
	t.Run("Sessions", func(t *testing.T) {
		for _, tc := range sessionTests {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
		}
	})
	t.Run("Users", func(t *testing.T) {
		if _, ok := newStore(t).(phoneauth.Users); !ok {
			t.Skip("the store does not implement phoneauth.Users")
		}
		RunUsers(t, func(t *testing.T) phoneauth.Users { return newStore(t).(phoneauth.Users) })
	})
}

// RunUsers checks a Users against the contract of phoneauth.Users.
// newUsers is called for every subtest and may return a shared instance.
func RunUsers(t *testing.T, newUsers func(t *testing.T) phoneauth.Users) {
	t.Helper()
	for _, tc := range userTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newUsers(t)) })
	}
}

// ctx is the context of every call: the suite cancels nothing.
var ctx = context.Background()

// randomBytes returns n bytes from crypto/rand, which never fails.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomString returns n random characters from a lower-case alphabet.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := randomBytes(n)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return string(b)
}

// randomHash returns 32 random bytes, like a SHA-256 or an HMAC.
func randomHash() []byte { return randomBytes(32) }

// randomPhone returns a random E.164 number under +999 (a calling code no
// country has), so that numbers never collide between subtests or runs.
func randomPhone() string {
	b := randomBytes(11)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return "+999" + string(b)
}

// newChallenge returns a login challenge, issued at now and valid for five
// minutes, under a new random key.
func newChallenge(now time.Time) phoneauth.Challenge {
	phone := randomPhone()
	return phoneauth.Challenge{
		Key:         "login:" + phone,
		ID:          randomString(26),
		Phone:       phone,
		Channel:     phoneauth.SMS,
		CodeHash:    randomHash(),
		MaxAttempts: 5,
		CreatedAt:   now,
		ExpiresAt:   now.Add(5 * time.Minute),
	}
}

// newSession returns a session of a new random user, signed in at now, for
// 90 days, with a refresh token valid for 30 days.
func newSession(now time.Time) phoneauth.Session {
	return phoneauth.Session{
		ID:               randomString(26),
		UserID:           "user-" + randomString(20),
		Phone:            randomPhone(),
		Device:           phoneauth.Device{ID: "device-" + randomString(8), Type: "android", Name: "Pixel 9", PlatformVersion: "15", PushToken: "fcm-" + randomString(12)},
		CreatedAt:        now,
		ExpiresAt:        now.Add(90 * 24 * time.Hour),
		RefreshHash:      randomHash(),
		RefreshedAt:      now,
		RefreshExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

// wantErr fails t unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr fails t if err is not nil.
func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameMetadata compares metadata, a nil and an empty map being the same.
func sameMetadata(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// checkChallenge fails t unless got equals want field by field.
func checkChallenge(t *testing.T, what string, got, want phoneauth.Challenge) {
	t.Helper()
	var diffs []string
	diff := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.Key != want.Key {
		diff("Key", got.Key, want.Key)
	}
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.Phone != want.Phone {
		diff("Phone", got.Phone, want.Phone)
	}
	if got.UserID != want.UserID {
		diff("UserID", got.UserID, want.UserID)
	}
	if got.Channel != want.Channel {
		diff("Channel", got.Channel, want.Channel)
	}
	if !bytes.Equal(got.CodeHash, want.CodeHash) {
		diff("CodeHash", fmt.Sprintf("%x", got.CodeHash), fmt.Sprintf("%x", want.CodeHash))
	}
	if got.Attempts != want.Attempts {
		diff("Attempts", got.Attempts, want.Attempts)
	}
	if got.MaxAttempts != want.MaxAttempts {
		diff("MaxAttempts", got.MaxAttempts, want.MaxAttempts)
	}
	if got.CreateUser != want.CreateUser {
		diff("CreateUser", got.CreateUser, want.CreateUser)
	}
	if !sameMetadata(got.Metadata, want.Metadata) {
		diff("Metadata", got.Metadata, want.Metadata)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		diff("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		diff("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	}
	if diffs != nil {
		t.Fatalf("%s: challenge differs: %v", what, diffs)
	}
}

// checkSession fails t unless got equals want field by field.
func checkSession(t *testing.T, what string, got, want phoneauth.Session) {
	t.Helper()
	var diffs []string
	diff := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.UserID != want.UserID {
		diff("UserID", got.UserID, want.UserID)
	}
	if got.Phone != want.Phone {
		diff("Phone", got.Phone, want.Phone)
	}
	if got.Device != want.Device {
		diff("Device", got.Device, want.Device)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		diff("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		diff("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	}
	if !bytes.Equal(got.RefreshHash, want.RefreshHash) {
		diff("RefreshHash", fmt.Sprintf("%x", got.RefreshHash), fmt.Sprintf("%x", want.RefreshHash))
	}
	if !got.RefreshedAt.Equal(want.RefreshedAt) {
		diff("RefreshedAt", got.RefreshedAt, want.RefreshedAt)
	}
	if !got.RefreshExpiresAt.Equal(want.RefreshExpiresAt) {
		diff("RefreshExpiresAt", got.RefreshExpiresAt, want.RefreshExpiresAt)
	}
	if diffs != nil {
		t.Fatalf("%s: session differs: %v", what, diffs)
	}
}

// concurrently runs fn(i) for i in [0, n) on n goroutines released at the
// same moment, and waits for all of them.
func concurrently(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}
