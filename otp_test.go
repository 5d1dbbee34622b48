package phoneauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/internal/testutil"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	phonePK  = "+923012345678"
	phonePK2 = "+923012345679"
)

// fixture is an Authenticator on a memory store and a manual clock, with a
// sender, events and logs that tests can read.
type fixture struct {
	t      *testing.T
	clock  *phoneauth.ManualClock
	store  *phoneauth.MemoryStore
	auth   *phoneauth.Authenticator
	logs   *testutil.Buffer
	mu     sync.Mutex
	sent   []phoneauth.Message
	events []phoneauth.Event
	// sendErr, if set, makes the sender fail.
	sendErr error
}

// testSecret returns one of several distinct 32-byte secrets.
func testSecret(b byte) []byte {
	s := sha256.Sum256([]byte{b})
	return s[:]
}

func newFixture(t *testing.T, configure ...func(*phoneauth.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: phoneauth.NewManualClock(epoch), store: phoneauth.NewMemoryStore(), logs: &testutil.Buffer{}}
	cfg := validConfig(t)
	cfg.Store = f.store
	cfg.Sender = phoneauth.SenderFunc(f.send)
	cfg.Clock = f.clock
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Events = func(_ context.Context, e phoneauth.Event) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, e)
	}
	for _, c := range configure {
		c(&cfg)
	}
	var err error
	f.auth, err = phoneauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// validConfig is a minimal valid Config: a memory store, a sender that
// does nothing, a secret and an Ed25519 key.
func validConfig(t *testing.T) phoneauth.Config {
	t.Helper()
	key, err := phoneauth.GenerateEd25519Key("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := phoneauth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	return phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil }),
		Secret: testSecret(1),
		Tokens: phoneauth.TokenConfig{Keys: keys},
	}
}

func (f *fixture) send(_ context.Context, m phoneauth.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	if f.sendErr != nil {
		return "", f.sendErr
	}
	return fmt.Sprintf("msg-%d", len(f.sent)), nil
}

// lastCode returns the code of the last message sent.
func (f *fixture) lastCode() string {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		f.t.Fatal("no message sent")
	}
	return f.sent[len(f.sent)-1].Code
}

func (f *fixture) sentCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func (f *fixture) countEvents(kind phoneauth.EventKind, err error) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.events {
		if e.Kind == kind && (err == nil || errors.Is(e.Err, err)) {
			n++
		}
	}
	return n
}

func (f *fixture) request(phone string) phoneauth.RequestResult {
	f.t.Helper()
	r, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: phone, DeviceID: "dev-1", IP: "192.0.2.1"})
	if err != nil {
		f.t.Fatalf("Request(%s): %v", phone, err)
	}
	return r
}

func (f *fixture) verify(phone, code string) (phoneauth.SignIn, error) {
	return f.auth.Verify(context.Background(), phoneauth.VerifyParams{Phone: phone, Code: code, Device: phoneauth.Device{ID: "dev-1"}, IP: "192.0.2.1"})
}

func wrong(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// spreadFormats are valid mobile numbers of five countries, each with a
// hole for four digits in front of the last three: the number range.
var spreadFormats = [...]string{"+92301%04d000", "+9198%05d000", "+49151%05d000", "+55119%05d000", "+4474%05d000"}

// spreadPhone returns the i-th (i < 50,000) of numbers spread over five
// countries and a number range each, so that the country and range limits
// and the conversion guard do not bind on the tests of the other limits.
func spreadPhone(i int) string {
	return fmt.Sprintf(spreadFormats[i%len(spreadFormats)], i/len(spreadFormats))
}

func retryAfter(t *testing.T, err error, scope string) time.Duration {
	t.Helper()
	var rl *phoneauth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, phoneauth.ErrRateLimited) {
		t.Fatalf("err = %v, want a *RateLimitError", err)
	}
	if rl.Scope != scope {
		t.Fatalf("scope = %q, want %q", rl.Scope, scope)
	}
	return rl.RetryAfter
}

