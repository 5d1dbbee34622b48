package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// RunReplicas checks that a backend makes several replicas of a server
// behave as one: it runs two Authenticators, A and B, made with
// phoneauth.New on the same Store, Users and Limiter (and the same Secret,
// KeySet and clock), as two processes behind a load balancer would be, and
// checks end to end that
//
//   - a code requested through one replica verifies through the other, and
//     the user it creates is the user both replicas find;
//   - of 20 concurrent verifications of one code, split across A and B,
//     exactly one succeeds;
//   - the resend cooldown and the per-phone limit hit on A refuse on B;
//   - the failed-verify budget of a phone is shared: failures through A and
//     B add up;
//   - a refresh token rotated on A and presented again on B after the
//     reuse grace is detected as reused (ErrTokenReused), and the session
//     is then gone on both;
//   - concurrent refreshes of one token on A and B all succeed with the
//     same new token, and the session stays (the 10-second reuse grace);
//   - a logout on B ends a session signed in on A;
//   - verifications from another device or address, on either replica,
//     find nothing of the owner's pending code and spend neither its
//     attempts nor the phone's failed-verify budget (no free lockout);
//   - the per-address verification limit counts on both replicas;
//   - the conversion guard of a number range is shared: 10 unverified
//     codes into a range through A (the default Limits.UnverifiedPerRange)
//     throttle it on B (phoneauth.ErrRangeThrottled); a code verified on
//     A gives the range its event back on B at once;
//   - the signup policies hold: with SignupDisabled a verified code of a
//     phone without a user is consumed and answered ErrSignupNotAllowed,
//     and a phone with a user signs in as that user; with
//     SignupWithCreateUser only a code requested with CreateUser creates
//     the user, with the request's metadata; a new session is listed by
//     Sessions and refreshes;
//   - a code sent before the secret was rotated verifies on a replica
//     that has the old secret among its PreviousSecrets, and on no other;
//   - wrong codes spend a code's attempts: after MaxAttempts of them the
//     right code finds nothing to verify;
//   - the per-address refresh limit counts on both replicas, and a refused
//     refresh rotates nothing: the token it presented refreshes later;
//   - with a captcha verifier, a request over the per-phone limit needs a
//     captcha (ErrCaptchaRequired, nothing sent), and with a solved one gets
//     a code that verifies;
//   - client input that is not text (a NUL byte, invalid UTF-8, in an id,
//     a device detail or metadata) is refused with ErrInvalidRequest
//     before it reaches the backend, never as ErrStoreUnavailable, and any
//     valid text (non-ASCII, emoji, tabs, long push tokens) is kept as
//     given.
//
// It is part of the conformance suite, next to Run and RunLimiter, and
// checks what those check clause by clause once more through the
// Authenticator, the way a deployment uses them. newBackend is called once
// per subtest and both replicas use what it returns; it may return a new,
// empty backend or a shared one, as with Run (every subtest uses its own
// random phone numbers, device ids and IP addresses). If the store implements
// phoneauth.Users, the replicas use it for users; otherwise they share one
// in-memory Users.
//
// The Limiter must count time by Allow's now argument: the replicas share a
// phoneauth.ManualClock that starts at a fixed instant in 2030 and that the
// suite moves forward instead of sleeping. The limits are set explicitly to
// phoneauth's defaults (3 codes per phone per 5 minutes, a 30-second
// cooldown, 10 failed verifications per phone per hour, 30
// verifications per address per 10 minutes, 5 attempts per code), so the checks do not depend on a change of defaults.
func RunReplicas(t *testing.T, newBackend func(t *testing.T) (phoneauth.Store, phoneauth.Limiter)) {
	t.Helper()
	for _, tc := range replicaTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newReplicas(t, newBackend)) })
	}
}

// A replicaTest is a check of RunReplicas.
type replicaTest struct {
	name string
	fn   func(t *testing.T, r *replicas)
}

// replicaTests are the checks of RunReplicas.
var replicaTests = []replicaTest{
	{"VerifyOnOther", testVerifyOnOther},
	{"ConcurrentVerifyOnce", testConcurrentVerifyOnce},
	{"ConcurrentWrongGuessesCapped", testConcurrentWrongGuessesCapped},
	{"CooldownShared", testCooldownShared},
	{"PhoneLimitShared", testPhoneLimitShared},
	{"FailedVerifyBudgetShared", testFailedVerifyBudgetShared},
	{"RefreshReuseDetected", testRefreshReuseDetected},
	{"ConcurrentRefreshSafe", testConcurrentRefreshSafe},
	{"LogoutOnOther", testLogoutOnOther},
	{"ClientInputIsText", testClientInputIsText},
	{"NoFreeLockout", testNoFreeLockout},
	{"VerifyPerAddressShared", testVerifyPerAddressShared},
	{"ConversionGuardShared", testConversionGuardShared},
	{"SignupPolicies", testSignupPolicies},
	{"SecretRotation", testSecretRotation},
	{"AttemptsCapped", testAttemptsCapped},
	{"RefreshPerAddress", testRefreshPerAddress},
	{"CaptchaEscalation", testCaptchaEscalation},
}

