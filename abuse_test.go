package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// The tests of this file play an attacker against the Authenticator at its
// default limits; docs/security.md cites them.

const (
	ownerDevice    = "owner-phone-install-7f3a"
	ownerIP        = "198.51.100.7"
	attackerDevice = "attacker-device"
	attackerIP     = "203.0.113.66"
)

// ownerRequest requests a code for phone from the owner's device and
// returns it.
func (f *fixture) ownerRequest(phone string) string {
	f.t.Helper()
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phone, DeviceID: ownerDevice, IP: ownerIP}); err != nil {
		f.t.Fatalf("owner's request: %v", err)
	}
	return f.lastCode()
}

func (f *fixture) ownerVerify(phone, code string) (phoneauth.SignIn, error) {
	return f.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: phone, Code: code, Device: phoneauth.Device{ID: ownerDevice}, IP: ownerIP})
}

// Hole 1: verifications that find nothing to verify (a phone with nothing
// pending, or only another device's code) spend no per-phone budget, so a
// stranger who causes no SMS cannot make the owner's correct code fail.
func TestFreeLockoutIsZero(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	attack := func(n int, device string) {
		t.Helper()
		for i := range n {
			// A fresh address per guess: the per-address limits are not
			// what stops this attacker.
			ip := fmt.Sprintf("203.0.%d.%d", i/200, i%200+1)
			_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: "000000", Device: phoneauth.Device{ID: device}, IP: ip})
			if !errors.Is(err, phoneauth.ErrVerificationFailed) {
				t.Fatalf("attacker's verify %d: %v", i, err)
			}
		}
	}
	// Before the owner asks for a code: nothing pending.
	attack(50, attackerDevice)
	attack(50, "")
	code := f.ownerRequest(phonePK)
	// While the owner's code is pending: other devices find nothing.
	attack(50, attackerDevice)
	attack(50, "")
	if _, err := f.ownerVerify(phonePK, code); err != nil {
		t.Fatalf("owner's correct code after 200 stranger verifies: %v", err)
	}
	if n := f.countEvents(phoneauth.EventRateLimited, nil); n != 0 {
		t.Fatalf("%d rate-limit events", n)
	}
}

// Hole 2: guesses from another device do not use up the attempts of the
// owner's pending code.
func TestStrangerCannotBurnThePendingCode(t *testing.T) {
	f := newFixture(t)
	code := f.ownerRequest(phonePK)
	for i := range 2 * phoneauth.DefaultMaxAttempts {
		_, err := f.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: phonePK, Code: wrong(code), Device: phoneauth.Device{ID: attackerDevice}, IP: attackerIP})
		if !errors.Is(err, phoneauth.ErrVerificationFailed) {
			t.Fatalf("guess %d from another device: %v", i, err)
		}
	}
	c, err := f.store.GetChallenge(context.Background(), phoneauth.LoginKey(phonePK, ownerDevice), f.clock.Now())
	if err != nil || c.Attempts != 0 {
		t.Fatalf("owner's challenge: attempts %d, %v", c.Attempts, err)
	}
	if _, err := f.ownerVerify(phonePK, code); err != nil {
		t.Fatalf("owner's code: %v", err)
	}
}

// Hole 4: a request from another device does not replace the owner's
// challenge, so the owner's code keeps the owner's signup wishes.
func TestRequestFromAnotherDeviceDoesNotReplaceTheOwnersCode(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupWithCreateUser })
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: ownerDevice, IP: ownerIP, CreateUser: true, Metadata: map[string]any{"name": "Owner"}}); err != nil {
		t.Fatal(err)
	}
	ownerCode := f.lastCode()
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: attackerDevice, IP: attackerIP, CreateUser: true, Metadata: map[string]any{"name": "Attacker"}}); err != nil {
		t.Fatal(err)
	}
	attackerCode := f.lastCode()
	c, err := f.store.GetChallenge(ctx, phoneauth.LoginKey(phonePK, ownerDevice), f.clock.Now())
	if err != nil || c.Metadata["name"] != "Owner" {
		t.Fatalf("owner's challenge after the attacker's request: %+v, %v", c, err)
	}
	if attackerCode != ownerCode { // the owner's device checks its own code only
		if _, err := f.ownerVerify(phonePK, attackerCode); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("attacker's code on the owner's device: %v", err)
		}
	}
	in, err := f.ownerVerify(phonePK, ownerCode)
	if err != nil || !in.IsNewUser {
		t.Fatalf("owner's code: %+v, %v", in, err)
	}
	u, err := f.store.UserByPhone(ctx, phonePK)
	if err != nil || u.ID != in.User.ID {
		t.Fatalf("user %+v, %v", u, err)
	}
	// Resend is per device too: the attacker's resend replaces only the
	// attacker's code.
	f.clock.Advance(time.Minute)
	code := f.ownerRequest(phonePK2)
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{Phone: phonePK2, DeviceID: attackerDevice, IP: attackerIP}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
		t.Fatalf("attacker's resend with nothing of their own pending: %v", err)
	}
	if _, err := f.ownerVerify(phonePK2, code); !errors.Is(err, phoneauth.ErrSignupNotAllowed) {
		t.Fatalf("owner's code after the attacker's resend: %v", err)
	}
}

