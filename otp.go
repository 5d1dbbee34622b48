package phoneauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// An Authenticator runs phone-number sign-in by one-time code: it requests,
// resends and verifies codes, issues and rotates tokens, and enforces the
// limits. It is safe for concurrent use; create one with New and share it.
type Authenticator struct {
	cfg     Config // with defaults applied
	store   Store
	users   Users
	sender  Sender
	clock   Clock
	limiter Limiter
	log     *slog.Logger
	render  *messageRenderer // sender.go
	phones  *phoneParser     // phone.go
	tokens  *tokenService    // token.go
}

// RequestParams are the inputs of Request and Resend.
type RequestParams struct {
	// Phone is the number as the user typed it; Country is an ISO 3166-1
	// alpha-2 code ("PK") or a calling code ("+92", "92"), and may be empty
	// when Phone starts with "+".
	Phone   string
	Country string
	// DeviceID identifies the client device, for the per-device limit.
	DeviceID string
	// IP is the client's address, for the per-IP limit.
	IP string
	// Channel is SMS or WhatsApp; empty means Config.DefaultChannel.
	Channel Channel
	// CreateUser and Metadata are kept for verification: with
	// SignupWithCreateUser a user is created only if CreateUser is set, with
	// Metadata.
	CreateUser bool
	Metadata   map[string]any
	// CaptchaToken is checked by Config.Captcha, if set.
	CaptchaToken string
	// Locale is the client's language, passed to the Sender.
	Locale string
}

// RequestResult describes a code that was sent.
type RequestResult struct {
	// RequestID identifies the challenge (the authCode of a phone
	// verification).
	RequestID string
	// Phone is the E.164 number; MaskedPhone its masked form for display.
	Phone       string
	MaskedPhone string
	// Channel is the channel the code went out on: the one asked for,
	// unless the Sender is a SendReporter that used another (SMS after a
	// WhatsApp failure, with delivery.ByChannel).
	Channel Channel
	// ExpiresIn is the code's validity; ResendAfter the wait before another
	// code can be sent to this phone.
	ExpiresIn   time.Duration
	ResendAfter time.Duration
	// MessageID is the Sender's message id.
	MessageID string
	// Code is the code itself, only in Development mode.
	Code string
}

// VerifyParams are the inputs of Verify.
type VerifyParams struct {
	// Phone and Country as in RequestParams.
	Phone   string
	Country string
	// RequestID, if set, must name the newest challenge of the phone.
	RequestID string
	// Code is the code the user typed.
	Code string
	// Device is the client the session will belong to.
	Device Device
	// IP is the client's address.
	IP string
}

// SignIn is the result of a verification or a refresh.
type SignIn struct {
	User      User
	IsNewUser bool
	Session   Session
	Tokens    Tokens
}

// New returns an Authenticator for cfg, or an error matching
// ErrInvalidConfig.
func New(cfg Config) (*Authenticator, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	a := &Authenticator{
		cfg:     cfg,
		store:   cfg.Store,
		users:   cfg.Users,
		sender:  cfg.Sender,
		clock:   cfg.Clock,
		limiter: cfg.Limiter,
		log:     cfg.Logger,
		phones:  newPhoneParser(0),
	}
	var err error
	if a.render, err = newMessageRenderer(cfg.Templates, cfg.AppName, cfg.WebOTPDomain, cfg.CodeLength, cfg.Logger); err != nil {
		return nil, err
	}
	if a.tokens, err = newTokenService(cfg.Tokens, cfg.Store, cfg.Clock); err != nil {
		return nil, err
	}
	if cfg.Development {
		a.log.Warn("phoneauth: DEVELOPMENT MODE: codes are returned in results and HTTP responses; never run this in production")
	}
	return a, nil
}

