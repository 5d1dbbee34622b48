package httpadapter_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

func TestRequest(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do("POST", "/auth/otp/request", `{"phone": "+923012345678", "country": "PK", "deviceId": "android.unique.device.id"}`)
	e := decodeEnvelope(t, w, 200)
	if e.Message != "request processed successfully" || e.Timestamp != "2026-02-03T14:46:16.374Z" {
		t.Errorf("envelope %s", w.Body)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	d := data[codeData](t, e)
	sent := f.lastSent()
	if d.RequestID == "" || d.RequestID != sent.ChallengeID {
		t.Errorf("requestId %q, challenge %q", d.RequestID, sent.ChallengeID)
	}
	if d.MaskedPhone != phoneauth.MaskPhone("+923012345678") || strings.Contains(d.MaskedPhone, "2345678") {
		t.Errorf("maskedPhone %q", d.MaskedPhone)
	}
	if d.Channel != "sms" || d.ExpiresIn == nil || *d.ExpiresIn != 300 || d.ResendAfter == nil || *d.ResendAfter != 30 || d.MessageID != "msg-1" {
		t.Errorf("data %s", e.Data)
	}
	if d.OTP != sent.Code || !regexp.MustCompile(`^[0-9]{6}$`).MatchString(d.OTP) {
		t.Errorf("otp %q, sent %q", d.OTP, sent.Code)
	}
	// The code is a JSON string, so that a leading zero survives.
	var raw map[string]any
	_ = json.Unmarshal(e.Data, &raw)
	if _, ok := raw["otp"].(string); !ok {
		t.Errorf("otp is not a string: %s", e.Data)
	}
}

func TestRequestWithoutDevelopmentHidesTheCode(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Development = false })
	e := decodeEnvelope(t, f.do("POST", "/auth/otp/request", requestBody("+923012345678", "d")), 200)
	if strings.Contains(string(e.Data), "otp") || strings.Contains(string(e.Data), f.lastSent().Code) {
		t.Errorf("code in a production response: %s", e.Data)
	}
}

func TestRequestOptionalFields(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupWithCreateUser })
	body := `{"phone": "03012345678", "country": "pk", "deviceId": "d1", "channel": "WhatsApp",
		"createUser": true, "metadata": {"name": "Ayesha", "tags": [1, 2]}, "captchaToken": "tok", "unknown": {"x": 1}}`
	e := decodeEnvelope(t, f.do("POST", "/auth/otp/request", body, "Accept-Language", "ur-PK,ur;q=0.9,en;q=0.8"), 200)
	d := data[codeData](t, e)
	m := f.lastSent()
	if d.Channel != "whatsapp" || m.Channel != phoneauth.WhatsApp || m.To != "+923012345678" || m.Locale != "ur-PK" {
		t.Errorf("data %s, message %+v", e.Data, m)
	}
	// createUser reached the challenge: with SignupWithCreateUser the
	// verification creates the user.
	e = decodeEnvelope(t, f.do("POST", "/auth/otp/verify", verifyBody("+923012345678", d.OTP, "d1")), 200)
	if !data[signInData](t, e).User.IsNewUser {
		t.Errorf("user not created: %s", e.Data)
	}

	// Without createUser (and with its snake-case alias) signup is refused
	// or allowed accordingly.
	for _, tc := range []struct {
		extra  string
		status int
	}{{``, 403}, {`, "create_user": true`, 200}} {
		phone := pkPhone(7)
		f.clock.Advance(time.Hour)
		w := f.do("POST", "/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "d2"`+tc.extra+`}`)
		code := data[codeData](t, decodeEnvelope(t, w, 200)).OTP
		w = f.do("POST", "/auth/otp/verify", verifyBody(phone, code, "d2"))
		if w.Code != tc.status {
			t.Errorf("extra %q: status %d, want %d: %s", tc.extra, w.Code, tc.status, w.Body)
		}
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t, nil)
	c := f.requestCodeFrom("+923012345678", "android.unique.device.id")
	body := `{"otpInfo": {"phone": "923012345678", "otp": "` + c.OTP + `", "country": "PK"},
		"deviceInfo": {"deviceId": "android.unique.device.id", "deviceType": "android", "deviceName": "pixel9",
		"platformVersion": "0.9.0", "fcmToken": "ksjfjdsfkljiowuerio2u39048"}}`
	e := decodeEnvelope(t, f.do("POST", "/auth/otp/verify", body), 200)
	d := data[signInData](t, e)
	claims, err := f.auth.ValidateAccessToken(t.Context(), d.Token.AccessToken)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	dev := d.Token.CurrentDevice
	if claims.Subject != d.User.ID || claims.SessionID != dev.ID || d.User.Phone != "+923012345678" || !d.User.IsNewUser {
		t.Errorf("claims %+v, data %s", claims, e.Data)
	}
	if d.Token.RefreshToken == "" || d.Token.TokenType != "Bearer" || d.ExpiresIn != 900 || d.RefreshExpiresIn != 30*24*3600 {
		t.Errorf("token data %s", e.Data)
	}
	if dev.DeviceID != "android.unique.device.id" || dev.DeviceType != "android" || dev.DeviceName != "pixel9" ||
		dev.PlatformVersion != "0.9.0" || !dev.CreatedAt.Equal(t0) || !dev.ExpiresAt.Equal(t0.Add(90*24*time.Hour)) {
		t.Errorf("currentDevice %+v", dev)
	}
	if strings.Contains(string(e.Data), "ksjfjdsfkljiowuerio2u39048") {
		t.Error("the push token is echoed")
	}
	// The code is used up; a second sign-in of the same phone is no new user.
	wantError(t, f.do("POST", "/auth/otp/verify", body), 401, httpadapter.CodeVerificationFailed, "OTP verification failed")
	f.clock.Advance(time.Minute)
	if d := f.signIn("+923012345678"); d.User.IsNewUser || d.User.ID != claims.Subject {
		t.Errorf("second sign-in %+v", d.User)
	}
}

