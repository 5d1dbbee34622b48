package httpadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/httpadapter"
	"github.com/phoneauth/phoneauth/internal/testutil"
)

// t0 is the fixtures' start time: the timestamp of the seed's example.
var t0 = time.Date(2026, 2, 3, 14, 46, 16, 374_000_000, time.UTC)

// fixture is an Authenticator on a memory store and a manual clock, in
// development mode, with its Handler.
type fixture struct {
	t     testing.TB
	clock *phoneauth.ManualClock
	store *phoneauth.MemoryStore
	auth  *phoneauth.Authenticator
	h     *httpadapter.Handler
	logs  *testutil.Buffer // the Handler's logs

	mu      sync.Mutex
	sent    []phoneauth.Message
	sendErr error // the sender's answer, if set
}

// newFixture builds a fixture; configure may change the Config before New.
func newFixture(t testing.TB, configure func(*phoneauth.Config), opts ...httpadapter.Option) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: phoneauth.NewManualClock(t0), store: phoneauth.NewMemoryStore(), logs: &testutil.Buffer{}}
	f.store.Clock = f.clock
	key, err := phoneauth.GenerateEd25519Key("test-key")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := phoneauth.Config{
		Store: f.store,
		Sender: phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.sendErr != nil {
				return "", f.sendErr
			}
			f.sent = append(f.sent, m)
			return fmt.Sprintf("msg-%d", len(f.sent)), nil
		}),
		Secret:      []byte("a test secret: 32 bytes or more, of many different bytes"),
		Tokens:      phoneauth.TokenConfig{Keys: keys},
		Clock:       f.clock,
		Development: true,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	if f.auth, err = phoneauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	opts = append([]httpadapter.Option{
		httpadapter.WithLogger(slog.New(slog.NewTextHandler(f.logs, nil))),
	}, opts...)
	if f.h, err = httpadapter.New(f.auth, opts...); err != nil {
		t.Fatal(err)
	}
	return f
}

// failSends makes the sender fail with err from now on.
func (f *fixture) failSends(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendErr = err
}

// lastSent returns the last message the sender got.
func (f *fixture) lastSent() phoneauth.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		f.t.Fatal("nothing sent")
	}
	return f.sent[len(f.sent)-1]
}

// do serves one request through the Handler. headers are name, value pairs;
// a JSON Content-Type is set unless given.
// It also checks that the OpenAPI document lists the status among the
// route's responses, so that every answer a test sees is documented.
func (f *fixture) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	w := serve(f.h, method, path, body, headers...)
	if !documentedStatus(f.h, method, path, w.Code) {
		f.t.Errorf("%s %s answered %d, which the OpenAPI document does not list: %s", method, path, w.Code, w.Body)
	}
	return w
}

// documentedResponses caches each Handler's OpenAPI responses: path,
// lower-case method, status.
var documentedResponses sync.Map // *httpadapter.Handler → map[string]map[string]map[string]any

// documentedStatus reports whether h's OpenAPI document lists status for
// method on path, or does not document path at all (an unknown path, or
// one outside the document).
func documentedStatus(h *httpadapter.Handler, method, path string, status int) bool {
	doc, ok := documentedResponses.Load(h)
	if !ok {
		var d struct {
			Paths map[string]map[string]struct{ Responses map[string]any }
		}
		if err := json.Unmarshal(h.OpenAPI(), &d); err != nil {
			return false
		}
		paths := make(map[string]map[string]map[string]any)
		for p, ops := range d.Paths {
			paths[p] = make(map[string]map[string]any)
			for m, op := range ops {
				paths[p][m] = op.Responses
			}
		}
		doc, _ = documentedResponses.LoadOrStore(h, paths)
	}
	ops, ok := doc.(map[string]map[string]map[string]any)[strings.SplitN(path, "?", 2)[0]]
	if !ok {
		return true
	}
	responses, ok := ops[strings.ToLower(method)]
	if !ok {
		return status == http.StatusMethodNotAllowed || method == http.MethodHead
	}
	_, ok = responses[strconv.Itoa(status)]
	return ok
}