// replicaGrace is the replicas' TokenConfig.ReuseGrace, phoneauth's
// default.
const replicaGrace = 10 * time.Second

// replicaLimits are phoneauth's default limits, spelled out.
var replicaLimits = phoneauth.Limits{
	PerPhone:       phoneauth.Limit{Events: 3, Per: 5 * time.Minute},
	PerIP:          phoneauth.Limit{Events: 10, Per: 10 * time.Minute},
	PerDevice:      phoneauth.Limit{Events: 5, Per: 10 * time.Minute},
	VerifyPerIP:    phoneauth.Limit{Events: 30, Per: 10 * time.Minute},
	Global:         phoneauth.Unlimited,
	ResendCooldown: 30 * time.Second,
	FailedVerifies: phoneauth.Limit{Events: 10, Per: time.Hour},
}

// replicas are two Authenticators on one backend, with their shared clock.
type replicas struct {
	a, b    *phoneauth.Authenticator
	clock   *phoneauth.ManualClock
	limiter phoneauth.Limiter
	cfg     phoneauth.Config // of A and B
	// ip and device are this subtest's client: random, so that limits
	// kept by a shared backend never carry over between subtests or runs.
	ip, device string
}

// newReplicas builds the two replicas on what newBackend returns.
func newReplicas(t *testing.T, newBackend func(t *testing.T) (phoneauth.Store, phoneauth.Limiter)) *replicas {
	t.Helper()
	store, limiter := newBackend(t)
	if store == nil || limiter == nil {
		t.Fatal("newBackend returned a nil Store or Limiter")
	}
	users, ok := store.(phoneauth.Users)
	if !ok {
		users = phoneauth.NewMemoryStore()
	}
	key, err := phoneauth.GenerateEd25519Key("replicas")
	noErr(t, "GenerateEd25519Key", err)
	keys, err := phoneauth.NewKeySet(key)
	noErr(t, "NewKeySet", err)
	r := &replicas{
		clock:   phoneauth.NewManualClock(start),
		limiter: limiter,
		ip:      fmt.Sprintf("10.%d.%d.%d", randomBytes(1)[0], randomBytes(1)[0], 1+randomBytes(1)[0]%254),
		device:  "device-" + randomString(12),
	}
	r.cfg = phoneauth.Config{
		Store:       store,
		Users:       users,
		Limiter:     limiter,
		Sender:      phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) { return "msg-" + m.ChallengeID, nil }),
		Secret:      randomBytes(32),
		Tokens:      phoneauth.TokenConfig{Keys: keys, ReuseGrace: replicaGrace},
		Clock:       r.clock,
		Development: true, // the code comes back in the RequestResult
		MaxAttempts: 5,
		Limits:      replicaLimits,
	}
	r.a, r.b = r.with(t, nil), r.with(t, nil)
	return r
}

// with returns another replica on the same backend, its configuration
// changed by change (if not nil).
func (r *replicas) with(t *testing.T, change func(*phoneauth.Config)) *phoneauth.Authenticator {
	t.Helper()
	cfg := r.cfg
	if change != nil {
		change(&cfg)
	}
	auth, err := phoneauth.New(cfg)
	noErr(t, "phoneauth.New", err)
	return auth
}

// mobilePhone returns a random valid mobile number, +92 30x xxxxxxx (a
// Pakistani mobile range), as the Authenticator's number policy wants one.
func mobilePhone() string {
	b := randomBytes(8)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return "+9230" + string(b)
}

// request asks auth for a code for phone, from the subtest's client.
func (r *replicas) request(auth *phoneauth.Authenticator, phone string) (phoneauth.RequestResult, error) {
	return auth.Request(ctx, phoneauth.RequestParams{Phone: phone, DeviceID: r.device, IP: r.ip})
}

// mustRequest asks auth for a code for phone, failing t on an error.
func (r *replicas) mustRequest(t *testing.T, auth *phoneauth.Authenticator, who, phone string) phoneauth.RequestResult {
	t.Helper()
	res, err := r.request(auth, phone)
	noErr(t, "Request on "+who, err)
	if res.Code == "" {
		t.Fatalf("Request on %s: no code in the result of a development-mode Authenticator", who)
	}
	return res
}