// Request sends a new code to a phone, replacing any code pending for it.
//
// It normalises the phone (ErrInvalidPhone) and applies the number policy
// (ErrPhoneNotAllowed), the captcha (ErrCaptchaFailed), and the cooldown,
// per-IP, per-device, per-phone and global limits (a *RateLimitError). The
// code is stored only as a keyed hash; if the Sender fails the code is
// deleted, can never be verified, and the error matches ErrSendFailed.
//
// Request answers the same whether or not the phone has an account: the
// signup policy is applied by Verify, to the phone's owner only.
func (a *Authenticator) Request(ctx context.Context, p RequestParams) (RequestResult, error) {
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return RequestResult{}, err
	}
	return a.issue(ctx, issueParams{RequestParams: p, key: loginKey(ph.E164), phone: ph})
}

// Resend sends a new code to a phone that has one pending, replacing it.
// The limits and the cooldown are those of Request; with nothing pending
// (never requested, expired, or already used) it returns ErrNoPendingCode.
// An empty Channel keeps the pending code's channel.
func (a *Authenticator) Resend(ctx context.Context, p RequestParams) (RequestResult, error) {
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return RequestResult{}, err
	}
	return a.issue(ctx, issueParams{RequestParams: p, key: loginKey(ph.E164), phone: ph, resend: true})
}

// Verify checks a code and signs the user in: it resolves the phone to a
// user (creating one if the signup policy allows), starts a device session
// and issues its tokens.
//
// The attempt is counted before the code is compared, so concurrent
// guesses cannot exceed MaxAttempts, and a code verifies at most once. A
// wrong code is ErrInvalidOTP; nothing to verify (none pending, expired,
// used, attempts exhausted, a RequestID that is not the newest) is
// ErrVerificationFailed; an exhausted failed-verify budget for the phone is
// a *RateLimitError.
func (a *Authenticator) Verify(ctx context.Context, p VerifyParams) (SignIn, error) {
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return SignIn{}, err
	}
	d := p.Device
	if err := checkText(textField{"RequestID", p.RequestID}, textField{"Device.ID", d.ID}, textField{"Device.Type", d.Type},
		textField{"Device.Name", d.Name}, textField{"Device.PlatformVersion", d.PlatformVersion}, textField{"Device.PushToken", d.PushToken}); err != nil {
		return SignIn{}, err
	}
	c, err := a.checkCode(ctx, loginKey(ph.E164), p.RequestID, ph, p.Code, p.Device.ID, p.IP)
	if err != nil {
		return SignIn{}, err
	}
	u, isNew, err := a.resolveUser(ctx, c)
	if err != nil {
		return SignIn{}, err
	}
	s, t, err := a.startSession(ctx, u, p.Device)
	if err != nil {
		return SignIn{}, err
	}
	return SignIn{User: u, IsNewUser: isNew, Session: s, Tokens: t}, nil
}

// resolveUser finds the user of a verified login challenge's phone, or
// creates one as the signup policy allows. When it allows, one
// Users.CreateUser does both (it returns an existing user as it is).
func (a *Authenticator) resolveUser(ctx context.Context, c Challenge) (User, bool, error) {
	if a.cfg.Signup == SignupAllowed || (a.cfg.Signup == SignupWithCreateUser && c.CreateUser) {
		u, created, err := a.users.CreateUser(ctx, c.Phone, c.Metadata)
		if err != nil {
			return User{}, false, storeErr("create user", err)
		}
		return u, created, nil
	}
	u, err := a.users.UserByPhone(ctx, c.Phone)
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, false, ErrSignupNotAllowed
	case err != nil:
		return User{}, false, storeErr("find user", err)
	}
	return u, false, nil
}

// issueParams are the inputs of issue: a request plus what the caller
// resolved.
type issueParams struct {
	RequestParams
	key    string
	phone  Phone
	userID string
	resend bool
}

