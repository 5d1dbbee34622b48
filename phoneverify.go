package phoneauth

import (
	"context"
	"errors"
	"fmt"
)

// Phone verification lets a signed-in user prove that a further phone
// number is theirs: StartPhoneVerification sends a code to it,
// ResendPhoneVerification sends a new one, and ConfirmPhoneVerification
// checks the code and records the phone as the user's verified phone.

// PhoneVerificationParams are the inputs of StartPhoneVerification and
// ResendPhoneVerification.
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

// PhoneVerification describes a phone-verification code that was sent. Its
// RequestID goes back with the code to ConfirmPhoneVerification.
type PhoneVerification struct {
	RequestResult
	// IsNewUser reports that the phone belongs to no user yet.
	IsNewUser bool
}

// ConfirmPhoneVerificationParams are the inputs of ConfirmPhoneVerification.
type ConfirmPhoneVerificationParams struct {
	// UserID is the signed-in user who started the verification.
	UserID string
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
}

// StartPhoneVerification sends a code to a phone that the signed-in user
// p.UserID wants to verify as theirs. The result's RequestID goes back with
// the code to ConfirmPhoneVerification; IsNewUser reports that the phone
// belongs to no user yet. Limits, cooldown and code rules are
// those of Request.
func (a *Authenticator) StartPhoneVerification(ctx context.Context, p PhoneVerificationParams) (_ PhoneVerification, err error) {
	defer a.done(ctx, "start_phone_verification", a.start(), &err)
	return a.startPhoneVerification(ctx, p, false)
}

// ResendPhoneVerification sends a new code for the user's pending phone
// verification, replacing the old one (and its RequestID). With nothing
// pending it returns ErrNoPendingCode.
func (a *Authenticator) ResendPhoneVerification(ctx context.Context, p PhoneVerificationParams) (_ PhoneVerification, err error) {
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
// RequestID) and records the phone as the verified phone of p.UserID. Code errors are
// those of Verify; a phone verified for another user in the meantime is
// ErrPhoneTaken; a user unknown to Users is ErrInvalidToken.
func (a *Authenticator) ConfirmPhoneVerification(ctx context.Context, p ConfirmPhoneVerificationParams) (err error) {
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
	if _, err := a.checkCode(ctx, phoneVerificationKey(p.UserID, ph.E164), p.RequestID, ph, typedCode{p.Code, p.CodeIsNumber}, "", p.IP); err != nil {
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
	a.emit(ctx, Event{Kind: EventPhoneVerified, Phone: ph.E164, UserID: p.UserID, ChallengeID: p.RequestID, IP: p.IP})
	return nil
}
