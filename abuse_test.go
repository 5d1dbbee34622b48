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

// signInOn requests and verifies a code for phone on device.
func (f *fixture) signInOn(phone, device string) phoneauth.SignIn {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phone, DeviceID: device, IP: ownerIP}); err != nil {
		f.t.Fatalf("request on %s: %v", device, err)
	}
	in, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phone, Code: f.lastCode(), Device: phoneauth.Device{ID: device}, IP: ownerIP})
	if err != nil {
		f.t.Fatalf("verify on %s: %v", device, err)
	}
	return in
}

// Hole 3: the access token of a dead session (logged out, revoked for
// token reuse) is refused by ValidateSession and cannot start or confirm a
// phone change, although it still passes ValidateAccessToken.
func TestDeadSessionCannotChangeThePhone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	loggedOut := f.signInOn(phonePK, ownerDevice)
	if _, err := f.auth.ValidateSession(ctx, loggedOut.Tokens.AccessToken); err != nil {
		t.Fatalf("ValidateSession of a live session: %v", err)
	}
	if err := f.auth.Logout(ctx, loggedOut.Tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	reused := f.signInOn(phonePK, "second-device")
	if _, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: reused.Tokens.RefreshToken, IP: ownerIP}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute) // past the reuse grace
	if _, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: reused.Tokens.RefreshToken, IP: attackerIP}); !errors.Is(err, phoneauth.ErrTokenReused) {
		t.Fatalf("reuse: %v", err)
	}
	for name, in := range map[string]phoneauth.SignIn{"logged out": loggedOut, "revoked for reuse": reused} {
		if _, err := f.auth.ValidateAccessToken(ctx, in.Tokens.AccessToken); err != nil {
			t.Fatalf("%s: the access token itself is still valid until it expires: %v", name, err)
		}
		if _, err := f.auth.ValidateSession(ctx, in.Tokens.AccessToken); !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Errorf("%s: ValidateSession = %v, want ErrInvalidToken", name, err)
		}
		_, err := f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: "+919876543219", IP: attackerIP})
		if !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Errorf("%s: StartPhoneVerification = %v, want ErrInvalidToken", name, err)
		}
		err = f.auth.ConfirmPhoneVerification(ctx, phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: "+919876543219", RequestID: "x", Code: "123456", IP: attackerIP})
		if !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Errorf("%s: ConfirmPhoneVerification = %v, want ErrInvalidToken", name, err)
		}
	}
	if u, err := f.store.UserByPhone(ctx, phonePK); err != nil || u.ID != loggedOut.User.ID {
		t.Fatalf("the owner's phone: %+v, %v", u, err)
	}
}

