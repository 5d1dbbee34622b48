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
	"time"

	"github.com/phoneauth/phoneauth"
)

// The benchmarks compare the same calls made on the Authenticator directly
// and through the Handler (an httptest.ResponseRecorder): the difference is
// the adapter's overhead. The limits are off, the clock stands still and
// the sender does nothing, so both sides do the same work, with the same
// parameters; inputs (phones, bodies) are built before the timer starts on
// both sides. The HTTP benchmarks hand the Handler a *http.Request as a
// server does (parsed, the body ready to read), reusing one, since the
// server's allocation of it is not the adapter's work; a fresh
// ResponseRecorder per request stands for the server's response writer.
// BenchmarkHTTPRequestNewRequest shows the cost of building each request
// with httptest.NewRequest instead.

// cpuMeter reports the process's CPU time per operation as "cpu-ns/op"
// beside ns/op: on a machine shared with other work, ns/op counts the time
// spent waiting for a core too, the CPU time much less so.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

// startCPU starts a cpuMeter; call it where the timed loop starts.
func startCPU() cpuMeter {
	start, ok := processCPU()
	return cpuMeter{start, ok}
}

// report reports the CPU time per operation since start.
func (m cpuMeter) report(b *testing.B) {
	if end, ok := processCPU(); ok && m.ok && b.N > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}

func benchFixture(b *testing.B) *fixture {
	return newFixture(b, func(c *phoneauth.Config) {
		generous(c)
		c.Sender = phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil })
	})
}

// benchPhones is how many phones the request benchmarks cycle through.
const benchPhones = 1024

// phones returns the first n phones of pkPhone.
func phones(n int) []string {
	p := make([]string, n)
	for i := range p {
		p[i] = pkPhone(i)
	}
	return p
}

func BenchmarkDirectRequest(b *testing.B) { benchDirectRequest(b, false) }

// benchDirectRequest requests codes on the Authenticator directly for a
// pool of phones; with floor, each call is followed by writeFloor of a real
// response through a new ResponseRecorder.
func benchDirectRequest(b *testing.B, floor bool) {
	f := benchFixture(b)
	phones := phones(benchPhones)
	var resp []byte
	if floor {
		resp = okBody(b, f.do("POST", "/auth/otp/request", requestBody(phones[0], "device")))
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU()
	i := 0
	for b.Loop() {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phones[i%benchPhones], DeviceID: "device", IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		if floor {
			writeFloor(httptest.NewRecorder(), resp)
		}
		i++
	}
	cpu.report(b)
}

func BenchmarkHTTPRequest(b *testing.B) {
	f := benchFixture(b)
	bodies := make([][]byte, benchPhones)
	for i := range bodies {
		bodies[i] = []byte(requestBody(pkPhone(i), "device"))
	}
	req := newServerRequest("/auth/otp/request")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := req.with(bodies[i%benchPhones])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		i++
	}
}

