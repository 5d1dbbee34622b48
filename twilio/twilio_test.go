package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "token-0123456789"
	serviceSID = "MG0123456789abcdef0123456789abcdef"
	contentSID = "HX0123456789abcdef0123456789abcdef"
	apiKeySID  = "SK0123456789abcdef0123456789abcdef"
)

var now = time.Date(2026, 2, 3, 14, 46, 16, 0, time.UTC)

// captured is one request as the fake API saw it.
type captured struct {
	method, path, contentType, accept string
	user, password                    string
	basicAuth                         bool
	form                              url.Values
}

// fakeAPI answers every request with status and body (and headers), and
// records what it got.
type fakeAPI struct {
	*httptest.Server
	status  int
	body    string
	headers map[string]string

	mu   sync.Mutex
	reqs []captured
}

func newFakeAPI(t *testing.T, status int, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{status: status, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			t.Errorf("body is not form-encoded: %q", raw)
		}
		c := captured{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), accept: r.Header.Get("Accept"), form: form}
		c.user, c.password, c.basicAuth = r.BasicAuth()
		f.mu.Lock()
		f.reqs = append(f.reqs, c)
		f.mu.Unlock()
		for k, v := range f.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) only(t *testing.T) captured {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(f.reqs))
	}
	return f.reqs[0]
}

func newSender(t *testing.T, api *fakeAPI, cfg Config) *Sender {
	t.Helper()
	cfg.AccountSID = accountSID
	if cfg.APIKeySID == "" {
		cfg.AuthToken = authToken
	}
	cfg.BaseURL = api.URL
	cfg.Clock = phoneauth.NewManualClock(now)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func message(ch phoneauth.Channel) phoneauth.Message {
	return phoneauth.Message{
		To: "+923012345678", Channel: ch, Text: "Your Acme code is 123456.", Code: "123456",
		ChallengeID: "ch_1", ExpiresAt: now.Add(5 * time.Minute),
	}
}

const created = `{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}`

func TestSendWireFormat(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		channel  phoneauth.Channel
		user     string
		password string
		form     url.Values
	}{
		{
			name: "SMS from a number", cfg: Config{From: "+15550100"}, channel: phoneauth.SMS,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"+923012345678"}, "From": {"+15550100"}, "Body": {"Your Acme code is 123456."}, "ValidityPeriod": {"300"}},
		},
		{
			name: "SMS through a Messaging Service", cfg: Config{From: "+15550100", MessagingServiceSID: serviceSID, StatusCallback: "https://example.com/status"}, channel: phoneauth.SMS,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"+923012345678"}, "MessagingServiceSid": {serviceSID}, "Body": {"Your Acme code is 123456."}, "ValidityPeriod": {"300"}, "StatusCallback": {"https://example.com/status"}},
		},
		{
			name: "API key", cfg: Config{APIKeySID: apiKeySID, APIKeySecret: "key-secret", From: "Acme"}, channel: phoneauth.SMS,
			user: apiKeySID, password: "key-secret",
			form: url.Values{"To": {"+923012345678"}, "From": {"Acme"}, "Body": {"Your Acme code is 123456."}, "ValidityPeriod": {"300"}},
		},
		{
			name: "WhatsApp content template", cfg: Config{WhatsAppFrom: "+15550101", WhatsAppContentSID: contentSID}, channel: phoneauth.WhatsApp,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"whatsapp:+923012345678"}, "From": {"whatsapp:+15550101"}, "ContentSid": {contentSID}, "ContentVariables": {`{"1":"123456"}`}, "ValidityPeriod": {"300"}},
		},
		{
			name: "WhatsApp template with a named variable", cfg: Config{WhatsAppFrom: "whatsapp:+15550101", WhatsAppContentSID: contentSID, WhatsAppCodeVariable: "otp"}, channel: phoneauth.WhatsApp,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"whatsapp:+923012345678"}, "From": {"whatsapp:+15550101"}, "ContentSid": {contentSID}, "ContentVariables": {`{"otp":"123456"}`}, "ValidityPeriod": {"300"}},
		},
		{
			name: "WhatsApp free text", cfg: Config{WhatsAppFrom: "+15550101"}, channel: phoneauth.WhatsApp,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"whatsapp:+923012345678"}, "From": {"whatsapp:+15550101"}, "Body": {"Your Acme code is 123456."}, "ValidityPeriod": {"300"}},
		},
		{
			name: "WhatsApp through a Messaging Service", cfg: Config{MessagingServiceSID: serviceSID, WhatsAppContentSID: contentSID}, channel: phoneauth.WhatsApp,
			user: accountSID, password: authToken,
			form: url.Values{"To": {"whatsapp:+923012345678"}, "MessagingServiceSid": {serviceSID}, "ContentSid": {contentSID}, "ContentVariables": {`{"1":"123456"}`}, "ValidityPeriod": {"300"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, http.StatusCreated, created)
			id, err := newSender(t, api, tt.cfg).Send(context.Background(), message(tt.channel))
			if err != nil {
				t.Fatal(err)
			}
			if id != "SM0123456789abcdef0123456789abcdef" {
				t.Errorf("id = %q", id)
			}
			r := api.only(t)
			if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if r.contentType != "application/x-www-form-urlencoded" || r.accept != "application/json" {
				t.Errorf("Content-Type %q, Accept %q", r.contentType, r.accept)
			}
			if !r.basicAuth || r.user != tt.user || r.password != tt.password {
				t.Errorf("basic auth %v %q:%q, want %q:%q", r.basicAuth, r.user, r.password, tt.user, tt.password)
			}
			if !reflect.DeepEqual(r.form, tt.form) {
				t.Errorf("form\n got %v\nwant %v", r.form, tt.form)
			}
		})
	}
}