// issue creates, stores and sends a new code for a challenge key, after the
// captcha and the limits.
func (a *Authenticator) issue(ctx context.Context, p issueParams) (RequestResult, error) {
	ch := p.Channel
	if p.resend {
		pending, err := a.store.GetChallenge(ctx, p.key, a.clock.Now())
		switch {
		case errors.Is(err, ErrNotFound):
			return RequestResult{}, ErrNoPendingCode
		case err != nil:
			return RequestResult{}, storeErr("get challenge", err)
		}
		if ch == "" {
			ch = pending.Channel
		}
	}
	if ch == "" {
		ch = a.cfg.DefaultChannel
	}
	if ch != SMS && ch != WhatsApp {
		return RequestResult{}, fmt.Errorf("%w: unknown channel %q", ErrInvalidRequest, ch)
	}
	if err := checkText(textField{"DeviceID", p.DeviceID}); err != nil {
		return RequestResult{}, err
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return RequestResult{}, err
	}
	e164 := p.phone.E164
	if a.cfg.Captcha != nil {
		if err := a.cfg.Captcha.VerifyCaptcha(ctx, p.CaptchaToken, p.IP); err != nil {
			if !errors.Is(err, ErrCaptchaFailed) && !errors.Is(err, ErrCaptchaUnavailable) {
				err = fmt.Errorf("%w: %w", ErrCaptchaUnavailable, err)
			}
			return RequestResult{}, err
		}
	}
	if err := a.allowSend(ctx, e164, p.DeviceID, p.IP); err != nil {
		return RequestResult{}, err
	}

	now := a.clock.Now()
	code, testNumber := a.testCode(e164, now)
	if !testNumber {
		code = generateCode(a.cfg.CodeLength)
	}
	c := Challenge{
		Key:         p.key,
		ID:          newID(),
		Phone:       e164,
		UserID:      p.userID,
		Channel:     ch,
		MaxAttempts: a.cfg.MaxAttempts,
		CreateUser:  p.CreateUser,
		Metadata:    p.Metadata,
		CreatedAt:   now,
		ExpiresAt:   now.Add(a.cfg.CodeTTL),
	}
	c.CodeHash = codeMAC(a.cfg.Secret, c.ID, e164, code)
	if err := a.store.PutChallenge(ctx, c); err != nil {
		return RequestResult{}, storeErr("put challenge", err)
	}
	ev := Event{Phone: e164, ChallengeID: c.ID, UserID: p.userID, DeviceID: p.DeviceID, IP: p.IP, Channel: ch}
	a.emit(ctx, with(ev, EventCodeRequested))

	sent := Sent{MessageID: "test-number", Channel: ch}
	if !testNumber {
		var err error
		if sent, err = a.deliver(ctx, c, code, p.Locale); err != nil {
			ev.Channel = sent.Channel
			a.emit(ctx, withErr(ev, EventSendFailed, err))
			return RequestResult{}, err
		}
	}
	ev.MessageID, ev.Channel = sent.MessageID, sent.Channel
	a.emit(ctx, with(ev, EventCodeSent))
	a.log.InfoContext(ctx, "phoneauth: code sent", "phone", MaskPhone(e164), "channel", string(sent.Channel), "challenge", c.ID, "resend", p.resend)

	r := RequestResult{
		RequestID:   c.ID,
		Phone:       e164,
		MaskedPhone: MaskPhone(e164),
		Channel:     sent.Channel,
		ExpiresIn:   a.cfg.CodeTTL,
		ResendAfter: max(a.cfg.Limits.ResendCooldown, 0),
		MessageID:   sent.MessageID,
	}
	if a.cfg.Development {
		r.Code = code
	}
	return r, nil
}