// verify checks code for phone through auth.
func (r *replicas) verify(auth *phoneauth.Authenticator, phone, code string) (phoneauth.SignIn, error) {
	return auth.Verify(ctx, phoneauth.VerifyParams{
		Phone:  phone,
		Code:   code,
		Device: phoneauth.Device{ID: r.device, Type: "android"},
		IP:     r.ip,
	})
}

// signIn requests a code through a new random phone on A and verifies it on
// A, failing t on an error.
func (r *replicas) signIn(t *testing.T) phoneauth.SignIn {
	t.Helper()
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	in, err := r.verify(r.a, phone, res.Code)
	noErr(t, "Verify on A", err)
	return in
}

// either returns A for even i and B for odd i: the replica of the i-th of
// concurrent calls split across both.
func (r *replicas) either(i int) *phoneauth.Authenticator {
	if i%2 == 1 {
		return r.b
	}
	return r.a
}

// wrongCode returns a code of the same length as code that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// wantRateLimited fails t unless err is a *phoneauth.RateLimitError of
// scope.
func wantRateLimited(t *testing.T, what string, err error, scope string) {
	t.Helper()
	var rl *phoneauth.RateLimitError
	if !errors.As(err, &rl) || rl.Scope != scope {
		t.Fatalf("%s: got error %v, want a *phoneauth.RateLimitError of scope %q", what, err, scope)
	}
	if rl.RetryAfter <= 0 {
		t.Fatalf("%s: RetryAfter = %v, want > 0", what, rl.RetryAfter)
	}
}

// A code requested through A verifies through B, once: then neither
// replica accepts it. The user created by the first sign-in is the one both
// replicas find afterwards.
func testVerifyOnOther(t *testing.T, r *replicas) {
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	in, err := r.verify(r.b, phone, res.Code)
	noErr(t, "Verify on B of a code requested on A", err)
	if !in.IsNewUser || in.User.ID == "" || in.User.Phone != phone {
		t.Fatalf("Verify on B: user %+v, IsNewUser %v; want a new user with phone %s", in.User, in.IsNewUser, phone)
	}
	for _, x := range []struct {
		who  string
		auth *phoneauth.Authenticator
	}{{"A", r.a}, {"B", r.b}} {
		_, err := r.verify(x.auth, phone, res.Code)
		wantErr(t, "Verify on "+x.who+" of a code already verified on B", err, phoneauth.ErrVerificationFailed)
	}

	r.clock.Advance(replicaLimits.ResendCooldown)
	res = r.mustRequest(t, r.b, "B", phone)
	again, err := r.verify(r.a, phone, res.Code)
	noErr(t, "Verify on A of a second code, requested on B", err)
	if again.IsNewUser || again.User.ID != in.User.ID {
		t.Fatalf("second sign-in on A: user %q (new: %v), want the user %q created on B", again.User.ID, again.IsNewUser, in.User.ID)
	}
}

// Of 20 concurrent verifications of one code, ten on each replica, exactly
// one succeeds. The others fail as "nothing to verify" (the code is used or
// its attempts are spent) or, once the phone's failed-verify budget is
// spent by the losers, as rate limited.
func testConcurrentVerifyOnce(t *testing.T, r *replicas) {
	const n = 20
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		_, errs[i] = r.verify(r.either(i), phone, res.Code)
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, phoneauth.ErrVerificationFailed), errors.Is(err, phoneauth.ErrRateLimited):
		default:
			t.Errorf("verification %d: unexpected error %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent verifications of one code on two replicas succeeded, want exactly 1", wins, n)
	}
}

// Wrong guesses at one code, sent concurrently through A and B, are each
// counted before the code is compared: of 20, at most MaxAttempts (5) are
// compared and answered ErrInvalidOTP; the others find the code's attempts
// spent (ErrVerificationFailed) or the phone's failed-verify budget spent
// (rate limited). Then the right code no longer verifies. Several rounds,
// each on a new phone, give a narrow race many chances to show.
func testConcurrentWrongGuessesCapped(t *testing.T, r *replicas) {
	const n, roundsOfGuesses, maxAttempts = 20, 5, 5
	for round := range roundsOfGuesses {
		phone := mobilePhone()
		res := r.mustRequest(t, r.a, "A", phone)
		errs := make([]error, n)
		concurrently(n, func(i int) {
			_, errs[i] = r.verify(r.either(i), phone, wrongCode(res.Code))
		})
		compared := 0
		for i, err := range errs {
			switch {
			case errors.Is(err, phoneauth.ErrInvalidOTP):
				compared++
			case errors.Is(err, phoneauth.ErrVerificationFailed), errors.Is(err, phoneauth.ErrRateLimited):
			default:
				t.Errorf("round %d, guess %d: got %v, want ErrInvalidOTP, ErrVerificationFailed or rate limited", round, i, err)
			}
		}
		if compared > maxAttempts {
			t.Fatalf("round %d: %d of %d concurrent wrong guesses on two replicas were compared (ErrInvalidOTP), want at most MaxAttempts = %d: an attempt was compared before it was counted", round, compared, n, maxAttempts)
		}
		if _, err := r.verify(r.b, phone, res.Code); err == nil {
			t.Fatalf("round %d: the right code verified after %d wrong guesses", round, n)
		}
	}
}

