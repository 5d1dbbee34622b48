package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// codeCatcher is a Sender that keeps the last code, as the user's phone
// would.
type codeCatcher struct {
	mu   sync.Mutex
	code string
}

func (c *codeCatcher) Send(_ context.Context, m phoneauth.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.code = m.Code
	return "test", nil
}

func (c *codeCatcher) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// call sends a request and returns the status and the body.
func call(t *testing.T, method, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestSignInThroughTheEmbeddingApp runs the program in-process, signs in
// through the library's routes, reaches the protected route with the
// access token, and shuts the program down.
func TestSignInThroughTheEmbeddingApp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	phone := &codeCatcher{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, phone) }()

	status, body := call(t, "POST", base+"/auth/otp/request", `{"phone": "+923012345678", "deviceId": "pixel-9"}`)
	if status != 200 || phone.last() == "" {
		t.Fatalf("request: %d %s", status, body)
	}
	status, body = call(t, "POST", base+"/auth/otp/verify",
		`{"otpInfo": {"phone": "+923012345678", "otp": "`+phone.last()+`"}, "deviceInfo": {"deviceId": "pixel-9"}}`)
	if status != 200 {
		t.Fatalf("verify: %d %s", status, body)
	}
	var signIn struct {
		Data struct {
			Token struct{ AccessToken string }
		}
	}
	if err := json.Unmarshal([]byte(body), &signIn); err != nil || signIn.Data.Token.AccessToken == "" {
		t.Fatalf("verify: %s, %v", body, err)
	}
	access := signIn.Data.Token.AccessToken

	status, body = call(t, "GET", base+"/api/me", "", "Authorization", "Bearer "+access)
	if status != 200 || !strings.Contains(body, `"phone":"+923012345678"`) {
		t.Fatalf("/api/me with the token: %d %s", status, body)
	}
	if status, body = call(t, "GET", base+"/api/me", ""); status != 401 || !strings.Contains(body, "UN_AUTHORIZED") {
		t.Fatalf("/api/me without a token: %d %s", status, body)
	}
	// The app's own routes keep the app's own answers: Register mounts the
	// library's routes only, so a wrong method on /api/me is the mux's 405
	// and an unknown path its 404, not the library's "No route".
	if status, body = call(t, "DELETE", base+"/api/me", ""); status != 405 || strings.Contains(body, "No route") {
		t.Fatalf("DELETE /api/me: %d %s", status, body)
	}
	if status, body = call(t, "GET", base+"/nowhere", ""); status != 404 || strings.Contains(body, "No route") {
		t.Fatalf("GET /nowhere: %d %s", status, body)
	}
	if status, body = call(t, "GET", base+"/healthz", ""); status != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", status, body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// TestREADMEShowsTheProgram: the README's embedding section shows this
// program verbatim.
func TestREADMEShowsTheProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Embedding\n")
	if !ok {
		t.Fatal("README has no Embedding section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```go\n")
	if !ok {
		t.Fatal("the Embedding section has no Go block")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("the Go block of the Embedding section does not end")
	}
	if block+"\n" != string(program) {
		t.Errorf("the README's embedding program differs from examples/embed/main.go: copy main.go into the section's Go block")
	}
}