func TestValidityPeriod(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, created)
	s := newSender(t, api, Config{From: "+15550100"})
	m := message(phoneauth.SMS)
	m.ExpiresAt = now.Add(20 * time.Hour) // more than Twilio's maximum
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := api.only(t).form.Get("ValidityPeriod"); got != "36000" {
		t.Errorf("ValidityPeriod %q, want the maximum 36000", got)
	}

	m.ExpiresAt = time.Time{}
	api.reqs = nil
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if f := api.only(t).form; f.Has("ValidityPeriod") {
		t.Errorf("ValidityPeriod %q without an expiry", f.Get("ValidityPeriod"))
	}
}

func TestSendRefusesBeforeRequesting(t *testing.T) {
	expired := message(phoneauth.SMS)
	expired.ExpiresAt = now.Add(999 * time.Millisecond)
	noText := message(phoneauth.SMS)
	noText.Text = ""
	noTo := message(phoneauth.SMS)
	noTo.To = ""
	tests := []struct {
		name string
		cfg  Config
		m    phoneauth.Message
	}{
		{"expired code", Config{From: "+15550100"}, expired},
		{"no text", Config{From: "+15550100"}, noText},
		{"no recipient", Config{From: "+15550100"}, noTo},
		{"no SMS sender", Config{WhatsAppFrom: "+15550101"}, message(phoneauth.SMS)},
		{"no WhatsApp sender", Config{From: "+15550100"}, message(phoneauth.WhatsApp)},
		{"unknown channel", Config{From: "+15550100"}, message("pigeon")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, http.StatusCreated, created)
			_, err := newSender(t, api, tt.cfg).Send(context.Background(), tt.m)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, phoneauth.ErrSendFailed) || delivery.IsTemporary(err) {
				t.Errorf("err = %v, want a permanent *Error", err)
			}
			if len(api.reqs) != 0 {
				t.Errorf("%d requests made", len(api.reqs))
			}
		})
	}
}

