package phoneauth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Phone verification lets a signed-in user prove that a further phone
// number is theirs: StartPhoneVerification sends a code to it,
// ResendPhoneVerification sends a new one, and ConfirmPhoneVerification
// checks the code and records the phone as the user's verified phone.

// PhoneVerificationParams are the inputs of StartPhoneVerification and
// ResendPhoneVerification.
type PhoneVerificationParams struct {
	// UserID is the signed-in user and SessionID their session (both from
	// their access token). Required: the session must be live (not logged
	// out, revoked or expired), and for a user who has a phone already it
	// must have signed in within Config.RecentSignIn.
	UserID    string
	SessionID string
	// Phone, Country, DeviceID, IP, Channel and Locale as in RequestParams.
	Phone    string
	Country  string
	DeviceID string
	IP       string
	Channel  Channel
	Locale   string
}

// PhoneVerification describes a phone-verification code that was sent. Its
// RequestID goes back with the code to ConfirmPhoneVerification.
//
// The RequestID of a phone verification is the seed's "authCode": six
// digits, such as "482915", the first never 0, from crypto/rand, new for
// every code (a resend issues another). It names the pending verification
// of one user and one phone; it is not a secret and does not need to be: the
// verification is found by the signed-in user and the phone, never by the
// authCode, so guessing one leads nowhere. What protects the phone is the
// user's live session (an access token of a session that is not revoked)
// plus the code that only the phone received, whose attempts are capped
// (Config.MaxAttempts per code, Limits.FailedVerifies per phone).
type PhoneVerification struct {
	RequestResult
	// IsNewUser reports that the phone belongs to no user yet.
	IsNewUser bool
}

// ConfirmPhoneVerificationParams are the inputs of ConfirmPhoneVerification.
type ConfirmPhoneVerificationParams struct {
	// UserID is the signed-in user who started the verification, and
	// SessionID their session, as in PhoneVerificationParams.
	UserID    string
	SessionID string
	// Phone and Country as in RequestParams.
	Phone   string
	Country string
	// RequestID is the PhoneVerification's RequestID. Required.
	RequestID string
	// Code and CodeIsNumber as in VerifyParams.
	Code         string
	CodeIsNumber bool
	// IP is the client's address.
	IP string
	// Locale is the client's language, for the notice a phone change sends
	// to the old number.
	Locale string
}

// StartPhoneVerification sends a code to a phone that the signed-in user
// p.UserID wants to verify as theirs. The result's RequestID goes back with
// the code to ConfirmPhoneVerification; IsNewUser reports that the phone
// belongs to no user yet. Limits, cooldown and code rules are
// those of Request.
func (a *Authenticator) StartPhoneVerification(ctx context.Context, p PhoneVerificationParams) (_ PhoneVerification, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "start_phone_verification", a.start(), &err)
	return a.startPhoneVerification(ctx, p, false)
}

// ResendPhoneVerification sends a new code for the user's pending phone
// verification, replacing the old one (and its RequestID). With nothing
// pending it returns ErrNoPendingCode, counted against the address as in
// Resend.
func (a *Authenticator) ResendPhoneVerification(ctx context.Context, p PhoneVerificationParams) (_ PhoneVerification, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "resend_phone_verification", a.start(), &err)
	return a.startPhoneVerification(ctx, p, true)
}

// startPhoneVerification is StartPhoneVerification, or with resend
// ResendPhoneVerification.
func (a *Authenticator) startPhoneVerification(ctx context.Context, p PhoneVerificationParams, resend bool) (PhoneVerification, error) {
	if err := checkPhoneVerificationInput(p); err != nil {
		return PhoneVerification{}, err
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return PhoneVerification{}, err
	}
	if _, err := a.sessionForPhoneChange(ctx, p.UserID, p.SessionID, ph.E164); err != nil {
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
		key:           phoneVerificationKey(p.UserID, ph.E164),
		phone:         ph,
		userID:        p.UserID,
		resend:        resend,
	})
	if err != nil {
		return PhoneVerification{}, err
	}
	return PhoneVerification{RequestResult: r, IsNewUser: isNew}, nil
}

