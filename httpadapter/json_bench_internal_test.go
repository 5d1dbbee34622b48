package httpadapter

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The JSON benchmarks measure the two encoding/json steps of a sign-in
// verification on their own, with the body of the seed's cURL example and
// a response of the real size (an Ed25519 access token is about 350
// bytes): the floor under the adapter's own cost per verification, since
// the adapter reads and writes JSON through encoding/json only.

var benchVerifyBody = []byte(`{"otpInfo": {"phone": "+923010001000", "otp": "123456"}, "deviceInfo": {"deviceId": "device", "deviceType": "android", "deviceName": "pixel9", "platformVersion": "0.9.0", "fcmToken": "fcm"}}`)

// BenchmarkJSONValidVerifyBody is encoding/json's syntax check alone, the
// first of json.Unmarshal's two passes.
func BenchmarkJSONValidVerifyBody(b *testing.B) {
	for b.Loop() {
		if !json.Valid(benchVerifyBody) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkJSONUnmarshalAnyVerifyBody is json.Unmarshal of the body into
// an any, no struct of the adapter's: what encoding/json costs for the body
// whatever the type it fills.
func BenchmarkJSONUnmarshalAnyVerifyBody(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(benchVerifyBody, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeVerifyBody is the Handler's decode of a verify body:
// read, json.Unmarshal into verifyBody, the NUL check.
func BenchmarkDecodeVerifyBody(b *testing.B) {
	h := &Handler{maxBody: DefaultMaxBodyBytes, log: slog.New(slog.DiscardHandler)}
	body := bytes.NewReader(nil)
	r := &http.Request{Method: "POST", URL: &url.URL{Path: "/auth/otp/verify"},
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(body)}
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(benchVerifyBody)
		r.ContentLength = int64(len(benchVerifyBody))
		var v verifyBody
		if p := h.decode(w, r, &v); p != nil {
			b.Fatal(p.detail)
		}
	}
}

// BenchmarkEncodeSignIn is the Handler's answer to a verification: the
// envelope around the sign-in data, encoded and written.
func BenchmarkEncodeSignIn(b *testing.B) {
	h := &Handler{maxBody: DefaultMaxBodyBytes, log: slog.New(slog.DiscardHandler)}
	r := &http.Request{}
	w := &discardWriter{header: http.Header{}}
	access := strings.Repeat("a", 350)
	now := time.Date(2026, 2, 3, 14, 46, 16, 374e6, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		d := signInData{
			Token: tokenData{AccessToken: access, RefreshToken: access[:43], TokenType: "Bearer",
				CurrentDevice: deviceData{ID: "session", DeviceID: "device", DeviceType: "android", DeviceName: "pixel9",
					PlatformVersion: "0.9.0", CreatedAt: jsonTime(now), ExpiresAt: jsonTime(now.Add(30 * 24 * time.Hour))}},
			User:      userData{ID: "user", Phone: "+923010001000", IsNewUser: true},
			ExpiresIn: 900, RefreshExpiresIn: 2592000,
		}
		h.writeJSON(w, r, http.StatusOK, envelope{Success: true, Message: h.message(MessageSuccess, ""), Data: d, Timestamp: timestamp(now)})
		if w.status != http.StatusOK {
			b.Fatal(w.status)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
