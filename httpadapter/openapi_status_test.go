package httpadapter_test

import (
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// TestOpenAPIDocumentsTheStatusesRoutesAnswer: a status a route really
// answers (each produced here) is among the route's responses in the
// OpenAPI document, so that a client generated from it knows the answer.
func TestOpenAPIDocumentsTheStatusesRoutesAnswer(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Limits.RefreshPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
	})
	answered := func(path, body string, status int, headers ...string) {
		t.Helper()
		// f.do checks that the document lists the status.
		if w := f.do("POST", path, body, headers...); w.Code != status {
			t.Fatalf("POST %s: %d, want %d; body %s", path, w.Code, status, w.Body)
		}
	}
	const tollFree = "+18002752273"

	// A number that policy refuses is 422 on verify too.
	answered("/auth/otp/verify", verifyWithoutDevice(tollFree, "123456"), 422)

	// The per-address refresh limit.
	in := f.signIn("+923012345678")
	f.clock.Advance(time.Second)
	next := data[signInData](t, decodeEnvelope(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 200))
	answered("/auth/token/refresh", `{"refreshToken": "`+next.Token.RefreshToken+`"}`, 429)

	// Phone verification: a refused number, and a session that signed in
	// too long ago to change the phone.
	tok := "Bearer " + f.signIn("+923012345679").Token.AccessToken
	answered("/fe/users/auth/otp/verify", `{"phone_number": "`+tollFree+`", "authCode": "123456", "otp": "123456"}`, 422, "Authorization", tok)
	f.clock.Advance(11 * time.Minute)
	for _, path := range []string{"/fe/users/auth/otp/register", "/fe/users/auth/otp/resend"} {
		answered(path, `{"phone_number": "9876543219", "countryCode": "+91"}`, 403, "Authorization", tok)
	}
	answered("/fe/users/auth/otp/verify", `{"phone_number": "9876543219", "countryCode": "+91", "authCode": "123456", "otp": "123456"}`, 403, "Authorization", tok)
}
