package phoneauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// The benchmarks of the two main flows, each beside a floor that does only
// the work the flow cannot avoid. BENCHMARKS.md has the figures and the
// command.

const benchPhones = 1000

// benchPhone returns the i-th of a set of valid Pakistani mobile numbers.
func benchPhone(i int) string { return fmt.Sprintf("+92300%07d", i) }

func newBenchAuthenticator(b *testing.B) (*Authenticator, *ManualClock) {
	b.Helper()
	key, err := GenerateEd25519Key("bench")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := NewKeySet(key)
	if err != nil {
		b.Fatal(err)
	}
	clock := NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := New(Config{
		Store:  NewMemoryStore(),
		Sender: SenderFunc(func(context.Context, Message) (string, error) { return "m", nil }),
		Secret: []byte("a test secret: 32 bytes or more, of many different bytes"),
		Tokens: TokenConfig{Keys: keys},
		Clock:  clock,
		Limits: Limits{PerPhone: Unlimited, PerIP: Unlimited, PerDevice: Unlimited, Global: Unlimited, FailedVerifies: Unlimited, ResendCooldown: -1,
			VerifyPerIP: Unlimited, RefreshPerIP: Unlimited, PerRange: Unlimited, PerCountry: Unlimited,
			UnverifiedPerRange: Unlimited, UnverifiedPerCountry: Unlimited},
		// The limits are off to measure the flow itself, which New refuses
		// as guessable unless told so.
		AllowWeakCodes: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a, clock
}

// BenchmarkRequest: Request for a pool of phones (the phone cache hits).
func BenchmarkRequest(b *testing.B) {
	a, _ := newBenchAuthenticator(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := a.Request(ctx, RequestParams{Phone: benchPhone(i % benchPhones), DeviceID: "d", IP: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRequestNewPhones: Request for a new phone every time (the phone
// cache misses).
func BenchmarkRequestNewPhones(b *testing.B) {
	a, _ := newBenchAuthenticator(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := a.Request(ctx, RequestParams{Phone: benchPhone(i), DeviceID: "d", IP: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRequestFloor: the unavoidable work of a request: parse and
// check the phone, generate a code, and MAC it.
func BenchmarkRequestFloor(b *testing.B) {
	secret := []byte("a test secret: 32 bytes or more, of many different bytes")
	var policy PhonePolicy
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ph, err := ParsePhone(benchPhone(i), "")
		if err != nil {
			b.Fatal(err)
		}
		if err := policy.Check(ph); err != nil {
			b.Fatal(err)
		}
		codeMAC(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", ph.E164, generateCode(6))
		i++
	}
}

// BenchmarkVerify: Verify of a pending code for a pool of existing users.
// Putting the challenge is outside the timer.
func BenchmarkVerify(b *testing.B) {
	a, clock := newBenchAuthenticator(b)
	ctx := context.Background()
	now := clock.Now()
	put := func(i int) {
		phone := benchPhone(i % benchPhones)
		c := Challenge{Key: loginKey(phone, "d"), ID: newID(), Phone: phone, MaxAttempts: 5, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		c.CodeHash = codeMAC(a.cfg.Secret, c.Key, phone, "123456")
		if err := a.store.PutChallenge(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchPhones { // create the users
		put(i)
		if _, err := a.Verify(ctx, VerifyParams{Phone: benchPhone(i), Code: "123456", Device: Device{ID: "d"}, IP: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		put(i)
		b.StartTimer()
		if _, err := a.Verify(ctx, VerifyParams{Phone: benchPhone(i % benchPhones), Code: "123456", Device: Device{ID: "d"}, IP: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVerifyFloor: the unavoidable work of a verification: parse the
// phone, MAC the code, sign an access token with Ed25519, and make and hash
// a refresh token.
func BenchmarkVerifyFloor(b *testing.B) {
	secret := []byte("a test secret: 32 bytes or more, of many different bytes")
	_, priv, _ := ed25519.GenerateKey(nil)
	msg := bytes.Repeat([]byte("x"), 330) // the size of a header.claims
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ph, err := ParsePhone(benchPhone(i%benchPhones), "")
		if err != nil {
			b.Fatal(err)
		}
		codeMAC(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", ph.E164, "123456")
		ed25519.Sign(priv, msg)
		refresh := newID() + "." + randomBase64(32)
		sha256.Sum256([]byte(refresh))
		i++
	}
}