// ConfirmPhoneVerification checks a phone-verification code (with its
// RequestID) and records the phone as the verified phone of p.UserID. Code
// errors are those of Verify; a phone verified for another user in the
// meantime is ErrPhoneTaken; a user unknown to Users, or a session that is
// not live, is ErrInvalidToken; a session signed in longer than
// Config.RecentSignIn ago, for a user who has a phone already, is
// ErrReauthenticationRequired.
//
// When the user had another phone, the change ends every other session of
// the user (a thief's included), the session p.SessionID carries the new
// phone from its next refresh on, the old number is told by a message
// without a code (Config.PhoneChangeTemplates), and EventPhoneChanged is
// reported.
//
// As in Verify, the code is consumed only once the phone is set (and,
// for a change, the other sessions ended and the old number told): a
// confirmation answered ErrStoreUnavailable before that leaves the code
// usable for the retry, and costs no limit.
func (a *Authenticator) ConfirmPhoneVerification(ctx context.Context, p ConfirmPhoneVerificationParams) (err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "confirm_phone_verification", a.start(), &err)
	if err := checkConfirmPhoneVerificationInput(p); err != nil {
		return err
	}
	if p.RequestID == "" {
		return fmt.Errorf("%w: no RequestID", ErrVerificationFailed)
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return err
	}
	s, err := a.sessionForPhoneChange(ctx, p.UserID, p.SessionID, ph.E164)
	if err != nil {
		return err
	}
	charged, err := a.allowAddress(ctx, "verify-ip", parseClientAddr(p.IP), a.cfg.Limits.VerifyPerIP, ph.E164)
	if err != nil {
		return err
	}
	defer a.refundOnOutage(ctx, &charged, &err)
	v, err := a.checkCode(ctx, phoneVerificationKey(p.UserID, ph.E164), p.RequestID, ph, typedCode{p.Code, p.CodeIsNumber}, "", p.IP, &charged)
	if err != nil {
		return err
	}
	// The phone is set, and the change completed, before the code is
	// consumed, so that a store failure leaves the code usable; setting
	// the same phone again is a no-op, and the retry finds the change made.
	set := a.users.SetPhone(ctx, p.UserID, ph.E164)
	if set != nil && !errors.Is(set, ErrPhoneTaken) && !errors.Is(set, ErrNotFound) {
		return storeErr("set phone", set)
	}
	if set == nil && s.Phone != ph.E164 {
		if err := a.completePhoneChange(ctx, p, s, ph.E164); err != nil {
			return err
		}
	}
	if err := a.consume(ctx, v); err != nil {
		return err
	}
	switch {
	case errors.Is(set, ErrPhoneTaken):
		return set
	case errors.Is(set, ErrNotFound):
		return fmt.Errorf("%w: unknown user", ErrInvalidToken)
	}
	a.emit(ctx, Event{Kind: EventPhoneVerified, Phone: ph.E164, UserID: p.UserID, SessionID: s.ID, ChallengeID: p.RequestID, IP: p.IP})
	return nil
}

// completePhoneChange completes the change of the user's phone from the
// session's to phone, which is the user's now: the user's other sessions
// end, s carries phone into its next tokens (one store call, which the
// retry of a failed confirmation finds made: s then has phone), and
// EventPhoneChanged is reported and the old number told.
func (a *Authenticator) completePhoneChange(ctx context.Context, p ConfirmPhoneVerificationParams, s Session, phone string) error {
	if err := a.store.RevokeOtherSessions(ctx, p.UserID, s.ID, phone, a.clock.Now()); err != nil {
		a.log.ErrorContext(ctx, "phoneauth: phone changed, but ending the user's other sessions failed; the code stays usable for the retry", "user", p.UserID, "session", s.ID, "err", err)
		return storeErr("revoke other sessions", err)
	}
	a.emit(ctx, Event{Kind: EventPhoneChanged, Phone: phone, OldPhone: s.Phone, UserID: p.UserID, SessionID: s.ID, IP: p.IP})
	if s.Phone != "" {
		a.notifyPhoneChange(ctx, s.Phone, phone, p.Locale)
	}
	return nil
}

// sessionForPhoneChange returns the session sessionID of userID if it may
// verify phone for the user: it must be live (ErrInvalidToken otherwise),
// and for a user who has another phone it must have signed in within
// Config.RecentSignIn (ErrReauthenticationRequired otherwise).
func (a *Authenticator) sessionForPhoneChange(ctx context.Context, userID, sessionID, phone string) (Session, error) {
	now := a.clock.Now()
	s, err := a.liveSession(ctx, userID, sessionID, now)
	if err != nil {
		return Session{}, err
	}
	if s.Phone != "" && s.Phone != phone && now.Sub(s.CreatedAt) > a.cfg.RecentSignIn {
		return Session{}, fmt.Errorf("%w: signed in %s ago, a phone change needs a sign-in within %s",
			ErrReauthenticationRequired, now.Sub(s.CreatedAt).Round(time.Second), a.cfg.RecentSignIn)
	}
	return s, nil
}

// notifyPhoneChange tells the old number of a user that the account moved
// to newPhone, with a message that carries no code. A failure is logged:
// the change itself is done.
func (a *Authenticator) notifyPhoneChange(ctx context.Context, oldPhone, newPhone, locale string) {
	text, err := a.notices.renderNotice(locale, MaskPhone(newPhone))
	if err == nil {
		_, err = a.sender.Send(ctx, Message{To: oldPhone, Channel: SMS, Text: text, Locale: locale})
	}
	if err != nil {
		a.log.WarnContext(ctx, "phoneauth: telling the old number of a phone change failed", "phone", MaskPhone(oldPhone), "err", err)
	}
}
