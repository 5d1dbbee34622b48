package httpadapter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
)

// captchaFunc adapts a function to phoneauth.CaptchaVerifier.
type captchaFunc func(ctx context.Context, token, ip string) error

func (f captchaFunc) VerifyCaptcha(ctx context.Context, token, ip string) error {
	return f(ctx, token, ip)
}

// downStore is a Store whose challenge writes fail, as a database that is
// down.
type downStore struct{ *phoneauth.MemoryStore }

func (downStore) PutChallenge(context.Context, phoneauth.Challenge) error {
	return errors.New("connection refused")
}

// TestErrorRowsOverHTTP provokes each error of the table that a client can
// provoke and checks the response's status, code and message. (The table
// itself, every row, is walked by TestErrorTable.)
func TestErrorRowsOverHTTP(t *testing.T) {
	phone := "+923012345678"
	cases := []struct {
		name      string
		configure func(*phoneauth.Config)
		run       func(f *fixture) (bare bool, w *httptest.ResponseRecorder)
		status    int
		code      string
		message   string
		more      string // a substring of the body: the fields beside the code
		logged    string // a substring of the Handler's log, for 5xx
	}{
		{name: "invalid phone", status: 400, code: httpadapter.CodeInvalidPhone, message: "Invalid phone number",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", requestBody("+92123", "d"))
			}},
		{name: "unknown country", status: 400, code: httpadapter.CodeInvalidCountry,
			message: "Unknown country: use an ISO 3166 code such as PK, or a calling code such as +92",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "3012345678", "country": "XX", "deviceId": "d"}`)
			}},
		{name: "country as a name", status: 400, code: httpadapter.CodeInvalidCountry,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "03012345678", "country": "Pakistan"}`)
			}},
		{name: "country as alpha-3", status: 400, code: httpadapter.CodeInvalidCountry,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "+923012345678", "country": "PAK"}`)
			}},
		{name: "phone verification: unknown country", status: 400, code: httpadapter.CodeInvalidCountry,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				tok := f.signIn(phone).Token.AccessToken
				return true, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "1234567890", "countryCode": "XX"}`, "user-jwt-token", tok)
			}},
		{name: "phone not allowed", status: 422, code: httpadapter.CodePhoneNotAllowed, message: "Phone number not allowed: numbers of PK are not accepted",
			more:      `"reason":"country_not_allowed"`,
			configure: func(c *phoneauth.Config) { c.Phones.DenyCountries = []string{"PK"} },
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", requestBody(phone, "d"))
			}},
		{name: "toll-free", status: 422, code: httpadapter.CodePhoneNotAllowed, message: "Phone number not allowed: toll-free numbers are not accepted",
			more: `"reason":"toll_free"`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "+18005550123"}`)
			}},
		{name: "landline", status: 422, code: httpadapter.CodePhoneNotAllowed, message: "Phone number not allowed: fixed-line numbers are not accepted",
			more: `"reason":"landline"`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "+442079460000"}`)
			}},
		{name: "rate limited", status: 429, code: httpadapter.CodeRateLimited, message: "Too many requests",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				f.requestCode(phone)
				return false, f.do("POST", "/auth/otp/request", requestBody(phone, "d"))
			}},
		{name: "invalid otp", status: 400, code: httpadapter.CodeInvalidOTP, message: "Invalid OTP", more: `"attemptsLeft":3`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				c := f.requestCode(phone)
				f.do("POST", "/auth/otp/verify", verifyBody(phone, wrongCode(c.OTP), "d"))
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, wrongCode(c.OTP), "d"))
			}},
		{name: "last attempt", status: 400, code: httpadapter.CodeInvalidOTP, message: "Invalid OTP", more: `"attemptsLeft":0`,
			configure: func(c *phoneauth.Config) { c.MaxAttempts, c.AllowWeakCodes = 1, true },
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				c := f.requestCode(phone)
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, wrongCode(c.OTP), "d"))
			}},
		{name: "malformed code", status: 400, code: httpadapter.CodeInvalidOTP, message: "Invalid OTP",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				f.requestCode(phone)
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, "12", "d"))
			}},
		{name: "phone verification: invalid otp", status: 400, code: httpadapter.CodeInvalidOTP, message: "Invalid OTP", more: `"attemptsLeft":4`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				tok := f.signIn(phone).Token.AccessToken
				reg := wantBare(f.t, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "+919876543219"}`, "user-jwt-token", tok), 200)
				return true, f.do("POST", "/fe/users/auth/otp/verify",
					fmt.Sprintf(`{"phone_number": "+919876543219", "authCode": %s, "otp": %q}`, reg["authCode"], wrongCode(reg["otp"].(string))), "user-jwt-token", tok)
			}},
		{name: "phone verification: verification failed", status: 401, code: httpadapter.CodeVerificationFailed, message: "OTP verification failed", more: `"hint":"Request a new code`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				tok := f.signIn(phone).Token.AccessToken
				return true, f.do("POST", "/fe/users/auth/otp/verify", `{"phone_number": "+919876543219", "authCode": 123456, "otp": 5678}`, "user-jwt-token", tok)
			}},
		{name: "verification failed", status: 401, code: httpadapter.CodeVerificationFailed, message: "OTP verification failed",
			more: `"hint":"Request a new code: this one has expired, was used or replaced, or has no attempts left"`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, "123456", "d"))
			}},
		{name: "expired code", status: 401, code: httpadapter.CodeVerificationFailed, message: "OTP verification failed", more: `"hint":"Request a new code`,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				c := f.requestCode(phone)
				f.clock.Advance(5 * time.Minute)
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, c.OTP, "d"))
			}},
		{name: "no pending code", status: 409, code: httpadapter.CodeNoPendingCode, message: "No pending code; request a new one",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/resend", requestBody(phone, "d"))
			}},
		{name: "signup not allowed", status: 403, code: httpadapter.CodeSignupNotAllowed, message: "Sign-up is not allowed",
			configure: func(c *phoneauth.Config) { c.Signup = phoneauth.SignupDisabled },
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				c := f.requestCode(phone)
				return false, f.do("POST", "/auth/otp/verify", verifyBody(phone, c.OTP, "d"))
			}},
		{name: "captcha failed", status: 403, code: httpadapter.CodeCaptchaFailed, message: "Captcha verification failed",
			configure: func(c *phoneauth.Config) {
				c.Captcha = captchaFunc(func(_ context.Context, tok, _ string) error {
					if tok != "good" {
						return phoneauth.ErrCaptchaFailed
					}
					return nil
				})
			},
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "d", "captchaToken": "bad"}`)
			}},
		{name: "captcha unavailable", status: 503, code: httpadapter.CodeCaptchaUnavailable, logged: "captcha down",
			configure: func(c *phoneauth.Config) {
				c.Captcha = captchaFunc(func(context.Context, string, string) error { return errors.New("captcha down") })
			},
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", requestBody(phone, "d"))
			}},
		{name: "send failed", status: 502, code: httpadapter.CodeSendFailed, message: "Could not send the code; try again later", logged: "provider said no",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				f.failSends(errors.New("provider said no"))
				return false, f.do("POST", "/auth/otp/request", requestBody(phone, "d"))
			}},
		// Not logged by the Handler (but at debug level): the
		// Authenticator logs a store outage once, not per request.
		{name: "store unavailable", status: 503, code: httpadapter.CodeStoreUnavailable, message: "Service temporarily unavailable; try again later",
			configure: func(c *phoneauth.Config) { c.Store = downStore{phoneauth.NewMemoryStore()} },
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/otp/request", requestBody(phone, "d"))
			}},
		{name: "invalid token", status: 401, code: httpadapter.CodeInvalidToken, message: "Invalid or expired token",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				return false, f.do("POST", "/auth/token/refresh", `{"refreshToken": "not-a-token"}`)
			}},
		{name: "token reused", status: 401, code: httpadapter.CodeTokenReused,
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				rt := f.signIn(phone).Token.RefreshToken
				f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+rt+`"}`)
				f.clock.Advance(time.Minute) // past the reuse grace
				return false, f.do("POST", "/auth/token/refresh", `{"refreshToken": "`+rt+`"}`)
			}},
		{name: "phone verification: rate limited", status: 429, code: httpadapter.CodeRateLimited, message: "Too many requests",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				tok := f.signIn(phone).Token.AccessToken
				f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "+919876543219"}`, "user-jwt-token", tok)
				return true, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "+919876543219"}`, "user-jwt-token", tok)
			}},
		{name: "phone verification: send failed", status: 502, code: httpadapter.CodeSendFailed, logged: "provider said no",
			run: func(f *fixture) (bool, *httptest.ResponseRecorder) {
				tok := f.signIn(phone).Token.AccessToken
				f.failSends(errors.New("provider said no"))
				return true, f.do("POST", "/fe/users/auth/otp/register", `{"phone_number": "+919876543219"}`, "user-jwt-token", tok)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.configure)
			bare, w := tc.run(f)
			status, code, msg := errorOf(t, w, bare)
			if status != tc.status || code != tc.code || (tc.message != "" && msg != tc.message) {
				t.Errorf("%d %s %q, want %d %s %q", status, code, msg, tc.status, tc.code, tc.message)
			}
			if !strings.Contains(w.Body.String(), tc.more) {
				t.Errorf("body %s lacks %s", w.Body, tc.more)
			}
			for _, field := range []string{"reason", "attemptsLeft", "hint"} {
				if strings.Contains(w.Body.String(), `"`+field+`"`) && !strings.Contains(tc.more, `"`+field+`"`) {
					t.Errorf("body %s has %q", w.Body, field)
				}
			}
			if status == 429 && w.Header().Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if ra := w.Header().Get("Retry-After"); status == 503 && ra != "5" {
				t.Errorf("503 with Retry-After %q, want the default 5", ra)
			}
			logs := f.logs.String()
			if tc.logged != "" && !strings.Contains(logs, tc.logged) {
				t.Errorf("cause %q not logged: %s", tc.logged, logs)
			}
			if tc.logged == "" && logs != "" {
				t.Errorf("a %d was logged: %s", status, logs)
			}
		})
	}
}

