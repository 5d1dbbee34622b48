package captcha

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

type siteverify struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
	got   []*http.Request
}

// newSiteverify answers POST /siteverify with status and body.
func newSiteverify(t *testing.T, status int, body string) *siteverify {
	t.Helper()
	s := &siteverify{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		s.mu.Lock()
		s.forms = append(s.forms, form)
		s.got = append(s.got, r)
		s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/siteverify" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s, Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *siteverify) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.forms)
}

const ok = `{"success": true, "challenge_ts": "2026-02-03T14:46:16Z", "hostname": "login.example.com", "error-codes": []}`

// verifiers returns both kinds pointed at url.
func verifiers(url string, mutate func(v *verifierOptions)) map[string]phoneauth.CaptchaVerifier {
	o := verifierOptions{secret: "0x4AAA-secret"}
	if mutate != nil {
		mutate(&o)
	}
	return map[string]phoneauth.CaptchaVerifier{
		"turnstile": &Turnstile{Secret: o.secret, Hostname: o.hostname, URL: url + "/siteverify", Timeout: o.timeout, FailOpen: o.failOpen, Logger: o.log},
		"hcaptcha":  &HCaptcha{Secret: o.secret, Hostname: o.hostname, URL: url + "/siteverify", Timeout: o.timeout, FailOpen: o.failOpen, Logger: o.log},
	}
}

type verifierOptions struct {
	secret, hostname string
	timeout          time.Duration
	failOpen         bool
	log              *slog.Logger
}

func TestWireFormat(t *testing.T) {
	for name, v := range verifiers("", nil) {
		t.Run(name, func(t *testing.T) {
			srv := newSiteverify(t, 200, ok)
			setURL(v, srv.URL+"/siteverify")
			if err := v.VerifyCaptcha(context.Background(), "tok-1", "203.0.113.7"); err != nil {
				t.Fatal(err)
			}
			if err := v.VerifyCaptcha(context.Background(), "tok-2", ""); err != nil {
				t.Fatal(err)
			}
			want := []url.Values{
				{"secret": {"0x4AAA-secret"}, "response": {"tok-1"}, "remoteip": {"203.0.113.7"}},
				{"secret": {"0x4AAA-secret"}, "response": {"tok-2"}},
			}
			if !reflect.DeepEqual(srv.forms, want) {
				t.Errorf("forms\n got %v\nwant %v", srv.forms, want)
			}
		})
	}
}

func setURL(v phoneauth.CaptchaVerifier, u string) {
	switch v := v.(type) {
	case *Turnstile:
		v.URL = u
	case *HCaptcha:
		v.URL = u
	}
}

func TestHCaptchaSendsSiteKey(t *testing.T) {
	srv := newSiteverify(t, 200, ok)
	h := &HCaptcha{Secret: "s", SiteKey: "10000000-ffff", URL: srv.URL + "/siteverify"}
	if err := h.VerifyCaptcha(context.Background(), "tok", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"secret": {"s"}, "response": {"tok"}, "remoteip": {"198.51.100.1"}, "sitekey": {"10000000-ffff"}}
	if !reflect.DeepEqual(srv.forms[0], want) {
		t.Errorf("form %v, want %v", srv.forms[0], want)
	}
}

// roundTripper answers without a network and records the request URL.
type roundTripper struct{ url string }

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.url = r.URL.String()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(ok)), Header: http.Header{}, Request: r}, nil
}