// deliver renders and sends a stored challenge's code, and returns what the
// Sender reported (see SendReport): the message id and the channel the code
// went out on, which a SendReporter may have changed from c.Channel. If
// sending fails it deletes the challenge, so that a code nobody received
// can never be verified, and returns an error matching ErrSendFailed with
// the channel tried last.
func (a *Authenticator) deliver(ctx context.Context, c Challenge, code, locale string) (Sent, error) {
	sent := Sent{Channel: c.Channel}
	text, err := a.render.render(locale, code, a.cfg.CodeTTL)
	if err == nil {
		sent, err = SendReport(ctx, a.sender, Message{To: c.Phone, Channel: c.Channel, Text: text, Code: code, ChallengeID: c.ID, ExpiresAt: c.ExpiresAt, Locale: locale})
		if err == nil {
			return sent, nil
		}
	}
	failed := Sent{Channel: sent.Channel}
	// The caller may have gone away; the clean-up must still happen.
	if derr := a.store.DeleteChallenge(context.WithoutCancel(ctx), c.Key, c.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
		a.log.ErrorContext(ctx, "phoneauth: deleting an unsent challenge failed", "phone", MaskPhone(c.Phone), "challenge", c.ID, "err", derr)
	}
	a.log.WarnContext(ctx, "phoneauth: sending the code failed", "phone", MaskPhone(c.Phone), "channel", string(failed.Channel), "challenge", c.ID, "err", err)
	if errors.Is(err, ErrSendFailed) {
		return failed, err
	}
	return failed, fmt.Errorf("%w: %w", ErrSendFailed, err)
}

// allowSend applies the sending limits in order: cooldown, IP, device,
// phone, global. With a BatchLimiter they are decided in one call, all or
// nothing; otherwise one by one, stopping at the first refusal (the earlier
// ones keep their event): the cooldown comes first so that a double tap
// costs nothing else, the global budget last so that only requests every
// other limit accepted spend it.
func (a *Authenticator) allowSend(ctx context.Context, phone, deviceID, ip string) error {
	l := a.cfg.Limits
	all := [...]struct {
		scope string
		check LimitCheck
	}{
		{"cooldown", LimitCheck{"cooldown:" + phone, Limit{Events: 1, Per: l.ResendCooldown}}},
		{"ip", LimitCheck{ipKey(ip), l.PerIP}},
		{"device", LimitCheck{deviceKey(deviceID), l.PerDevice}},
		{"phone", LimitCheck{"phone:" + phone, l.PerPhone}},
		{"global", LimitCheck{"global", l.Global}},
	}
	scopes := make([]string, 0, len(all))
	checks := make([]LimitCheck, 0, len(all))
	for _, c := range all {
		if c.check.Key == "" || c.check.Limit.Off() || c.check.Limit.Per <= 0 {
			continue
		}
		c.check.Key = limiterPrefix + c.check.Key
		scopes, checks = append(scopes, c.scope), append(checks, c.check)
	}
	if b, ok := a.limiter.(BatchLimiter); ok {
		refused, retry, err := b.AllowAll(ctx, checks, a.clock.Now())
		if err != nil {
			return storeErr("limiter", err)
		}
		if refused >= 0 && refused < len(scopes) {
			return a.refuse(ctx, scopes[refused], retry, phone)
		}
		return nil
	}
	for i, c := range checks {
		if err := a.allow(ctx, scopes[i], c.Key, c.Limit, phone); err != nil {
			return err
		}
	}
	return nil
}

// limiterPrefix starts every key phoneauth gives its Limiter.
const limiterPrefix = "phoneauth:"

// allow asks the Limiter about one (prefixed) key and turns a refusal into
// a *RateLimitError.
func (a *Authenticator) allow(ctx context.Context, scope, key string, l Limit, phone string) error {
	ok, retry, err := a.limiter.Allow(ctx, key, l, a.clock.Now())
	if err != nil {
		return storeErr("limiter", err)
	}
	if ok {
		return nil
	}
	return a.refuse(ctx, scope, retry, phone)
}

// refuse reports and returns the *RateLimitError of a limit's refusal.
func (a *Authenticator) refuse(ctx context.Context, scope string, retry time.Duration, phone string) error {
	rl := &RateLimitError{Scope: scope, RetryAfter: retry}
	a.emit(ctx, Event{Kind: EventRateLimited, Phone: phone, Scope: scope, Err: rl})
	a.log.InfoContext(ctx, "phoneauth: rate limited", "scope", scope, "phone", MaskPhone(phone), "retry_after", retry)
	return rl
}