// wrongCode returns a code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// hungStore is a Store whose challenge writes wait until their context
// ends, as a database that is paused. After ten seconds it gives up, so
// that a test without a deadline fails instead of hanging.
type hungStore struct{ *phoneauth.MemoryStore }

func (hungStore) PutChallenge(ctx context.Context, _ phoneauth.Challenge) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("test: no deadline")
	}
}

// A paused store is answered 503 store_unavailable with Retry-After, to
// every one of many concurrent requests, once Config.StoreTimeout has
// passed.
func TestHungStoreOverHTTP(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Store, c.Users = hungStore{phoneauth.NewMemoryStore()}, phoneauth.NewMemoryStore()
		c.StoreTimeout = 50 * time.Millisecond
	}, httpadapter.WithUnavailableRetryAfter(1500*time.Millisecond))
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := f.do("POST", "/auth/otp/request", requestBody(fmt.Sprintf("+91987%02d43210", i), fmt.Sprintf("d%d", i)), "RemoteAddr", fmt.Sprintf("192.0.2.%d:1234", i+1))
			e := decodeEnvelope(t, w, 503)
			if e.Code != httpadapter.CodeStoreUnavailable || w.Header().Get("Retry-After") != "2" {
				t.Errorf("request %d: %d %s, Retry-After %q; want 503 store_unavailable, Retry-After 2 (1.5s rounded up)", i, w.Code, e.Code, w.Header().Get("Retry-After"))
			}
		}()
	}
	wg.Wait()
	if logs := f.logs.String(); logs != "" {
		t.Errorf("the Handler logged the 503s (the Authenticator logs the outage, once): %s", logs)
	}
	if _, err := httpadapter.New(f.auth, httpadapter.WithUnavailableRetryAfter(0)); err == nil {
		t.Error("New accepted a Retry-After of 0")
	}
}