func TestVerifyCodeAsNumber(t *testing.T) {
	phone := "+923001234567"
	f := newFixture(t, func(c *phoneauth.Config) {
		c.TestNumbers = map[string]phoneauth.TestNumber{phone: {Code: "012345", Expires: t0.Add(time.Hour)}}
	})
	for _, otp := range []string{`12345`, `"012345"`, `" 012345 "`} {
		f.requestCode(phone)
		body := `{"otpInfo": {"phone": "` + phone + `", "otp": ` + otp + `}, "deviceInfo": {"deviceId": "d"}}`
		decodeEnvelope(t, f.do("POST", "/auth/otp/verify", body), 200)
		f.clock.Advance(time.Minute)
	}
	f.requestCode(phone)
	for _, otp := range []string{`12346`, `"12345"`} {
		body := `{"otpInfo": {"phone": "` + phone + `", "otp": ` + otp + `}, "deviceInfo": {"deviceId": "d"}}`
		wantError(t, f.do("POST", "/auth/otp/verify", body), 400, httpadapter.CodeInvalidOTP, "Invalid OTP")
	}
}

func TestVerifyRequestID(t *testing.T) {
	f := newFixture(t, nil)
	old := f.requestCode("+923012345678")
	f.clock.Advance(31 * time.Second)
	c := f.requestCode("+923012345678")
	body := `{"requestId": "` + old.RequestID + `", "otpInfo": {"phone": "+923012345678", "otp": "` + c.OTP + `"}, "deviceInfo": {"deviceId": "d"}}`
	wantError(t, f.do("POST", "/auth/otp/verify", body), 401, httpadapter.CodeVerificationFailed, "")
	body = `{"otpInfo": {"phone": "+923012345678", "otp": "` + c.OTP + `", "requestId": "` + c.RequestID + `"}, "deviceInfo": {"deviceId": "d"}}`
	decodeEnvelope(t, f.do("POST", "/auth/otp/verify", body), 200)
}

func TestResend(t *testing.T) {
	f := newFixture(t, nil)
	body := requestBody("+923012345678", "d")
	wantError(t, f.do("POST", "/auth/otp/resend", body), 409, httpadapter.CodeNoPendingCode, "")
	first := f.requestCode("+923012345678")
	w := f.do("POST", "/auth/otp/resend", body)
	wantError(t, w, 429, httpadapter.CodeRateLimited, "Too many requests")
	if ra := w.Header().Get("Retry-After"); ra != "30" {
		t.Errorf("Retry-After %q during the cooldown", ra)
	}
	f.clock.Advance(30 * time.Second)
	d := data[codeData](t, decodeEnvelope(t, f.do("POST", "/auth/otp/resend", body), 200))
	if d.RequestID == first.RequestID || d.OTP == "" {
		t.Errorf("resend data %+v", d)
	}
	wantError(t, f.do("POST", "/auth/otp/verify", verifyBody("+923012345678", first.OTP, "d")), 400, httpadapter.CodeInvalidOTP, "")
	decodeEnvelope(t, f.do("POST", "/auth/otp/verify", verifyBody("+923012345678", d.OTP, "d")), 200)
}

