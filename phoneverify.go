package phoneauth

import (
	"context"
	"errors"
	"fmt"
)

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
	// Code and CodeIsNumber as in VerifyParams.
	Code         string
	CodeIsNumber bool
	IP           string
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
	if err := checkConfirmPhoneInput(p); err != nil {
		return err
	}
	if p.AuthCode == "" {
		return fmt.Errorf("%w: no authCode", ErrVerificationFailed)
	}
	ph, err := a.parsePhone(p.Phone, p.Country)
	if err != nil {
		return err
	}
	if err := a.allowAddress(ctx, "verify-ip", parseClientAddr(p.IP), a.cfg.Limits.VerifyPerIP, ph.E164); err != nil {
		return err
	}
	if _, err := a.checkCode(ctx, linkKey(p.UserID, ph.E164), p.AuthCode, ph, typedCode{p.Code, p.CodeIsNumber}, "", p.IP); err != nil {
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
