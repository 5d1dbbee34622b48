package phoneauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RequestParams are the inputs of Request and Resend.
type RequestParams struct {
	// Phone is the number as the user typed it; Country is an ISO 3166-1
	// alpha-2 code ("PK") or a calling code ("+92", "92"), and may be empty
	// when Phone starts with "+".
	Phone   string
	Country string
	// DeviceID identifies the client device, for the per-device limit.
	DeviceID string
	// IP is the client's address, for the per-address limits. Required:
	// NoIP says the caller has none (the per-address limits then do not
	// apply); an address that does not parse shares one bucket with every
	// other such address.
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
	// RequestID identifies the challenge: Verify and
	// ConfirmPhoneVerification may be given it to name this code.
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
	// Code is the code the user typed. Surrounding spaces are ignored.
	Code string
	// CodeIsNumber says that Code is the code's numeric value rather than
	// its text, as from a client that sent the code as a JSON number: its
	// leading zeros are lost, and Verify restores them.
	CodeIsNumber bool
	// Device is the client the session will belong to. Its ID must be the
	// DeviceID the code was requested with (empty if none was named): a
	// code belongs to the device that asked for it.
	Device Device
	// IP is the client's address, as in RequestParams. Required.
	IP string
}

// SignIn is the result of a verification or a refresh.
type SignIn struct {
	User      User
	IsNewUser bool
	Session   Session
	Tokens    Tokens
}

// Request sends a new code to a phone, replacing any code pending for it
// on the same device (p.DeviceID; a code belongs to the device that
// requested it, and only the newest code of a phone per device is valid).
//
// It normalises the phone (ErrInvalidPhone) and applies the number policy
// (ErrPhoneNotAllowed), the captcha (ErrCaptchaFailed), and the cooldown,
// per-IP, per-device, per-phone and global limits (a *RateLimitError). The
// code is stored only as a keyed hash; if the Sender fails the code is
// deleted, can never be verified, and the error matches ErrSendFailed.
//
// Request answers the same whether or not the phone has an account: the
// signup policy is applied by Verify, to the phone's owner only.
func (a *Authenticator) Request(ctx context.Context, p RequestParams) (_ RequestResult, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "request", a.start(), &err)
	return a.requestCode(ctx, p, false)
}

// Resend sends a new code to a phone that has one pending for the same
// device, replacing it.
// The limits and the cooldown are those of Request; with nothing pending
// (never requested, expired, or already used) it returns ErrNoPendingCode,
// and counts as a request of p.IP for the per-address limit (a
// *RateLimitError once that is spent), since the answer tells whether a
// code is pending.
// An empty Channel keeps the pending code's channel.
func (a *Authenticator) Resend(ctx context.Context, p RequestParams) (_ RequestResult, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "resend", a.start(), &err)
	return a.requestCode(ctx, p, true)
}

// requestCode is Request or Resend: it checks the input, parses the phone
// and issues a sign-in code.
func (a *Authenticator) requestCode(ctx context.Context, p RequestParams, resend bool) (RequestResult, error) {
	if err := checkRequestInput(p); err != nil {
		return RequestResult{}, err
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return RequestResult{}, err
	}
	return a.issue(ctx, issueParams{RequestParams: p, key: loginKey(ph.E164, p.DeviceID), phone: ph, resend: resend})
}

