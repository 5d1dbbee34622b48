package phoneauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// The tests of this file hold what clients written against the seeds, and
// developers wiring the library in, rely on (see the README's "Seed
// compatibility").

// New reports every missing or invalid field at once, each matching
// ErrInvalidConfig.
func TestNewReportsEveryConfigProblem(t *testing.T) {
	_, err := phoneauth.New(phoneauth.Config{CodeLength: 3, MaxAttempts: -1, DefaultChannel: "pigeon"})
	if !errors.Is(err, phoneauth.ErrInvalidConfig) {
		t.Fatalf("New(Config{…}) = %v", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("%T is not a joined error", err)
	}
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, phoneauth.ErrInvalidConfig) {
			t.Errorf("%v does not match ErrInvalidConfig", e)
		}
	}
	for _, want := range []string{"Store is required", "Sender is required", "Secret must be at least 32 bytes",
		"CodeLength must be 4 to 10", "MaxAttempts must be positive", `unknown DefaultChannel "pigeon"`, "Tokens.Keys is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := len(joined.Unwrap()); n != 7 {
		t.Errorf("%d problems reported, want 7:\n%v", n, err)
	}
}

// Without a Logger, the library's warnings reach slog.Default(); its
// routine lines do not.
func TestWarningsReachSlogDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))

	f := newFixture(t, func(c *phoneauth.Config) { c.Logger, c.Development = nil, true })
	f.request(phonePK)
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "DEVELOPMENT MODE") {
		t.Fatalf("the development-mode warning did not reach slog.Default():\n%s", out)
	}
	if strings.Contains(out, "code sent") {
		t.Fatalf("a routine line reached slog.Default():\n%s", out)
	}
}

// A wrong code says how many attempts are left, down to 0; then the code
// is dead.
func TestInvalidOTPSaysAttemptsLeft(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	code := f.lastCode()
	for left := phoneauth.DefaultMaxAttempts - 1; left >= 0; left-- {
		_, err := f.verify(phonePK, wrong(code))
		var e *phoneauth.InvalidOTPError
		if !errors.As(err, &e) || !errors.Is(err, phoneauth.ErrInvalidOTP) || e.AttemptsLeft != left {
			t.Fatalf("wrong code: %v, want %d attempts left", err, left)
		}
	}
	if _, err := f.verify(phonePK, code); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("after the last attempt: %v", err)
	}
	// A malformed code costs no attempt and says nothing of them.
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	f.request(phonePK)
	var e *phoneauth.InvalidOTPError
	if _, err := f.verify(phonePK, "12"); !errors.Is(err, phoneauth.ErrInvalidOTP) || errors.As(err, &e) {
		t.Fatalf("malformed code: %v", err)
	}
}

// A country that is neither an ISO code nor a calling code is
// ErrInvalidCountry, which is also ErrInvalidPhone.
func TestUnknownCountry(t *testing.T) {
	f := newFixture(t)
	for _, country := range []string{"PAK", "Pakistan", "XX", "+999", "0092"} {
		_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: "3012345678", Country: country, IP: "192.0.2.1"})
		if !errors.Is(err, phoneauth.ErrInvalidCountry) || !errors.Is(err, phoneauth.ErrInvalidPhone) {
			t.Errorf("country %q: %v", country, err)
		}
	}
	if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: "12345", Country: "PK", IP: "192.0.2.1"}); errors.Is(err, phoneauth.ErrInvalidCountry) || !errors.Is(err, phoneauth.ErrInvalidPhone) {
		t.Errorf("invalid number of a known country: %v", err)
	}
}