// sessionOutageStore is a memory store whose CreateSession fails while
// down is set.
type sessionOutageStore struct {
	*phoneauth.MemoryStore
	down atomic.Bool
}

func (s *sessionOutageStore) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	return s.MemoryStore.CreateSession(ctx, sess)
}

// A verification the store failed (here creating the session, after the
// code matched) is answered 503 with Retry-After and has not happened: the
// client's retry with the same code, as the 503 asks, is answered 200.
func TestVerifyRetryAfter503(t *testing.T) {
	store := &sessionOutageStore{MemoryStore: phoneauth.NewMemoryStore()}
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Store, c.Users = store, store.MemoryStore
		c.Limits.VerifyPerIP = phoneauth.Limit{Events: 1, Per: time.Hour}
	})
	phone := pkPhone(1)
	code := f.requestCode(phone).OTP
	store.down.Store(true)
	w := f.do("POST", "/auth/otp/verify", verifyBody(phone, code, "d"))
	if e := decodeEnvelope(t, w, 503); e.Code != httpadapter.CodeStoreUnavailable || w.Header().Get("Retry-After") != "5" {
		t.Fatalf("verify while the store is down: %s, Retry-After %q; want store_unavailable, 5", e.Code, w.Header().Get("Retry-After"))
	}
	store.down.Store(false)
	in := data[signInData](t, decodeEnvelope(t, f.do("POST", "/auth/otp/verify", verifyBody(phone, code, "d")), 200))
	if in.Token.AccessToken == "" {
		t.Fatalf("the retry signed in without an access token: %+v", in)
	}
}

// A panic below a route (here a Sender's) is a JSON 500, logged with its
// stack, not a dropped connection; http.ErrAbortHandler still aborts.
func TestPanicIsJSON500(t *testing.T) {
	var abort atomic.Bool
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Sender = phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) {
			if abort.Load() {
				panic(http.ErrAbortHandler)
			}
			panic("sender bug")
		})
	})
	w := f.do("POST", "/auth/otp/request", requestBody("+923012345678", "d"))
	if status, code, _ := errorOf(t, w, false); status != 500 || code != httpadapter.CodeInternal {
		t.Fatalf("a panicking sender: %d %s, want 500 %s", status, code, httpadapter.CodeInternal)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "sender bug") || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic and its stack were not logged: %s", logs)
	}

	abort.Store(true)
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("http.ErrAbortHandler: recovered %v, want it passed on", v)
		}
	}()
	f.do("POST", "/auth/otp/request", requestBody("+923012345679", "d"))
	t.Error("http.ErrAbortHandler was answered instead of passed on")
}