// Verify checks a code and signs the user in: it resolves the phone to a
// user (creating one if the signup policy allows), starts a device session
// and issues its tokens.
//
// It checks the code requested from the same device (p.Device.ID; none
// for none): another device's code is not found. The attempt is counted
// before the code is compared, so concurrent guesses cannot exceed
// MaxAttempts, and a code verifies at most once. A wrong code is
// ErrInvalidOTP and spends one of the phone's failed-verify budget;
// nothing to verify (none pending for this device, expired, used, attempts
// exhausted, a RequestID that is not the newest) is ErrVerificationFailed
// and spends nothing of the phone's; an exhausted failed-verify budget, or
// the per-address verification limit, is a *RateLimitError.
//
// A right code is consumed last, once its user is resolved and its session
// created, so that a verification answered ErrStoreUnavailable has used up
// nothing: the code, the per-address limit and the failed-verify budget
// are as before it (only its attempt stays counted), and the retry with
// the same code can succeed. (A store that fails after it consumed, such
// as a deadline that fires after the write, cannot promise that: see
// docs/operations.md. A RouteStore gives the same promise for its one
// VerifyChallenge call.) Of concurrent verifications of one right code, the
// one that consumes it signs in; the others' sessions are deleted and they
// get ErrVerificationFailed.
func (a *Authenticator) Verify(ctx context.Context, p VerifyParams) (_ SignIn, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "verify", a.start(), &err)
	if err := checkVerifyInput(p); err != nil {
		return SignIn{}, err
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return SignIn{}, err
	}
	if a.store.routes != nil {
		return a.verifyByRoute(ctx, p, ph)
	}
	charged, err := a.allowAddress(ctx, "verify-ip", parseClientAddr(p.IP), a.cfg.Limits.VerifyPerIP, ph.E164)
	if err != nil {
		return SignIn{}, err
	}
	defer a.refundOnOutage(ctx, &charged, &err)
	v, err := a.checkCode(ctx, loginKey(ph.E164, p.Device.ID), p.RequestID, ph, typedCode{p.Code, p.CodeIsNumber}, p.Device.ID, p.IP, &charged)
	if err != nil {
		return SignIn{}, err
	}
	u, isNew, err := a.resolveUser(ctx, v.c)
	if errors.Is(err, ErrSignupNotAllowed) {
		// The code was right: it is used up all the same.
		if err := a.consume(ctx, v); err != nil {
			return SignIn{}, err
		}
		return SignIn{}, ErrSignupNotAllowed
	}
	if err != nil {
		return SignIn{}, err
	}
	s, t, err := a.startSession(ctx, u, p.Device)
	if err != nil {
		return SignIn{}, err
	}
	if err := a.consume(ctx, v); err != nil {
		a.dropSession(ctx, s)
		return SignIn{}, err
	}
	a.emit(ctx, Event{Kind: EventSignedIn, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: p.Device.ID})
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

