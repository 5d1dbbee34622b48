package httpadapter

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

func TestTimestamp(t *testing.T) {
	base := time.Date(2026, 2, 3, 14, 46, 16, 0, time.FixedZone("", 5*3600+1800))
	for _, d := range []time.Duration{
		0, time.Nanosecond, 999_999, time.Millisecond, 7 * time.Millisecond, 70 * time.Millisecond,
		374_912_000, 999_999_999, time.Second, 10*time.Hour - time.Nanosecond, -2000 * 24 * time.Hour,
		100 * 365 * 24 * time.Hour,
	} {
		tm := base.Add(d)
		want := tm.UTC().Format(time.RFC3339Nano)
		got := timestamp(tm)
		back, err := time.Parse(time.RFC3339, got)
		if err != nil || len(got) != len("2026-02-03T14:46:16.374Z") || !back.Equal(tm.Truncate(time.Millisecond)) {
			t.Errorf("%v: %s (%v), want %s to the millisecond", tm, got, err, want)
		}
	}
}

// TestWriteEnvelope checks the envelope and the bare error byte for byte,
// and the headers of a JSON response.
func TestWriteEnvelope(t *testing.T) {
	now := time.Date(2026, 2, 3, 14, 46, 16, 374_912_000, time.FixedZone("", -3600))
	const stamp = "2026-02-03T15:46:16.374Z"
	h := &Handler{
		clock:    phoneauth.NewManualClock(now),
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		messages: map[string]string{MessageSuccess: `<b>"done"</b> & ✓`},
	}
	data := codeData{RequestID: "r1", MaskedPhone: "+92 301 ***4567", Channel: "sms", ExpiresIn: 300, ResendAfter: 60, OTP: "012345"}
	rateLimited := &problem{status: http.StatusTooManyRequests, code: CodeRateLimited, retryAfter: 2500 * time.Millisecond}
	const msg = `"\u003cb\u003e\"done\"\u003c/b\u003e \u0026 ✓"`
	tests := []struct {
		name   string
		write  func(http.ResponseWriter, *http.Request)
		status int
		want   string
	}{
		{"data", func(w http.ResponseWriter, r *http.Request) { h.writeSuccess(w, r, styleEnvelope, data) },
			200, `{"success":true,"message":` + msg + `,"data":{"requestId":"r1","maskedPhone":"+92 301 ***4567","channel":"sms","expiresIn":300,"resendAfter":60,"otp":"012345"},"timestamp":"` + stamp + `"}`},
		{"empty data", func(w http.ResponseWriter, r *http.Request) { h.writeSuccess(w, r, styleEnvelope, struct{}{}) },
			200, `{"success":true,"message":` + msg + `,"data":{},"timestamp":"` + stamp + `"}`},
		{"bare data", func(w http.ResponseWriter, r *http.Request) {
			h.writeSuccess(w, r, styleBare, authCodeData{AuthCode: "a1"})
		},
			200, `{"authCode":"a1","isNewUser":false}`},
		{"error", func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, styleEnvelope, rateLimited) },
			429, `{"success":false,"message":"Too many requests","code":"rate_limited","timestamp":"` + stamp + `"}`},
		{"bare error", func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, styleBare, rateLimited) },
			429, `{"message":"Too many requests","code":"rate_limited"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.write(w, httptest.NewRequest("POST", "/x", nil))
			if w.Code != tt.status || w.Body.String() != tt.want+"\n" {
				t.Errorf("got %d %s\nwant %d %s", w.Code, w.Body, tt.status, tt.want)
			}
			hdr := w.Header()
			for k, v := range map[string]string{
				"Content-Type":           "application/json",
				"Cache-Control":          "no-store",
				"Pragma":                 "no-cache", // RFC 6749 section 5.1, for HTTP/1.0 caches
				"X-Content-Type-Options": "nosniff",
			} {
				if got := hdr.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.status == 429 && hdr.Get("Retry-After") != "3" {
				t.Errorf("Retry-After %q", hdr.Get("Retry-After"))
			}
		})
	}
}

// TestSharedHeaderValues checks that a handler adding to the header of a
// response after the adapter set it leaves the shared values alone.
func TestSharedHeaderValues(t *testing.T) {
	h := &Handler{clock: phoneauth.NewManualClock(time.Unix(0, 0)), log: slog.New(slog.DiscardHandler)}
	w := httptest.NewRecorder()
	h.writeSuccess(w, httptest.NewRequest("POST", "/x", nil), styleEnvelope, struct{}{})
	w.Header().Add("Cache-Control", "private")
	w.Header().Add("Content-Type", "charset=utf-8")
	if len(noStore) != 1 || noStore[0] != "no-store" || len(jsonContentType) != 1 || jsonContentType[0] != "application/json" {
		t.Errorf("shared header values changed: %q %q", noStore, jsonContentType)
	}
	if got := w.Header().Values("Cache-Control"); len(got) != 2 {
		t.Errorf("Cache-Control %q", got)
	}
}

// TestJSONTime checks jsonTime against time.Time's own JSON, to the
// millisecond.
func TestJSONTime(t *testing.T) {
	base := time.Date(2026, 2, 3, 14, 46, 16, 0, time.FixedZone("", -7*3600))
	for _, d := range []time.Duration{0, time.Millisecond, 120 * time.Millisecond, 374_912_345, 999_999_999, 90 * 24 * time.Hour} {
		tm := base.Add(d)
		want, err := json.Marshal(tm.UTC().Truncate(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if got := `"` + jsonTime(tm) + `"`; got != string(want) {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
