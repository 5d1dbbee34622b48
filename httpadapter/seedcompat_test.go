package httpadapter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// metadataUsers is a Users that records the metadata of the users it
// creates.
type metadataUsers struct {
	*phoneauth.MemoryStore
	mu       sync.Mutex
	metadata []map[string]any
}

func (u *metadataUsers) CreateUser(ctx context.Context, phone string, md map[string]any) (phoneauth.User, bool, error) {
	u.mu.Lock()
	u.metadata = append(u.metadata, md)
	u.mu.Unlock()
	return u.MemoryStore.CreateUser(ctx, phone, md)
}

// verifyWithoutDevice is seed 001's verify body without deviceInfo, for a
// code requested without a deviceId.
func verifyWithoutDevice(phone, code string) string {
	return fmt.Sprintf(`{"otpInfo": {"phone": %q, "otp": %q}}`, phone, code)
}

// Seed 002's (GoTrue's) request: no deviceId, create_user and data. The
// code then verifies with seed 001's body, without a device as it was
// requested; a named device does not find it.
func TestGoTrueStyleRequest(t *testing.T) {
	var users *metadataUsers
	f := newFixture(t, func(c *phoneauth.Config) {
		users = &metadataUsers{MemoryStore: phoneauth.NewMemoryStore()}
		c.Users = users
		c.Signup = phoneauth.SignupWithCreateUser
	})
	e := decodeEnvelope(t, f.do("POST", "/auth/otp/request", `{"phone":"+12345678901","create_user":true,"data":{"name":"Ann"}}`), 200)
	c := data[codeData](t, e)
	wantError(t, f.do("POST", "/auth/otp/verify", verifyBody("+12345678901", c.OTP, "any-device")), 401, "verification_failed", "OTP verification failed")
	in := data[signInData](t, decodeEnvelope(t, f.do("POST", "/auth/otp/verify", verifyWithoutDevice("+12345678901", c.OTP)), 200))
	if !in.User.IsNewUser || in.Token.CurrentDevice.DeviceID != "" || in.Token.AccessToken == "" {
		t.Fatalf("sign-in %+v", in)
	}
	if len(users.metadata) != 1 || users.metadata[0]["name"] != "Ann" {
		t.Fatalf("metadata %v", users.metadata)
	}

	// create_user left out is false under SignupWithCreateUser, as seed 002
	// says: the code verifies, and no user is made.
	e = decodeEnvelope(t, f.do("POST", "/auth/otp/request", `{"phone":"+12345678902"}`), 200)
	c = data[codeData](t, e)
	wantError(t, f.do("POST", "/auth/otp/verify", verifyWithoutDevice("+12345678902", c.OTP)), 403, "signup_not_allowed", "")

	// metadata wins over data; a bad data field is named "data".
	f.clock.Advance(5 * time.Minute)
	decodeEnvelope(t, f.do("POST", "/auth/otp/request", `{"phone":"+12345678903","createUser":true,"metadata":{"name":"M"},"data":{"name":"D"}}`), 200)
	decodeEnvelope(t, f.do("POST", "/auth/otp/verify", verifyWithoutDevice("+12345678903", f.lastSent().Code)), 200)
	if md := users.metadata[len(users.metadata)-1]; md["name"] != "M" {
		t.Fatalf("metadata %v", md)
	}
	wantError(t, f.do("POST", "/auth/otp/request", `{"phone":"+12345678904","data":{"k":"a\u0000b"}}`), 400, "invalid_request", "")
}