// A refused number says why, as a Reason and in words.
func TestPhoneNotAllowedSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		policy phoneauth.PhonePolicy
		ph     phoneauth.Phone
		reason string
		words  string
	}{
		{phoneauth.PhonePolicy{}, phoneauth.Phone{Region: "GB", Type: phoneauth.NumberFixedLine}, phoneauth.ReasonLandline, "fixed-line numbers"},
		{phoneauth.PhonePolicy{}, phoneauth.Phone{Region: "US", Type: phoneauth.NumberTollFree}, phoneauth.ReasonTollFree, "toll-free numbers"},
		{phoneauth.PhonePolicy{}, phoneauth.Phone{Region: "GB", Type: phoneauth.NumberPremiumRate}, phoneauth.ReasonPremiumRate, "premium-rate numbers"},
		{phoneauth.PhonePolicy{}, phoneauth.Phone{Region: "GB", Type: phoneauth.NumberSharedCost}, phoneauth.ReasonSharedCost, "shared-cost numbers"},
		{phoneauth.PhonePolicy{}, phoneauth.Phone{Region: "GB", Type: phoneauth.NumberPager}, phoneauth.ReasonTypeNotAllowed, "pager numbers"},
		{phoneauth.PhonePolicy{DenyCountries: []string{"pk"}}, phoneauth.Phone{Region: "PK", Type: phoneauth.NumberMobile}, phoneauth.ReasonCountryNotAllowed, "numbers of PK"},
		{phoneauth.PhonePolicy{AllowCountries: []string{"AE"}}, phoneauth.Phone{Region: "PK", Type: phoneauth.NumberMobile}, phoneauth.ReasonCountryNotAllowed, "numbers of PK"},
		{phoneauth.PhonePolicy{AllowCountries: []string{"AE"}}, phoneauth.Phone{Region: "001", Type: phoneauth.NumberMobile}, phoneauth.ReasonSatellite, "satellite"},
	} {
		err := tc.policy.Check(tc.ph)
		var e *phoneauth.PhoneNotAllowedError
		if !errors.As(err, &e) || !errors.Is(err, phoneauth.ErrPhoneNotAllowed) || e.Reason != tc.reason || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("Check(%+v) under %+v = %v, want reason %s", tc.ph, tc.policy, err, tc.reason)
		}
	}
	// Every refusal of the default policy says why: a satellite number,
	// if refused, as "satellite".
	for _, number := range []string{"+870301234567", "+881612345678", "+18005550123", "+442079460000", "+923012345678"} {
		ph, err := phoneauth.ParsePhone(number, "")
		if err != nil {
			t.Fatal(err)
		}
		err = phoneauth.PhonePolicy{}.Check(ph)
		var e *phoneauth.PhoneNotAllowedError
		if err != nil && (!errors.As(err, &e) || e.Reason == "" || (ph.Region == "001" && e.Reason != phoneauth.ReasonSatellite)) {
			t.Errorf("%s: %v (%T) says no reason, or not the right one", number, err, err)
		}
	}
}

// A client that names no device when it asks for a code (seed 002) gets
// one, and verifies it without a device: the per-device limit does not
// apply, the per-phone and per-address limits do.
func TestRequestWithoutDevice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	in, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phonePK, Code: f.lastCode(), IP: "192.0.2.1"})
	if err != nil || in.Session.Device.ID != "" {
		t.Fatalf("verify without a device: %+v, %v", in.Session, err)
	}
	// More requests from one address than the per-device limit (5) allows
	// one device: requests without a device share no device bucket.
	for i := range 6 {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+92301%07d", 100+i), IP: "192.0.2.2"}); err != nil {
			t.Fatalf("request %d without a device: %v", i, err)
		}
	}

	// Limits: per phone (3 per 5 minutes) still applies without a device.
	f.clock.Advance(phoneauth.DefaultLimits().PerPhone.Per)
	for i := range 3 {
		f.clock.Advance(phoneauth.DefaultResendCooldown)
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK2, IP: "192.0.2." + strconv.Itoa(10+i)}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	_, err = f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK2, IP: "192.0.2.20"})
	retryAfter(t, err, "phone")
}

// The authCode of a phone verification is six digits and verifies as the
// text or, as seed 003 sends it, the same digits; a resend issues another.
func TestAuthCodeOfPhoneVerification(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := f.signInOn(phonePK, "dev-1")
	p := phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: "+919876543219", IP: "192.0.2.1"}
	pv, err := f.auth.StartPhoneVerification(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(pv.RequestID); err != nil || n < 100000 || n > 999999 {
		t.Fatalf("authCode %q", pv.RequestID)
	}
	f.clock.Advance(phoneauth.DefaultResendCooldown)
	pv2, err := f.auth.ResendPhoneVerification(ctx, p)
	if err != nil || pv2.RequestID == pv.RequestID || len(pv2.RequestID) != 6 {
		t.Fatalf("resend: %+v, %v", pv2, err)
	}
	confirm := phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, SessionID: in.Session.ID, Phone: p.Phone, IP: p.IP, RequestID: pv.RequestID, Code: f.lastCode()}
	if err := f.auth.ConfirmPhoneVerification(ctx, confirm); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("the replaced authCode: %v", err)
	}
	confirm.RequestID = pv2.RequestID
	if err := f.auth.ConfirmPhoneVerification(ctx, confirm); err != nil {
		t.Fatalf("the new authCode: %v", err)
	}
}
