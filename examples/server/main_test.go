package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phoneauth/phoneauth/internal/testutil"
	"github.com/phoneauth/phoneauth/sqlitestore"
)

// start runs the server on a free port and returns its base URL and a
// function that stops it and returns run's error.
func start(t *testing.T, args ...string) (string, func() error, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
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
	resp, m := exchange(t, "POST", url, body, headers...)
	return resp.StatusCode, m
}

// TestServer runs the example server as `go run ./examples/server` would,
// follows the seeds' cURL examples as written, and shuts it down.
func TestServer(t *testing.T) {
	base, stop, logs := start(t)
	status, m := post(t, base+"/auth/otp/request", seedRequest)
	if status != 200 || m["data"].(map[string]any)["otp"] != "249364" {
		t.Fatalf("request: %d %v", status, m)
	}
	status, m = post(t, base+"/auth/otp/verify", seedVerify)
	if status != 200 {
		t.Fatalf("verify: %d %v", status, m)
	}
	access := m["data"].(map[string]any)["token"].(map[string]any)["accessToken"].(string)
	status, m = post(t, base+"/fe/users/auth/otp/register", `{"phone_number": "9876543219", "countryCode": "+91"}`, "user-jwt-token", access)
	if status != 200 || m["authCode"] == "" {
		t.Fatalf("register: %d %v", status, m)
	}
	otp, _ := m["otp"].(string)
	// Seed 003's verify body, its authCode and otp as JSON numbers.
	authCode, _ := m["authCode"].(string)
	otpNumber, err := strconv.Atoi(otp)
	if err != nil {
		t.Fatalf("otp %q", otp)
	}
	if !regexp.MustCompile(`^[1-9][0-9]{5}$`).MatchString(authCode) {
		t.Fatalf("authCode %q", m["authCode"])
	}
	status, m = post(t, base+"/fe/users/auth/otp/verify", `{
  "phone_number": "9876543219",
  "countryCode": "+91",
  "authCode": `+authCode+`,
  "otp": `+strconv.Itoa(otpNumber)+`
}`, "user-jwt-token", access)
	if status != 200 || m["message"] != "Phone number verified successfully" {
		t.Fatalf("verify phone: %d %v", status, m)
	}
	// The seed's own example, with its placeholder country "XX".
	status, m = post(t, base+"/fe/users/auth/otp/verify", `{
  "phone_number": "1234567890",
  "countryCode": "XX",
  "authCode": 1234,
  "otp": 5678
}`, "user-jwt-token", access)
	if status != 400 || m["code"] != "invalid_country" {
		t.Fatalf("seed 003's verify example: %d %v", status, m)
	}
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
	for _, want := range []string{"DEVELOPMENT", "code=" + otp, "PHONEAUTH_SECRET not set", "shutting down",
		"signin=" + base + "/ ", "openapi=" + base + "/openapi.json", "test_number=+923012345678 test_code=249364"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if _, err := http.Get(base + "/.well-known/jwks.json"); err == nil {
		t.Error("still serving after shutdown")
	}
}

// The banner names the sign-in page, the OpenAPI document and, in
// development mode only, the test number with its code.
func TestBanner(t *testing.T) {
	dev := banner{dev: true, signup: "allowed"}.text("http://127.0.0.1:8080")
	for _, want := range []string{"sign-in page      http://127.0.0.1:8080/\n", "OpenAPI document  http://127.0.0.1:8080/openapi.json",
		"test number       +923012345678, code 249364", "sign-up           allowed"} {
		if !strings.Contains(dev, want) {
			t.Errorf("banner lacks %q:\n%s", want, dev)
		}
	}
	if prod := (banner{signup: "disabled"}).text("http://x"); strings.Contains(prod, "249364") || !strings.Contains(prod, "http://x/openapi.json") {
		t.Errorf("production banner:\n%s", prod)
	}
}

// verifyBody is seed 001's verify body for phone and code, without
// deviceInfo: for a code requested without a deviceId.
func verifyBody(phone, code string) string {
	return fmt.Sprintf(`{"otpInfo": {"phone": %q, "otp": %q}}`, phone, code)
}

// Seed 002's request body, without a deviceId, gets a code that verifies
// with seed 001's body without a device; -signup decides whether a new
// user is made.
func TestServerGoTrueStyleRequest(t *testing.T) {
	base, stop, _ := start(t)
	status, m := post(t, base+"/auth/otp/request", `{"phone":"+12345678901"}`)
	if status != 200 {
		t.Fatalf("request: %d %v", status, m)
	}
	otp := m["data"].(map[string]any)["otp"].(string)
	if status, m = post(t, base+"/auth/otp/verify", verifyBody("+12345678901", otp)); status != 200 {
		t.Fatalf("verify: %d %v", status, m)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// GoTrue's rule: create_user defaults to false.
	base, stop, logs := start(t, "-signup", "create-user")
	defer stop()
	if !strings.Contains(logs.String(), "signup=create-user") {
		t.Errorf("log does not say the signup policy:\n%s", logs)
	}
	for _, tc := range []struct {
		phone, body string
		status      int
	}{
		{"+12345678902", `{"phone":"+12345678902"}`, 403},
		{"+12345678903", `{"phone":"+12345678903","create_user":true,"data":{"name":"Ann"}}`, 200},
	} {
		status, m := post(t, base+"/auth/otp/request", tc.body)
		if status != 200 {
			t.Fatalf("request %s: %d %v", tc.body, status, m)
		}
		otp := m["data"].(map[string]any)["otp"].(string)
		if status, m = post(t, base+"/auth/otp/verify", verifyBody(tc.phone, otp)); status != tc.status {
			t.Fatalf("verify after %s: %d %v, want %d", tc.body, status, m, tc.status)
		}
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
	t.Setenv("PHONEAUTH_SECRET", "3f9a0c1b7e4d2a6f8b5c0e9d1a7f3b2c4e6a8d0f1b3c5e7a9d2f4b6c8e0a1d3f")
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
	// The log sender withholds the code outside development mode.
	if strings.Contains(logs.String(), "code=") || !strings.Contains(logs.String(), "NOT sent") {
		t.Errorf("production logs show a code, or not that the message was not sent:\n%s", logs)
	}
}

func TestRunRejects(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	closed := closedAddr(t)
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"-store", "redis://user:hunter2@" + closed + "/0"}, "", "redis does not answer"},
		{[]string{"-store", "redis://" + closed + "/zero"}, "", "invalid database number"},
		{[]string{"-store", "postgres://user:hunter2@" + closed + "/phoneauth"}, "", "postgres does not answer"},
		{[]string{"-store", "postgres://" + closed + "/phoneauth?schema=" + strings.Repeat("s", 64)}, "", "invalid schema name"},
		{[]string{"-store", "mongodb://x"}, "", "unknown store"},
		{[]string{"-store", "sqlite:/nonexistent-dir/auth.db"}, "", "sqlitestore"},
		{[]string{"-trusted-proxies", "not-an-ip"}, "", "trusted proxy"},
		{[]string{"-key", "/nonexistent.pem"}, "", "-key"},
		{nil, "abcd", "at least 32"},
		{nil, "not hex or base64!", "neither hex nor base64"},
		{[]string{"-nope"}, "", "flag provided but not defined"},
		{[]string{"-pool", "0"}, "", "must be positive"},
		{[]string{"-request-timeout", "-1s"}, "", "must be positive"},
		{[]string{"-signup", "yes"}, "", "want allowed, create-user or disabled"},
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

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testServerURL returns the URL of the test server in env (exported by
// scripts/test.sh), or skips the test when there is none; with CI=true it
// fails instead, as the backend modules' tests do.
func testServerURL(t *testing.T, env, script string) string {
	t.Helper()
	url := os.Getenv(env)
	if url == "" {
		msg := env + " is not set; start a server with: export " + env + "=$(scripts/" + script + " start .tmp/" + strings.TrimSuffix(script, "-test-server.sh") + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a skip is a failure)")
		}
		t.Skip(msg)
	}
	return url
}

// withParam adds a query parameter to uri.
func withParam(uri, name, value string) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + name + "=" + value
}

