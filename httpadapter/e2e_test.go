package httpadapter_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seeds' request bodies, verbatim (the verify body's "249364" is
// replaced by the code actually sent).
const (
	seedRequestOTP = `{
  "phone": "+923012345678",
  "country": "PK",
  "deviceId": "android.unique.device.id"
}`
	seedVerifyOTP = `{
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
	seedRegisterPhone = `{
  "phone_number": "1234567890",
  "countryCode": "XX"
}`
	seedResendPhone = `  {
    "phone_number": "9876543219",
    "countryCode": "+91"
  }
`
	seedVerifyPhone = `{
  "phone_number": "1234567890",
  "countryCode": "XX",
  "authCode": 1234,
  "otp": 5678
}`
)

// client talks to a real server over loopback.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

// post sends body with the seeds' headers and decodes the JSON answer.
func (c *client) post(path, body string, headers ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		c.t.Fatalf("%s: %d %s: %v", path, resp.StatusCode, raw, err)
	}
	// The adapter leaves Content-Length to the server, which counts
	// every response of these routes (none outgrows its buffer).
	if resp.ContentLength != int64(len(raw)) {
		c.t.Errorf("%s: Content-Length %d, body %d bytes", path, resp.ContentLength, len(raw))
	}
	return resp.StatusCode, resp.Header, m
}

// mustPost is post expecting 200, returning the envelope's data or the bare
// body.
func (c *client) mustPost(path, body string, headers ...string) map[string]any {
	c.t.Helper()
	status, _, m := c.post(path, body, headers...)
	if status != 200 {
		c.t.Fatalf("%s: %d %v", path, status, m)
	}
	if d, ok := m["data"].(map[string]any); ok {
		return d
	}
	return m
}

func newServer(t *testing.T, f *fixture) *client {
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL, http: srv.Client()}
}

// TestSeedsEndToEnd follows the seeds over a real loopback listener:
// request → verify → refresh, then the phone-verification register →
// verify with the access token, then logout.
func TestSeedsEndToEnd(t *testing.T) {
	f := newFixture(t, nil)
	c := newServer(t, f)

	// 000: request a code.
	status, _, m := c.post("/auth/otp/request", seedRequestOTP)
	if status != 200 || m["success"] != true || m["message"] != "request processed successfully" || m["timestamp"] != "2026-02-03T14:46:16.374Z" {
		t.Fatalf("request: %d %v", status, m)
	}
	otp := m["data"].(map[string]any)["otp"].(string)

	// 001: verify it (the seed's national form of the same number).
	d := c.mustPost("/auth/otp/verify", strings.Replace(seedVerifyOTP, "249364", otp, 1))
	token := d["token"].(map[string]any)
	if token["accessToken"] == "" || token["currentDevice"].(map[string]any)["deviceName"] != "pixel9" {
		t.Fatalf("verify: %v", d)
	}

	// Refresh.
	f.clock.Advance(time.Minute)
	d = c.mustPost("/auth/token/refresh", `{"refreshToken": "`+token["refreshToken"].(string)+`"}`)
	token = d["token"].(map[string]any)
	access, refresh := token["accessToken"].(string), token["refreshToken"].(string)

	// 003: the seed's placeholder number (country "XX") is refused...
	status, _, m = c.post("/fe/users/auth/otp/register", seedRegisterPhone, "user-jwt-token", access)
	if status != 400 || m["code"] != "invalid_country" {
		t.Fatalf("register XX: %d %v", status, m)
	}
	// ...without a token it is UN_AUTHORIZED...
	status, _, m = c.post("/fe/users/auth/otp/register", seedResendPhone)
	if status != 401 || m["message"] != "UN_AUTHORIZED" {
		t.Fatalf("register without token: %d %v", status, m)
	}
	// ...and with a real number: register, resend, verify (authCode and otp
	// as the client got them, both as JSON numbers as in the seed).
	reg := c.mustPost("/fe/users/auth/otp/register", seedResendPhone, "user-jwt-token", access)
	if reg["isNewUser"] != true || reg["authCode"] == "" {
		t.Fatalf("register: %v", reg)
	}
	f.clock.Advance(31 * time.Second)
	reg = c.mustPost("/fe/users/auth/otp/resend", seedResendPhone, "user-jwt-token", access)
	otpNumber, err := strconv.Atoi(reg["otp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer(`"1234567890"`, `"9876543219"`, `"XX"`, `"+91"`,
		`1234`, reg["authCode"].(string), `5678`, strconv.Itoa(otpNumber)).Replace(seedVerifyPhone)
	if m := c.mustPost("/fe/users/auth/otp/verify", body, "user-jwt-token", access); m["message"] != "Phone number verified successfully" {
		t.Fatalf("verify phone: %v", m)
	}

	// Logout, after which the refresh token is dead.
	c.mustPost("/auth/logout", `{"refreshToken": "`+refresh+`"}`)
	status, _, m = c.post("/auth/token/refresh", `{"refreshToken": "`+refresh+`"}`)
	if status != 401 || m["code"] != "invalid_token" {
		t.Fatalf("refresh after logout: %d %v", status, m)
	}

	// JWKS over the wire.
	resp, err := c.http.Get(c.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Fatalf("JWKS: %d", resp.StatusCode)
	}
}

// TestParallelVerifiesOfOneCode: 40 clients race to verify one code over
// HTTP; exactly one signs in and nobody gets a 5xx.
func TestParallelVerifiesOfOneCode(t *testing.T) {
	f := newFixture(t, nil)
	c := newServer(t, f)
	c.http.Transport.(*http.Transport).MaxIdleConnsPerHost = 40
	otp := c.mustPost("/auth/otp/request", seedRequestOTP)["otp"].(string)
	body := strings.Replace(seedVerifyOTP, "249364", otp, 1)

	const n = 40
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		statuses = make([]int, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", c.base+"/auth/otp/verify", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.http.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	// The losers see a consumed or exhausted code (401) or the phone's
	// failed-verification budget (429).
	if count[200] != 1 || count[200]+count[401]+count[429] != n {
		t.Errorf("statuses %v", count)
	}
}