// checkCode verifies a code against the challenge under key and consumes
// it. It counts the attempt against the phone's failed-verify budget and
// the challenge's attempts before comparing.
func (a *Authenticator) checkCode(ctx context.Context, key, id string, ph Phone, code, deviceID, ip string) (Challenge, error) {
	ev := Event{Phone: ph.E164, ChallengeID: id, DeviceID: deviceID, IP: ip}
	code, ok := normalizeCode(code, a.cfg.CodeLength)
	if !ok {
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrInvalidOTP))
		return Challenge{}, fmt.Errorf("%w: a code is %d digits", ErrInvalidOTP, a.cfg.CodeLength)
	}
	budget := a.cfg.Limits.FailedVerifies
	budgetKey := limiterPrefix + "verify:" + ph.E164
	if !budget.Off() {
		if err := a.allow(ctx, "verify", budgetKey, budget, ph.E164); err != nil {
			return Challenge{}, err
		}
	}
	c, err := a.store.AttemptChallenge(ctx, key, id, a.clock.Now())
	switch {
	case errors.Is(err, ErrNotFound):
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrVerificationFailed))
		return Challenge{}, ErrVerificationFailed
	case err != nil:
		return Challenge{}, storeErr("attempt challenge", err)
	}
	ev.ChallengeID = c.ID
	if !a.codeMatches(c, code) {
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrInvalidOTP))
		a.log.InfoContext(ctx, "phoneauth: wrong code", "phone", MaskPhone(ph.E164), "challenge", c.ID, "attempt", c.Attempts)
		return Challenge{}, ErrInvalidOTP
	}
	switch err := a.store.DeleteChallenge(ctx, key, c.ID); {
	case errors.Is(err, ErrNotFound): // a concurrent verification won
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrVerificationFailed))
		return Challenge{}, ErrVerificationFailed
	case err != nil:
		return Challenge{}, storeErr("delete challenge", err)
	}
	if !budget.Off() {
		if err := a.limiter.Reset(ctx, budgetKey); err != nil {
			a.log.WarnContext(ctx, "phoneauth: resetting the failed-verify budget failed", "phone", MaskPhone(ph.E164), "err", err)
		}
	}
	a.emit(ctx, with(ev, EventVerified))
	return c, nil
}

// codeMatches compares code with the challenge's stored MAC in constant
// time, under the current secret and then each previous one.
func (a *Authenticator) codeMatches(c Challenge, code string) bool {
	if hmac.Equal(codeMAC(a.cfg.Secret, c.ID, c.Phone, code), c.CodeHash) {
		return true
	}
	for _, s := range a.cfg.PreviousSecrets {
		if hmac.Equal(codeMAC(s, c.ID, c.Phone, code), c.CodeHash) {
			return true
		}
	}
	return false
}

// testCode returns the fixed code of an unexpired test number.
func (a *Authenticator) testCode(e164 string, now time.Time) (string, bool) {
	tn, ok := a.cfg.TestNumbers[e164]
	if !ok || !now.Before(tn.Expires) {
		return "", false
	}
	return tn.Code, true
}

// parsePhone parses a number and applies the number policy.
func (a *Authenticator) parsePhone(number, country string) (Phone, error) {
	ph, err := a.phones.parse(number, country)
	if err != nil {
		return Phone{}, err
	}
	if err := a.cfg.Phones.Check(ph); err != nil {
		return Phone{}, err
	}
	return ph, nil
}

// loginKey is the challenge key of a sign-in code.
func loginKey(e164 string) string { return "login:" + e164 }

// linkKey is the challenge key of a signed-in user's phone verification.
func linkKey(userID, e164 string) string { return "link:" + userID + ":" + e164 }