// A code requested on A starts the resend cooldown on B too; once it has
// passed, B sends.
func testCooldownShared(t *testing.T, r *replicas) {
	phone := mobilePhone()
	r.mustRequest(t, r.a, "A", phone)
	r.clock.Advance(replicaLimits.ResendCooldown - time.Second)
	_, err := r.request(r.b, phone)
	wantRateLimited(t, "Request on B 29s after a request on A", err, "cooldown")
	r.clock.Advance(time.Second)
	r.mustRequest(t, r.b, "B", phone)
}

// Codes sent through A and B count against one per-phone limit: after two
// on A and one on B, B refuses a fourth.
func testPhoneLimitShared(t *testing.T, r *replicas) {
	phone := mobilePhone()
	for i, auth := range []*phoneauth.Authenticator{r.a, r.b, r.a} {
		if i > 0 {
			r.clock.Advance(replicaLimits.ResendCooldown)
		}
		who := "AB"[i%2 : i%2+1]
		r.mustRequest(t, auth, who, phone)
	}
	r.clock.Advance(replicaLimits.ResendCooldown)
	_, err := r.request(r.b, phone)
	wantRateLimited(t, "a fourth Request, on B, within 5 minutes (two on A, one on B before)", err, "phone")
	// A refuses too: by the phone limit if the refused request recorded
	// nothing (a phoneauth.BatchLimiter decides all or nothing), or by the
	// cooldown that a one-by-one Limiter recorded before the phone limit
	// refused.
	_, err = r.request(r.a, phone)
	var rl *phoneauth.RateLimitError
	if !errors.As(err, &rl) || (rl.Scope != "phone" && rl.Scope != "cooldown") {
		t.Fatalf("a Request on A right after the refused one on B: got error %v, want a phone or cooldown *phoneauth.RateLimitError", err)
	}
	if _, batch := r.limiter.(phoneauth.BatchLimiter); batch && rl.Scope != "phone" {
		t.Fatalf("a Request on A right after the refused one on B: scope %q, want \"phone\": a BatchLimiter records nothing for a refused request", rl.Scope)
	}
}

// Wrong codes tried through A and B add up in one failed-verify budget: after
// ten, the right code of a new challenge is refused on both replicas, and
// stays pending.
func testFailedVerifyBudgetShared(t *testing.T, r *replicas) {
	phone := mobilePhone()
	budget := replicaLimits.FailedVerifies.Events
	for failed := 0; failed < budget; {
		if failed > 0 {
			r.clock.Advance(replicaLimits.ResendCooldown)
		}
		res := r.mustRequest(t, r.a, "A", phone)
		for range 5 { // the challenge's attempts
			auth, who := r.a, "A"
			if failed%2 == 1 {
				auth, who = r.b, "B"
			}
			_, err := r.verify(auth, phone, wrongCode(res.Code))
			wantErr(t, fmt.Sprintf("wrong code #%d, on %s", failed+1, who), err, phoneauth.ErrInvalidOTP)
			failed++
		}
	}
	r.clock.Advance(replicaLimits.ResendCooldown)
	res := r.mustRequest(t, r.a, "A", phone)
	_, err := r.verify(r.b, phone, res.Code)
	wantRateLimited(t, "Verify on B after 10 failures on A and B", err, "verify")
	_, err = r.verify(r.a, phone, res.Code)
	wantRateLimited(t, "Verify on A after 10 failures on A and B", err, "verify")
}

// A refresh token rotated on A and presented again on B revokes the
// session: its newest token then fails on both replicas, and neither lists
// the session.
func testRefreshReuseDetected(t *testing.T, r *replicas) {
	in := r.signIn(t)
	r.clock.Advance(time.Minute)
	next, err := r.a.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: r.ip})
	noErr(t, "Refresh on A", err)
	r.clock.Advance(replicaGrace)
	_, err = r.b.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: r.ip})
	wantErr(t, "Refresh on B with the token rotated on A", err, phoneauth.ErrTokenReused)
	for _, x := range []struct {
		who  string
		auth *phoneauth.Authenticator
	}{{"A", r.a}, {"B", r.b}} {
		_, err := x.auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: next.Tokens.RefreshToken, IP: r.ip})
		if !errors.Is(err, phoneauth.ErrInvalidToken) {
			t.Fatalf("Refresh on %s with the newest token of a revoked session: got %v, want ErrInvalidToken", x.who, err)
		}
		sessions, err := x.auth.Sessions(ctx, in.User.ID)
		noErr(t, "Sessions on "+x.who, err)
		if len(sessions) != 0 {
			t.Fatalf("Sessions on %s after token reuse: %d sessions, want none", x.who, len(sessions))
		}
	}
}