func twilioError(code, status int, msg string) string {
	return fmt.Sprintf(`{"code": %d, "message": %q, "more_info": "https://www.twilio.com/docs/errors/%d", "status": %d}`, code, msg, code, status)
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		retryAfter    string
		code          int
		temporary     bool
		delay         time.Duration
		invalidPhone  bool
		notAllowed    bool
		messageSubstr string
	}{
		{name: "invalid To", status: 400, body: twilioError(21211, 400, "The 'To' number +923012345678 is not a valid phone number."), code: 21211, invalidPhone: true, messageSubstr: "The 'To' number " + phoneauth.MaskPhone("+923012345678") + " is not a valid phone number."},
		{name: "number without plus masked", status: 400, body: twilioError(21614, 400, "923012345678 is not a mobile number"), code: 21614, notAllowed: true, messageSubstr: phoneauth.MaskPhone("+923012345678") + " is not"},
		{name: "code echoed, redacted", status: 400, body: twilioError(21656, 400, `The ContentVariables Parameter is invalid: {"1":"123456"}`), code: 21656, messageSubstr: `{"1":"******"}`},
		{name: "unsubscribed", status: 400, body: twilioError(21610, 400, "Attempt to send to unsubscribed recipient"), code: 21610},
		{name: "unreachable", status: 400, body: twilioError(21612, 400, "not currently reachable"), code: 21612},
		{name: "not mobile", status: 400, body: twilioError(21614, 400, "not a valid mobile number"), code: 21614, notAllowed: true},
		{name: "region not enabled", status: 400, body: twilioError(21408, 400, "Permission to send an SMS has not been enabled"), code: 21408, notAllowed: true},
		{name: "undeliverable", status: 400, body: twilioError(30003, 400, "Unreachable destination handset"), code: 30003},
		{name: "landline", status: 400, body: twilioError(30006, 400, "Landline or unreachable carrier"), code: 30006, notAllowed: true},
		{name: "bad credentials", status: 401, body: twilioError(20003, 401, "Authenticate"), code: 20003},
		{name: "rate limited", status: 429, body: twilioError(20429, 429, "Too Many Requests"), retryAfter: "30", code: 20429, temporary: true, delay: 30 * time.Second},
		{name: "rate limited, date", status: 429, body: "", retryAfter: now.Add(time.Minute).Format(http.TimeFormat), temporary: true, delay: time.Minute},
		{name: "20429 under another status", status: 400, body: twilioError(20429, 400, "Too Many Requests"), code: 20429, temporary: true},
		{name: "server error", status: 500, body: twilioError(20500, 500, "Internal Server Error"), code: 20500, temporary: true},
		{name: "bad gateway, HTML", status: 502, body: "<html>Bad Gateway</html>", temporary: true, messageSubstr: "Bad Gateway"},
		{name: "unavailable", status: 503, body: "", retryAfter: "5", temporary: true, delay: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.status, tt.body)
			if tt.retryAfter != "" {
				api.headers = map[string]string{"Retry-After": tt.retryAfter}
			}
			_, err := newSender(t, api, Config{From: "+15550100"}).Send(context.Background(), message(phoneauth.SMS))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Errorf("Status %d Code %d, want %d %d", e.Status, e.Code, tt.status, tt.code)
			}
			if !errors.Is(err, phoneauth.ErrSendFailed) {
				t.Error("does not match ErrSendFailed")
			}
			if errors.Is(err, phoneauth.ErrInvalidPhone) != tt.invalidPhone || errors.Is(err, phoneauth.ErrPhoneNotAllowed) != tt.notAllowed {
				t.Errorf("ErrInvalidPhone %v, ErrPhoneNotAllowed %v", errors.Is(err, phoneauth.ErrInvalidPhone), errors.Is(err, phoneauth.ErrPhoneNotAllowed))
			}
			if delivery.IsTemporary(err) != tt.temporary || delivery.RetryDelay(err) != tt.delay {
				t.Errorf("temporary %v delay %v, want %v %v", delivery.IsTemporary(err), delivery.RetryDelay(err), tt.temporary, tt.delay)
			}
			if !strings.Contains(err.Error(), tt.messageSubstr) {
				t.Errorf("message %q lacks %q", err, tt.messageSubstr)
			}
			if strings.Contains(err.Error(), "3012345678") || strings.Contains(err.Error(), "123456") {
				t.Errorf("message %q reveals the phone number or the code", err)
			}
		})
	}
}