// randomMobile returns a random Pakistani mobile number, +92 30x xxxxxxx.
func randomMobile() string {
	return fmt.Sprintf("+9230%08d", mrand.IntN(100_000_000))
}

// TestServerRedis runs two servers on one Redis, as two replicas behind a
// load balancer, under a key prefix of the test's own.
func TestServerRedis(t *testing.T) {
	url := testServerURL(t, "PHONEAUTH_TEST_REDIS_URL", "redis-test-server.sh")
	prefix := "phoneauth-server-test-" + rand.Text()[:10]
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	testReplicas(t, withParam(url, "prefix", prefix))
	n, err := rdb.Keys(context.Background(), "{"+prefix+":*").Result()
	if err != nil || len(n) == 0 {
		t.Errorf("no keys under the prefix %q (err %v): did -store ?prefix= work?", prefix, err)
	}
}

// TestServerPostgres runs two servers on one PostgreSQL database, as two
// replicas behind a load balancer, in a schema of the test's own that the
// first server creates at start and the test drops at the end.
func TestServerPostgres(t *testing.T) {
	url := testServerURL(t, "PHONEAUTH_TEST_POSTGRES_URL", "postgres-test-server.sh")
	schema := "server_test_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() { dropSchema(t, url, schema) })
	testReplicas(t, withParam(url, "schema", schema))
}

