package httpadapter_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// generous turns the limits off, so that fuzzing and benchmarks reach past
// them.
func generous(c *phoneauth.Config) {
	c.Limits = phoneauth.Limits{
		PerPhone:       phoneauth.Unlimited,
		PerIP:          phoneauth.Unlimited,
		PerDevice:      phoneauth.Unlimited,
		Global:         phoneauth.Unlimited,
		FailedVerifies: phoneauth.Unlimited,
		ResendCooldown: -1,
		VerifyPerIP:    phoneauth.Unlimited,
		RefreshPerIP:   phoneauth.Unlimited,
		PerRange:       phoneauth.Unlimited,
		PerCountry:     phoneauth.Unlimited,

		UnverifiedPerRange:   phoneauth.Unlimited,
		UnverifiedPerCountry: phoneauth.Unlimited,
	}
	c.AllowWeakCodes = true // no limits at all: the fuzzer is no attacker
}

// fuzzRoute feeds fuzzed bodies to one route: whatever the body, the answer
// is a JSON 2xx or 4xx, never a 5xx or a panic.
func fuzzRoute(f *testing.F, path string, seeds ...string) {
	fx := newFixture(f, generous)
	fx.requestCode("+923012345678") // something pending to verify or resend
	token := fx.signIn("+923001234567").Token.AccessToken
	for _, s := range append(seeds, ``, `{}`, `null`, `[]`, `{"a":`, `"x"`, `{"otp": 1e999}`, "{\"phone\": \"\xff\"}") {
		f.Add(s, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("user-jwt-token", token)
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		if w.Code >= 500 || w.Code < 200 {
			t.Fatalf("%q (%q): %d %s", body, contentType, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: invalid JSON response %q", body, w.Body)
		}
	})
}

func FuzzRequestBody(f *testing.F) {
	fuzzRoute(f, "/auth/otp/request", seedRequestOTP,
		`{"phone": "03012345678", "country": "PK", "deviceId": "d", "channel": "whatsapp", "createUser": true, "metadata": {"a": [1]}}`,
		`{"phone": "+923012345678", "deviceId": "d", "channel": 5}`)
}

func FuzzResendBody(f *testing.F) {
	fuzzRoute(f, "/auth/otp/resend", seedRequestOTP, `{"phone": "+923012345678", "deviceId": "d", "channel": "sms"}`)
}

func FuzzVerifyBody(f *testing.F) {
	fuzzRoute(f, "/auth/otp/verify", seedVerifyOTP,
		`{"otpInfo": {"phone": "+923012345678", "otp": 123456}, "deviceInfo": {"deviceId": "d"}, "requestId": "x"}`,
		`{"otpInfo": {"phone": "+923012345678", "otp": "12345678901234567890"}, "deviceInfo": {"deviceId": "d"}}`)
}

func FuzzRefreshBody(f *testing.F) {
	fuzzRoute(f, "/auth/token/refresh", `{"refreshToken": "abc.def"}`, `{"refreshToken": 1}`)
}

func FuzzLogoutBody(f *testing.F) {
	fuzzRoute(f, "/auth/logout", `{"refreshToken": "abc.def"}`, `{"refreshToken": ""}`)
}

func FuzzPhoneRegisterBody(f *testing.F) {
	fuzzRoute(f, "/fe/users/auth/otp/register", seedRegisterPhone, seedResendPhone, `{"phone_number": "+919876543219"}`)
}

func FuzzPhoneResendBody(f *testing.F) {
	fuzzRoute(f, "/fe/users/auth/otp/resend", seedResendPhone, `{"phone_number": "9876543219", "countryCode": "IN"}`)
}

func FuzzPhoneVerifyBody(f *testing.F) {
	fuzzRoute(f, "/fe/users/auth/otp/verify", seedVerifyPhone,
		`{"phone_number": "9876543219", "countryCode": "+91", "authCode": "ABC", "otp": "123456"}`)
}