// Without a device, the per-device limit does not apply, and the per-phone
// (3 per 5 minutes) and per-address (10 per 10 minutes) ones do.
func TestRequestWithoutDeviceIsLimited(t *testing.T) {
	f := newFixture(t, nil)
	const perIP = 10
	// More requests than the per-device limit (5) allows one device: the
	// requests without a device share no device bucket.
	for i := range perIP {
		decodeEnvelope(t, f.do("POST", "/auth/otp/request", fmt.Sprintf(`{"phone":%q}`, pkPhone(i))), 200)
	}
	w := f.do("POST", "/auth/otp/request", fmt.Sprintf(`{"phone":%q}`, pkPhone(perIP)))
	wantError(t, w, 429, "rate_limited", "Too many requests")

	g := newFixture(t, nil)
	for i := range 3 {
		g.clock.Advance(30 * time.Second)
		decodeEnvelope(t, g.do("POST", "/auth/otp/request", `{"phone":"+923012345678"}`, "RemoteAddr", fmt.Sprintf("192.0.2.%d:1234", i+1)), 200)
	}
	g.clock.Advance(30 * time.Second)
	wantError(t, g.do("POST", "/auth/otp/request", `{"phone":"+923012345678"}`, "RemoteAddr", "192.0.2.99:1234"), 429, "rate_limited", "")
}

// The authCode of register and resend is six digits, as in seed 003, and
// verify takes it as a string or as a JSON number.
func TestAuthCodeIsShortAndNumeric(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.signIn("+923012345678").Token.AccessToken
	for i, quote := range []bool{false, true} {
		phone := fmt.Sprintf("+91987654321%d", i)
		reg := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "`+phone+`"}`, "user-jwt-token", tok), 200)
		authCode, _ := reg["authCode"].(string)
		if !regexp.MustCompile(`^[1-9][0-9]{5}$`).MatchString(authCode) {
			t.Fatalf("authCode %q", reg["authCode"])
		}
		sent := authCode
		if quote {
			sent = `"` + authCode + `"`
		}
		m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify",
			fmt.Sprintf(`{"phone_number": %q, "authCode": %s, "otp": %q}`, phone, sent, reg["otp"]), "user-jwt-token", tok), 200)
		if m["message"] != "Phone number verified successfully" {
			t.Fatalf("verify with authCode %s: %v", sent, m)
		}
	}
}

// Without WithLogger, the Handler's warnings reach slog.Default().
func TestHandlerWarningsReachSlogDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))

	f := newFixture(t, nil)
	h, err := httpadapter.New(f.auth)
	if err != nil {
		t.Fatal(err)
	}
	f.failSends(errors.New("provider said no"))
	if w := serve(h, "POST", "/auth/otp/request", `{"phone": "+923012345678"}`); w.Code != 502 {
		t.Fatalf("status %d", w.Code)
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "provider said no") {
		t.Fatalf("the 502's cause did not reach slog.Default():\n%s", out)
	}
}

// Seed 003's resend example, sent with nothing pending (no register
// before it), answers as the seed shows: a code is sent and the authCode
// comes back, as register would have answered; that code then verifies.
// Within the cooldown a second resend is 429.
func TestPhoneResendWithNothingPending(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.signIn("+923012345678").Token.AccessToken
	const seedResend = `  {
    "phone_number": "9876543219",
    "countryCode": "+91"
  }
`
	m := wantBare(t, f.do("POST", "/fe/users/auth/otp/resend", seedResend, "user-jwt-token", tok), 200)
	authCode, _ := m["authCode"].(string)
	if authCode == "" || m["isNewUser"] != true || m["otp"] == nil {
		t.Fatalf("resend with nothing pending: %v", m)
	}
	if got := f.lastSent().To; got != "+919876543219" {
		t.Fatalf("code sent to %q", got)
	}
	w := f.do("POST", "/fe/users/auth/otp/resend", seedResend, "user-jwt-token", tok)
	if m := wantBare(t, w, 429); m["code"] != httpadapter.CodeRateLimited || w.Header().Get("Retry-After") == "" {
		t.Fatalf("resend within the cooldown: %v %v", w.Header(), m)
	}
	m = wantBare(t, f.do("POST", "/fe/users/auth/otp/verify",
		fmt.Sprintf(`{"phone_number": "9876543219", "countryCode": "+91", "authCode": %s, "otp": %q}`, authCode, m["otp"]), "user-jwt-token", tok), 200)
	if m["message"] != "Phone number verified successfully" {
		t.Fatalf("verify: %v", m)
	}
}
