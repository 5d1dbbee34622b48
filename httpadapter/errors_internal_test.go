package httpadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// TestErrorTable walks the error table: every sentinel error of phoneauth
// has one row, codes are distinct, and each row answers its status, code
// and message in both response shapes, wrapped as the Authenticator wraps.
func TestErrorTable(t *testing.T) {
	sentinels := []error{
		phoneauth.ErrInvalidRequest, phoneauth.ErrInvalidPhone, phoneauth.ErrPhoneNotAllowed,
		phoneauth.ErrRateLimited, phoneauth.ErrCaptchaRequired, phoneauth.ErrRangeThrottled, phoneauth.ErrInvalidOTP, phoneauth.ErrVerificationFailed,
		phoneauth.ErrNoPendingCode, phoneauth.ErrSignupNotAllowed, phoneauth.ErrPhoneTaken,
		phoneauth.ErrCaptchaFailed, phoneauth.ErrCaptchaUnavailable, phoneauth.ErrSendFailed,
		phoneauth.ErrInvalidToken, phoneauth.ErrTokenReused, phoneauth.ErrReauthenticationRequired, phoneauth.ErrStoreUnavailable,
		phoneauth.ErrNotFound,
	}
	if len(errorTable) != len(sentinels) {
		t.Errorf("%d rows for %d sentinel errors", len(errorTable), len(sentinels))
	}
	codes := map[string]bool{}
	for _, s := range sentinels {
		n := 0
		for _, row := range errorTable {
			if row.err == s {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%v has %d rows", s, n)
		}
	}
	for _, row := range errorTable {
		if codes[row.code] {
			t.Errorf("code %q twice", row.code)
		}
		codes[row.code] = true
		if row.status < 400 || row.status > 599 || row.message == "" {
			t.Errorf("row %v: status %d message %q", row.err, row.status, row.message)
		}
		for _, st := range []style{styleEnvelope, styleBare} {
			var logs bytes.Buffer
			h := &Handler{clock: phoneauth.NewManualClock(time.Unix(0, 0)), log: slog.New(slog.NewTextHandler(&logs, nil)), unavailableRetry: DefaultUnavailableRetryAfter}
			w := httptest.NewRecorder()
			err := fmt.Errorf("doing things: %w", row.err)
			h.writeError(w, httptest.NewRequest("POST", "/x", nil), st, problemFor(err, nil))
			var body struct {
				Success *bool
				Message string
				Code    string
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			wantMsg := row.message
			if w.Code != row.status || body.Code != row.code || body.Message != wantMsg || (body.Success != nil) == (st == styleBare) {
				t.Errorf("%v (style %d): %d %s", row.err, st, w.Code, w.Body)
			}
			// A store outage is logged by the Authenticator, once.
			if logged := strings.Contains(logs.String(), "doing things"); logged != (row.status >= 500 && row.code != CodeStoreUnavailable) {
				t.Errorf("%v: logged %v: %q", row.err, logged, logs.String())
			}
			switch ra := w.Header().Get("Retry-After"); {
			case row.status == 503 && ra != "5", row.status == 429 && ra == "", row.status != 503 && row.status != 429 && ra != "":
				t.Errorf("%v: Retry-After %q", row.err, ra)
			}
		}
	}
	// A reused refresh token also matches ErrInvalidToken: the more
	// specific row must win.
	both := fmt.Errorf("%w (%w)", phoneauth.ErrTokenReused, phoneauth.ErrInvalidToken)
	if p := problemFor(both, nil); p.code != CodeTokenReused {
		t.Errorf("reused token: %s", p.code)
	}
}

func TestUnexpectedErrorIs500(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{clock: phoneauth.SystemClock{}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	w := httptest.NewRecorder()
	h.writeError(w, httptest.NewRequest("POST", "/auth/otp/request", nil), styleEnvelope, problemFor(errors.New("secret internals: nil map"), nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret internals") || !strings.Contains(w.Body.String(), `"internal_error"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("not logged: %s", logs.String())
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&phoneauth.RateLimitError{Scope: "ip", RetryAfter: 30 * time.Second}, "30"},
		{&phoneauth.RateLimitError{Scope: "ip", RetryAfter: 1500 * time.Millisecond}, "2"},
		{&phoneauth.RateLimitError{Scope: "ip", RetryAfter: time.Millisecond}, "1"},
		{&phoneauth.RateLimitError{Scope: "ip"}, "1"},
		{fmt.Errorf("wrapped: %w", &phoneauth.RateLimitError{Scope: "phone", RetryAfter: 299 * time.Second}), "299"},
		{phoneauth.ErrRateLimited, "1"}, // no duration known: still a Retry-After
	} {
		h := &Handler{clock: phoneauth.SystemClock{}, log: slog.New(slog.DiscardHandler)}
		w := httptest.NewRecorder()
		h.writeError(w, httptest.NewRequest("POST", "/", nil), styleBare, problemFor(tc.err, nil))
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tc.want {
			t.Errorf("%v: %d Retry-After %q, want %q", tc.err, w.Code, w.Header().Get("Retry-After"), tc.want)
		}
	}
}

func TestPosition(t *testing.T) {
	body := []byte("{\n  \"a\": 1,\n  x\n}")
	for _, tc := range []struct {
		offset    int64
		line, col int
	}{{1, 1, 1}, {2, 1, 2}, {3, 2, 1}, {15, 3, 3}, {0, 1, 1}, {100, 4, 2}} {
		if l, c := position(body, tc.offset); l != tc.line || c != tc.col {
			t.Errorf("offset %d: line %d col %d, want %d %d", tc.offset, l, c, tc.line, tc.col)
		}
	}
}