func TestRefresh(t *testing.T) {
	f := newFixture(t, nil)
	in := f.signIn("+923012345678")
	f.clock.Advance(time.Minute)
	w := f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`)
	out := data[signInData](t, decodeEnvelope(t, w, 200))
	if out.Token.RefreshToken == in.Token.RefreshToken || out.Token.AccessToken == "" ||
		out.Token.CurrentDevice.ID != in.Token.CurrentDevice.ID || out.User.ID != in.User.ID || out.ExpiresIn != 900 {
		t.Errorf("refresh %+v", out)
	}
	// The same refresh again within the reuse grace (a retry, a second
	// tab) gets the same new refresh token.
	again := data[signInData](t, decodeEnvelope(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 200))
	if again.Token.RefreshToken != out.Token.RefreshToken {
		t.Errorf("retry got refresh token %q, want %q", again.Token.RefreshToken, out.Token.RefreshToken)
	}
	// After the grace the rotated token coming back is reuse: the session
	// is revoked.
	f.clock.Advance(time.Minute)
	wantError(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 401, httpadapter.CodeTokenReused, "")
	wantError(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+out.Token.RefreshToken+`"}`), 401, httpadapter.CodeInvalidToken, "Invalid or expired token")
	wantError(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "garbage"}`), 401, httpadapter.CodeInvalidToken, "")
	wantError(t, f.do("POST", "/auth/token/refresh", `{}`), 400, httpadapter.CodeInvalidRequest, "refreshToken is required")
}

func TestLogout(t *testing.T) {
	f := newFixture(t, nil)
	in := f.signIn("+923012345678")
	e := decodeEnvelope(t, f.do("POST", "/auth/logout", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 200)
	if string(e.Data) != "{}" {
		t.Errorf("logout data %s", e.Data)
	}
	wantError(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 401, httpadapter.CodeInvalidToken, "")
	wantError(t, f.do("POST", "/auth/logout", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 401, httpadapter.CodeInvalidToken, "")

	// With the access token only, as a bearer, and no body at all.
	f.clock.Advance(time.Minute)
	in = f.signIn("+923012345678")
	decodeEnvelope(t, f.do("POST", "/auth/logout", "", "Authorization", "Bearer "+in.Token.AccessToken), 200)
	wantError(t, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+in.Token.RefreshToken+`"}`), 401, httpadapter.CodeInvalidToken, "")
	// Again: the session has ended already, which is no error.
	decodeEnvelope(t, f.do("POST", "/auth/logout", "{}", "Authorization", "Bearer "+in.Token.AccessToken), 200)

	// Without credentials, or with a bad bearer token, the 401 carries its
	// challenge (RFC 6750), as RequireAuth's do.
	w := f.do("POST", "/auth/logout", "{}")
	wantError(t, w, 401, httpadapter.CodeUnauthorized, "")
	if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("logout without credentials: WWW-Authenticate %q", got)
	}
	w = f.do("POST", "/auth/logout", "{}", "Authorization", "Bearer nope")
	wantError(t, w, 401, httpadapter.CodeInvalidToken, "")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Errorf("logout with a bad bearer token: WWW-Authenticate %q", got)
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do("GET", "/.well-known/jwks.json", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Header().Get("Cache-Control"), "max-age") ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	var set struct {
		Keys []struct {
			Kid, Kty, Alg string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != "test-key" || set.Keys[0].Alg != "EdDSA" {
		t.Fatalf("JWKS %s (%v)", w.Body, err)
	}
	if w.Body.String() != string(f.auth.JWKS()) {
		t.Errorf("JWKS differs from the Authenticator's")
	}
	tag := w.Header().Get("ETag")
	if w := f.do("GET", "/.well-known/jwks.json", "", "If-None-Match", tag); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %s", w.Code, w.Body)
	}
	if w := f.do("HEAD", "/.well-known/jwks.json", ""); w.Code != 200 {
		t.Errorf("HEAD: %d", w.Code)
	}
	w = f.do("POST", "/.well-known/jwks.json", "{}")
	wantError(t, w, 405, httpadapter.CodeMethodNotAllowed, "")
	if got := w.Header().Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q", got)
	}
}