// codeMAC is the stored form of a code: HMAC-SHA-256 under secret, bound to
// the challenge id and the phone.
func codeMAC(secret []byte, id, phone, code string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("phoneauth/otp/v1\x00"))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(phone))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// generateCode returns n uniformly random decimal digits from crypto/rand.
// Bytes of 250 and above are rejected so that byte % 10 has no modulo bias.
func generateCode(n int) string {
	code := make([]byte, 0, n)
	var buf [16]byte
	for len(code) < n {
		rand.Read(buf[:]) // never fails (crypto/rand crashes the program instead)
		for _, b := range buf {
			if b < 250 && len(code) < n {
				code = append(code, '0'+b%10)
			}
		}
	}
	return string(code)
}

// normalizeCode returns code without surrounding spaces if it is exactly n
// ASCII digits.
func normalizeCode(code string, n int) (string, bool) {
	code = strings.TrimSpace(code)
	if len(code) != n {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// newID returns a random identifier: 128 bits in 26 base32 characters.
func newID() string { return rand.Text() }

// ipKey is the per-IP limiter key: the address, or its /64 for IPv6, so
// that one client cannot rotate through its own prefix. An empty ip means
// the caller has none to give: no per-IP limit.
func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:?" + boundedKey(ip)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}

// deviceKey is the per-device limiter key, empty without a device id.
func deviceKey(id string) string {
	if id == "" {
		return ""
	}
	return "device:" + boundedKey(id)
}

// boundedKey keeps client-chosen strings in limiter keys short and text:
// anything longer than 64 bytes, or not valid text (isText), is replaced by
// its SHA-256.
func boundedKey(s string) string {
	if len(s) <= 64 && isText(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The client's strings that reach the Store, Users or Limiter (ids, device
// details, metadata) are text: valid UTF-8 without NUL bytes, which every
// backend can keep (PostgreSQL's text and jsonb refuse NUL). Others are
// refused with ErrInvalidRequest before the store is asked, the same with
// every backend.

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// A textField is a named input for checkText.
type textField struct{ name, value string }

// checkText returns an error matching ErrInvalidRequest, naming the field,
// for the first of fields that is not text.
func checkText(fields ...textField) error {
	for _, f := range fields {
		if !isText(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8 without NUL characters", ErrInvalidRequest, f.name)
		}
	}
	return nil
}

// checkMetadata returns an error matching ErrInvalidRequest if metadata
// cannot be stored: if it does not encode as JSON (a cycle, a function, a
// NaN), or holds a NUL character in a key or a string. Invalid UTF-8 is no
// reason: JSON encoding replaces it, as it does in every backend.
func checkMetadata(m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: metadata does not encode as JSON: %w", ErrInvalidRequest, err)
	}
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return nil // the only way JSON writes a NUL
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil || holdsNUL(v) { // it decodes: json.Marshal wrote it
		return fmt.Errorf("%w: metadata holds a NUL character", ErrInvalidRequest)
	}
	return nil // \u0000 was the text of a string, its backslash escaped
}

// holdsNUL reports whether a decoded JSON value has a NUL in a key or a
// string.
func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}

func with(e Event, k EventKind) Event { e.Kind = k; return e }

func withErr(e Event, k EventKind, err error) Event { e.Kind, e.Err = k, err; return e }

// PhoneVerificationParams are the inputs of StartPhoneVerification and
// ResendPhoneVerification: a signed-in user proving they own a phone.
type PhoneVerificationParams struct {
	// UserID is the signed-in user (from their access token).
	UserID string
	// Phone, Country, DeviceID, IP, Channel and Locale as in RequestParams.
	Phone    string
	Country  string
	DeviceID string
	IP       string
	Channel  Channel
	Locale   string
}

// PhoneVerification describes a phone-verification code that was sent.
// RequestID is the authCode the client returns with the code.
type PhoneVerification struct {
	RequestResult
	// IsNewUser reports that the phone belongs to no user yet.
	IsNewUser bool
}

// ConfirmPhoneParams are the inputs of ConfirmPhone.
type ConfirmPhoneParams struct {
	UserID   string
	Phone    string
	Country  string
	AuthCode string
	Code     string
	IP       string
}

// StartPhoneVerification sends a code to a phone that the signed-in user
// p.UserID wants to verify as theirs (seed 003's register). The result's
// RequestID is the authCode to return with the code; IsNewUser reports that
// the phone belongs to no user yet. Limits, cooldown and code rules are
// those of Request.
func (a *Authenticator) StartPhoneVerification(ctx context.Context, p PhoneVerificationParams) (PhoneVerification, error) {
	return a.startLink(ctx, p, false)
}

// ResendPhoneVerification sends a new code for the user's pending phone
// verification, replacing the old one (and its authCode). With nothing
// pending it returns ErrNoPendingCode.
func (a *Authenticator) ResendPhoneVerification(ctx context.Context, p PhoneVerificationParams) (PhoneVerification, error) {
	return a.startLink(ctx, p, true)
}

func (a *Authenticator) startLink(ctx context.Context, p PhoneVerificationParams, resend bool) (PhoneVerification, error) {
	if p.UserID == "" {
		return PhoneVerification{}, fmt.Errorf("%w: no user id", ErrInvalidRequest)
	}
	if err := checkText(textField{"UserID", p.UserID}); err != nil {
		return PhoneVerification{}, err
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return PhoneVerification{}, err
	}
	isNew := false
	switch _, err := a.users.UserByPhone(ctx, ph.E164); {
	case errors.Is(err, ErrNotFound):
		isNew = true
	case err != nil:
		return PhoneVerification{}, storeErr("find user", err)
	}
	r, err := a.issue(ctx, issueParams{
		RequestParams: RequestParams{Phone: p.Phone, Country: p.Country, DeviceID: p.DeviceID, IP: p.IP, Channel: p.Channel, Locale: p.Locale},
		key:           linkKey(p.UserID, ph.E164),
		phone:         ph,
		userID:        p.UserID,
		resend:        resend,
	})
	if err != nil {
		return PhoneVerification{}, err
	}
	return PhoneVerification{RequestResult: r, IsNewUser: isNew}, nil
}

// ConfirmPhone checks a phone-verification code (with its authCode) and
// records the phone as the verified phone of p.UserID. Code errors are
// those of Verify; a phone verified for another user in the meantime is
// ErrPhoneTaken; a user unknown to Users is ErrInvalidToken.
func (a *Authenticator) ConfirmPhone(ctx context.Context, p ConfirmPhoneParams) error {
	if p.UserID == "" {
		return fmt.Errorf("%w: no user id", ErrInvalidRequest)
	}
	if p.AuthCode == "" {
		return fmt.Errorf("%w: no authCode", ErrVerificationFailed)
	}
	if err := checkText(textField{"UserID", p.UserID}, textField{"AuthCode", p.AuthCode}); err != nil {
		return err
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return err
	}
	if _, err := a.checkCode(ctx, linkKey(p.UserID, ph.E164), p.AuthCode, ph, p.Code, "", p.IP); err != nil {
		return err
	}
	switch err := a.users.SetPhone(ctx, p.UserID, ph.E164); {
	case errors.Is(err, ErrPhoneTaken):
		return err
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: unknown user", ErrInvalidToken)
	case err != nil:
		return storeErr("set phone", err)
	}
	a.emit(ctx, Event{Kind: EventPhoneVerified, Phone: ph.E164, UserID: p.UserID, ChallengeID: p.AuthCode, IP: p.IP})
	return nil
}

// Development reports whether the Authenticator returns codes in results.
func (a *Authenticator) Development() bool { return a.cfg.Development }

// CodeLength reports the number of digits of a code.
func (a *Authenticator) CodeLength() int { return a.cfg.CodeLength }
