package httpadapter_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// A request whose peer has no address (a Unix socket) counts as the one
// shared client "unknown" unless WithTrustedUnixSocket trusts the socket's
// X-Forwarded-For: the per-address limits never switch off.
func TestUnixSocketPeerFailsClosed(t *testing.T) {
	const perIP = 10
	limits := func(c *phoneauth.Config) { c.Limits.PerIP = phoneauth.Limit{Events: perIP, Per: 10 * time.Minute} }
	request := func(f *fixture, i int, headers ...string) int {
		t.Helper()
		return f.do("POST", "/auth/otp/request", requestBody(pkPhone(i), fmt.Sprintf("dev-%d", i)), headers...).Code
	}
	for _, peer := range []string{"@", "", "/run/app.sock"} {
		f := newFixture(t, limits)
		for i := range perIP {
			if code := request(f, i, "RemoteAddr", peer, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusOK {
				t.Fatalf("peer %q: request %d: status %d", peer, i, code)
			}
		}
		w := f.do("POST", "/auth/otp/request", requestBody(pkPhone(99), "dev-99"), "RemoteAddr", peer, "X-Forwarded-For", "198.51.100.200")
		wantError(t, w, http.StatusTooManyRequests, httpadapter.CodeRateLimited, "")
	}
	f := newFixture(t, limits, httpadapter.WithTrustedUnixSocket())
	for i := range perIP + 5 {
		if code := request(f, i, "RemoteAddr", "@", "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)); code != http.StatusOK {
			t.Fatalf("trusted socket: request %d: status %d", i, code)
		}
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "@"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 198.51.100.9")
	if got := f.h.ClientIP(r); got.String() != "198.51.100.9" {
		t.Fatalf("ClientIP behind a trusted socket = %s", got)
	}
}

// The phone-verification routes need a live session: after logout the
// access token, still unexpired, gets 401 UN_AUTHORIZED there, and
// RequireSession refuses it where RequireAuth lets it through. A session
// signed in more than RecentSignIn ago gets 403 reauthentication_required.
func TestPhoneRoutesNeedALiveRecentSession(t *testing.T) {
	f := newFixture(t, nil)
	in := f.signIn("+923012345678")
	token := in.Token.AccessToken
	body := `{"phone_number": "9876543219", "countryCode": "+91"}`
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	stateless, live := f.h.RequireAuth(ok), f.h.RequireSession(ok)
	if w := serve(live, "GET", "/", "", "Authorization", "Bearer "+token); w.Code != http.StatusNoContent {
		t.Fatalf("RequireSession with a live session: %d", w.Code)
	}
	decodeEnvelope(t, f.do("POST", "/auth/logout", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 200)

	if w := serve(stateless, "GET", "/", "", "Authorization", "Bearer "+token); w.Code != http.StatusNoContent {
		t.Fatalf("RequireAuth after logout: %d (stateless: the token is valid until it expires)", w.Code)
	}
	if w := serve(live, "GET", "/", "", "Authorization", "Bearer "+token); w.Code != http.StatusUnauthorized {
		t.Fatalf("RequireSession after logout: %d, want 401", w.Code)
	}
	for _, path := range []string{"/fe/users/auth/otp/register", "/fe/users/auth/otp/resend", "/fe/users/auth/otp/verify"} {
		b := body
		if strings.HasSuffix(path, "verify") {
			b = `{"phone_number": "9876543219", "countryCode": "+91", "authCode": "x", "otp": "123456"}`
		}
		if m := wantBare(t, f.do("POST", path, b, "user-jwt-token", token), 401); m["code"] != httpadapter.CodeUnauthorized {
			t.Errorf("%s with a logged-out session's token: %v", path, m)
		}
	}

	f.clock.Advance(time.Minute)
	old := f.signIn("+923012345678")
	f.clock.Advance(11 * time.Minute)
	refreshed := data[signInData](t, decodeEnvelope(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+old.Token.RefreshToken+`"}`), 200))
	m := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", body, "user-jwt-token", refreshed.Token.AccessToken), 403)
	if m["code"] != httpadapter.CodeReauthRequired {
		t.Errorf("phone change 11 minutes after sign-in: %v", m)
	}
}

// With a captcha verifier asked only over the limit, a code request over
// the per-phone limit gets 429 captcha_required with Retry-After, and the
// same request with a solved captcha gets its code.
func TestCaptchaRequiredOverHTTP(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Captcha = captchaFunc(func(_ context.Context, token, _ string) error {
			if token != "solved" {
				return phoneauth.ErrCaptchaFailed
			}
			return nil
		})
		c.CaptchaOnlyOverLimit = true
		c.Limits.ResendCooldown = -1
	})
	phone := "+923012345678"
	for i := range 3 {
		decodeEnvelope(t, f.do("POST", "/auth/otp/request", requestBody(phone, fmt.Sprintf("attacker-%d", i))), 200)
	}
	w := f.do("POST", "/auth/otp/request", requestBody(phone, "owner"))
	wantError(t, w, http.StatusTooManyRequests, httpadapter.CodeCaptchaRequired, "")
	if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	decodeEnvelope(t, f.do("POST", "/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "owner", "captchaToken": "solved"}`), 200)
}

// Probing /otp/resend for pending codes costs an address what requesting
// codes does: its 409s count against the per-address limit, and once that
// is spent a phone with a code pending and one without get the same 429.
func TestResendProbesAreLimitedPerAddress(t *testing.T) {
	const perIP = 10
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.PerIP = phoneauth.Limit{Events: perIP, Per: 10 * time.Minute} })
	f.requestCodeFrom("+923012345678", "") // pending, for device-less clients like the prober
	f.clock.Advance(time.Minute)           // past the resend cooldown
	const prober = "198.51.100.7:4000"
	for i := range perIP {
		w := f.do("POST", "/auth/otp/resend", fmt.Sprintf(`{"phone": %q}`, pkPhone(100+i)), "RemoteAddr", prober)
		wantError(t, w, http.StatusConflict, httpadapter.CodeNoPendingCode, "")
	}
	for _, phone := range []string{pkPhone(200), "+923012345678"} {
		w := f.do("POST", "/auth/otp/resend", fmt.Sprintf(`{"phone": %q}`, phone), "RemoteAddr", prober)
		wantError(t, w, http.StatusTooManyRequests, httpadapter.CodeRateLimited, "")
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", phone)
		}
	}
}