func serve(h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "RemoteAddr" {
			r.RemoteAddr = headers[i+1]
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// envelope is the decoded response of a sign-in route.
type envelope struct {
	Success   *bool           `json:"success"`
	Message   string          `json:"message"`
	Code      string          `json:"code"`
	Data      json.RawMessage `json:"data"`
	Timestamp string          `json:"timestamp"`
}

// codeData is the data of request and resend.
type codeData struct {
	RequestID   string `json:"requestId"`
	MaskedPhone string `json:"maskedPhone"`
	Channel     string `json:"channel"`
	ExpiresIn   *int64 `json:"expiresIn"`
	ResendAfter *int64 `json:"resendAfter"`
	MessageID   string `json:"messageId"`
	OTP         string `json:"otp"`
}

// signInData is the data of verify and refresh.
type signInData struct {
	Token struct {
		AccessToken   string `json:"accessToken"`
		RefreshToken  string `json:"refreshToken"`
		TokenType     string `json:"tokenType"`
		CurrentDevice struct {
			ID              string    `json:"id"`
			DeviceID        string    `json:"deviceId"`
			DeviceType      string    `json:"deviceType"`
			DeviceName      string    `json:"deviceName"`
			PlatformVersion string    `json:"platformVersion"`
			CreatedAt       time.Time `json:"createdAt"`
			ExpiresAt       time.Time `json:"expiresAt"`
		} `json:"currentDevice"`
	} `json:"token"`
	User struct {
		ID        string `json:"id"`
		Phone     string `json:"phone"`
		IsNewUser bool   `json:"isNewUser"`
	} `json:"user"`
	ExpiresIn        int64 `json:"expiresIn"`
	RefreshExpiresIn int64 `json:"refreshExpiresIn"`
}

// decodeEnvelope decodes an envelope response and checks its status and
// success flag.
func decodeEnvelope(t testing.TB, w *httptest.ResponseRecorder, status int) envelope {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var e envelope
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if e.Success == nil || *e.Success != (status < 300) {
		t.Fatalf("success flag wrong for status %d: %s", status, w.Body)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil || !strings.HasSuffix(e.Timestamp, "Z") {
		t.Fatalf("timestamp %q", e.Timestamp)
	}
	if status >= 300 && (e.Code == "" || e.Data != nil) {
		t.Fatalf("error envelope without code or with data: %s", w.Body)
	}
	return e
}

// data decodes an envelope's data into v.
func data[T any](t testing.TB, e envelope) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("data %s: %v", e.Data, err)
	}
	return v
}

// wantError checks an envelope error response.
func wantError(t testing.TB, w *httptest.ResponseRecorder, status int, code, message string) envelope {
	t.Helper()
	e := decodeEnvelope(t, w, status)
	if e.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Code, code, w.Body)
	}
	if message != "" && e.Message != message {
		t.Fatalf("message %q, want %q", e.Message, message)
	}
	return e
}

// wantBare checks a bare (phone-verification) response and decodes it.
func wantBare(t testing.TB, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if _, ok := m["success"]; ok {
		t.Fatalf("bare response has an envelope: %s", w.Body)
	}
	return m
}

// requestBody is a sign-in request body for phone.
func requestBody(phone, device string) string {
	return fmt.Sprintf(`{"phone": %q, "deviceId": %q}`, phone, device)
}

// verifyBody is a verify body for phone and code.
func verifyBody(phone, code, device string) string {
	return fmt.Sprintf(`{"otpInfo": {"phone": %q, "otp": %q}, "deviceInfo": {"deviceId": %q, "deviceType": "android", "deviceName": "pixel9", "platformVersion": "0.9.0", "fcmToken": "fcm"}}`, phone, code, device)
}

// requestCode requests a code for phone and returns the response data.
func (f *fixture) requestCode(phone string, headers ...string) codeData {
	f.t.Helper()
	return f.requestCodeFrom(phone, "d", headers...)
}

// requestCodeFrom requests a code for phone from device and returns the
// response data: a challenge belongs to the device that requested it.
func (f *fixture) requestCodeFrom(phone, device string, headers ...string) codeData {
	f.t.Helper()
	e := decodeEnvelope(f.t, f.do("POST", "/auth/otp/request", requestBody(phone, device), headers...), 200)
	return data[codeData](f.t, e)
}

// signIn requests and verifies a code for phone and returns the sign-in.
func (f *fixture) signIn(phone string) signInData {
	f.t.Helper()
	c := f.requestCode(phone)
	e := decodeEnvelope(f.t, f.do("POST", "/auth/otp/verify", verifyBody(phone, c.OTP, "d")), 200)
	return data[signInData](f.t, e)
}

// pkPhone returns the i-th of valid Pakistani mobile numbers (i < 10⁷).
// The first 10,000 are each in a number range of its own, so that the
// range limits and the conversion guard do not bind on the tests of the
// other limits; past them, i/10000 fills the last three digits.
func pkPhone(i int) string {
	return fmt.Sprintf("+92301%04d%03d", i%10000, i/10000)
}
