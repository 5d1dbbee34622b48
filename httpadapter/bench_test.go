package httpadapter_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// The benchmarks compare the same calls made on the Authenticator directly
// and through the Handler (an httptest.ResponseRecorder): the difference is
// the adapter's overhead. The limits are off, the clock stands still and
// the sender does nothing, so both sides do the same work. The HTTP
// benchmarks build each *http.Request as a server hands it over (parsed),
// not with httptest.NewRequest, which parses a request line and would
// measure the test scaffolding; BenchmarkHTTPRequestNewRequest shows that
// cost too.

func benchFixture(b *testing.B) *fixture {
	return newFixture(b, func(c *phoneauth.Config) {
		generous(c)
		c.Sender = phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil })
	})
}

// benchPhones is how many phones the request benchmarks cycle through.
const benchPhones = 1024

func BenchmarkDirectRequest(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: pkPhone(i % benchPhones), DeviceID: "device", IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkHTTPRequest(b *testing.B) {
	f := benchFixture(b)
	bodies := make([][]byte, benchPhones)
	for i := range bodies {
		bodies[i] = []byte(requestBody(pkPhone(i), "device"))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := benchRequest("/auth/otp/request", bodies[i%benchPhones])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		i++
	}
}

// pendingCodes requests a code for each of n fresh phones and returns the
// codes and the verify bodies for them. Both benchmarks keep both alive, so
// that the garbage collector has the same heap to scan.
func pendingCodes(b *testing.B, f *fixture, n int) ([]string, [][]byte) {
	codes := make([]string, n)
	bodies := make([][]byte, n)
	for i := range codes {
		res, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: pkPhone(i), DeviceID: "device", IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = res.Code
		bodies[i] = []byte(verifyBody(pkPhone(i), codes[i], "device"))
	}
	return codes, bodies
}

func BenchmarkDirectVerify(b *testing.B) {
	f := benchFixture(b)
	codes, bodies := pendingCodes(b, f, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{
			Phone: pkPhone(i), Code: codes[i], IP: "192.0.2.1",
			Device: phoneauth.Device{ID: "device", Type: "android", Name: "pixel9", PlatformVersion: "0.9.0", PushToken: "fcm"},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(bodies)
}

func BenchmarkHTTPVerify(b *testing.B) {
	f := benchFixture(b)
	codes, bodies := pendingCodes(b, f, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := benchRequest("/auth/otp/verify", bodies[i])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(codes)
}

// benchRequest is a POST of a JSON body as net/http's server hands it to a
// handler.
func benchRequest(path string, body []byte) *http.Request {
	return &http.Request{
		Method:        "POST",
		URL:           &url.URL{Path: path},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          "example.com",
		RemoteAddr:    "192.0.2.1:1234",
		RequestURI:    path,
	}
}

func BenchmarkHTTPRequestNewRequest(b *testing.B) {
	f := benchFixture(b)
	bodies := make([][]byte, benchPhones)
	for i := range bodies {
		bodies[i] = []byte(requestBody(pkPhone(i), "device"))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := httptest.NewRequest("POST", "/auth/otp/request", bytes.NewReader(bodies[i%benchPhones]))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		i++
	}
}