func TestPhoneVerification(t *testing.T) {
	f := newFixture(t, nil)
	in := f.signIn("+923012345678")
	token := in.Token.AccessToken
	body := `{"phone_number": "9876543219", "countryCode": "+91"}`

	for _, hdr := range [][]string{nil, {"user-jwt-token", "nope"}, {"Authorization", "Bearer nope"}, {"Authorization", "Basic " + token}} {
		w := f.do("POST", "/fe/users/auth/otp/register", body, hdr...)
		m := wantBare(t, w, 401)
		if m["message"] != "UN_AUTHORIZED" || m["code"] != "unauthorized" || len(m) != 2 {
			t.Errorf("headers %q: %s", hdr, w.Body)
		}
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("no WWW-Authenticate")
		}
	}

	m := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", body, "user-jwt-token", token), 200)
	authCode, _ := m["authCode"].(string)
	otp, _ := m["otp"].(string)
	if authCode == "" || m["isNewUser"] != true || otp != f.lastSent().Code || f.lastSent().To != "+919876543219" || len(m) != 3 {
		t.Fatalf("register: %v", m)
	}
	// Resend during the cooldown, then after it (with Bearer this time).
	w := f.do("POST", "/fe/users/auth/otp/resend", body, "user-jwt-token", token)
	if m := wantBare(t, w, 429); m["code"] != "rate_limited" || w.Header().Get("Retry-After") == "" {
		t.Errorf("resend in cooldown: %v", m)
	}
	f.clock.Advance(30 * time.Second)
	m = wantBare(t, f.do("POST", "/fe/users/auth/otp/resend", body, "Authorization", "Bearer "+token), 200)
	authCode, otp = m["authCode"].(string), m["otp"].(string)

	wrong := `{"phone_number": "9876543219", "countryCode": "+91", "authCode": "` + authCode + `", "otp": "000000"}`
	if otp == "000000" {
		wrong = strings.Replace(wrong, "000000", "111111", 1)
	}
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", wrong, "user-jwt-token", token), 400); m["message"] != "Invalid OTP" {
		t.Errorf("wrong code: %v", m)
	}
	// An authCode may be a JSON number, as in the seed; this one is wrong.
	numeric := `{"phone_number": "9876543219", "countryCode": "+91", "authCode": 1234, "otp": "` + otp + `"}`
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", numeric, "user-jwt-token", token), 401); m["code"] != "verification_failed" {
		t.Errorf("numeric authCode: %v", m)
	}
	// The otp as a JSON number, with ISO country this time.
	ok := `{"phone_number": "9876543219", "countryCode": "IN", "authCode": "` + authCode + `", "otp": ` + strings.TrimLeft(otp, "0") + `}`
	m = wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", ok, "user-jwt-token", "Bearer "+token), 200)
	if m["message"] != "Phone number verified successfully" || len(m) != 1 {
		t.Errorf("verify: %v", m)
	}
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", ok, "user-jwt-token", token), 401); m["code"] != "verification_failed" {
		t.Errorf("second verify: %v", m)
	}
	// Missing fields are named, without an envelope.
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", `{"phone_number": "+919876543219"}`, "user-jwt-token", token), 400); m["message"] != "authCode is required" {
		t.Errorf("missing authCode: %v", m)
	}
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "9876543219"}`, "user-jwt-token", token), 400); !strings.Contains(m["message"].(string), "countryCode") {
		t.Errorf("missing countryCode: %v", m)
	}
	// The seed's placeholder country is no country.
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "1234567890", "countryCode": "XX"}`, "user-jwt-token", token), 400); m["code"] != "invalid_country" {
		t.Errorf("XX: %v", m)
	}
}

