package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
)

// The test vector of the Standard Webhooks specification.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var now = time.Date(2026, 2, 3, 14, 46, 16, 0, time.UTC)

// secret is a 32-byte test secret.
var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// request is what the receiver got.
type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

// newReceiver answers every request with reply(w) after recording it.
func newReceiver(t *testing.T, reply func(w http.ResponseWriter)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rc.mu.Unlock()
		reply(w)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func replyJSON(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func newSender(t *testing.T, url string, mutate ...func(*Config)) *Sender {
	t.Helper()
	cfg := Config{URL: url, Secret: secret, Clock: phoneauth.NewManualClock(now)}
	for _, f := range mutate {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func message() phoneauth.Message {
	return phoneauth.Message{
		To: "+923012345678", Channel: phoneauth.WhatsApp, Text: "Your code is 123456.", Code: "123456",
		ChallengeID: "ch_1", ExpiresAt: now.Add(5 * time.Minute), Locale: "pt-BR",
	}
}

func TestSendWireFormat(t *testing.T) {
	rc := newReceiver(t, replyJSON(http.StatusAccepted, `{"messageId": "dlv-77"}`))
	s := newSender(t, rc.URL+"/hooks/otp?tenant=a", func(c *Config) {
		c.Header = http.Header{"Authorization": {"Bearer gw-token"}}
	})
	id, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatal(err)
	}
	if id != "dlv-77" {
		t.Errorf("id = %q, want the receiver's dlv-77", id)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/hooks/otp" || r.query != "tenant=a" {
		t.Errorf("request %s %s?%s", r.method, r.path, r.query)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if a := r.header.Get("Authorization"); a != "Bearer gw-token" {
		t.Errorf("Authorization %q", a)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"to": "+923012345678", "channel": "whatsapp", "code": "123456", "text": "Your code is 123456.",
		"challengeId": "ch_1", "expiresAt": "2026-02-03T14:51:16Z", "locale": "pt-BR",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n got %v\nwant %v", got, want)
	}

	// The headers of the Standard Webhooks scheme, recomputed by hand.
	whID, ts, sig := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.header.Get("webhook-signature")
	if !strings.HasPrefix(whID, "msg_") || ts != fmt.Sprint(now.Unix()) {
		t.Errorf("webhook-id %q, webhook-timestamp %q", whID, ts)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	h := hmac.New(sha256.New, key)
	h.Write([]byte(whID + "." + ts + "." + string(r.body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil)); sig != want {
		t.Errorf("webhook-signature %q, want %q", sig, want)
	}
	if err := Verify(secret, r.header, r.body, now.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify of a sent request: %v", err)
	}
}

func TestSendOmitsEmptyOptionalFields(t *testing.T) {
	rc := newReceiver(t, replyJSON(http.StatusOK, `{}`))
	m := message()
	m.ExpiresAt, m.Locale = time.Time{}, ""
	if _, err := newSender(t, rc.URL).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(rc.requests()[0].body, &got)
	if _, ok := got["expiresAt"]; ok {
		t.Errorf("expiresAt present: %v", got)
	}
	if _, ok := got["locale"]; ok {
		t.Errorf("locale present: %v", got)
	}
}

func TestWebhookIDIsStablePerMessage(t *testing.T) {
	rc := newReceiver(t, replyJSON(http.StatusNoContent, ""))
	s := newSender(t, rc.URL)
	m := message()
	other := message()
	other.Code = "654321" // a resend: same challenge, new code
	noChallenge := message()
	noChallenge.ChallengeID = ""
	for _, msg := range []phoneauth.Message{m, m, other, noChallenge, noChallenge} {
		if _, err := s.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, r := range rc.requests() {
		ids = append(ids, r.header.Get("webhook-id"))
	}
	if ids[0] != ids[1] {
		t.Errorf("two attempts of one message: ids %q, %q", ids[0], ids[1])
	}
	if ids[2] == ids[0] || ids[3] == ids[4] || ids[3] == ids[0] {
		t.Errorf("ids %q: a new code or a message without challenge must get a new id", ids)
	}
	for _, id := range ids {
		if strings.Contains(id, "123456") || strings.Contains(id, "ch_1") {
			t.Errorf("webhook-id %q reveals the message", id)
		}
	}
}

func TestSendReplies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string // "" means the webhook-id
	}{
		{"messageId", 200, `{"messageId": "m-1", "id": "ignored"}`, "m-1"},
		{"id", 201, `{"id": "m-2"}`, "m-2"},
		{"no content", 204, ``, ""},
		{"not JSON", 200, `ok`, ""},
		{"id not a string", 200, `{"id": 5}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, replyJSON(tt.status, tt.body))
			id, err := newSender(t, rc.URL).Send(context.Background(), message())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = rc.requests()[0].header.Get("webhook-id")
			}
			if id != want {
				t.Errorf("id = %q, want %q", id, want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		temporary  bool
		delay      time.Duration
	}{
		{"bad request", 400, "", false, 0},
		{"unauthorized", 401, "", false, 0},
		{"timeout", 408, "", true, 0},
		{"rate limited", 429, "12", true, 12 * time.Second},
		{"server error", 500, "", true, 0},
		{"unavailable, date", 503, now.Add(time.Minute).Format(http.TimeFormat), true, time.Minute},
		{"redirect not followed", 302, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var redirected atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Add(1) }))
			defer target.Close()
			rc := newReceiver(t, func(w http.ResponseWriter) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", target.URL)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, `{"error": "nope", "to": "+923012345678"}`)
			})
			_, err := newSender(t, rc.URL).Send(context.Background(), message())
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || !errors.Is(err, phoneauth.ErrSendFailed) {
				t.Fatalf("err = %v", err)
			}
			if delivery.IsTemporary(err) != tt.temporary || delivery.RetryDelay(err) != tt.delay {
				t.Errorf("temporary %v, delay %v; want %v, %v", delivery.IsTemporary(err), delivery.RetryDelay(err), tt.temporary, tt.delay)
			}
			if !strings.Contains(err.Error(), `{"error": "nope", "to": "`+phoneauth.MaskPhone("+923012345678")+`"}`) {
				t.Errorf("error %q lacks the reply, phone masked", err)
			}
			if redirected.Load() != 0 {
				t.Error("redirect followed")
			}
		})
	}
}

func TestSendTimeoutIsTemporary(t *testing.T) {
	stop := make(chan struct{})
	rc := newReceiver(t, func(http.ResponseWriter) { <-stop })
	defer close(stop) // before the server closes (cleanup)
	s := newSender(t, rc.URL, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
	_, err := s.Send(context.Background(), message())
	if !errors.Is(err, phoneauth.ErrSendFailed) || !delivery.IsTemporary(err) {
		t.Errorf("err = %v, want a temporary failure", err)
	}
	if len(rc.requests()) != 1 {
		t.Errorf("%d requests", len(rc.requests()))
	}
}

func TestSendCancelledIsPermanent(t *testing.T) {
	rc := newReceiver(t, replyJSON(200, `{}`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newSender(t, rc.URL).Send(ctx, message())
	if !errors.Is(err, context.Canceled) || !errors.Is(err, phoneauth.ErrSendFailed) || delivery.IsTemporary(err) {
		t.Errorf("err = %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, MinSecretBytes-1))
	for name, cfg := range map[string]Config{
		"no URL":          {Secret: secret},
		"relative URL":    {URL: "/hooks", Secret: secret},
		"other scheme":    {URL: "ftp://example.com", Secret: secret},
		"no secret":       {URL: "https://example.com"},
		"short secret":    {URL: "https://example.com", Secret: short},
		"not base64":      {URL: "https://example.com", Secret: "whsec_not base64!"},
		"prefix only":     {URL: "https://example.com", Secret: "whsec_"},
		"unparseable URL": {URL: "https://[::1", Secret: secret},
	} {
		if _, err := New(cfg); !errors.Is(err, phoneauth.ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
	for _, sec := range []string{secret, strings.TrimPrefix(secret, "whsec_"), NewSecret(), strings.TrimRight(NewSecret(), "=")} {
		if _, err := New(Config{URL: "https://example.com/hook", Secret: sec}); err != nil {
			t.Errorf("New with secret %q: %v", sec, err)
		}
	}
	if a, b := NewSecret(), NewSecret(); a == b || !strings.HasPrefix(a, "whsec_") {
		t.Errorf("NewSecret = %q, %q", a, b)
	}
}

func vectorHeader(sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", fmt.Sprint(vectorTimestamp))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignMatchesTheSpecificationVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if err != nil || got != vectorSignature {
		t.Errorf("Sign = %q, %v; want %q", got, err, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	signedAt := time.Unix(vectorTimestamp, 0)
	other, _ := Sign(secret, vectorID, signedAt, []byte(vectorBody))
	tests := []struct {
		name   string
		secret string
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"vector", vectorSecret, vectorHeader(vectorSignature), vectorBody, signedAt, nil},
		{"secret without prefix", strings.TrimPrefix(vectorSecret, "whsec_"), vectorHeader(vectorSignature), vectorBody, signedAt, nil},
		{"within tolerance", vectorSecret, vectorHeader(vectorSignature), vectorBody, signedAt.Add(5 * time.Minute), nil},
		{"within tolerance, clock behind", vectorSecret, vectorHeader(vectorSignature), vectorBody, signedAt.Add(-5 * time.Minute), nil},
		{"rotation: second signature valid", vectorSecret, vectorHeader(other + " " + vectorSignature), vectorBody, signedAt, nil},
		{"unknown versions ignored", vectorSecret, vectorHeader("v1a,AAAA v2," + vectorSignature[3:] + " " + vectorSignature), vectorBody, signedAt, nil},
		{"tampered body", vectorSecret, vectorHeader(vectorSignature), `{"test": 2432232315}`, signedAt, ErrInvalidSignature},
		{"other secret", secret, vectorHeader(vectorSignature), vectorBody, signedAt, ErrInvalidSignature},
		{"signature of the other secret only", vectorSecret, vectorHeader(other), vectorBody, signedAt, ErrInvalidSignature},
		{"wrong version", vectorSecret, vectorHeader("v2," + vectorSignature[3:]), vectorBody, signedAt, ErrInvalidSignature},
		{"no version", vectorSecret, vectorHeader(vectorSignature[3:]), vectorBody, signedAt, ErrInvalidSignature},
		{"not base64", vectorSecret, vectorHeader("v1,!!!"), vectorBody, signedAt, ErrInvalidSignature},
		{"truncated signature", vectorSecret, vectorHeader(vectorSignature[:20]), vectorBody, signedAt, ErrInvalidSignature},
		{"too old", vectorSecret, vectorHeader(vectorSignature), vectorBody, signedAt.Add(5*time.Minute + time.Second), ErrTimestampOutOfRange},
		{"from the future", vectorSecret, vectorHeader(vectorSignature), vectorBody, signedAt.Add(-5*time.Minute - time.Second), ErrTimestampOutOfRange},
		{"no headers", vectorSecret, http.Header{}, vectorBody, signedAt, ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, []byte(tt.body), tt.now, 0)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}

	for _, drop := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		h := vectorHeader(vectorSignature)
		h.Del(drop)
		if err := Verify(vectorSecret, h, []byte(vectorBody), signedAt, 0); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("without %s: %v", drop, err)
		}
	}
	h := vectorHeader(vectorSignature)
	h.Set("webhook-timestamp", "yesterday")
	if err := Verify(vectorSecret, h, []byte(vectorBody), signedAt, 0); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("malformed timestamp: %v", err)
	}
	if err := Verify(vectorSecret, vectorHeader(vectorSignature), []byte(vectorBody), signedAt.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("custom tolerance: %v", err)
	}
	if err := Verify("whsec_%%%", vectorHeader(vectorSignature), []byte(vectorBody), signedAt, 0); err == nil || errors.Is(err, ErrInvalidSignature) {
		t.Errorf("malformed secret: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(vectorSignature, []byte(vectorBody))
	f.Add("v1,"+vectorSignature[3:]+" v1,x", []byte(vectorBody))
	f.Add("v1a,abc v1", []byte("{}"))
	f.Add("", []byte(nil))
	signedAt := time.Unix(vectorTimestamp, 0)
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		err := Verify(vectorSecret, vectorHeader(sig), body, signedAt, 0)
		want, _ := Sign(vectorSecret, vectorID, signedAt, body)
		// Valid exactly when some field decodes to the right MAC.
		valid := false
		for _, field := range strings.Fields(sig) {
			if v, enc, ok := strings.Cut(field, ","); ok && v == "v1" {
				got, e1 := base64.StdEncoding.DecodeString(enc)
				exp, _ := base64.StdEncoding.DecodeString(want[3:])
				valid = valid || e1 == nil && hmac.Equal(got, exp)
			}
		}
		if (err == nil) != valid {
			t.Fatalf("Verify(%q) = %v, valid %v", sig, err, valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify(%q) = %v", sig, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	h := vectorHeader(vectorSignature)
	body := []byte(vectorBody)
	at := time.Unix(vectorTimestamp, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(vectorSecret, h, body, at, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// A delivery service that echoes the payload in its error reply must not
// put the code, or the phone number, into the error (which ends up in
// logs): they are redacted in the whole reply before it is cut to a
// snippet, so that a cut cannot leave most of either behind either.
func TestErrorReplyNeverHoldsTheCodeOrThePhone(t *testing.T) {
	m := message()
	m.Code, m.Text = "908172", "Your code is 908172."
	for name, reply := range map[string]string{
		"echo":               `{"error": "rejected", "payload": ` + `{"to":"+923012345678","code":"908172","text":"Your code is 908172."}}`,
		"phone without plus": `{"error": "923012345678 unreachable"}`,
		"phone at the cut":   strings.Repeat("x", 200-11) + "+923012345678",
		"code at the cut":    strings.Repeat("x", 200-5) + "908172",
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, reply)
			})
			_, err := newSender(t, rc.URL).Send(context.Background(), m)
			if err == nil {
				t.Fatal("no error")
			}
			for _, secret := range []string{"908172", "90817", "08172", "3012345678", "30123456"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error holds %q: %v", secret, err)
				}
			}
		})
	}
}
