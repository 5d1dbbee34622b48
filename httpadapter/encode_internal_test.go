package httpadapter

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// jsonAppender is a response type that encodes itself.
type jsonAppender interface{ appendJSON([]byte) []byte }

// responseTypes are every type the adapter writes with appendJSON.
var responseTypes = []jsonAppender{
	codeData{}, signInData{}, tokenData{}, deviceData{}, userData{},
	authCodeData{}, messageData{}, bareError{},
}

// fill sets every field of v, recursively: strings to s, integers to n,
// booleans to true and times to t.
func fill(t *testing.T, v reflect.Value, s string, n int64, tm time.Time) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(tm))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int64:
		v.SetInt(n)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), s, n, tm)
		}
	default:
		t.Fatalf("fill: a field of kind %s: teach fill and appendJSON about it", v.Kind())
	}
}

// checkAppendJSON checks that every response type, zero and with every
// field set, appends what json.Marshal writes, after what is already in the
// buffer.
func checkAppendJSON(t *testing.T, s string, n int64, tm time.Time) {
	for _, typ := range responseTypes {
		zero := reflect.New(reflect.TypeOf(typ)).Elem()
		full := reflect.New(reflect.TypeOf(typ)).Elem()
		fill(t, full, s, n, tm)
		for _, v := range []reflect.Value{zero, full} {
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			got := v.Interface().(jsonAppender).appendJSON([]byte("prefix"))
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("%T.appendJSON:\n got %s\nwant prefix%s", typ, got, want)
			}
		}
	}
}

func TestAppendJSON(t *testing.T) {
	tm := time.Date(2026, 2, 3, 14, 46, 16, 374_000_000, time.UTC)
	checkAppendJSON(t, "+92 301 ***4567", 300, tm)
	checkAppendJSON(t, "", 0, tm.Truncate(time.Second))
	checkAppendJSON(t, "<a href=\"x\">&amp;</a>\\\n\t\x00\x7f é ✓ \u2028 \xff", -1, tm.Add(time.Nanosecond).In(time.FixedZone("", 5*3600)))
	// Each character that needs escaping, alone among plain ones.
	for _, c := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "é", "\u2028", "\xff"} {
		checkAppendJSON(t, "a"+c+"b", 1, tm)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("01JABCDEFGHJKMNPQRSTVWXYZ0", int64(60), int64(1770129976374000000))
	f.Add("caf\xc3\xa9 <b>\"x\"</b>", int64(-7), int64(0))
	f.Add("\xed\xa0\x80\u2029", int64(1<<62), int64(-1))
	f.Fuzz(func(t *testing.T, s string, n, nanos int64) {
		checkAppendJSON(t, s, n, time.Unix(0, nanos).UTC())
	})
}

func TestAppendTimestamp(t *testing.T) {
	base := time.Date(2026, 2, 3, 14, 46, 16, 0, time.FixedZone("", 5*3600+1800))
	for _, d := range []time.Duration{
		0, time.Nanosecond, 999_999, time.Millisecond, 7 * time.Millisecond, 70 * time.Millisecond,
		374_912_000, 999_999_999, time.Second, 10*time.Hour - time.Nanosecond, -2000 * 24 * time.Hour,
		100 * 365 * 24 * time.Hour,
	} {
		tm := base.Add(d)
		want := `"` + tm.UTC().Format("2006-01-02T15:04:05.000Z") + `"`
		if got := string(appendTimestamp([]byte("x"), tm)); got != "x"+want {
			t.Errorf("%v: %s, want x%s", tm, got, want)
		}
	}
}

// refEnvelope is the envelope as encoding/json wrote it before the adapter
// wrote it by hand.
type refEnvelope struct {
	Success   bool   `json:"success"`
	Message   string `json:"message"`
	Code      string `json:"code,omitempty"`
	Data      any    `json:"data,omitempty"`
	Timestamp string `json:"timestamp"`
}

// TestWriteEnvelope checks the envelope and the bare error byte for byte
// against encoding/json, and the headers of a JSON response.
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
	tests := []struct {
		name   string
		write  func(http.ResponseWriter, *http.Request)
		status int
		want   any
	}{
		{"data", func(w http.ResponseWriter, r *http.Request) { h.writeData(w, r, data.appendJSON) },
			200, refEnvelope{Success: true, Message: `<b>"done"</b> & ✓`, Data: data, Timestamp: stamp}},
		{"empty data", func(w http.ResponseWriter, r *http.Request) { h.writeData(w, r, appendEmptyObject) },
			200, refEnvelope{Success: true, Message: `<b>"done"</b> & ✓`, Data: struct{}{}, Timestamp: stamp}},
		{"error", func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, styleEnvelope, rateLimited) },
			429, refEnvelope{Message: "Too many requests", Code: CodeRateLimited, Timestamp: stamp}},
		{"bare error", func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, styleBare, rateLimited) },
			429, bareError{Message: "Too many requests", Code: CodeRateLimited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(tt.want); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			tt.write(w, httptest.NewRequest("POST", "/x", nil))
			if w.Code != tt.status || w.Body.String() != want.String() {
				t.Errorf("got %d %s\nwant %d %s", w.Code, w.Body, tt.status, want.String())
			}
			hdr := w.Header()
			for k, v := range map[string]string{
				"Content-Type":           "application/json",
				"Cache-Control":          "no-store",
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
	h.writeData(w, httptest.NewRequest("POST", "/x", nil), appendEmptyObject)
	w.Header().Add("Cache-Control", "private")
	w.Header().Add("Content-Type", "charset=utf-8")
	if len(noStore) != 1 || noStore[0] != "no-store" || len(jsonContentType) != 1 || jsonContentType[0] != "application/json" {
		t.Errorf("shared header values changed: %q %q", noStore, jsonContentType)
	}
	if got := w.Header().Values("Cache-Control"); len(got) != 2 {
		t.Errorf("Cache-Control %q", got)
	}
}