// Hole 3: a phone change needs a recent sign-in; it ends the user's other
// sessions (a thief's), tells the old number without a code, reports
// EventPhoneChanged, and the session that made it carries the new phone.
func TestPhoneChangeNeedsRecentSignInAndEndsOtherSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const newPhone = "+919876543219"
	thief := f.signInOn(phonePK, "thief-device") // say, a stolen session
	f.clock.Advance(time.Minute)
	old := f.signInOn(phonePK, ownerDevice)
	f.clock.Advance(phoneauth.DefaultRecentSignIn) // old's sign-in is 10 min old, thief's 11
	start := func(in phoneauth.SignIn) (phoneauth.PhoneVerification, error) {
		return f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: newPhone, IP: ownerIP})
	}
	if _, err := start(thief); !errors.Is(err, phoneauth.ErrReauthenticationRequired) {
		t.Fatalf("a phone change from a session signed in 11 minutes ago: %v, want ErrReauthenticationRequired", err)
	}
	pv, err := start(old) // exactly RecentSignIn ago is still recent
	if err != nil {
		t.Fatalf("a phone change 10 minutes after sign-in: %v", err)
	}
	code := f.lastCode()
	f.clock.Advance(time.Second)
	confirm := phoneauth.ConfirmPhoneVerificationParams{UserID: old.User.ID, SessionID: old.Session.ID, Phone: newPhone, RequestID: pv.RequestID, Code: code, IP: ownerIP}
	if err := f.auth.ConfirmPhoneVerification(ctx, confirm); !errors.Is(err, phoneauth.ErrReauthenticationRequired) {
		t.Fatalf("confirming past RecentSignIn: %v, want ErrReauthenticationRequired", err)
	}
	// A fresh sign-in allows it.
	fresh := f.signInOn(phonePK, ownerDevice)
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	if pv, err = start(fresh); err != nil {
		t.Fatal(err)
	}
	confirm = phoneauth.ConfirmPhoneVerificationParams{UserID: fresh.User.ID, SessionID: fresh.Session.ID, Phone: newPhone, RequestID: pv.RequestID, Code: f.lastCode(), IP: ownerIP, Locale: "en"}
	sentBefore := f.sentCount()
	if err := f.auth.ConfirmPhoneVerification(ctx, confirm); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]phoneauth.SignIn{"thief": thief, "old": old} {
		if _, err := f.auth.ValidateSession(ctx, in.Tokens.AccessToken); !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Errorf("%s session after the phone change: %v, want it ended", name, err)
		}
		if _, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: attackerIP}); !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Errorf("%s session refreshes after the phone change: %v", name, err)
		}
	}
	next, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: fresh.Tokens.RefreshToken, IP: ownerIP})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := f.auth.ValidateSession(ctx, next.Tokens.AccessToken)
	if err != nil || claims.Phone != newPhone {
		t.Fatalf("claims after the change: %+v, %v; want phone %s", claims, err, newPhone)
	}
	// The old number got a notice without a code.
	if f.sentCount() != sentBefore+1 {
		t.Fatalf("%d messages sent by the change, want 1", f.sentCount()-sentBefore)
	}
	f.mu.Lock()
	notice := f.sent[len(f.sent)-1]
	var changed []phoneauth.Event
	for _, e := range f.events {
		if e.Kind == phoneauth.EventPhoneChanged {
			changed = append(changed, e)
		}
	}
	f.mu.Unlock()
	if notice.To != phonePK || notice.Code != "" || !strings.Contains(notice.Text, phoneauth.MaskPhone(newPhone)) || strings.Contains(notice.Text, code) {
		t.Errorf("notice %+v", notice)
	}
	if len(changed) != 1 || changed[0].OldPhone != phonePK || changed[0].Phone != newPhone || changed[0].SessionID != fresh.Session.ID {
		t.Errorf("phone_changed events %+v", changed)
	}
}

// Paid lockout, sending side: a stranger who spends the phone's send
// budget (each request an SMS to the victim) blocks the owner's requests;
// with a captcha verifier the owner's request escalates to "captcha
// required" instead, and with a solved captcha goes through, within a
// bounded captcha budget.
func TestPaidLockoutEscalatesToCaptcha(t *testing.T) {
	human := captchaFunc(func(_ context.Context, token, _ string) error {
		if token != "solved" {
			return phoneauth.ErrCaptchaFailed
		}
		return nil
	})
	for _, tc := range []struct {
		name      string
		captcha   bool
		onlyOver  bool
		plain     bool  // a Limiter that decides limits one by one
		ownerSees error // the owner's request without a captcha token
	}{
		{"no captcha", false, false, false, phoneauth.ErrRateLimited},
		{"captcha over the limit", true, true, false, phoneauth.ErrCaptchaRequired},
		{"captcha over the limit, one limit at a time", true, true, true, phoneauth.ErrCaptchaRequired},
		{"captcha always", true, false, false, phoneauth.ErrCaptchaFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *phoneauth.Config) {
				if tc.captcha {
					c.Captcha, c.CaptchaOnlyOverLimit = human, tc.onlyOver
				}
				c.Limits.ResendCooldown = -1 // the clock stands still: no refill
				if tc.plain {
					c.Limiter = plainLimiter{phoneauth.NewMemoryLimiter(0)}
				}
			})
			ctx := context.Background()
			token := ""
			if tc.captcha && !tc.onlyOver {
				token = "solved" // the attacker solves captchas too
			}
			attacker := func(i int, token string) error {
				_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: fmt.Sprintf("attacker-%d", i), IP: fmt.Sprintf("203.0.113.%d", i+1), CaptchaToken: token})
				return err
			}
			limits := phoneauth.DefaultLimits()
			for i := range limits.PerPhone.Events {
				if err := attacker(i, token); err != nil {
					t.Fatalf("attacker's request %d: %v", i, err)
				}
			}
			owner := phoneauth.RequestParams{Phone: phonePK, DeviceID: ownerDevice, IP: ownerIP}
			_, err := f.auth.Request(ctx, owner)
			if !errors.Is(err, tc.ownerSees) {
				t.Fatalf("owner's request without a captcha: %v, want %v", err, tc.ownerSees)
			}
			if errors.Is(err, phoneauth.ErrRateLimited) {
				if wait := retryAfter(t, err, "phone"); wait <= 0 || wait > limits.PerPhone.Per {
					t.Fatalf("retry after %s", wait)
				}
			}
			if !tc.captcha {
				return
			}
			owner.CaptchaToken = "wrong"
			if _, err := f.auth.Request(ctx, owner); !errors.Is(err, phoneauth.ErrCaptchaFailed) {
				t.Fatalf("owner's request with a bad captcha: %v", err)
			}
			owner.CaptchaToken = "solved"
			if _, err := f.auth.Request(ctx, owner); err != nil {
				t.Fatalf("owner's request with a solved captcha: %v", err)
			}
			if _, err := f.ownerVerify(phonePK, f.lastCode()); err != nil {
				t.Fatalf("owner's verify: %v", err)
			}
			// The captcha budget is bounded too: the owner used one.
			extra := 0
			for ; extra < 100; extra++ {
				if err := attacker(100+extra, "solved"); err != nil {
					retryAfter(t, err, "phone-captcha")
					break
				}
			}
			if want := limits.PerPhoneWithCaptcha.Events - 1; extra != want {
				t.Fatalf("%d more codes with captchas, want %d", extra, want)
			}
		})
	}
}