// testReplicas starts two servers on one -store, with one secret and one
// signing key, and checks that they act as one: a code requested on one
// verifies on the other, once; the cooldown is shared; a refresh retried
// on the other gets the same new token, and a token two rotations back is
// reuse-detected there; the access token of one is accepted by the other.
func testReplicas(t *testing.T, store string) {
	t.Setenv("PHONEAUTH_SECRET", "c0ffee15deadbeef0123456789abcdef00112233445566778899aabbccddeeff") // shared by the replicas
	key := filepath.Join(t.TempDir(), "key.pem")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	one, stop1, _ := start(t, "-store", store, "-key", key)
	two, stop2, _ := start(t, "-store", store, "-key", key)

	phone := randomMobile()
	status, m := post(t, one+"/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "replica-test"}`)
	if status != 200 {
		t.Fatalf("request on server 1: %d %v", status, m)
	}
	otp := m["data"].(map[string]any)["otp"].(string)
	status, m = post(t, two+"/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "replica-test"}`)
	if status != 429 || m["code"] != "rate_limited" {
		t.Errorf("request on server 2 right after one on server 1: %d %v, want 429 (cooldown)", status, m)
	}
	verify := `{"otpInfo": {"phone": "` + phone + `", "otp": "` + otp + `"}, "deviceInfo": {"deviceId": "replica-test"}}`
	status, m = post(t, two+"/auth/otp/verify", verify)
	if status != 200 {
		t.Fatalf("verify on server 2 of a code requested on server 1: %d %v", status, m)
	}
	tokens := m["data"].(map[string]any)["token"].(map[string]any)
	if status, m := post(t, one+"/auth/otp/verify", verify); status != 401 {
		t.Errorf("the same code again, on server 1: %d %v, want 401", status, m)
	}

	status, m = post(t, one+"/fe/users/auth/otp/register", `{"phone_number": "`+randomMobile()+`", "countryCode": "PK"}`,
		"user-jwt-token", tokens["accessToken"].(string))
	if status != 200 {
		t.Errorf("register on server 1 with an access token of server 2: %d %v", status, m)
	}

	refresh := `{"refreshToken": "` + tokens["refreshToken"].(string) + `"}`
	status, m = post(t, one+"/auth/token/refresh", refresh)
	if status != 200 {
		t.Fatalf("refresh on server 1: %d %v", status, m)
	}
	next := m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"].(string)
	// The same refresh retried on server 2 within the reuse grace gets the
	// same new token.
	status, m = post(t, two+"/auth/token/refresh", refresh)
	if status != 200 || m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"] != next {
		t.Fatalf("the same refresh again, on server 2: %d %v, want 200 with %s", status, m, next)
	}
	status, m = post(t, one+"/auth/token/refresh", `{"refreshToken": "`+next+`"}`)
	if status != 200 {
		t.Fatalf("second refresh on server 1: %d %v", status, m)
	}
	newest := m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"].(string)
	if status, m := post(t, two+"/auth/token/refresh", refresh); status != 401 || m["code"] != "token_reused" {
		t.Errorf("a token two rotations back, on server 2: %d %v, want 401 token_reused", status, m)
	}
	if status, m := post(t, one+"/auth/token/refresh", `{"refreshToken": "`+newest+`"}`); status != 401 || m["code"] != "invalid_token" {
		t.Errorf("the newest token of the revoked session on server 1: %d %v, want 401 invalid_token", status, m)
	}

	for i, stop := range []func() error{stop1, stop2} {
		if err := stop(); err != nil {
			t.Errorf("shutdown of server %d: %v", i+1, err)
		}
	}
}

// TestServerWebOTPDomain checks that -webotp-domain reaches both the
// messages (an invalid host is refused at start) and the sign-in page.
func TestServerWebOTPDomain(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-webotp-domain", "not a host"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "WebOTPDomain") {
		t.Errorf("-webotp-domain \"not a host\": %v, want a WebOTPDomain error", err)
	}
	base, stop, _ := start(t, "-webotp-domain", "example.com")
	defer stop()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if want := `<meta name="phoneauth-webotp" content="example.com">`; !strings.Contains(string(page), want) {
		t.Errorf("page lacks %s", want)
	}
}