func TestPhoneTaken(t *testing.T) {
	f := newFixture(t, nil)
	f.signIn("+919876543219") // another user owns this phone
	in := f.signIn("+923012345678")
	f.clock.Advance(time.Minute) // the phone's resend cooldown
	body := `{"phone_number": "+919876543219"}`
	m := wantBare(t, f.do("POST", "/fe/users/auth/otp/register", body, "user-jwt-token", in.Token.AccessToken), 200)
	if m["isNewUser"] != false {
		t.Errorf("isNewUser of a taken phone: %v", m)
	}
	verify := `{"phone_number": "+919876543219", "authCode": "` + m["authCode"].(string) + `", "otp": "` + m["otp"].(string) + `"}`
	if m := wantBare(t, f.do("POST", "/fe/users/auth/otp/verify", verify, "user-jwt-token", in.Token.AccessToken), 409); m["code"] != "phone_taken" {
		t.Errorf("taken: %v", m)
	}
}

func TestRequireAuth(t *testing.T) {
	f := newFixture(t, nil)
	in := f.signIn("+923012345678")
	mux := http.NewServeMux()
	f.h.Register(mux)
	mux.Handle("GET /api/me", f.h.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := httpadapter.ClaimsFromContext(r.Context())
		if !ok {
			t.Error("no claims")
			return
		}
		_, _ = w.Write([]byte(c.Subject + " " + c.SessionID))
	})))
	want := in.User.ID + " " + in.Token.CurrentDevice.ID
	for _, hdr := range [][]string{{"Authorization", "Bearer " + in.Token.AccessToken}, {"authorization", "bearer " + in.Token.AccessToken}, {"user-jwt-token", in.Token.AccessToken}} {
		if w := serve(mux, "GET", "/api/me", "", hdr...); w.Code != 200 || w.Body.String() != want {
			t.Errorf("%q: %d %s", hdr[0], w.Code, w.Body)
		}
	}
	w := serve(mux, "GET", "/api/me", "")
	wantError(t, w, 401, httpadapter.CodeUnauthorized, "UN_AUTHORIZED")
	if w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
	}
	w = serve(mux, "GET", "/api/me", "", "Authorization", "Bearer "+in.Token.AccessToken+"x")
	wantError(t, w, 401, httpadapter.CodeUnauthorized, "")
	if !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
	}
	// Expired: AccessTTL plus leeway later.
	f.clock.Advance(16 * time.Minute)
	wantError(t, serve(mux, "GET", "/api/me", "", "Authorization", "Bearer "+in.Token.AccessToken), 401, httpadapter.CodeUnauthorized, "")
	if _, ok := httpadapter.ClaimsFromContext(t.Context()); ok {
		t.Error("claims in an empty context")
	}
}

func TestRegisterOnMux(t *testing.T) {
	f := newFixture(t, nil)
	mux := http.NewServeMux()
	f.h.Register(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("home")) })
	if w := serve(mux, "GET", "/", ""); w.Body.String() != "home" {
		t.Errorf("caller's route: %s", w.Body)
	}
	decodeEnvelope(t, serve(mux, "POST", "/auth/otp/request", requestBody("+923012345678", "d")), 200)
	w := serve(mux, "GET", "/auth/otp/request", "")
	wantError(t, w, 405, httpadapter.CodeMethodNotAllowed, "")
	if w.Header().Get("Allow") != "POST" {
		t.Errorf("Allow %q", w.Header().Get("Allow"))
	}
	// The bare routes answer 405 in their own shape.
	w = serve(mux, "PUT", "/fe/users/auth/otp/verify", "{}")
	if m := wantBare(t, w, 405); m["code"] != "method_not_allowed" || w.Header().Get("Allow") != "POST" {
		t.Errorf("405: %v %v", m, w.Header())
	}
	defer func() {
		if recover() == nil {
			t.Error("registering twice did not panic")
		}
	}()
	f.h.Register(mux)
}

func TestServeHTTPUnknownPath(t *testing.T) {
	f := newFixture(t, nil)
	wantError(t, f.do("GET", "/nope", ""), 404, httpadapter.CodeNotFound, "")
	wantError(t, f.do("POST", "/auth/otp/request/", "{}"), 404, httpadapter.CodeNotFound, "")
}