// issue creates, stores and sends a new code for a challenge key. The
// caller has checked the input. The steps run in this order, and the first
// failure ends the request: pick the channel, check the captcha, apply the sending
// limits, store the new challenge, send its code. If storing or sending
// fails, the limits get their events back (see refund).
func (a *Authenticator) issue(ctx context.Context, p issueParams) (RequestResult, error) {
	ch, pendingID, err := a.channel(ctx, p)
	if err != nil {
		return RequestResult{}, err
	}
	// A signed-in user's phone verification has a live session for its
	// proof of a human, and no captcha token to give.
	if !a.cfg.CaptchaOnlyOverLimit && p.userID == "" {
		if err := a.checkCaptcha(ctx, p.CaptchaToken, p.IP); err != nil {
			return RequestResult{}, err
		}
	}
	c, code, testNumber := a.newChallenge(p, ch, pendingID)
	var put *Challenge // stored with the limits' decision, by a RouteStore
	if a.store.routes != nil {
		put = &c
	}
	charged, err := a.allowSend(ctx, p, parseClientAddr(p.IP), put)
	if err != nil {
		return RequestResult{}, err
	}
	if put == nil {
		if err := a.store.PutChallenge(ctx, c); err != nil {
			a.refund(ctx, charged)
			return RequestResult{}, storeErr("put challenge", err)
		}
	}
	sent, err := a.sendCode(ctx, c, code, testNumber, p)
	if err != nil {
		a.refund(ctx, charged)
		return RequestResult{}, err
	}
	r := RequestResult{
		RequestID:   c.ID,
		Phone:       c.Phone,
		MaskedPhone: MaskPhone(c.Phone),
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

// channel returns the channel of a new code: the one asked for, else (for
// a resend) the pending code's, else Config.DefaultChannel; and for a
// resend the ID of the pending challenge, which the new one must not reuse.
// A resend with nothing pending is ErrNoPendingCode.
func (a *Authenticator) channel(ctx context.Context, p issueParams) (ch Channel, pendingID string, err error) {
	ch = p.Channel
	if p.resend {
		pending, err := a.store.GetChallenge(ctx, p.key, a.clock.Now())
		switch {
		case errors.Is(err, ErrNotFound):
			return "", "", a.noPendingCode(ctx, p)
		case err != nil:
			return "", "", storeErr("get challenge", err)
		}
		if ch == "" {
			ch = pending.Channel
		}
		pendingID = pending.ID
	}
	if ch == "" {
		ch = a.cfg.DefaultChannel
	}
	return ch, pendingID, nil
}

// noPendingCode is the error of a resend that finds nothing pending,
// ErrNoPendingCode. Sending nothing, it still tells whether a code is
// pending, so it counts as a request of the client's address
// (Limits.PerIP, with the IPv6 aggregates): one address cannot probe phone
// after phone for pending codes without limit. Over that limit it is the
// *RateLimitError any request of the address gets.
func (a *Authenticator) noPendingCode(ctx context.Context, p issueParams) error {
	if _, err := a.allowAddress(ctx, "ip", parseClientAddr(p.IP), a.cfg.Limits.PerIP, p.phone.E164); err != nil {
		return err
	}
	return ErrNoPendingCode
}

// checkCaptcha asks Config.Captcha, if set, about a request's token. An
// error that is neither ErrCaptchaFailed nor ErrCaptchaUnavailable is
// wrapped as ErrCaptchaUnavailable.
func (a *Authenticator) checkCaptcha(ctx context.Context, token, ip string) error {
	if a.cfg.Captcha == nil {
		return nil
	}
	err := a.cfg.Captcha.VerifyCaptcha(ctx, token, ip)
	if err != nil && !errors.Is(err, ErrCaptchaFailed) && !errors.Is(err, ErrCaptchaUnavailable) {
		err = fmt.Errorf("%w: %w", ErrCaptchaUnavailable, err)
	}
	return err
}

// newChallenge returns a new challenge for p on channel ch, with its code
// in clear: the fixed code of a test number (testNumber true), or a random
// one. Its ID differs from pendingID, the challenge it replaces.
func (a *Authenticator) newChallenge(p issueParams, ch Channel, pendingID string) (c Challenge, code string, testNumber bool) {
	now := a.clock.Now()
	e164 := p.phone.E164
	code, testNumber = a.testCode(e164, now)
	if !testNumber {
		code = generateCode(a.cfg.CodeLength)
	}
	c = Challenge{
		Key:         p.key,
		ID:          newChallengeID(p.userID, pendingID),
		Phone:       e164,
		UserID:      p.userID,
		Channel:     ch,
		MaxAttempts: a.cfg.MaxAttempts,
		CreateUser:  p.CreateUser,
		Metadata:    p.Metadata,
		CreatedAt:   now,
		ExpiresAt:   now.Add(a.cfg.CodeTTL),
	}
	c.CodeHash = codeMAC(a.cfg.Secret, c.Key, e164, code)
	return c, code, testNumber
}

// sendCode delivers the code of a stored challenge (nothing is sent to a
// test number) and reports the request and its outcome as events and a log
// line.
func (a *Authenticator) sendCode(ctx context.Context, c Challenge, code string, testNumber bool, p issueParams) (Sent, error) {
	ev := Event{Phone: c.Phone, Region: p.phone.Region, ChallengeID: c.ID, UserID: c.UserID, DeviceID: p.DeviceID, IP: p.IP, Channel: c.Channel}
	a.emit(ctx, with(ev, EventCodeRequested))
	sent := Sent{MessageID: "test-number", Channel: c.Channel}
	if !testNumber {
		var err error
		if sent, err = a.deliver(ctx, c, code, p.Locale); err != nil {
			ev.Channel = sent.Channel
			a.emit(ctx, withErr(ev, EventSendFailed, err))
			return Sent{}, err
		}
	}
	ev.MessageID, ev.Channel = sent.MessageID, sent.Channel
	a.emit(ctx, with(ev, EventCodeSent))
	a.log.InfoContext(ctx, "phoneauth: code sent", "phone", MaskPhone(c.Phone), "channel", string(sent.Channel), "challenge", c.ID, "resend", p.resend)
	return sent, nil
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

// A checkedCode is a code that matched its challenge and is not consumed
// yet (see consume).
type checkedCode struct {
	c      Challenge
	key    string
	ph     Phone
	ev     Event      // the verification's events, as far as known
	budget LimitCheck // the failed-verify budget, charged; no Key when off
}

// checkCode checks a code against the challenge under key, without
// consuming it. It counts the attempt on the challenge and then, only if
// there was a live challenge to attempt, on the phone's failed-verify
// budget, before comparing: a verification that finds nothing (another
// device's phone, a phone with nothing pending) touches no per-phone
// count, so that a stranger who sends no code cannot spend the owner's
// budget. The budget's event is added to *charged, for refundOnOutage.
func (a *Authenticator) checkCode(ctx context.Context, key, id string, ph Phone, typed typedCode, deviceID, ip string, charged *[]LimitCheck) (checkedCode, error) {
	ev := Event{Phone: ph.E164, Region: ph.Region, ChallengeID: id, DeviceID: deviceID, IP: ip}
	code, err := a.normalizeCode(ctx, ev, typed)
	if err != nil {
		return checkedCode{}, err
	}
	c, err := a.store.AttemptChallenge(ctx, key, id, a.clock.Now())
	switch {
	case errors.Is(err, ErrNotFound):
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrVerificationFailed))
		return checkedCode{}, ErrVerificationFailed
	case err != nil:
		return checkedCode{}, storeErr("attempt challenge", err)
	}
	ev.ChallengeID = c.ID
	budget := a.failedVerifyBudget(ph.E164)
	if budget.Key != "" {
		if err := a.allow(ctx, "verify", budget.Key, budget.Limit, ph.E164); err != nil {
			return checkedCode{}, err
		}
		*charged = append(*charged, budget)
	}
	if !ChallengeMatches(c, a.codeMACs(key, c.Phone, code)) {
		return checkedCode{}, a.wrongCode(ctx, ev, c)
	}
	return checkedCode{c: c, key: key, ph: ph, ev: ev, budget: budget}, nil
}

// consume uses up a checked code: it deletes its challenge, then settles
// the limits (the budget reset, the guard credited) and reports
// EventVerified. A concurrent verification that consumed it first makes
// it ErrVerificationFailed; a store failure leaves it usable.
func (a *Authenticator) consume(ctx context.Context, v checkedCode) error {
	switch err := a.store.DeleteChallenge(ctx, v.key, v.c.ID); {
	case errors.Is(err, ErrNotFound): // a concurrent verification won
		a.emit(ctx, withErr(v.ev, EventVerifyFailed, ErrVerificationFailed))
		return ErrVerificationFailed
	case err != nil:
		return storeErr("delete challenge", err)
	}
	var resets []string
	if v.budget.Key != "" {
		resets = []string{v.budget.Key}
	}
	a.settleVerified(ctx, v.ph, resets)
	a.emit(ctx, with(v.ev, EventVerified))
	return nil
}

// normalizeCode returns the code typed means, or (emitting the failed
// verification) ErrInvalidOTP if it is no code of Config.CodeLength digits.
func (a *Authenticator) normalizeCode(ctx context.Context, ev Event, typed typedCode) (string, error) {
	code, ok := typed.normalize(a.cfg.CodeLength)
	if !ok {
		a.emit(ctx, withErr(ev, EventVerifyFailed, ErrInvalidOTP))
		return "", fmt.Errorf("%w: a code is %d digits", ErrInvalidOTP, a.cfg.CodeLength)
	}
	return code, nil
}

// failedVerifyBudget is the check of a phone's failed-verify budget
// (prefixed), with an empty key when the budget is off.
func (a *Authenticator) failedVerifyBudget(e164 string) LimitCheck {
	budget := a.cfg.Limits.FailedVerifies
	if budget.Off() {
		return LimitCheck{}
	}
	return LimitCheck{limiterPrefix + "verify:" + e164, budget}
}

// wrongCode reports and returns the error of a wrong code for the attempted
// challenge c.
func (a *Authenticator) wrongCode(ctx context.Context, ev Event, c Challenge) error {
	a.emit(ctx, withErr(ev, EventVerifyFailed, ErrInvalidOTP))
	a.log.InfoContext(ctx, "phoneauth: wrong code", "phone", MaskPhone(c.Phone), "challenge", c.ID, "attempt", c.Attempts)
	return &InvalidOTPError{AttemptsLeft: max(c.MaxAttempts-c.Attempts, 0)}
}

// codeMACs returns the MACs code has for the challenge key and phone under
// the current secret and then each previous one: the stored CodeHash of
// the right code is one of them.
func (a *Authenticator) codeMACs(key, phone, code string) [][]byte {
	macs := make([][]byte, 0, 1+len(a.cfg.PreviousSecrets))
	macs = append(macs, codeMAC(a.cfg.Secret, key, phone, code))
	for _, s := range a.cfg.PreviousSecrets {
		macs = append(macs, codeMAC(s, key, phone, code))
	}
	return macs
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
	if err := CheckPhoneInput(number, country); err != nil {
		return Phone{}, err
	}
	ph, err := a.phones.parse(number, country)
	if err != nil {
		return Phone{}, err
	}
	if err := a.cfg.Phones.Check(ph); err != nil {
		return Phone{}, err
	}
	return ph, nil
}

// loginKey is the challenge key of a sign-in code requested by device
// deviceID: "login:" + E.164, and for a named device "#" and a hash of its
// id. A challenge thus belongs to the device that asked for it: a request
// from another device does not replace it, and a verification from another
// device does not find it. A client that names no device shares the
// device-less key with every other such client of the phone.
func loginKey(e164, deviceID string) string {
	if deviceID == "" {
		return "login:" + e164
	}
	sum := sha256.Sum256([]byte(deviceID))
	return "login:" + e164 + "#" + hex.EncodeToString(sum[:16])
}

// phoneVerificationKey is the challenge key of a signed-in user's phone
// verification.
func phoneVerificationKey(userID, e164 string) string {
	return "phone-verification:" + userID + ":" + e164
}

// codeMAC is the stored form of a code: HMAC-SHA-256 under secret, bound to
// the challenge key (phone and device, or user and phone) and the phone.
// It is bound to what a verification knows before it reads the challenge,
// so that the verification can hand a RouteStore the MACs to compare; only
// the newest challenge of a key is ever stored, so nothing else needs
// telling apart. No one without the secret can compute it, so a stolen
// store reveals no code.
func codeMAC(secret []byte, key, phone, code string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("phoneauth/otp/v2\x00"))
	m.Write([]byte(key))
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

// A typedCode is a code as the user gave it: its text, or (number true)
// its numeric value, which lost the code's leading zeros.
type typedCode struct {
	text   string
	number bool
}

// normalize returns the code of n digits that t stands for: the text
// without surrounding spaces, or the number zero-padded to n digits.
func (t typedCode) normalize(n int) (string, bool) {
	code := strings.TrimSpace(t.text)
	if t.number && len(code) < n {
		code = strings.Repeat("0", n-len(code)) + code
	}
	return normalizeCode(code, n)
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

// authCodeDigits is the length of a phone verification's authCode.
const authCodeDigits = 6

// newChallengeID returns the ID of a new challenge, other than pendingID:
// a random identifier (newID) for a sign-in code; for the phone
// verification of user userID, its authCode, authCodeDigits random digits
// from crypto/rand whose first is not 0, so that a client that sends it
// back as a JSON number (as in seed 003) sends the same text. The authCode
// is short because it need not be secret: see PhoneVerification.
func newChallengeID(userID, pendingID string) string {
	if userID == "" {
		return newID()
	}
	for {
		if c := generateCode(authCodeDigits); c[0] != '0' && c != pendingID {
			return c
		}
	}
}

func with(e Event, k EventKind) Event { e.Kind = k; return e }

func withErr(e Event, k EventKind, err error) Event { e.Kind, e.Err = k, err; return e }
