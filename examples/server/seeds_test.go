package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The bodies of seeds 000 and 001's cURL examples, as written.
const (
	seedRequest = `{
    "phone": "+923012345678",
    "country": "PK",
    "deviceId": "android.unique.device.id"
  }`
	seedVerify = `{
    "otpInfo": {
      "phone": "923012345678",
      "otp": "249364",
      "country": "PK"
    },
    "deviceInfo": {
      "deviceId": "android.unique.device.id",
      "deviceType": "android",
      "deviceName": "pixel9",
      "platformVersion": "0.9.0",
      "fcmToken": "ksjfjdsfkljiowuerio2u39048"
    }
  }`
)

// exchange sends method to url with body (as JSON for a POST) and headers
// in pairs, and returns the response with its body decoded as JSON.
func exchange(t *testing.T, method, url, body string, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object (Content-Type %q)", method, url, resp.StatusCode, raw, resp.Header.Get("Content-Type"))
	}
	return resp, m
}

// apiAnswer checks what every answer of the API carries: JSON, and no
// cache may keep it (RFC 6749 section 5.1 for the token answers).
func apiAnswer(t *testing.T, what string, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d", what, resp.StatusCode, status)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %s %q, want %q", what, k, got, v)
		}
	}
}

// envelopeAnswer checks the seed 000 envelope: success, message and a
// timestamp in the seed's format; on a failure also a code and no data.
func envelopeAnswer(t *testing.T, what string, m map[string]any, success bool, message string) {
	t.Helper()
	ts, _ := m["timestamp"].(string)
	if m["success"] != success || m["message"] != message || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(ts) {
		t.Errorf("%s: envelope %v", what, m)
	}
	if _, hasData := m["data"]; !success && (hasData || m["code"] == nil) {
		t.Errorf("%s: error envelope %v", what, m)
	}
}

// retryAfter checks a 429's Retry-After: whole seconds, at least one.
func retryAfter(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s: Retry-After %q", what, resp.Header.Get("Retry-After"))
	}
}