// TestRedisLogger checks that go-redis's own lines become structured
// records of the server's logger.
func TestRedisLogger(t *testing.T) {
	var buf testutil.Buffer
	redisLogger{slog.New(slog.NewJSONHandler(&buf, nil))}.Printf(context.Background(), "redis: dial %s: %v", "127.0.0.1:1", "refused")
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["level"] != "WARN" || rec["msg"] != "go-redis" || rec["detail"] != "redis: dial 127.0.0.1:1: refused" {
		t.Errorf("record %v", rec)
	}
}

// deleteKeys deletes the keys under prefix from the Redis at url.
func deleteKeys(t *testing.T, url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Unlink(ctx, iter.Val())
	}
}

// TestServerSQLiteRestart stops a server on a SQLite file and starts it
// again with the same secret and key: the code requested before the restart
// verifies after it, the refresh token issued before it still refreshes, and
// the user created before it is in the file after it. Two servers on one
// file share it, as replicas on one node. (A second code for the signed-in
// phone would wait out the resend cooldown, kept in the file too.)
func TestServerSQLiteRestart(t *testing.T) {
	t.Setenv("PHONEAUTH_SECRET", "e4a7b1c09d3f62e85a0c4f7b91d2e63a8c5f0b47d9e1a26c3b8f05e7d4a92c61")
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	store := "sqlite:" + filepath.Join(dir, "auth.db")
	base, stop, _ := start(t, "-store", store, "-key", key)
	signedIn, pending := randomMobile(), randomMobile()
	request := func(base, phone string) string {
		t.Helper()
		status, m := post(t, base+"/auth/otp/request", `{"phone": "`+phone+`", "deviceId": "restart-test"}`)
		if status != 200 {
			t.Fatalf("request for %s: %d %v", phone, status, m)
		}
		return m["data"].(map[string]any)["otp"].(string)
	}
	verify := func(base, phone, otp string) map[string]any {
		t.Helper()
		status, m := post(t, base+"/auth/otp/verify", `{"otpInfo": {"phone": "`+phone+`", "otp": "`+otp+`"}, "deviceInfo": {"deviceId": "restart-test"}}`)
		if status != 200 {
			t.Fatalf("verify for %s: %d %v", phone, status, m)
		}
		return m["data"].(map[string]any)
	}
	first := verify(base, signedIn, request(base, signedIn))
	user := first["user"].(map[string]any)
	otp := request(base, pending)
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	base, stop, _ = start(t, "-store", store, "-key", key)
	other, stopOther, _ := start(t, "-store", store, "-key", key)
	if got := verify(other, pending, otp)["user"].(map[string]any); got["isNewUser"] != true {
		t.Errorf("the code requested before the restart: user %v, want a new user", got)
	}
	refresh := `{"refreshToken": "` + first["token"].(map[string]any)["refreshToken"].(string) + `"}`
	status, m := post(t, base+"/auth/token/refresh", refresh)
	if status != 200 {
		t.Fatalf("refresh after the restart with a token issued before it: %d %v", status, m)
	}
	next := m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"].(string)
	// A retry on the other server, within the reuse window, gets the same
	// successor; once the successor is rotated too, the first token is reuse.
	status, m = post(t, other+"/auth/token/refresh", refresh)
	if status != 200 || m["data"].(map[string]any)["token"].(map[string]any)["refreshToken"] != next {
		t.Fatalf("the same refresh again, on the other server: %d %v, want 200 with the same successor", status, m)
	}
	if status, m := post(t, other+"/auth/token/refresh", `{"refreshToken": "`+next+`"}`); status != 200 {
		t.Fatalf("refresh of the successor on the other server: %d %v", status, m)
	}
	if status, m := post(t, base+"/auth/token/refresh", refresh); status != 401 || m["code"] != "token_reused" {
		t.Errorf("a token two rotations old: %d %v, want 401 token_reused", status, m)
	}
	if status, m := post(t, other+"/auth/otp/request", `{"phone": "`+signedIn+`", "deviceId": "restart-test"}`); status != 429 {
		t.Errorf("a new code for %s right after the one before the restart: %d %v, want 429: the cooldown survives too", signedIn, status, m)
	}
	for _, stop := range []func() error{stop, stopOther} {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}

	s, err := sqlitestore.Open(context.Background(), strings.TrimPrefix(store, "sqlite:"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.UserByPhone(context.Background(), signedIn)
	if err != nil || u.ID != user["id"] {
		t.Errorf("the user signed in before the restarts: %+v, %v; want id %v", u, err, user["id"])
	}
}

// Off its routes the server still answers in JSON: a mistyped or
// disguised API path (a trailing slash, other case, an encoded slash, a
// parameter) and a method the page does not serve get the adapter's JSON
// 404, never net/http's text; the page itself is still HTML.
func TestServerAnswersJSONOffTheRoutes(t *testing.T) {
	base, stop, _ := start(t)
	defer stop()
	for _, tc := range []struct{ method, path string }{
		{"POST", "/auth/otp/request/"},
		{"POST", "/AUTH/OTP/REQUEST"},
		{"POST", "/auth/otp/request%2f"},
		{"POST", "/auth/otp/request;x"},
		{"POST", "/auth/otp"},
		{"POST", "/fe/users/auth/otp/verify/"},
		{"GET", "/.well-known/jwks.json/"},
		{"GET", "/nope"},
		{"GET", "/assets/nope.js"},
		{"POST", "/"},
		{"DELETE", "/assets/app.js"},
		{"POST", "/metrics"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(raw, &m) != nil || m["code"] != "not_found" || m["success"] != false {
			t.Errorf("%s %s: %d %s %s, want a JSON 404", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
	}
	for _, path := range []string{"/", "/assets/app.js"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
}