// Paid lockout, verifying side, at the defaults: a stranger who has codes
// sent to the victim's number (from their own device) and guesses them
// wrong spends the phone's failed-verify budget, and the owner's correct
// code is refused while it is spent. The test plays it for four hours,
// the owner trying to sign in every six minutes, and measures how many SMS
// per hour the lockout costs the attacker (10: one code per guess, as a
// code expires before the budget refills); docs/security.md cites it.
func TestPaidVerifyLockoutCost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	limits := phoneauth.DefaultLimits()
	var code string
	attempts, sms, ownerBlocked, ownerTries := phoneauth.DefaultMaxAttempts, 0, 0, 0
	const hours = 4
	step := limits.FailedVerifies.Per / time.Duration(limits.FailedVerifies.Events) // the budget's refill
	// wait is whether the attacker waits for the cooldown between codes.
	wait := true
	var guess func() error
	guess = func() error {
		if attempts == phoneauth.DefaultMaxAttempts {
			if wait {
				f.clock.Advance(limits.ResendCooldown)
			}
			if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: attackerDevice, IP: attackerIP}); err != nil {
				t.Fatalf("attacker's request: %v", err)
			}
			code, attempts, sms = f.lastCode(), 0, sms+1
		}
		attempts++
		_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: wrong(code), Device: phoneauth.Device{ID: attackerDevice}, IP: attackerIP})
		if errors.Is(err, phoneauth.ErrVerificationFailed) { // the code expired: another one
			attempts = phoneauth.DefaultMaxAttempts
			return guess()
		}
		if err != nil && !errors.Is(err, phoneauth.ErrInvalidOTP) && !errors.Is(err, phoneauth.ErrRateLimited) {
			t.Fatalf("attacker's guess: %v", err)
		}
		return err
	}
	// The attacker spends the budget, then guesses each refill away, on
	// the clock of the owner's tries.
	for !errors.Is(guess(), phoneauth.ErrRateLimited) {
	}
	smsAtStart, wait := sms, false
	for range hours * int(time.Hour/step) {
		f.clock.Advance(step / 2)
		// The owner tries to sign in.
		ownerTries++
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: ownerDevice, IP: ownerIP})
		if err == nil {
			_, err = f.ownerVerify(phonePK, f.lastCode())
		}
		switch {
		case errors.Is(err, phoneauth.ErrRateLimited):
			ownerBlocked++
		case err != nil:
			t.Fatalf("owner: %v", err)
		}
		f.clock.Advance(step - step/2)
		for !errors.Is(guess(), phoneauth.ErrRateLimited) {
		}
	}
	sms -= smsAtStart
	t.Logf("at the defaults the attacker kept the owner out %d of %d tries over %d hours with %d SMS to start and %.1f SMS per hour", ownerBlocked, ownerTries, hours, smsAtStart, float64(sms)/hours)
	if ownerBlocked != ownerTries {
		t.Fatalf("the owner got in %d of %d times: the paid verify lockout did not hold as docs/security.md says", ownerTries-ownerBlocked, ownerTries)
	}
	// Codes live 5 minutes and the budget refills one guess per 6: each
	// guess needs a new code.
	if perHour := float64(sms) / hours; perHour != 10 {
		t.Fatalf("%.1f SMS per hour, docs/security.md says 10", perHour)
	}
}