func TestNewValidatesConfig(t *testing.T) {
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	valid := func() phoneauth.Config {
		return phoneauth.Config{Store: phoneauth.NewMemoryStore(), Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "", nil }), Secret: testSecret(1), Tokens: phoneauth.TokenConfig{Keys: keys}}
	}
	if _, err := phoneauth.New(valid()); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := map[string]func(*phoneauth.Config){
		"no store":          func(c *phoneauth.Config) { c.Store = nil },
		"no sender":         func(c *phoneauth.Config) { c.Sender = nil },
		"short secret":      func(c *phoneauth.Config) { c.Secret = make([]byte, 31) },
		"short old secret":  func(c *phoneauth.Config) { c.PreviousSecrets = [][]byte{[]byte("x")} },
		"no keys":           func(c *phoneauth.Config) { c.Tokens.Keys = nil },
		"code length":       func(c *phoneauth.Config) { c.CodeLength = 3 },
		"negative attempts": func(c *phoneauth.Config) { c.MaxAttempts = -1 },
		"zero-event limit":  func(c *phoneauth.Config) { c.Limits.PerIP = phoneauth.Limit{Per: time.Minute} },
		"limit no period":   func(c *phoneauth.Config) { c.Limits.PerIP = phoneauth.Limit{Events: 3} },
		"bad channel":       func(c *phoneauth.Config) { c.DefaultChannel = "pigeon" },
		"bad signup":        func(c *phoneauth.Config) { c.Signup = 42 },
		"test number key": func(c *phoneauth.Config) {
			c.TestNumbers = map[string]phoneauth.TestNumber{"0301": {Code: "123456", Expires: epoch}}
		},
		"test number code": func(c *phoneauth.Config) {
			c.TestNumbers = map[string]phoneauth.TestNumber{phonePK: {Code: "12", Expires: epoch}}
		},
		"test number exp":  func(c *phoneauth.Config) { c.TestNumbers = map[string]phoneauth.TestNumber{phonePK: {Code: "123456"}} },
		"template no code": func(c *phoneauth.Config) { c.Templates = phoneauth.Templates{"": "hello"} },
		"unknown country":  func(c *phoneauth.Config) { c.Phones.AllowCountries = []string{"XX"} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := valid()
			mutate(&cfg)
			a, err := phoneauth.New(cfg)
			if !errors.Is(err, phoneauth.ErrInvalidConfig) || a != nil {
				t.Fatalf("New = %v, %v; want ErrInvalidConfig", a, err)
			}
		})
	}
}

func TestRequestVerifyRefreshLogout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+92 301 2345678", DeviceID: "android.unique.device.id", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Phone != phonePK || r.MaskedPhone == phonePK || !strings.HasSuffix(r.MaskedPhone, "5678") {
		t.Fatalf("phone %q masked %q", r.Phone, r.MaskedPhone)
	}
	if r.Channel != phoneauth.SMS || r.ExpiresIn != 5*time.Minute || r.ResendAfter != 30*time.Second || r.MessageID != "msg-1" || r.RequestID == "" {
		t.Fatalf("result %+v", r)
	}
	if r.Code != "" {
		t.Fatal("code returned outside development mode")
	}
	code := f.lastCode()
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		t.Fatalf("code %q", code)
	}
	m := f.sent[0]
	if m.To != phonePK || !strings.Contains(m.Text, code) || m.ChallengeID != r.RequestID || !m.ExpiresAt.Equal(epoch.Add(5*time.Minute)) {
		t.Fatalf("message %+v", m)
	}

	// The store holds a keyed hash, not the code.
	c, err := f.store.GetChallenge(ctx, phoneauth.LoginKey(phonePK, "android.unique.device.id"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CodeHash) != 32 || bytes.Contains(c.CodeHash, []byte(code)) || c.ID != r.RequestID {
		t.Fatalf("stored challenge %+v", c)
	}

	in, err := f.auth.Verify(ctx, phoneauth.VerifyParams{IP: "192.0.2.1", Phone: "923012345678", Country: "PK", RequestID: r.RequestID, Code: code, Device: phoneauth.Device{ID: "android.unique.device.id", Type: "android"}})
	if err != nil {
		t.Fatal(err)
	}
	if !in.IsNewUser || in.User.Phone != phonePK || in.User.ID == "" || in.Session.UserID != in.User.ID || in.Session.Device.Type != "android" {
		t.Fatalf("sign-in %+v", in)
	}
	claims, err := f.auth.ValidateAccessToken(ctx, in.Tokens.AccessToken)
	if err != nil || claims.Subject != in.User.ID || claims.SessionID != in.Session.ID {
		t.Fatalf("claims %+v, %v", claims, err)
	}

	ref, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"})
	if err != nil || ref.User.ID != in.User.ID || ref.Tokens.RefreshToken == in.Tokens.RefreshToken {
		t.Fatalf("refresh %+v, %v", ref, err)
	}
	if err := f.auth.Logout(ctx, ref.Tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: ref.Tokens.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrInvalidToken) {
		t.Fatalf("refresh after logout: %v", err)
	}

	// A second sign-in finds the same user.
	f.clock.Advance(time.Minute)
	f.request(phonePK)
	in2, err := f.verify(phonePK, f.lastCode())
	if err != nil || in2.IsNewUser || in2.User.ID != in.User.ID {
		t.Fatalf("second sign-in %+v, %v", in2, err)
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	code := f.lastCode()
	if _, err := f.verify(phonePK, code); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(phonePK, code); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("second use: %v", err)
	}
}

func TestCodeExpiresExactlyAtTTL(t *testing.T) {
	for _, tc := range []struct {
		after time.Duration
		want  error
	}{
		{5*time.Minute - time.Nanosecond, nil},
		{5 * time.Minute, phoneauth.ErrVerificationFailed},
	} {
		f := newFixture(t)
		f.request(phonePK)
		f.clock.Advance(tc.after)
		if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, tc.want) {
			t.Errorf("verify %s after request: %v, want %v", tc.after, err, tc.want)
		}
	}
}