// TestServeHTTPRoutesAsMux checks that ServeHTTP, which sends most
// requests straight to their route, answers as the routes registered on a
// ServeMux (with a catch-all 404) do, and sets the request's Pattern as the
// mux does.
func TestServeHTTPRoutesAsMux(t *testing.T) {
	f := newFixture(t, generous)
	mux := http.NewServeMux()
	f.h.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	for _, tt := range []struct{ method, target string }{
		{"POST", "/auth/otp/request"},
		{"POST", "/fe/users/auth/otp/verify"},
		{"GET", "/.well-known/jwks.json"},
		{"HEAD", "/.well-known/jwks.json"},
		{"GET", "/auth/otp/request"},
		{"POST", "/auth/otp%2Frequest"},
		{"POST", "/auth/%6Ftp/request"},
		{"POST", "//auth/otp/request"},
		{"POST", "/auth/./otp/request"},
		{"POST", "/nope"},
	} {
		var codes [2]int
		var patterns [2]string
		for i, h := range []http.Handler{f.h, mux} {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(requestBody(pkPhone(i), "d")))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			codes[i], patterns[i] = w.Code, r.Pattern
		}
		if codes[0] != codes[1] || patterns[0] != patterns[1] {
			t.Errorf("%s %s: ServeHTTP %d %q, mux %d %q", tt.method, tt.target, codes[0], patterns[0], codes[1], patterns[1])
		}
		if tt.method+" "+tt.target == "POST /auth/otp/request" && (codes[0] != 200 || patterns[0] != "POST /auth/otp/request") {
			t.Errorf("%s %s: %d %q", tt.method, tt.target, codes[0], patterns[0])
		}
	}
}

func TestOptions(t *testing.T) {
	f := newFixture(t, nil,
		httpadapter.WithPrefix("/v2/auth"),
		httpadapter.WithPhoneVerificationPrefix("/me/phone"),
		httpadapter.WithJWKSPath("/keys"),
		httpadapter.WithRoutes(httpadapter.SignInRoutes|httpadapter.JWKSRoute),
		httpadapter.WithMessages(map[string]string{httpadapter.CodeRateLimited: "Two many request", httpadapter.MessageSuccess: "ok"}),
	)
	want := []string{"POST /v2/auth/otp/request", "POST /v2/auth/otp/verify", "POST /v2/auth/otp/resend",
		"POST /v2/auth/token/refresh", "POST /v2/auth/logout", "GET /keys"}
	if got := f.h.Routes(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("routes %q", got)
	}
	e := decodeEnvelope(t, f.do("POST", "/v2/auth/otp/request", requestBody("+923012345678", "d")), 200)
	if e.Message != "ok" {
		t.Errorf("message %q", e.Message)
	}
	wantError(t, f.do("POST", "/v2/auth/otp/request", requestBody("+923012345678", "d")), 429, httpadapter.CodeRateLimited, "Two many request")
	wantError(t, f.do("POST", "/auth/otp/request", "{}"), 404, httpadapter.CodeNotFound, "")
	wantError(t, f.do("POST", "/me/phone/otp/register", "{}"), 404, httpadapter.CodeNotFound, "")
	if w := f.do("GET", "/keys", ""); w.Code != 200 {
		t.Errorf("JWKS at /keys: %d", w.Code)
	}
	// An empty prefix mounts at the root.
	g := newFixture(t, nil, httpadapter.WithPrefix(""), httpadapter.WithRoutes(httpadapter.SignInRoutes))
	decodeEnvelope(t, g.do("POST", "/otp/request", requestBody("+923012345678", "d")), 200)
}

func TestNewErrors(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := httpadapter.New(nil); err == nil {
		t.Error("nil Authenticator accepted")
	}
	for name, opt := range map[string]httpadapter.Option{
		"relative prefix": httpadapter.WithPrefix("auth"),
		"trailing slash":  httpadapter.WithPhoneVerificationPrefix("/fe/"),
		"empty JWKS path": httpadapter.WithJWKSPath(""),
		"pattern syntax":  httpadapter.WithPrefix("/{x}"),
		"bad proxy":       httpadapter.WithTrustedProxies("10.0.0.0/33"),
		"proxy name":      httpadapter.WithTrustedProxies("proxy.local"),
		"unknown message": httpadapter.WithMessages(map[string]string{"nope": "x"}),
		"negative limit":  httpadapter.WithMaxBodyBytes(-1),
		"colliding paths": httpadapter.WithPhoneVerificationPrefix("/auth"),
	} {
		if _, err := httpadapter.New(f.auth, opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := httpadapter.New(f.auth, httpadapter.WithTrustedProxies("10.0.0.0/8", "192.0.2.7", "::1", "2001:db8::/32")); err != nil {
		t.Errorf("valid proxies: %v", err)
	}
}