// The seeds' routes answer on the example server with the status codes,
// shapes, field names and headers that the seeds and DESIGN.md section 4
// give them, each example body as written.
func TestServerSeedAnswers(t *testing.T) {
	base, stop, _ := start(t)
	defer stop()

	// 000: the code request, then the same again within the cooldown.
	resp, m := exchange(t, "POST", base+"/auth/otp/request", seedRequest)
	apiAnswer(t, "request", resp, 200)
	envelopeAnswer(t, "request", m, true, "request processed successfully")
	d, _ := m["data"].(map[string]any)
	for _, field := range []string{"requestId", "maskedPhone", "channel", "expiresIn", "resendAfter", "otp"} {
		if d[field] == nil {
			t.Errorf("request: data lacks %q: %v", field, d)
		}
	}
	if d["channel"] != "sms" || d["expiresIn"] != 300.0 || d["resendAfter"] != 30.0 || d["maskedPhone"] != "+92******5678" {
		t.Errorf("request: data %v", d)
	}
	resp, m = exchange(t, "POST", base+"/auth/otp/request", seedRequest)
	apiAnswer(t, "request again", resp, 429)
	envelopeAnswer(t, "request again", m, false, "Too many requests")
	retryAfter(t, "request again", resp)
	if m["code"] != "rate_limited" {
		t.Errorf("request again: %v", m)
	}

	// 000's invalid phone number.
	resp, m = exchange(t, "POST", base+"/auth/otp/request", `{"phone": "12", "country": "PK", "deviceId": "d"}`)
	apiAnswer(t, "invalid phone", resp, 400)
	envelopeAnswer(t, "invalid phone", m, false, "Invalid phone number")

	// 001: a wrong code (400 Invalid OTP), then the right one.
	resp, m = exchange(t, "POST", base+"/auth/otp/verify", strings.Replace(seedVerify, "249364", "249365", 1))
	apiAnswer(t, "wrong code", resp, 400)
	envelopeAnswer(t, "wrong code", m, false, "Invalid OTP")
	resp, m = exchange(t, "POST", base+"/auth/otp/verify", seedVerify)
	apiAnswer(t, "verify", resp, 200)
	envelopeAnswer(t, "verify", m, true, "request processed successfully")
	token, _ := m["data"].(map[string]any)["token"].(map[string]any)
	access, _ := token["accessToken"].(string)
	refresh, _ := token["refreshToken"].(string)
	if access == "" || refresh == "" || token["currentDevice"] == nil {
		t.Fatalf("verify: token %v", token)
	}
	// The same code again: nothing left to verify.
	resp, m = exchange(t, "POST", base+"/auth/otp/verify", seedVerify)
	apiAnswer(t, "verify again", resp, 401)
	envelopeAnswer(t, "verify again", m, false, "OTP verification failed")

	// Refresh and logout.
	resp, m = exchange(t, "POST", base+"/auth/token/refresh", `{"refreshToken": "`+refresh+`"}`)
	apiAnswer(t, "refresh", resp, 200)
	envelopeAnswer(t, "refresh", m, true, "request processed successfully")
	next, _ := m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"].(string)
	resp, m = exchange(t, "POST", base+"/auth/token/refresh", `{"refreshToken": "not-a-token"}`)
	apiAnswer(t, "refresh of nonsense", resp, 401)
	envelopeAnswer(t, "refresh of nonsense", m, false, "Invalid or expired token")

	// JWKS: cacheable, and it holds the key the access token names.
	resp, m = exchange(t, "GET", base+"/.well-known/jwks.json", "")
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var jwt struct{ Kid, Alg, Typ string }
	if err := json.Unmarshal(header, &jwt); err != nil {
		t.Fatal(err)
	}
	keys, _ := m["keys"].([]any)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || len(keys) != 1 || keys[0].(map[string]any)["kid"] != jwt.Kid || jwt.Alg != "EdDSA" || jwt.Typ != "at+jwt" {
		t.Errorf("JWKS: %d %v %v, token header %s", resp.StatusCode, resp.Header, m, header)
	}

	// 003 with the access token: its register example (placeholder
	// country), its resend example, no token.
	resp, m = exchange(t, "POST", base+"/fe/users/auth/otp/register", `{
  "phone_number": "1234567890",
  "countryCode": "XX"
}`, "user-jwt-token", access)
	apiAnswer(t, "register XX", resp, 400)
	if m["code"] != "invalid_country" || m["success"] != nil || m["timestamp"] != nil {
		t.Errorf("register XX: bare error %v", m)
	}
	const seedResend = `  {
    "phone_number": "9876543219",
    "countryCode": "+91"
  }
`
	// The resend example on its own, nothing pending: it does what
	// register does, and register within the cooldown is then 429.
	resp, m = exchange(t, "POST", base+"/fe/users/auth/otp/resend", seedResend, "user-jwt-token", access)
	apiAnswer(t, "resend", resp, 200)
	if code, _ := m["authCode"].(string); len(code) != 6 || m["isNewUser"] != true || m["otp"] == nil || len(m) != 3 {
		t.Errorf("resend: %v", m)
	}
	resp, m = exchange(t, "POST", base+"/fe/users/auth/otp/register", seedResend, "user-jwt-token", access)
	apiAnswer(t, "register", resp, 429)
	retryAfter(t, "register", resp)
	if m["message"] != "Too many requests" || m["code"] != "rate_limited" || m["success"] != nil {
		t.Errorf("register: %v", m)
	}
	resp, m = exchange(t, "POST", base+"/fe/users/auth/otp/resend", seedResend)
	apiAnswer(t, "resend without token", resp, 401)
	if m["message"] != "UN_AUTHORIZED" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("resend without token: %v %v", resp.Header, m)
	}

	resp, m = exchange(t, "POST", base+"/auth/logout", `{"refreshToken": "`+next+`"}`)
	apiAnswer(t, "logout", resp, 200)
	envelopeAnswer(t, "logout", m, true, "request processed successfully")
}

// Bad requests to the API's paths get JSON answers, also on the example
// server, whose sign-in page answers every other path: a wrong method,
// and a path under the API's prefixes that names no route.
func TestServerAPIPathsAnswerJSON(t *testing.T) {
	base, stop, _ := start(t)
	defer stop()
	resp, m := exchange(t, "GET", base+"/auth/otp/request", "")
	apiAnswer(t, "GET request", resp, 405)
	if resp.Header.Get("Allow") != "POST" || m["code"] != "method_not_allowed" {
		t.Errorf("GET request: %v %v", resp.Header, m)
	}
	for _, path := range []string{"/auth/otp/request/", "/auth/otp/unknown", "/auth/", "/fe/users/auth/otp/nothing", "/.well-known/unknown"} {
		resp, m := exchange(t, "POST", base+path, `{}`)
		apiAnswer(t, path, resp, 404)
		if m["code"] != "not_found" {
			t.Errorf("%s: %v", path, m)
		}
	}
	// The page's own paths stay the page's.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