// Concurrent refreshes with one token, half on each replica (a refresh
// fired twice, a retry), all succeed with the same new refresh token: the
// session stays, and that token refreshes on either replica.
func testConcurrentRefreshSafe(t *testing.T, r *replicas) {
	const n = 10
	in := r.signIn(t)
	r.clock.Advance(time.Minute)
	results := make([]phoneauth.SignIn, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		results[i], errs[i] = r.either(i).Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: r.ip})
	})
	for i, err := range errs {
		noErr(t, fmt.Sprintf("concurrent refresh %d of one token on two replicas", i), err)
		if results[i].Tokens.RefreshToken != results[0].Tokens.RefreshToken {
			t.Fatalf("concurrent refresh %d got another refresh token than refresh 0", i)
		}
	}
	r.clock.Advance(replicaGrace) // the retries are over
	_, err := r.b.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: results[0].Tokens.RefreshToken, IP: r.ip})
	noErr(t, "Refresh on B with the token the concurrent refreshes got", err)
}

// A logout on B ends a session signed in on A: its token no longer
// refreshes on A, and a second logout fails.
func testLogoutOnOther(t *testing.T, r *replicas) {
	in := r.signIn(t)
	noErr(t, "Logout on B of a session signed in on A", r.b.Logout(ctx, in.Tokens.RefreshToken))
	_, err := r.a.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: r.ip})
	wantErr(t, "Refresh on A after logout on B", err, phoneauth.ErrInvalidToken)
	if errors.Is(err, phoneauth.ErrTokenReused) {
		t.Fatalf("Refresh on A after logout on B: %v; a logged-out token is unknown, not reused", err)
	}
	wantErr(t, "a second Logout, on A", r.a.Logout(ctx, in.Tokens.RefreshToken), phoneauth.ErrInvalidToken)
	sessions, err := r.a.Sessions(ctx, in.User.ID)
	noErr(t, "Sessions on A", err)
	if len(sessions) != 0 {
		t.Fatalf("Sessions on A after logout on B: %d sessions, want none", len(sessions))
	}
}

// testClientInputIsText sends input no text column could hold, then valid
// text of every kind, through the replicas.
func testClientInputIsText(t *testing.T, r *replicas) {
	const nul, notUTF8 = "a\x00b", "a\xffb"
	phone := mobilePhone()
	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, phoneauth.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", what, err)
		}
	}
	for name, p := range map[string]phoneauth.RequestParams{
		"DeviceID with NUL":         {DeviceID: nul},
		"DeviceID not UTF-8":        {DeviceID: notUTF8},
		"metadata value with NUL":   {Metadata: map[string]any{"k": nul}},
		"metadata key with NUL":     {Metadata: map[string]any{nul: "v"}},
		"nested metadata with NUL":  {Metadata: map[string]any{"k": []any{map[string]any{"deep": nul}}}},
		"metadata that is not JSON": {Metadata: map[string]any{"f": func() {}}},
	} {
		p.Phone, p.IP = phone, r.ip
		if p.DeviceID == "" {
			p.DeviceID = r.device
		}
		_, err := r.a.Request(ctx, p)
		invalid("Request, "+name, err)
	}

	// An IP that is no address is no reason to refuse: its limiter key is
	// hashed. Metadata may hold any text, including a backslash before
	// "u0000".
	res, err := r.a.Request(ctx, phoneauth.RequestParams{
		Phone: phone, DeviceID: r.device, IP: "\x00\xff" + strings.Repeat("x", 100), CreateUser: true,
		Metadata: map[string]any{"name": "Ülkü 日本 🙂", "tags": []any{"a\tb", 1.5, true, nil}, "path": `C:\u0000`},
	})
	noErr(t, "Request with any text", err)

	dev := phoneauth.Device{ID: r.device, Type: "android", Name: "Pixel 9 — Ülkü 日本 🙂\t", PlatformVersion: "15", PushToken: strings.Repeat("t", 300)}
	for name, p := range map[string]phoneauth.VerifyParams{
		"RequestID with NUL":        {RequestID: nul, Device: dev},
		"Device.ID with NUL":        {Device: phoneauth.Device{ID: nul}},
		"Device.Name not UTF-8":     {Device: phoneauth.Device{ID: "d", Name: notUTF8}},
		"Device.PushToken with NUL": {Device: phoneauth.Device{ID: "d", PushToken: nul}},
	} {
		p.Phone, p.Code, p.IP = phone, res.Code, r.ip
		_, err := r.a.Verify(ctx, p)
		invalid("Verify, "+name, err)
	}

	// The refusals cost the code nothing: it verifies, on the other replica,
	// and the device comes back as given.
	in, err := r.b.Verify(ctx, phoneauth.VerifyParams{Phone: phone, Code: res.Code, Device: dev, IP: r.ip})
	noErr(t, "Verify with any text", err)
	if in.Session.Device != dev {
		t.Errorf("session device %+v, want %+v", in.Session.Device, dev)
	}
	sessions, err := r.a.Sessions(ctx, in.User.ID)
	noErr(t, "Sessions", err)
	if len(sessions) != 1 || !reflect.DeepEqual(sessions[0].Device, dev) {
		t.Errorf("Sessions = %+v, want one with device %+v", sessions, dev)
	}

	// Ids that are not text name nothing.
	if err := r.a.RevokeSession(ctx, in.User.ID, nul); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Errorf("RevokeSession of a session id with NUL: %v, want ErrNotFound", err)
	}
	if ss, err := r.a.Sessions(ctx, nul); err != nil || len(ss) != 0 {
		t.Errorf("Sessions of a user id with NUL = %v, %v; want none", ss, err)
	}
	_, err = r.a.StartPhoneVerification(ctx, phoneauth.PhoneVerificationParams{UserID: nul, Phone: mobilePhone(), DeviceID: r.device, IP: r.ip})
	invalid("StartPhoneVerification, UserID with NUL", err)
	err = r.a.ConfirmPhoneVerification(ctx, phoneauth.ConfirmPhoneVerificationParams{UserID: in.User.ID, Phone: mobilePhone(), RequestID: nul, Code: "123456", IP: r.ip})
	invalid("ConfirmPhoneVerification, RequestID with NUL", err)
}