// BenchmarkDirectRequestNewPhones and BenchmarkHTTPRequestNewPhones are
// the request benchmarks with a phone never seen before on every call, as
// most requests of a real server are: the Authenticator parses and checks
// each number in full instead of finding it in its cache.
func BenchmarkDirectRequestNewPhones(b *testing.B) {
	f := benchFixture(b)
	phones := phones(b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phones[i], DeviceID: "device", IP: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHTTPRequestNewPhones(b *testing.B) {
	f := benchFixture(b)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = []byte(requestBody(pkPhone(i), "device"))
	}
	req := newServerRequest("/auth/otp/request")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req.with(bodies[i]))
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRecorderFloorRequest is the least any handler could add to
// BenchmarkDirectRequest through a ResponseRecorder: the same core call,
// then a new recorder given the one header a JSON response needs and a
// response body of the real length, already encoded; no request to read,
// nothing to encode. Its difference from BenchmarkDirectRequest is the part
// of BenchmarkHTTPRequest's overhead that is the recorder's, which no
// adapter can avoid.
func BenchmarkRecorderFloorRequest(b *testing.B) { benchDirectRequest(b, true) }

// okBody returns the body of a 200.
func okBody(b *testing.B, w *httptest.ResponseRecorder) []byte {
	if w.Code != http.StatusOK {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
	return w.Body.Bytes()
}

// writeFloor answers 200 with body, already encoded, and nothing but its
// Content-Type.
func writeFloor(w http.ResponseWriter, body []byte) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// BenchmarkHTTPRequestBareWriter is BenchmarkHTTPRequest with a reused
// ResponseWriter that keeps nothing, in place of a ResponseRecorder (a
// fresh header map, cloned at WriteHeader, and a growing body buffer): the
// difference from BenchmarkHTTPRequest is the recorder's share, the
// difference from BenchmarkDirectRequest the adapter's own work.
func BenchmarkHTTPRequestBareWriter(b *testing.B) {
	f := benchFixture(b)
	bodies := make([][]byte, benchPhones)
	for i := range bodies {
		bodies[i] = []byte(requestBody(pkPhone(i), "device"))
	}
	req := newServerRequest("/auth/otp/request")
	w := &bareWriter{header: make(http.Header)}
	b.ReportAllocs()
	cpu := startCPU()
	i := 0
	for b.Loop() {
		clear(w.header)
		f.h.ServeHTTP(w, req.with(bodies[i%benchPhones]))
		if w.status != 200 {
			b.Fatalf("%d", w.status)
		}
		i++
	}
	cpu.report(b)
}

// BenchmarkHTTPVerifyBareWriter is BenchmarkHTTPVerify with the reused
// bareWriter: its difference from BenchmarkDirectVerify is the adapter's
// own work for a verification.
func BenchmarkHTTPVerifyBareWriter(b *testing.B) {
	f := benchFixture(b)
	phones, codes, bodies := pendingCodes(b, f, b.N)
	req := newServerRequest("/auth/otp/verify")
	w := &bareWriter{header: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		clear(w.header)
		f.h.ServeHTTP(w, req.with(bodies[i]))
		if w.status != 200 {
			b.Fatalf("%d", w.status)
		}
	}
	cpu.report(b)
	b.StopTimer()
	runtime.KeepAlive(phones)
	runtime.KeepAlive(codes)
}

// bareWriter is a ResponseWriter that keeps only the status.
type bareWriter struct {
	header http.Header
	status int
}

func (w *bareWriter) Header() http.Header         { return w.header }
func (w *bareWriter) WriteHeader(status int)      { w.status = status }
func (w *bareWriter) Write(b []byte) (int, error) { return len(b), nil }

// pendingCodes requests a code for each of n fresh phones and returns the
// phones, the codes and the verify bodies for them. Both benchmarks keep
// all alive, so that the garbage collector has the same heap to scan.
func pendingCodes(b *testing.B, f *fixture, n int) (phones, codes []string, bodies [][]byte) {
	phones = make([]string, n)
	codes = make([]string, n)
	bodies = make([][]byte, n)
	for i := range codes {
		phones[i] = pkPhone(i)
		res, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phones[i], DeviceID: "device", IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = res.Code
		bodies[i] = []byte(verifyBody(phones[i], codes[i], "device"))
	}
	return phones, codes, bodies
}

func BenchmarkDirectVerify(b *testing.B) { benchDirectVerify(b, false) }

// benchDirectVerify verifies pending codes on the Authenticator directly;
// with floor, each call is followed by writeFloor of a real response
// through a new ResponseRecorder.
func benchDirectVerify(b *testing.B, floor bool) {
	f := benchFixture(b)
	phones, codes, bodies := pendingCodes(b, f, b.N+1)
	var resp []byte
	if floor {
		resp = okBody(b, f.do("POST", "/auth/otp/verify", string(bodies[b.N])))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{
			Phone: phones[i], Code: codes[i], IP: "192.0.2.1",
			Device: phoneauth.Device{ID: "device", Type: "android", Name: "pixel9", PlatformVersion: "0.9.0", PushToken: "fcm"},
		})
		if err != nil {
			b.Fatal(err)
		}
		if floor {
			writeFloor(httptest.NewRecorder(), resp)
		}
	}
	cpu.report(b)
	b.StopTimer()
	runtime.KeepAlive(bodies)
}

func BenchmarkHTTPVerify(b *testing.B) {
	f := benchFixture(b)
	phones, codes, bodies := pendingCodes(b, f, b.N)
	req := newServerRequest("/auth/otp/verify")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := req.with(bodies[i])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(phones)
	runtime.KeepAlive(codes)
}

// BenchmarkRecorderFloorVerify is BenchmarkRecorderFloorRequest for
// verify: BenchmarkDirectVerify, then a recorder given an encoded response
// of the real length.
func BenchmarkRecorderFloorVerify(b *testing.B) { benchDirectVerify(b, true) }

// serverRequest is a POST of a JSON body to path as net/http's server hands
// it to a handler, reused for one body after another.
type serverRequest struct {
	r    *http.Request
	body *bytes.Reader
}

func newServerRequest(path string) *serverRequest {
	body := bytes.NewReader(nil)
	return &serverRequest{body: body, r: &http.Request{
		Method:     "POST",
		URL:        &url.URL{Path: path},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(body),
		Host:       "example.com",
		RemoteAddr: "192.0.2.1:1234",
		RequestURI: path,
	}}
}

// with returns the request, its body now b.
func (s *serverRequest) with(b []byte) *http.Request {
	s.body.Reset(b)
	s.r.ContentLength = int64(len(b))
	return s.r
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
