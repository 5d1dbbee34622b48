package httpadapter_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// The benchmarks compare the same calls made on the Authenticator directly
// and through the Handler (httptest request and recorder): the difference
// is the adapter's overhead. The limits are off, the clock stands still
// and the sender does nothing, so both sides do the same work.

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

// pendingCodes requests a code for each of n fresh phones and returns the
// codes.
func pendingCodes(b *testing.B, f *fixture, n int) []string {
	codes := make([]string, n)
	for i := range codes {
		res, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: pkPhone(i), DeviceID: "device", IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = res.Code
	}
	return codes
}

func BenchmarkDirectVerify(b *testing.B) {
	f := benchFixture(b)
	codes := pendingCodes(b, f, b.N)
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
}

func BenchmarkHTTPVerify(b *testing.B) {
	f := benchFixture(b)
	codes := pendingCodes(b, f, b.N)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = []byte(verifyBody(pkPhone(i), codes[i], "device"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("POST", "/auth/otp/verify", bytes.NewReader(bodies[i]))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