// A stranger's verifications of a phone, from another device and address,
// on either replica, find nothing (the owner's code belongs to the owner's
// device) and spend nothing: the owner's correct code then verifies.
func testNoFreeLockout(t *testing.T, r *replicas) {
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	guesses := 2 * replicaLimits.FailedVerifies.Events
	for i := range guesses {
		auth, device := r.a, "stranger-"+randomString(8)
		if i%2 == 1 {
			auth, device = r.b, "" // a client that names no device
		}
		_, err := auth.Verify(ctx, phoneauth.VerifyParams{
			Phone: phone, Code: wrongCode(res.Code), Device: phoneauth.Device{ID: device},
			IP: fmt.Sprintf("172.16.%d.%d", i/250, 1+i%250),
		})
		wantErr(t, fmt.Sprintf("stranger's verification %d", i+1), err, phoneauth.ErrVerificationFailed)
	}
	_, err := r.verify(r.b, phone, res.Code)
	noErr(t, fmt.Sprintf("the owner's correct code on B after %d strangers' verifications", guesses), err)
}

// Verifications from one address, of many phones, through A and B, add up
// in one per-address limit.
func testVerifyPerAddressShared(t *testing.T, r *replicas) {
	limit := replicaLimits.VerifyPerIP.Events
	for i := range limit {
		auth := r.a
		if i%2 == 1 {
			auth = r.b
		}
		_, err := r.verify(auth, mobilePhone(), "123456")
		wantErr(t, fmt.Sprintf("verification %d of a phone with nothing pending", i+1), err, phoneauth.ErrVerificationFailed)
	}
	for _, auth := range []*phoneauth.Authenticator{r.a, r.b} {
		_, err := r.verify(auth, mobilePhone(), "123456")
		wantRateLimited(t, fmt.Sprintf("verification %d from one address", limit+1), err, "verify-ip")
	}
}

// Ten codes nobody verifies, into one number range, from ten clients on A
// throttle the range on B; after a refill, B sends one code, A verifies it,
// and the range has its event back: B sends the next at once.
func testConversionGuardShared(t *testing.T, r *replicas) {
	rng := mobilePhone()[:10] // a random range of 1,000 numbers
	n := 0
	request := func(auth *phoneauth.Authenticator) (string, phoneauth.RequestResult, error) {
		n++
		phone := fmt.Sprintf("%s%03d", rng, n)
		ip := fmt.Sprintf("10.%d.%d.%d", randomBytes(1)[0], randomBytes(1)[0], 1+randomBytes(1)[0]%254)
		res, err := auth.Request(ctx, phoneauth.RequestParams{Phone: phone, IP: ip})
		return phone, res, err
	}
	for i := range 10 {
		if _, _, err := request(r.a); err != nil {
			t.Fatalf("unverified code %d into the range on A: %v", i+1, err)
		}
	}
	_, _, err := request(r.b)
	wantRateLimited(t, "an 11th unverified code into the range, on B", err, phoneauth.ScopeRangeGuard)
	if !errors.Is(err, phoneauth.ErrRangeThrottled) {
		t.Fatalf("the guard's refusal %v does not match phoneauth.ErrRangeThrottled", err)
	}
	r.clock.Advance(6 * time.Minute) // one event refills (10 per hour)
	phone, res, err := request(r.b)
	noErr(t, "Request on B after a refill", err)
	if _, _, err := request(r.b); !errors.Is(err, phoneauth.ErrRangeThrottled) {
		t.Fatalf("a second code after one refill: got %v, want phoneauth.ErrRangeThrottled", err)
	}
	_, err = r.a.Verify(ctx, phoneauth.VerifyParams{Phone: phone, Code: res.Code, IP: phoneauth.NoIP})
	noErr(t, "Verify on A", err)
	if _, _, err := request(r.b); err != nil {
		t.Fatalf("a code into the range on B after A verified one: %v, want the range's event back", err)
	}
}