// Spraying: one address cannot run 300 verifications over 300 numbers
// unrefused; a whole IPv6 /48 cannot either, by rotating its /64s.
func TestVerifySprayingIsLimitedPerAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		ip   func(i int) string
	}{
		{"one IPv4 address", func(int) string { return attackerIP }},
		{"one IPv6 /64", func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }},
		{"every /64 of a /48", func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			refused := 0
			for i := range 300 {
				phone := fmt.Sprintf("+92301%07d", i)
				_, err := f.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: phone, Code: "123456", Device: phoneauth.Device{ID: attackerDevice}, IP: tc.ip(i)})
				switch {
				case errors.Is(err, phoneauth.ErrRateLimited):
					retryAfter(t, err, "verify-ip")
					refused++
				case !errors.Is(err, phoneauth.ErrVerificationFailed):
					t.Fatalf("verify %d: %v", i, err)
				}
			}
			accepted := 300 - refused
			budget := phoneauth.DefaultLimits().VerifyPerIP.Events * phoneauth.DefaultIPv6AggregateFactor * phoneauth.DefaultIPv6AggregateFactor
			if refused == 0 || accepted > budget {
				t.Fatalf("%d of 300 verifications accepted, want at most %d", accepted, budget)
			}
			t.Logf("%d of 300 verifications accepted", accepted)
		})
	}
	// Refresh has its own per-address limit for well-formed tokens (a
	// malformed one costs no store call).
	f := newFixture(t)
	refused := 0
	wellFormed := strings.Repeat("A", 22) + "." + strings.Repeat("A", 43)
	for range 200 {
		_, err := f.auth.Refresh(context.Background(), phoneauth.RefreshParams{RefreshToken: wellFormed, IP: attackerIP})
		if errors.Is(err, phoneauth.ErrRateLimited) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("200 refreshes from one address in an instant all accepted")
	}
}

// Hole 6: the Go API requires a client address (NoIP opts out explicitly),
// and addresses that do not parse share one bucket instead of escaping the
// per-address limits.
func TestUnknownClientAddressFailsClosed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ie *phoneauth.InputError
	_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: "d"})
	if !errors.As(err, &ie) || ie.Field != "IP" || !errors.Is(err, phoneauth.ErrInvalidRequest) {
		t.Fatalf("Request without IP: %v", err)
	}
	_, err = f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: "123456"})
	if !errors.As(err, &ie) || ie.Field != "IP" {
		t.Fatalf("Verify without IP: %v", err)
	}
	_, err = f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: "x"})
	if !errors.As(err, &ie) || ie.Field != "IP" {
		t.Fatalf("Refresh without IP: %v", err)
	}
	if f.sentCount() != 0 {
		t.Fatal("a code was sent")
	}
	// Unparsable addresses, all different, are one client.
	perIP := phoneauth.DefaultLimits().PerIP.Events
	for i := range perIP {
		p := phoneauth.RequestParams{Phone: fmt.Sprintf("+92301%07d", i), IP: fmt.Sprintf("@socket-%d", i)}
		if _, err := f.auth.Request(ctx, p); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err = f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK2, IP: "garbage"})
	retryAfter(t, err, "ip")
	// NoIP: no per-address limit, the others still apply.
	for i := range 3 {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+92302%07d", i), IP: phoneauth.NoIP}); err != nil {
			t.Fatalf("NoIP request %d: %v", i, err)
		}
	}
}