func TestAttemptCap(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	code := f.lastCode()
	for i := 1; i <= 5; i++ {
		if _, err := f.verify(phonePK, wrong(code)); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("attempt %d: %v, want ErrInvalidOTP", i, err)
		}
	}
	// The 6th attempt is refused even with the right code: the code is dead.
	if _, err := f.verify(phonePK, code); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("attempt 6: %v, want ErrVerificationFailed", err)
	}
}

func TestMalformedCodeCostsNoAttempt(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	for _, bad := range []string{"", "12345", "1234567", "12a456", "١٢٣٤٥٦"} {
		if _, err := f.verify(phonePK, bad); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("code %q: %v", bad, err)
		}
	}
	c, err := f.store.GetChallenge(context.Background(), phoneauth.LoginKey(phonePK, "dev-1"), epoch)
	if err != nil || c.Attempts != 0 {
		t.Fatalf("attempts %d, %v", c.Attempts, err)
	}
	if _, err := f.verify(phonePK, " "+f.lastCode()+" "); err != nil {
		t.Fatalf("code with spaces: %v", err)
	}
}

func TestOnlyNewestCodeIsValid(t *testing.T) {
	f := newFixture(t)
	first := f.request(phonePK)
	oldCode := f.lastCode()
	f.clock.Advance(30 * time.Second)
	second, err := f.auth.Resend(context.Background(), phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if err != nil {
		t.Fatal(err)
	}
	newCode := f.lastCode()
	if second.RequestID == first.RequestID {
		t.Fatal("resend kept the request id")
	}
	// The old request id names no pending challenge any more.
	_, err = f.auth.Verify(context.Background(), phoneauth.VerifyParams{Device: phoneauth.Device{ID: "dev-1"}, IP: "192.0.2.1", Phone: phonePK, RequestID: first.RequestID, Code: newCode})
	if !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("old request id: %v", err)
	}
	if oldCode != newCode {
		if _, err := f.verify(phonePK, oldCode); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("old code: %v", err)
		}
	}
	if _, err := f.verify(phonePK, newCode); err != nil {
		t.Fatalf("new code: %v", err)
	}
}

func TestResendNeedsAPendingCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
		t.Fatalf("resend without request: %v", err)
	}
	f.request(phonePK)
	if _, err := f.verify(phonePK, f.lastCode()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
		t.Fatalf("resend after use: %v", err)
	}
	if f.sentCount() != 1 {
		t.Fatalf("%d messages sent", f.sentCount())
	}
}

func TestResendKeepsChannel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK, Channel: phoneauth.WhatsApp}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	r, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if err != nil || r.Channel != phoneauth.WhatsApp || f.sent[1].Channel != phoneauth.WhatsApp {
		t.Fatalf("resend %+v, %v", r, err)
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK2, Channel: "carrier-pigeon"}); !errors.Is(err, phoneauth.ErrInvalidRequest) {
		t.Fatalf("unknown channel: %v", err)
	}
}

func TestResendCooldown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.request(phonePK)
	_, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if d := retryAfter(t, err, "cooldown"); d != 30*time.Second {
		t.Fatalf("retry after %s", d)
	}
	f.clock.Advance(30*time.Second - time.Millisecond)
	_, err = f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if d := retryAfter(t, err, "cooldown"); d != time.Millisecond {
		t.Fatalf("retry after %s", d)
	}
	f.clock.Advance(time.Millisecond)
	if _, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK}); err != nil {
		t.Fatalf("resend at the cooldown's end: %v", err)
	}
	if f.countEvents(phoneauth.EventRateLimited, nil) != 2 {
		t.Fatalf("rate-limited events: %d", f.countEvents(phoneauth.EventRateLimited, nil))
	}
}

func TestPerPhoneLimit(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		f.request(phonePK)
		f.clock.Advance(30 * time.Second)
	}
	_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if d := retryAfter(t, err, "phone"); d <= 0 || d > 5*time.Minute {
		t.Fatalf("retry after %s", d)
	}
	// Another phone is not affected.
	f.request(phonePK2)
}