// With SignupDisabled a phone without a user gets ErrSignupNotAllowed, and
// its code is used up; a phone with a user signs in as that user. With
// SignupWithCreateUser only a request that asks creates the user, with its
// metadata. The sessions of these sign-ins are listed and refresh.
func testSignupPolicies(t *testing.T, r *replicas) {
	disabled := r.with(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupDisabled })
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	_, err := r.verify(disabled, phone, res.Code)
	wantErr(t, "Verify of a phone without a user, signup disabled", err, phoneauth.ErrSignupNotAllowed)
	_, err = r.verify(r.a, phone, res.Code)
	wantErr(t, "Verify of the code again on a replica that allows signup", err, phoneauth.ErrVerificationFailed)

	users := r.cfg.Users
	u, _, err := users.CreateUser(ctx, phone, nil)
	noErr(t, "CreateUser", err)
	r.clock.Advance(replicaLimits.ResendCooldown)
	res = r.mustRequest(t, r.a, "A", phone)
	in, err := r.verify(disabled, phone, res.Code)
	noErr(t, "Verify of a phone with a user, signup disabled", err)
	if in.IsNewUser || in.User.ID != u.ID || in.Session.UserID != u.ID || in.Session.Phone != phone {
		t.Fatalf("sign-in of an existing user: user %+v (new: %v), session of %q with phone %q; want user %q", in.User, in.IsNewUser, in.Session.UserID, in.Session.Phone, u.ID)
	}
	wantSessionWorks(t, r, in)

	asked := r.with(t, func(c *phoneauth.Config) { c.Signup = phoneauth.SignupWithCreateUser })
	phone = mobilePhone()
	res = r.mustRequest(t, r.a, "A", phone)
	_, err = r.verify(asked, phone, res.Code)
	wantErr(t, "Verify of a code requested without CreateUser, SignupWithCreateUser", err, phoneauth.ErrSignupNotAllowed)
	if _, err := users.UserByPhone(ctx, phone); !errors.Is(err, phoneauth.ErrNotFound) {
		t.Fatalf("UserByPhone after a refused signup: %v, want ErrNotFound", err)
	}
	r.clock.Advance(replicaLimits.ResendCooldown)
	res, err = asked.Request(ctx, phoneauth.RequestParams{Phone: phone, DeviceID: r.device, IP: r.ip, CreateUser: true, Metadata: map[string]any{"plan": "trial"}})
	noErr(t, "Request with CreateUser", err)
	in, err = r.verify(asked, phone, res.Code)
	noErr(t, "Verify of a code requested with CreateUser", err)
	if !in.IsNewUser || in.User.Phone != phone {
		t.Fatalf("signup asked for: user %+v (new: %v), want a new user with phone %s", in.User, in.IsNewUser, phone)
	}
	found, err := users.UserByPhone(ctx, phone)
	noErr(t, "UserByPhone", err)
	if found.ID != in.User.ID {
		t.Fatalf("UserByPhone = %q, want the user created by the sign-in, %q", found.ID, in.User.ID)
	}
	wantSessionWorks(t, r, in)
}

// wantSessionWorks fails t unless the session of a sign-in is listed by
// Sessions and its refresh token refreshes.
func wantSessionWorks(t *testing.T, r *replicas, in phoneauth.SignIn) {
	t.Helper()
	list, err := r.b.Sessions(ctx, in.User.ID)
	noErr(t, "Sessions", err)
	if !slicesContainID(list, in.Session.ID) {
		t.Fatalf("Sessions(%q) = %d sessions without the new session %q", in.User.ID, len(list), in.Session.ID)
	}
	_, err = r.b.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: r.ip})
	noErr(t, "Refresh of a new session", err)
}

func slicesContainID(list []phoneauth.Session, id string) bool {
	for _, s := range list {
		if s.ID == id {
			return true
		}
	}
	return false
}

