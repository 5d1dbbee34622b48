package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects logs written from the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the server on a free port and returns its base URL and a
// function that stops it and returns run's error.
func start(t *testing.T, args ...string) (string, func() error, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), slog.New(slog.NewTextHandler(logs, nil)))
	}()
	re := regexp.MustCompile(`addr=(http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1], func() error { cancel(); return <-done }, logs
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run: %v\n%s", err, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("server did not start:\n%s", logs)
	return "", nil, nil
}

func post(t *testing.T, url, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %s", url, raw)
	}
	return resp.StatusCode, m
}

// TestServer runs the example server as `go run ./examples/server` would,
// follows the seeds' cURL examples as written, and shuts it down.
func TestServer(t *testing.T) {
	base, stop, logs := start(t)
	status, m := post(t, base+"/auth/otp/request", `{
    "phone": "+923012345678",
    "country": "PK",
    "deviceId": "android.unique.device.id"
  }`)
	if status != 200 || m["data"].(map[string]any)["otp"] != "249364" {
		t.Fatalf("request: %d %v", status, m)
	}
	status, m = post(t, base+"/auth/otp/verify", `{
    "otpInfo": {
      "phone": "923012345678",
      "otp": "249364",
      "country": "PK"
    },
    "deviceInfo": {
      "deviceId": "android.unique.device.id",
      "deviceType": "android",
      "deviceName": "pixel9",
      "platformVersion": "0.9.0",
      "fcmToken": "ksjfjdsfkljiowuerio2u39048"
    }
  }`)
	if status != 200 {
		t.Fatalf("verify: %d %v", status, m)
	}
	access := m["data"].(map[string]any)["token"].(map[string]any)["accessToken"].(string)
	status, m = post(t, base+"/fe/users/auth/otp/register", `{"phone_number": "9876543219", "countryCode": "+91"}`, "user-jwt-token", access)
	if status != 200 || m["authCode"] == "" {
		t.Fatalf("register: %d %v", status, m)
	}
	otp, _ := m["otp"].(string)
	for _, path := range []string{"/.well-known/jwks.json", "/openapi.json"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, want := range []string{"DEVELOPMENT", "code=" + otp, "PHONEAUTH_SECRET not set", "shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if _, err := http.Get(base + "/.well-known/jwks.json"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestServerProductionModeAndKeyFile(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PHONEAUTH_SECRET", strings.Repeat("ab", 32))
	base, stop, logs := start(t, "-dev=false", "-key", file, "-trusted-proxies", "10.0.0.0/8, 192.0.2.1")
	defer stop()
	status, m := post(t, base+"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "d"}`)
	if status != 200 || m["data"].(map[string]any)["otp"] != nil {
		t.Fatalf("production request: %d %v", status, m)
	}
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), `"alg":"ES256"`) {
		t.Errorf("JWKS %s", raw)
	}
	if strings.Contains(logs.String(), "DEVELOPMENT MODE") || strings.Contains(logs.String(), "PHONEAUTH_SECRET not set") {
		t.Errorf("production logs:\n%s", logs)
	}
}

func TestRunRejects(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"-store", "redis://user:hunter2@localhost:6379/0"}, "", "Redis store is not part of this build"},
		{[]string{"-store", "postgres://localhost/phoneauth"}, "", "Postgres store is not part of this build"},
		{[]string{"-store", "mongodb://x"}, "", "unknown store"},
		{[]string{"-trusted-proxies", "not-an-ip"}, "", "trusted proxy"},
		{[]string{"-key", "/nonexistent.pem"}, "", "-key"},
		{nil, "abcd", "at least 32"},
		{nil, "not hex or base64!", "neither hex nor base64"},
		{[]string{"-nope"}, "", "flag provided but not defined"},
	} {
		t.Setenv("PHONEAUTH_SECRET", tc.env)
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("password in the error: %v", err)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	want := bytes.Repeat([]byte{0xab}, 32)
	for _, env := range []string{
		strings.Repeat("ab", 32),
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s",
	} {
		got, err := loadSecret(env, discard)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %x %v", env, got, err)
		}
	}
	a, _ := loadSecret("", discard)
	b, _ := loadSecret("", discard)
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("generated secrets %x %x", a, b)
	}
}