func TestPerIPLimitAndIPv6Prefix(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.PerDevice = phoneauth.Unlimited })
	ctx := context.Background()
	req := func(i int, ip string) error {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: spreadPhone(i), IP: ip})
		return err
	}
	for i := 0; i < 10; i++ {
		// Ten addresses of one /64 count as one client.
		if err := req(i, fmt.Sprintf("2001:db8:1:2::%x", i+1)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	retryAfter(t, req(10, "2001:db8:1:2:ffff::1"), "ip")
	if err := req(11, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if err := req(12, "::ffff:192.0.2.7"); err != nil {
		t.Fatalf("IPv4: %v", err)
	}
}

func TestPerDeviceAndGlobalLimits(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Limits.Global = phoneauth.Limit{Events: 7, Per: time.Hour}
		c.Limits.PerIP = phoneauth.Unlimited
		// The country limits default to fractions of Global.
		c.Limits.PerCountry, c.Limits.UnverifiedPerCountry = phoneauth.Unlimited, phoneauth.Unlimited
	})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{IP: "192.0.2.1", Phone: spreadPhone(i), DeviceID: "d1"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.auth.Request(ctx, phoneauth.RequestParams{IP: "192.0.2.1", Phone: "+923012345699", DeviceID: "d1"})
	retryAfter(t, err, "device")
	for i := 5; i < 7; i++ {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{IP: "192.0.2.1", Phone: spreadPhone(i), DeviceID: "d2"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.auth.Request(ctx, phoneauth.RequestParams{IP: "192.0.2.1", Phone: "+923012345698", DeviceID: "d3"})
	retryAfter(t, err, "global")
	if f.sentCount() != 7 {
		t.Fatalf("%d sent", f.sentCount())
	}
}

// TestDefaultGlobalLimit: with no Limits configured, 1,000 codes an hour
// go out in all, whoever asks (in five countries, so that no country's
// budget binds first); the next is refused for everyone, logged as a
// warning, and the budget refills at 1,000 an hour.
func TestDefaultGlobalLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	client := func(i int) phoneauth.RequestParams {
		return phoneauth.RequestParams{
			Phone:    spreadPhone(i),
			DeviceID: fmt.Sprintf("d%d", i),
			IP:       fmt.Sprintf("10.%d.%d.1", i/256, i%256),
		}
	}
	for i := range 1000 {
		if _, err := f.auth.Request(ctx, client(i)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := f.auth.Request(ctx, client(1000))
	wait := retryAfter(t, err, "global")
	if perCode := time.Hour / 1000; wait <= 0 || wait > perCode {
		t.Errorf("retry after %s, want at most %s", wait, perCode)
	}
	if !strings.Contains(f.logs.String(), `level=WARN msg="phoneauth: rate limited" scope=global`) {
		t.Errorf("global refusal not logged as a warning:\n%s", f.logs)
	}
	f.clock.Advance(wait)
	if _, err := f.auth.Request(ctx, client(1001)); err != nil {
		t.Fatalf("after %s: %v", wait, err)
	}
	if f.sentCount() != 1001 {
		t.Fatalf("%d sent, want 1001", f.sentCount())
	}
}

// TestSatelliteNumbersRefusedByDefault: +870 and +881 numbers are mobile
// numbers of no country; they get no code unless the policy names them.
func TestSatelliteNumbersRefusedByDefault(t *testing.T) {
	ctx := context.Background()
	for _, phone := range []string{"+870301234567", "+881612345678", "+8823421234"} {
		_, err := newFixture(t).auth.Request(ctx, phoneauth.RequestParams{Phone: phone, IP: "192.0.2.1"})
		if !errors.Is(err, phoneauth.ErrPhoneNotAllowed) || !strings.Contains(err.Error(), "satellite") {
			t.Errorf("Request(%s) = %v, want ErrPhoneNotAllowed for a satellite number", phone, err)
		}
		f := newFixture(t, func(c *phoneauth.Config) { c.Phones.AllowCountries = []string{"PK", phoneauth.RegionNonGeographic} })
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phone, IP: "192.0.2.1"}); err != nil || f.sentCount() != 1 {
			t.Errorf("Request(%s) with 001 allowed = %v, %d sent", phone, err, f.sentCount())
		}
	}
}

func TestFailedVerifyBudgetSurvivesResends(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.PerPhone = phoneauth.Unlimited })
	ctx := context.Background()
	failures := 0
	for round := 0; failures < 10; round++ {
		f.request(phonePK)
		code := f.lastCode()
		for i := 0; i < 4 && failures < 10; i++ {
			if _, err := f.verify(phonePK, wrong(code)); !errors.Is(err, phoneauth.ErrInvalidOTP) {
				t.Fatalf("failure %d: %v", failures, err)
			}
			failures++
		}
		f.clock.Advance(30 * time.Second)
	}
	f.request(phonePK)
	_, err := f.verify(phonePK, f.lastCode())
	if d := retryAfter(t, err, "verify"); d <= 0 || d > time.Hour {
		t.Fatalf("retry after %s", d)
	}
	// The budget refills; a success resets it.
	f.clock.Advance(time.Hour)
	f.request(phonePK)
	if _, err := f.verify(phonePK, f.lastCode()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	f.request(phonePK)
	code := f.lastCode()
	for i := 0; i < 4; i++ {
		if _, err := f.verify(phonePK, wrong(code)); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("after reset, failure %d: %v", i, err)
		}
	}
	_ = ctx
}