// A code sent before the secret was rotated verifies on a replica with the
// old secret among its PreviousSecrets, and is a wrong code on a replica
// that no longer knows the old secret.
func testSecretRotation(t *testing.T, r *replicas) {
	newSecret := randomBytes(32)
	forgot := r.with(t, func(c *phoneauth.Config) { c.Secret = newSecret })
	rotated := r.with(t, func(c *phoneauth.Config) { c.Secret, c.PreviousSecrets = newSecret, [][]byte{c.Secret} })
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	_, err := r.verify(forgot, phone, res.Code)
	wantErr(t, "Verify of an old secret's code without PreviousSecrets", err, phoneauth.ErrInvalidOTP)
	in, err := r.verify(rotated, phone, res.Code)
	noErr(t, "Verify of an old secret's code with it among PreviousSecrets", err)
	if in.User.Phone != phone {
		t.Fatalf("sign-in after rotation: user phone %q, want %s", in.User.Phone, phone)
	}
}

// MaxAttempts wrong codes, on both replicas, use a code up: the right code
// then finds nothing to verify.
func testAttemptsCapped(t *testing.T, r *replicas) {
	phone := mobilePhone()
	res := r.mustRequest(t, r.a, "A", phone)
	for i := range r.cfg.MaxAttempts {
		auth := []*phoneauth.Authenticator{r.a, r.b}[i%2]
		_, err := r.verify(auth, phone, wrongCode(res.Code))
		wantErr(t, fmt.Sprintf("wrong code %d", i+1), err, phoneauth.ErrInvalidOTP)
	}
	_, err := r.verify(r.b, phone, res.Code)
	wantErr(t, "the right code after MaxAttempts wrong ones", err, phoneauth.ErrVerificationFailed)
}

// The per-address refresh limit counts refreshes on both replicas; a
// refused refresh changes nothing, so its token refreshes once the limit
// allows again.
func testRefreshPerAddress(t *testing.T, r *replicas) {
	limit := phoneauth.Limit{Events: 2, Per: time.Minute}
	a := r.with(t, func(c *phoneauth.Config) { c.Limits.RefreshPerIP = limit })
	b := r.with(t, func(c *phoneauth.Config) { c.Limits.RefreshPerIP = limit })
	token := r.signIn(t).Tokens.RefreshToken
	for i, auth := range []*phoneauth.Authenticator{a, b} {
		in, err := auth.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: token, IP: r.ip})
		noErr(t, fmt.Sprintf("refresh %d", i+1), err)
		token = in.Tokens.RefreshToken
	}
	_, err := a.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: token, IP: r.ip})
	wantRateLimited(t, "a third refresh from the address within the minute", err, "refresh-ip")
	r.clock.Advance(limit.Per)
	_, err = b.Refresh(ctx, phoneauth.RefreshParams{RefreshToken: token, IP: r.ip})
	noErr(t, "Refresh with the refused refresh's token, a minute later", err)
}

// captchaFunc is a phoneauth.CaptchaVerifier.
type captchaFunc func(token string) error

func (f captchaFunc) VerifyCaptcha(_ context.Context, token, _ string) error { return f(token) }

// Over the per-phone limit, a request with a captcha verifier escalates: a
// request without a token is refused with ErrCaptchaRequired and stores
// nothing; one with a solved captcha gets a code (PerPhoneWithCaptcha),
// which verifies.
func testCaptchaEscalation(t *testing.T, r *replicas) {
	auth := r.with(t, func(c *phoneauth.Config) {
		c.Captcha = captchaFunc(func(token string) error {
			if token != "solved" {
				return phoneauth.ErrCaptchaFailed
			}
			return nil
		})
		c.CaptchaOnlyOverLimit = true
		c.Limits.PerPhone = phoneauth.Limit{Events: 1, Per: time.Hour}
	})
	phone := mobilePhone()
	first := r.mustRequest(t, auth, "A with a captcha verifier", phone)
	r.clock.Advance(replicaLimits.ResendCooldown)
	_, err := r.request(auth, phone)
	wantErr(t, "a second request within the hour, without a captcha", err, phoneauth.ErrCaptchaRequired)
	_, err = r.verify(auth, phone, first.Code)
	noErr(t, "Verify of the first code after a refused request", err)

	r.clock.Advance(replicaLimits.ResendCooldown)
	res, err := auth.Request(ctx, phoneauth.RequestParams{Phone: phone, DeviceID: r.device, IP: r.ip, CaptchaToken: "solved"})
	noErr(t, "Request over the per-phone limit with a solved captcha", err)
	_, err = r.verify(auth, phone, res.Code)
	noErr(t, "Verify of the code sent with a solved captcha", err)
}
