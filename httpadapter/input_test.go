package httpadapter_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth/httpadapter"
)

// postRoutes are the POST routes; bare ones need an access token.
var postRoutes = []struct {
	path string
	bare bool
}{
	{"/auth/otp/request", false},
	{"/auth/otp/resend", false},
	{"/auth/otp/verify", false},
	{"/auth/token/refresh", false},
	{"/auth/logout", false},
	{"/fe/users/auth/otp/register", true},
	{"/fe/users/auth/otp/verify", true},
	{"/fe/users/auth/otp/resend", true},
}

// errorOf decodes any error response to its status, code and message,
// checking the shape of its route.
func errorOf(t *testing.T, w *httptest.ResponseRecorder, bare bool) (int, string, string) {
	t.Helper()
	if bare {
		m := wantBare(t, w, w.Code)
		code, _ := m["code"].(string)
		msg, _ := m["message"].(string)
		return w.Code, code, msg
	}
	e := decodeEnvelope(t, w, w.Code)
	return w.Code, e.Code, e.Message
}

func TestBadInputOnEveryRoute(t *testing.T) {
	f := newFixture(t, nil, httpadapter.WithMaxBodyBytes(1024))
	token := f.signIn("+923012345678").Token.AccessToken
	cases := []struct {
		name, contentType, body string
		status                  int
		code, message           string // message: a substring
	}{
		{"malformed", "application/json", `{"phone": "+92",}`, 400, httpadapter.CodeInvalidRequest, "Malformed JSON at line 1, column 17: invalid character '}'"},
		{"malformed on line 3", "application/json", "{\n  \"a\": \"x\"\n  \"b\": 1\n}", 400, httpadapter.CodeInvalidRequest, "line 3, column 3"},
		{"truncated", "application/json", `{"phone": "+92`, 400, httpadapter.CodeInvalidRequest, "unexpected end of JSON input"},
		{"trailing garbage", "application/json", `{} {}`, 400, httpadapter.CodeInvalidRequest, "Malformed JSON at line 1, column 4"},
		{"array", "application/json", `[1, 2]`, 400, httpadapter.CodeInvalidRequest, "Request body must be a JSON object, not an array"},
		{"string", "application/json", `"hello"`, 400, httpadapter.CodeInvalidRequest, "must be a JSON object, not a string"},
		{"text/plain", "text/plain", `{}`, 415, httpadapter.CodeUnsupportedMediaType, `not "text/plain"`},
		{"form", "application/x-www-form-urlencoded", `phone=1`, 415, httpadapter.CodeUnsupportedMediaType, "application/json"},
		{"no content type", "", `{}`, 415, httpadapter.CodeUnsupportedMediaType, "application/json"},
		{"bad media type", "application/", `{}`, 415, httpadapter.CodeUnsupportedMediaType, ""},
		{"too large", "application/json", `{"x": "` + strings.Repeat("a", 2000) + `"}`, 413, httpadapter.CodeBodyTooLarge, "1024 bytes"},
		{"NUL in a string", "application/json", "{\n  \"x\": \"a\\u0000b\"\n}", 400, httpadapter.CodeInvalidRequest, `NUL characters (\u0000): line 2, column 10`},
	}
	for _, rt := range postRoutes {
		for _, tc := range cases {
			r := httptest.NewRequest("POST", rt.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.Header.Set("user-jwt-token", token)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			status, code, msg := errorOf(t, w, rt.bare)
			if status != tc.status || code != tc.code || !strings.Contains(msg, tc.message) {
				t.Errorf("%s %s: %d %s %q, want %d %s %q", rt.path, tc.name, status, code, msg, tc.status, tc.code, tc.message)
			}
		}
	}
}

func TestBodyTooLargeWithoutLength(t *testing.T) {
	f := newFixture(t, nil, httpadapter.WithMaxBodyBytes(100))
	r := httptest.NewRequest("POST", "/auth/otp/request", io.MultiReader(strings.NewReader(`{"phone": "`), strings.NewReader(strings.Repeat("1", 200))))
	r.ContentLength = -1 // chunked: only reading finds out
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	wantError(t, w, 413, httpadapter.CodeBodyTooLarge, "")
}

func TestFieldErrors(t *testing.T) {
	f := newFixture(t, nil)
	token := f.signIn("+923012345678").Token.AccessToken
	cases := []struct {
		path, body, message string
	}{
		// Wrong types name the field (with its path) and say what it must be.
		{"/auth/otp/request", `{"phone": 923012345678}`, "phone must be a string, not a number"},
		{"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d", "createUser": "yes"}`, "createUser must be true or false, not a string"},
		{"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d", "metadata": [1]}`, "metadata must be an object, not an array"},
		{"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d", "metadata": {"a": 1e400}}`, "metadata holds a number out of range"},
		{"/auth/otp/verify", `{"otpInfo": "x"}`, "otpInfo must be an object, not a string"},
		{"/auth/otp/verify", `{"otpInfo": {"otp": true}}`, "otpInfo.otp must be a string or a whole number, not a boolean"},
		{"/auth/otp/verify", `{"otpInfo": {"otp": 12.5}}`, "otpInfo.otp must be a string or a whole number, not a number with a fraction or an exponent"},
		{"/auth/otp/verify", `{"otpInfo": {"otp": 1e5}}`, "otpInfo.otp must be a string or a whole number, not a number with a fraction or an exponent"},
		{"/auth/otp/verify", `{"otpInfo": {"otp": -1}}`, "otpInfo.otp must be a string or a whole number, not a negative number"},
		{"/auth/otp/verify", `{"deviceInfo": {"deviceId": {}}}`, "deviceInfo.deviceId must be a string, not an object"},
		{"/auth/token/refresh", `{"refreshToken": null, "x": 1, "refreshtoken": 5}`, "refreshToken must be a string, not a number"},
		{"/fe/users/auth/otp/verify", `{"authCode": [1]}`, "authCode must be a string or a whole number, not an array"},
		{"/fe/users/auth/otp/register", `{"phone_number": 9876543219}`, "phone_number must be a string, not a number"},

		// Missing fields are named, in order.
		{"/auth/otp/request", ``, "phone is required"},
		{"/auth/otp/request", `{}`, "phone is required"},
		{"/auth/otp/request", `null`, "phone is required"},
		{"/auth/otp/request", `{"phone": "923012345678", "deviceId": "d"}`, "country is required when the phone number does not start with +"},
		{"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d", "channel": "fax"}`, `channel must be "sms" or "whatsapp"`},
		{"/auth/otp/verify", `{}`, "otpInfo is required"},
		{"/auth/otp/verify", `{"otpInfo": {}, "deviceInfo": {}}`, "otpInfo.phone is required"},
		{"/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": null}, "deviceInfo": {}}`, "otpInfo.otp is required"},
		{"/auth/otp/verify", `{"otpInfo": {"phone": "923012345678", "otp": "1"}, "deviceInfo": {}}`, "otpInfo.country is required when the phone number does not start with +"},
		{"/auth/token/refresh", `{"refreshToken": ""}`, "refreshToken is required"},
		{"/fe/users/auth/otp/register", `{}`, "phone_number is required"},
		{"/fe/users/auth/otp/resend", `{"phone_number": "9876543219"}`, "countryCode is required when the phone number does not start with +"},
		{"/fe/users/auth/otp/verify", `{"phone_number": "+919876543219", "authCode": 5}`, "otp is required"},
	}
	for _, tc := range cases {
		w := f.do("POST", tc.path, tc.body, "user-jwt-token", token)
		status, code, msg := errorOf(t, w, strings.HasPrefix(tc.path, "/fe/"))
		if status != 400 || code != httpadapter.CodeInvalidRequest || msg != tc.message {
			t.Errorf("%s %s: %d %s %q, want 400 %q", tc.path, tc.body, status, code, msg, tc.message)
		}
	}
}

func TestLenientInput(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ contentType, body string }{
		{"application/json; charset=utf-8", requestBody(pkPhone(1), "d1")},
		{"Application/JSON", requestBody(pkPhone(2), "d2")},
		{"application/vnd.api+json", requestBody(pkPhone(3), "d3")},
		// Unknown fields, different case, and a duplicate key (the last wins).
		{"application/json", `{"PHONE": "` + pkPhone(4) + `", "deviceId": "x", "deviceId": "d4", "extra": {"nested": [1, {"a": null}]}}`},
	} {
		w := serve(f.h, "POST", "/auth/otp/request", tc.body, "Content-Type", tc.contentType)
		if w.Code != 200 {
			t.Errorf("%q %s: %d %s", tc.contentType, tc.body, w.Code, w.Body)
		}
	}
}

func TestMalformedJSONNeverEchoesCodes(t *testing.T) {
	// An error message quotes at most the offending character, so nothing
	// the client sent (a code, a token) is echoed at length.
	f := newFixture(t, nil)
	w := f.do("POST", "/auth/token/refresh", `{"refreshToken": "secret-token-value" "x"}`)
	var e map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != 400 || strings.Contains(w.Body.String(), "secret-token-value") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// A code sent as a number that is not a whole one (249364.0, -249364) is
// refused without being quoted: the answer names what is wrong with it,
// never the digits, which may be the user's code.
func TestWrongNumberCodeIsNotEchoed(t *testing.T) {
	f := newFixture(t, nil)
	token := f.signIn("+923012345678").Token.AccessToken
	for _, tc := range []struct{ path, body string }{
		{"/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": 249364.0}}`},
		{"/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": -249364}}`},
		{"/auth/otp/verify", `{"otpInfo": {"phone": "+923012345678", "otp": 2.49364e5}}`},
		{"/fe/users/auth/otp/verify", `{"phone_number": "+923012345678", "authCode": 482915, "otp": 249364.0}`},
		{"/fe/users/auth/otp/verify", `{"phone_number": "+923012345678", "authCode": -482915, "otp": 249364}`},
	} {
		w := f.do("POST", tc.path, tc.body, "user-jwt-token", token)
		_, code, _ := errorOf(t, w, strings.HasPrefix(tc.path, "/fe/"))
		if w.Code != 400 || code != httpadapter.CodeInvalidRequest {
			t.Errorf("%s %s: %d %s, want 400 %s", tc.path, tc.body, w.Code, w.Body, httpadapter.CodeInvalidRequest)
		}
		for _, secret := range []string{"249364", "2.49364", "482915"} {
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("%s %s: the answer quotes %s: %s", tc.path, tc.body, secret, w.Body)
			}
		}
	}
}

// The rule "a number without + needs a country" is the Authenticator's:
// spaces before the "+" count as nothing, the same over HTTP as in Go.
func TestCountryRuleIsTheCore(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do("POST", "/auth/otp/request", requestBody(" "+pkPhone(9), "d9"))
	decodeEnvelope(t, w, 200)
	wantError(t, f.do("POST", "/auth/otp/request", requestBody(" 03010000009", "d9")), 400, httpadapter.CodeInvalidRequest,
		"country is required when the phone number does not start with +")
}