// plainLimiter hides the BatchLimiter of the Limiter it wraps.
type plainLimiter struct{ phoneauth.Limiter }

// A signed-in user's phone verification carries no captcha token: with a
// captcha verifier it is neither asked for one nor escalated to "captcha
// required", which it could not answer.
func TestPhoneVerificationWithACaptchaVerifier(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Captcha = captchaFunc(func(_ context.Context, token, _ string) error {
			if token != "solved" {
				return phoneauth.ErrCaptchaFailed
			}
			return nil
		})
		c.Limits.ResendCooldown = -1
	})
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, DeviceID: ownerDevice, IP: ownerIP, CaptchaToken: "solved"}); err != nil {
		t.Fatal(err)
	}
	in, err := f.ownerVerify(phonePK, f.lastCode())
	if err != nil {
		t.Fatal(err)
	}
	p := phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: phonePK2, IP: ownerIP}
	for i := range phoneauth.DefaultLimits().PerPhone.Events {
		if _, err := f.auth.StartPhoneVerification(ctx, p); err != nil {
			t.Fatalf("phone verification %d: %v", i, err)
		}
	}
	_, err = f.auth.StartPhoneVerification(ctx, p)
	retryAfter(t, err, "phone")
	if errors.Is(err, phoneauth.ErrCaptchaRequired) {
		t.Fatal("a phone verification was asked for a captcha it cannot send")
	}
}

// A client that names no device (GoTrue-style, seed 002) verifies without
// one, and a named device does not find its code.
func TestDevicelessClientPairsWithDevicelessVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, IP: ownerIP}); err != nil {
		t.Fatal(err)
	}
	code := f.lastCode()
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: code, Device: phoneauth.Device{ID: "some-device"}, IP: ownerIP}); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("a named device verifying a device-less code: %v", err)
	}
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: code, IP: ownerIP}); err != nil {
		t.Fatalf("device-less verify: %v", err)
	}
}

// A resend that finds nothing pending sends nothing, but it tells whether a
// code is pending: it counts as a request of its address (Limits.PerIP), so
// that one address cannot probe phone after phone for pending codes at no
// cost. Once the address is spent, a phone with a code pending and one
// without are both refused alike.
func TestResendWithNothingPendingCountsAgainstTheAddress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const prober = "198.51.100.7"
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	perIP := phoneauth.DefaultLimits().PerIP.Events
	for i := range perIP {
		phone := fmt.Sprintf("+92301%07d", 1000+i)
		if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{Phone: phone, IP: prober}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
			t.Fatalf("probe %d of %s: %v, want ErrNoPendingCode", i, phone, err)
		}
	}
	for _, phone := range []string{"+923012000001", phonePK} { // nothing pending; a code pending
		_, err := f.auth.Resend(ctx, phoneauth.RequestParams{Phone: phone, IP: prober})
		var rl *phoneauth.RateLimitError
		if !errors.As(err, &rl) || rl.Scope != "ip" {
			t.Errorf("resend of %s from a spent address: %v, want a per-address *RateLimitError", phone, err)
		}
	}
	if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{Phone: "+923012000001", IP: "192.0.2.2"}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
		t.Errorf("another address: %v, want ErrNoPendingCode", err)
	}
	if n := f.sentCount(); n != 1 {
		t.Errorf("%d messages sent, want the one request's", n)
	}
}