func TestSendFailureKillsTheCode(t *testing.T) {
	f := newFixture(t)
	f.sendErr = errors.New("provider down")
	_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if !errors.Is(err, phoneauth.ErrSendFailed) || !strings.Contains(err.Error(), "provider down") {
		t.Fatalf("err = %v", err)
	}
	if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("verify of an unsent code: %v", err)
	}
	if f.countEvents(phoneauth.EventSendFailed, nil) != 1 {
		t.Fatal("no send_failed event")
	}
}

func TestTestNumbers(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.TestNumbers = map[string]phoneauth.TestNumber{phonePK: {Code: "123456", Expires: epoch.Add(24 * time.Hour)}}
	})
	r := f.request(phonePK)
	if f.sentCount() != 0 || r.MessageID == "" {
		t.Fatalf("test number: %d sent, %+v", f.sentCount(), r)
	}
	if _, err := f.verify(phonePK, "123456"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(25 * time.Hour)
	f.request(phonePK)
	if f.sentCount() != 1 {
		t.Fatal("expired test number was not sent a real code")
	}
	if code := f.lastCode(); code != "123456" {
		if _, err := f.verify(phonePK, "123456"); !errors.Is(err, phoneauth.ErrInvalidOTP) {
			t.Fatalf("fixed code after expiry: %v", err)
		}
	}
}

func TestSignupPolicy(t *testing.T) {
	ctx := context.Background()
	t.Run("disabled", func(t *testing.T) {
		f := newFixture(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupDisabled })
		// The request answers as for any phone: no oracle.
		r := f.request(phonePK)
		if r.RequestID == "" || f.sentCount() != 1 {
			t.Fatal("request for an unknown phone did not look like any other")
		}
		if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, phoneauth.ErrSignupNotAllowed) {
			t.Fatalf("verify: %v", err)
		}
		if _, _, err := f.store.CreateUser(ctx, phonePK2, nil); err != nil {
			t.Fatal(err)
		}
		f.request(phonePK2)
		if in, err := f.verify(phonePK2, f.lastCode()); err != nil || in.IsNewUser {
			t.Fatalf("existing user: %+v, %v", in, err)
		}
	})
	t.Run("with createUser", func(t *testing.T) {
		f := newFixture(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupWithCreateUser })
		f.request(phonePK)
		if _, err := f.verify(phonePK, f.lastCode()); !errors.Is(err, phoneauth.ErrSignupNotAllowed) {
			t.Fatalf("without createUser: %v", err)
		}
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK2, CreateUser: true, Metadata: map[string]any{"name": "A"}}); err != nil {
			t.Fatal(err)
		}
		if in, err := f.verify(phonePK2, f.lastCode()); err != nil || !in.IsNewUser {
			t.Fatalf("with createUser: %+v, %v", in, err)
		}
	})
}

type captchaFunc func(ctx context.Context, token, ip string) error

func (f captchaFunc) VerifyCaptcha(ctx context.Context, token, ip string) error {
	return f(ctx, token, ip)
}

func TestCaptcha(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Captcha = captchaFunc(func(_ context.Context, token, ip string) error {
			switch token {
			case "good":
				return nil
			case "outage":
				return errors.New("connection refused")
			}
			return phoneauth.ErrCaptchaFailed
		})
	})
	ctx := context.Background()
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK, CaptchaToken: "bad"}); !errors.Is(err, phoneauth.ErrCaptchaFailed) {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK, CaptchaToken: "outage"}); !errors.Is(err, phoneauth.ErrCaptchaUnavailable) {
		t.Fatalf("outage: %v", err)
	}
	if f.sentCount() != 0 {
		t.Fatal("a code was sent without a valid captcha")
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK, CaptchaToken: "good"}); err != nil {
		t.Fatal(err)
	}
}

func TestPhonePolicyAndInvalidPhones(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Phones.DenyCountries = []string{"IN"} })
	ctx := context.Background()
	for _, p := range []phoneauth.RequestParams{{Phone: ""}, {Phone: "12345", Country: "PK"}, {Phone: "+12345"}, {Phone: "1234567890", Country: "XX"}} {
		p.IP = "192.0.2.1"
		if _, err := f.auth.Request(ctx, p); !errors.Is(err, phoneauth.ErrInvalidPhone) {
			t.Errorf("Request(%+v): %v, want ErrInvalidPhone", p, err)
		}
	}
	// A number without "+" needs a country, whatever the method, and spaces
	// before the "+" do not count.
	for _, p := range []phoneauth.RequestParams{{Phone: "12345"}, {Phone: "03012345678"}, {Phone: " 03012345678", Country: " "}} {
		_, err := f.auth.Request(ctx, p)
		var ie *phoneauth.InputError
		if !errors.Is(err, phoneauth.ErrInvalidRequest) || !errors.As(err, &ie) || ie.Field != "Country" {
			t.Errorf("Request(%+v): %v, want an InputError for Country", p, err)
		}
		_, err = f.auth.Verify(ctx, phoneauth.VerifyParams{IP: "192.0.2.1", Phone: p.Phone, Country: p.Country, Code: "123456"})
		if !errors.As(err, &ie) || ie.Field != "Country" {
			t.Errorf("Verify(%q, %q): %v, want an InputError for Country", p.Phone, p.Country, err)
		}
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: "9876543219", Country: "+91"}); !errors.Is(err, phoneauth.ErrPhoneNotAllowed) {
		t.Errorf("denied country: %v", err)
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: "+448005551234"}); !errors.Is(err, phoneauth.ErrPhoneNotAllowed) && !errors.Is(err, phoneauth.ErrInvalidPhone) {
		t.Errorf("toll-free: %v", err)
	}
	if f.sentCount() != 0 {
		t.Fatal("sent to a refused number")
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: " +923012345678", IP: "192.0.2.1"}); err != nil {
		t.Errorf("a number with spaces before its +: %v", err)
	}
}