func TestSuccessWithoutSID(t *testing.T) {
	for _, body := range []string{`{}`, `not json`, ``} {
		api := newFakeAPI(t, http.StatusCreated, body)
		_, err := newSender(t, api, Config{From: "+15550100"}).Send(context.Background(), message(phoneauth.SMS))
		if !errors.Is(err, phoneauth.ErrSendFailed) || delivery.IsTemporary(err) {
			t.Errorf("body %q: err = %v", body, err)
		}
	}
}

func TestTimeout(t *testing.T) {
	var reached atomic.Bool
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // so the server notices the client leaving
		reached.Store(true)
		select { // never answers
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	s, err := New(Config{AccountSID: accountSID, AuthToken: authToken, From: "+15550100", BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}, Clock: phoneauth.NewManualClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Send(context.Background(), message(phoneauth.SMS))
	var netErr net.Error
	if !errors.Is(err, phoneauth.ErrSendFailed) || !errors.As(err, &netErr) || !netErr.Timeout() || !reached.Load() {
		t.Fatalf("err = %v, want a timeout after the request reached the server", err)
	}
	// The request reached Twilio: it may have created the message, so a
	// retry could send the code twice.
	if delivery.IsTemporary(err) {
		t.Errorf("timeout reported temporary: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v", d)
	}
}

func TestContextCancelled(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, created)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newSender(t, api, Config{From: "+15550100"}).Send(ctx, message(phoneauth.SMS))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, phoneauth.ErrSendFailed) || delivery.IsTemporary(err) {
		t.Errorf("err = %v", err)
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s, err := New(Config{AccountSID: accountSID, AuthToken: authToken, From: "+15550100", BaseURL: url, Clock: phoneauth.NewManualClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message(phoneauth.SMS))
	var opErr *net.OpError
	if !errors.Is(err, phoneauth.ErrSendFailed) || !delivery.IsTemporary(err) || !errors.As(err, &opErr) {
		t.Errorf("err = %v, want a temporary failure", err)
	}
}

func TestNewRejects(t *testing.T) {
	ok := Config{AccountSID: accountSID, AuthToken: authToken, From: "+15550100"}
	tests := map[string]func(c *Config){
		"no account":            func(c *Config) { c.AccountSID = "" },
		"account not AC":        func(c *Config) { c.AccountSID = "XX0123" },
		"account with a slash":  func(c *Config) { c.AccountSID = "AC01/../x" },
		"no credentials":        func(c *Config) { c.AuthToken = "" },
		"token and key":         func(c *Config) { c.APIKeySID, c.APIKeySecret = apiKeySID, "s" },
		"key without secret":    func(c *Config) { c.AuthToken, c.APIKeySID = "", apiKeySID },
		"key not SK":            func(c *Config) { c.AuthToken, c.APIKeySID, c.APIKeySecret = "", "AC01", "s" },
		"no sender":             func(c *Config) { c.From = "" },
		"service not MG":        func(c *Config) { c.MessagingServiceSID = "AC01" },
		"content not HX":        func(c *Config) { c.WhatsAppContentSID = "MG01" },
		"base URL without http": func(c *Config) { c.BaseURL = "api.twilio.com" },
		"base URL unparseable":  func(c *Config) { c.BaseURL = "https://[::1" },
		"base URL other scheme": func(c *Config) { c.BaseURL = "ftp://api.twilio.com" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := ok
			mutate(&c)
			if _, err := New(c); !errors.Is(err, phoneauth.ErrInvalidConfig) {
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	api := newFakeAPI(t, http.StatusCreated, created)
	s, err := New(Config{AccountSID: accountSID, AuthToken: authToken, From: "+1", BaseURL: api.URL + "/", Clock: phoneauth.NewManualClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message(phoneauth.SMS)); err != nil {
		t.Fatal(err)
	}
	if p := api.only(t).path; p != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
		t.Errorf("path %q", p)
	}
}