func TestDefaultEndpoints(t *testing.T) {
	rt := &roundTripper{}
	client := &http.Client{Transport: rt}
	if err := (&Turnstile{Secret: "s", HTTPClient: client}).VerifyCaptcha(context.Background(), "t", ""); err != nil || rt.url != "https://challenges.cloudflare.com/turnstile/v0/siteverify" {
		t.Errorf("Turnstile: %v, %s", err, rt.url)
	}
	if err := (&HCaptcha{Secret: "s", HTTPClient: client}).VerifyCaptcha(context.Background(), "t", ""); err != nil || rt.url != "https://api.hcaptcha.com/siteverify" {
		t.Errorf("hCaptcha: %v, %s", err, rt.url)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		hostname string
		failOpen bool
		want     error // nil, ErrCaptchaFailed or ErrCaptchaUnavailable
		contains string
	}{
		{name: "accepted", status: 200, body: ok},
		{name: "hostname matches", status: 200, body: ok, hostname: "LOGIN.example.com"},
		{name: "other hostname", status: 200, body: ok, hostname: "evil.example", want: phoneauth.ErrCaptchaFailed, contains: "login.example.com"},
		{name: "rejected", status: 200, body: `{"success": false, "error-codes": ["invalid-input-response"]}`, want: phoneauth.ErrCaptchaFailed, contains: "invalid-input-response"},
		{name: "replayed", status: 200, body: `{"success": false, "error-codes": ["timeout-or-duplicate"]}`, failOpen: true, want: phoneauth.ErrCaptchaFailed, contains: "timeout-or-duplicate"},
		{name: "rejected without codes", status: 200, body: `{"success": false}`, want: phoneauth.ErrCaptchaFailed},
		{name: "rejected with 400", status: 400, body: `{"success": false, "error-codes": ["bad-request"]}`, failOpen: true, want: phoneauth.ErrCaptchaFailed, contains: "bad-request"},
		{name: "success with 400", status: 400, body: `{"success": true}`, failOpen: true, want: phoneauth.ErrCaptchaUnavailable},
		{name: "wrong secret", status: 200, body: `{"success": false, "error-codes": ["invalid-input-secret"]}`, failOpen: true, want: phoneauth.ErrCaptchaUnavailable, contains: "misconfigured"},
		{name: "server error", status: 500, body: `oops`, want: phoneauth.ErrCaptchaUnavailable, contains: "HTTP 500"},
		{name: "server error, fail open", status: 503, body: ``, failOpen: true},
		{name: "rate limited", status: 429, body: ``, want: phoneauth.ErrCaptchaUnavailable},
		{name: "rate limited, fail open", status: 429, body: ``, failOpen: true},
		{name: "not JSON", status: 200, body: `<html>`, failOpen: true, want: phoneauth.ErrCaptchaUnavailable},
	}
	for _, tt := range tests {
		for kind := range verifiers("", nil) {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				srv := newSiteverify(t, tt.status, tt.body)
				v := verifiers(srv.URL, func(o *verifierOptions) { o.hostname, o.failOpen = tt.hostname, tt.failOpen })[kind]
				err := v.VerifyCaptcha(context.Background(), "tok", "203.0.113.7")
				if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if other := map[error]error{phoneauth.ErrCaptchaFailed: phoneauth.ErrCaptchaUnavailable, phoneauth.ErrCaptchaUnavailable: phoneauth.ErrCaptchaFailed}[tt.want]; other != nil && errors.Is(err, other) {
					t.Errorf("err = %v matches both sentinels", err)
				}
				if err != nil && !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("err %q lacks %q", err, tt.contains)
				}
			})
		}
	}
}

func TestRefusedWithoutRequest(t *testing.T) {
	for name, tc := range map[string]struct {
		secret, token string
		want          error
	}{
		"empty token":    {"s", "", phoneauth.ErrCaptchaFailed},
		"token too long": {"s", strings.Repeat("x", maxTokenLen+1), phoneauth.ErrCaptchaFailed},
		"no secret":      {"", "tok", phoneauth.ErrCaptchaUnavailable},
	} {
		srv := newSiteverify(t, 200, ok)
		for kind, v := range verifiers(srv.URL, func(o *verifierOptions) { o.secret, o.failOpen = tc.secret, true }) {
			if err := v.VerifyCaptcha(context.Background(), tc.token, ""); !errors.Is(err, tc.want) {
				t.Errorf("%s/%s: err = %v, want %v", name, kind, err, tc.want)
			}
		}
		if n := srv.requests(); n != 0 {
			t.Errorf("%s: %d requests", name, n)
		}
	}
}

func TestTimeout(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for kind, v := range verifiers(srv.URL, func(o *verifierOptions) { o.timeout = 50 * time.Millisecond }) {
		start := time.Now()
		if err := v.VerifyCaptcha(context.Background(), "tok", ""); !errors.Is(err, phoneauth.ErrCaptchaUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v", kind, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", kind, d)
		}
	}
	for kind, v := range verifiers(srv.URL, func(o *verifierOptions) { o.timeout, o.failOpen, o.log = 50*time.Millisecond, true, log }) {
		if err := v.VerifyCaptcha(context.Background(), "tok", ""); err != nil {
			t.Errorf("%s fail open: err = %v", kind, err)
		}
	}
	if n := strings.Count(buf.String(), "FailOpen"); n != 2 {
		t.Errorf("%d fail-open warnings, want 2: %s", n, buf.String())
	}
	if strings.Contains(buf.String(), "tok") {
		t.Errorf("log contains the token: %s", buf.String())
	}
}

func TestCallerCancellationNeverFailsOpen(t *testing.T) {
	srv := newSiteverify(t, 200, ok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for kind, v := range verifiers(srv.URL, func(o *verifierOptions) { o.failOpen = true }) {
		if err := v.VerifyCaptcha(ctx, "tok", ""); !errors.Is(err, phoneauth.ErrCaptchaUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v", kind, err)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	for kind, v := range verifiers(u, nil) {
		if err := v.VerifyCaptcha(context.Background(), "tok", ""); !errors.Is(err, phoneauth.ErrCaptchaUnavailable) {
			t.Errorf("%s: err = %v", kind, err)
		}
	}
	for kind, v := range verifiers(u, func(o *verifierOptions) { o.failOpen = true }) {
		if err := v.VerifyCaptcha(context.Background(), "tok", ""); err != nil {
			t.Errorf("%s fail open: err = %v", kind, err)
		}
	}
}