func TestDevelopmentModeReturnsCode(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Development = true })
	r := f.request(phonePK)
	if r.Code == "" || r.Code != f.lastCode() {
		t.Fatalf("development code %q, sent %q", r.Code, f.lastCode())
	}
	if !strings.Contains(f.logs.String(), "DEVELOPMENT MODE") {
		t.Fatal("no development warning logged")
	}
}

func TestSecretRotation(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	code := f.lastCode()
	key, _ := phoneauth.GenerateEd25519Key("k2")
	keys, _ := phoneauth.NewKeySet(key)
	rotated, err := phoneauth.New(phoneauth.Config{
		Store: f.store, Sender: phoneauth.SenderFunc(f.send), Clock: f.clock,
		Secret: testSecret(2), PreviousSecrets: [][]byte{testSecret(1)},
		Tokens: phoneauth.TokenConfig{Keys: keys},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Verify(context.Background(), phoneauth.VerifyParams{Device: phoneauth.Device{ID: "dev-1"}, IP: "192.0.2.1", Phone: phonePK, Code: code}); err != nil {
		t.Fatalf("code issued under the previous secret: %v", err)
	}
	// Without the old secret the same kind of code fails.
	f.clock.Advance(time.Minute)
	f.request(phonePK)
	other, _ := phoneauth.New(phoneauth.Config{Store: f.store, Sender: phoneauth.SenderFunc(f.send), Clock: f.clock, Secret: testSecret(3), Tokens: phoneauth.TokenConfig{Keys: keys}})
	if _, err := other.Verify(context.Background(), phoneauth.VerifyParams{Device: phoneauth.Device{ID: "dev-1"}, IP: "192.0.2.1", Phone: phonePK, Code: f.lastCode()}); !errors.Is(err, phoneauth.ErrInvalidOTP) {
		t.Fatalf("unknown secret: %v", err)
	}
}

func TestLogsNeverContainCodesOrPhones(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Development = true })
	ctx := context.Background()
	r := f.request(phonePK)
	f.verify(phonePK, wrong(r.Code))
	f.clock.Advance(30 * time.Second)
	r2, err := f.auth.Resend(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.verify(phonePK, r2.Code)
	if err != nil {
		t.Fatal(err)
	}
	f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"})
	f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"}) // reuse: logged as a warning
	f.sendErr = errors.New("down")
	f.clock.Advance(time.Minute)
	f.auth.Request(ctx, phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	logs := f.logs.String()
	if !strings.Contains(logs, "code sent") {
		t.Fatalf("expected logs, got %q", logs)
	}
	for _, secret := range []string{r.Code, r2.Code, phonePK, "3012345678", in.Tokens.RefreshToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestConcurrentVerifyOfOneCodeHasOneWinner(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Limits.FailedVerifies = phoneauth.Unlimited
		c.Limits.VerifyPerIP = phoneauth.Unlimited
		c.AllowWeakCodes = true // no failed-verify budget
	})
	f.request(phonePK)
	code := f.lastCode()
	var wins, fails atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.verify(phonePK, code)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, phoneauth.ErrVerificationFailed):
				fails.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || fails.Load() != 49 {
		t.Fatalf("%d successes, %d failures; want 1 and 49", wins.Load(), fails.Load())
	}
}

func TestConcurrentWrongGuessesAreCapped(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Limits.FailedVerifies = phoneauth.Unlimited
		c.Limits.VerifyPerIP = phoneauth.Unlimited
		c.AllowWeakCodes = true // no failed-verify budget
	})
	f.request(phonePK)
	bad := wrong(f.lastCode())
	var compared, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.verify(phonePK, bad)
			switch {
			case errors.Is(err, phoneauth.ErrInvalidOTP):
				compared.Add(1)
			case errors.Is(err, phoneauth.ErrVerificationFailed):
				refused.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if compared.Load() != 5 || refused.Load() != 45 {
		t.Fatalf("%d comparisons, %d refused; want 5 and 45", compared.Load(), refused.Load())
	}
	if n := f.countEvents(phoneauth.EventVerifyFailed, phoneauth.ErrInvalidOTP); n != 5 {
		t.Fatalf("%d wrong-code events", n)
	}
}

func TestPhoneVerificationForSignedInUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.request(phonePK)
	in, err := f.verify(phonePK, f.lastCode())
	if err != nil {
		t.Fatal(err)
	}
	uid, sid := in.User.ID, in.Session.ID
	// Register a new phone for the signed-in user (seed 003).
	pv, err := f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{IP: "192.0.2.1", UserID: uid, SessionID: sid, Phone: "9876543219", Country: "+91"})
	if err != nil {
		t.Fatal(err)
	}
	if !pv.IsNewUser || pv.RequestID == "" || pv.Phone != "+919876543219" {
		t.Fatalf("start %+v", pv)
	}
	code := f.lastCode()
	base := phoneauth.ConfirmPhoneVerificationParams{IP: "192.0.2.1", UserID: uid, SessionID: sid, Phone: "9876543219", Country: "IN", RequestID: pv.RequestID, Code: code}
	p := base
	p.RequestID = "nope"
	if err := f.auth.ConfirmPhoneVerification(ctx, p); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("wrong authCode: %v", err)
	}
	p = base
	p.UserID = "someone-else" // whose session this is not
	if err := f.auth.ConfirmPhoneVerification(ctx, p); !errors.Is(err, phoneauth.ErrInvalidToken) {
		t.Fatalf("other user: %v", err)
	}
	p = base
	p.Code = wrong(code)
	if err := f.auth.ConfirmPhoneVerification(ctx, p); !errors.Is(err, phoneauth.ErrInvalidOTP) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := f.auth.ConfirmPhoneVerification(ctx, base); err != nil {
		t.Fatal(err)
	}
	if err := f.auth.ConfirmPhoneVerification(ctx, base); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("second use: %v", err)
	}
	u, err := f.store.UserByPhone(ctx, "+919876543219")
	if err != nil || u.ID != uid {
		t.Fatalf("user by new phone: %+v, %v", u, err)
	}
	// The phone now belongs to a user.
	f.clock.Advance(time.Minute)
	signIn := func(phone string) phoneauth.SignIn {
		t.Helper()
		f.request(phone)
		in, err := f.verify(phone, f.lastCode())
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	u2, u3 := signIn(phonePK2), signIn("+923012345670")
	pv, err = f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{IP: "192.0.2.1", UserID: u2.User.ID, SessionID: u2.Session.ID, Phone: "+919876543219"})
	if err != nil || pv.IsNewUser {
		t.Fatalf("known phone: %+v, %v", pv, err)
	}
	// Resend replaces the authCode.
	f.clock.Advance(30 * time.Second)
	pv2, err := f.auth.ResendPhoneVerification(ctx, phoneauth.PhoneVerificationParams{IP: "192.0.2.1", UserID: u2.User.ID, SessionID: u2.Session.ID, Phone: "+919876543219"})
	if err != nil || pv2.RequestID == pv.RequestID {
		t.Fatalf("resend %+v, %v", pv2, err)
	}
	if _, err := f.auth.ResendPhoneVerification(ctx, phoneauth.PhoneVerificationParams{IP: "192.0.2.1", UserID: u3.User.ID, SessionID: u3.Session.ID, Phone: "+919876543219"}); !errors.Is(err, phoneauth.ErrNoPendingCode) {
		t.Fatalf("resend without start: %v", err)
	}
	if _, err := f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{IP: "192.0.2.1", SessionID: sid, Phone: phonePK}); !errors.Is(err, phoneauth.ErrInvalidRequest) {
		t.Fatalf("no user id: %v", err)
	}
}

func TestStoreFailuresAreStoreUnavailable(t *testing.T) {
	down := errors.New("connection refused")
	f := newFixture(t, func(c *phoneauth.Config) { c.Store = failingStore{c.Store, down}; c.Users = phoneauth.NewMemoryStore() })
	_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{DeviceID: "dev-1", IP: "192.0.2.1", Phone: phonePK})
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !errors.Is(err, down) {
		t.Fatalf("request: %v", err)
	}
	if f.sentCount() != 0 {
		t.Fatal("a code was sent although it could not be stored")
	}
	_, err = f.verify(phonePK, "123456")
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("verify: %v", err)
	}
	if n := f.countEvents(phoneauth.EventOperationDone, phoneauth.ErrStoreUnavailable); n != 2 {
		t.Errorf("%d operation_done events with ErrStoreUnavailable, want 2 (request, verify)", n)
	}
}

// failingStore fails every challenge write and attempt.
type failingStore struct {
	phoneauth.Store
	err error
}

func (s failingStore) PutChallenge(context.Context, phoneauth.Challenge) error { return s.err }
func (s failingStore) AttemptChallenge(context.Context, string, string, time.Time) (phoneauth.Challenge, error) {
	return phoneauth.Challenge{}, s.err
}

func TestEventsOfAFlow(t *testing.T) {
	f := newFixture(t)
	f.request(phonePK)
	in, err := f.verify(phonePK, f.lastCode())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []phoneauth.EventKind{phoneauth.EventCodeRequested, phoneauth.EventCodeSent, phoneauth.EventVerified, phoneauth.EventSignedIn} {
		if f.countEvents(k, nil) != 1 {
			t.Errorf("event %s: %d", k, f.countEvents(k, nil))
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []string
	for _, e := range f.events {
		if e.Kind == phoneauth.EventOperationDone {
			ops = append(ops, e.Operation)
			if e.Err != nil || e.Duration != 0 || e.Time != epoch {
				t.Errorf("event %+v, want a success at %s taking no time", e, epoch)
			}
			continue
		}
		if e.Time != epoch || e.Phone != phonePK {
			t.Errorf("event %+v", e)
		}
		if e.Kind != phoneauth.EventSignedIn && e.Region != "PK" {
			t.Errorf("event %s: region %q, want PK", e.Kind, e.Region)
		}
		if e.Kind == phoneauth.EventSignedIn && (e.SessionID != in.Session.ID || e.UserID != in.User.ID) {
			t.Errorf("signed_in event %+v, want session %s of user %s", e, in.Session.ID, in.User.ID)
		}
	}
	if fmt.Sprint(ops) != "[request verify]" {
		t.Errorf("operations done: %v, want [request verify]", ops)
	}
}

// TestOperationDone: every method that reaches the store reports its
// name, its duration by the Clock and its error, last.
func TestOperationDone(t *testing.T) {
	var f *fixture
	ctx := context.Background()
	slow := phoneauth.SenderFunc(func(ctx context.Context, m phoneauth.Message) (string, error) {
		f.clock.Advance(1500 * time.Millisecond) // sending takes 1.5 s
		return f.send(ctx, m)
	})
	f = newFixture(t, func(c *phoneauth.Config) { c.Sender = slow })
	f.request(phonePK)
	in, err := f.verify(phonePK, f.lastCode())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.verify(phonePK, "000000")
	next, _ := f.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"})
	_, _ = f.auth.Sessions(ctx, in.User.ID)
	_ = f.auth.RevokeSession(ctx, in.User.ID, "nope")
	_, _ = f.auth.Resend(ctx, phoneauth.RequestParams{Phone: phonePK, IP: "192.0.2.1"})
	_, _ = f.auth.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: next.Session.ID, Phone: "+923001234567", IP: "192.0.2.1"})
	_, _ = f.auth.ResendPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: in.User.ID, SessionID: next.Session.ID, Phone: "+923001234567", IP: "192.0.2.1"})
	_ = f.auth.ConfirmPhoneVerification(ctx, phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, Phone: "+923001234567", RequestID: "x", Code: "123456"})
	_ = f.auth.Logout(ctx, next.Tokens.RefreshToken)

	f.mu.Lock()
	defer f.mu.Unlock()
	var got []string
	for _, e := range f.events {
		if e.Kind == phoneauth.EventOperationDone {
			got = append(got, fmt.Sprintf("%s %s %v", e.Operation, e.Duration, e.Err != nil))
		}
	}
	want := []string{
		"request 1.5s false", "verify 0s false", "verify 0s true", "refresh 0s false", "sessions 0s false",
		"revoke_session 0s true", "resend 0s true",
		"start_phone_verification 1.5s false", "resend_phone_verification 0s true", "confirm_phone_verification 0s true",
		"logout 0s false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("operations done:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := f.events[len(f.events)-1]; last.Kind != phoneauth.EventOperationDone {
		t.Errorf("last event %s, want operation_done", last.Kind)
	}
}

// A code given as a number lost its leading zeros: Verify restores them,
// and only for a number.
func TestVerifyCodeIsNumber(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.TestNumbers = map[string]phoneauth.TestNumber{phonePK: {Code: "012345", Expires: epoch.Add(time.Hour)}}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		code     string
		isNumber bool
		ok       bool
	}{
		{"12345", false, false},
		{"12345", true, true},
		{"012345", true, true},
		{" 012345 ", false, true},
		{"2345", true, false},
	} {
		if _, err := f.auth.Request(ctx, phoneauth.RequestParams{IP: "192.0.2.1", Phone: phonePK}); err != nil {
			t.Fatal(err)
		}
		_, err := f.auth.Verify(ctx, phoneauth.VerifyParams{IP: "192.0.2.1", Phone: phonePK, Code: tc.code, CodeIsNumber: tc.isNumber})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, phoneauth.ErrInvalidOTP)) {
			t.Errorf("Verify(%q, number %v) = %v, want ok %v", tc.code, tc.isNumber, err, tc.ok)
		}
		f.clock.Advance(time.Minute)
	}
}
