package httpadapter

import (
	"context"
	"errors"
	"net/http"

	"github.com/phoneauth/phoneauth"
)

// The phone-verification routes let a signed-in user (their access token in
// "user-jwt-token" or "Authorization: Bearer") prove they own a phone
// number: register sends a code and returns an authCode, verify checks the
// code with the authCode, resend sends a new code (or, with none pending,
// does what register does). They answer in the bare
// shapes their clients expect, without the envelope. They change the
// account, so the token's session must be live (RequireSession: a token of
// a logged-out or revoked session gets 401), and moving an account that
// has a phone to another one needs a sign-in within
// phoneauth.Config.RecentSignIn (403 reauthentication_required).

// phoneFields names the inputs of the phone verification as the bodies of
// its routes do.
var phoneFields = fieldNames{"Phone": "phone_number", "Country": "countryCode", "RequestID": "authCode", "Code": "otp"}

// phoneBody is the body of the phone-verification routes.
type phoneBody struct {
	PhoneNumber string `json:"phone_number"`
	// CountryCode is a calling code ("+91", "91") or an ISO region ("IN");
	// it may be empty when PhoneNumber starts with "+".
	CountryCode string `json:"countryCode"`
	// AuthCode and OTP are verify's; either may be a string or a number.
	AuthCode stringOrNumber `json:"authCode"`
	OTP      stringOrNumber `json:"otp"`
}

// authCodeData is the response of register and resend.
type authCodeData struct {
	AuthCode  string `json:"authCode"`
	IsNewUser bool   `json:"isNewUser"`
	OTP       string `json:"otp,omitempty"` // development mode only
}

// messageData is the response of verify.
type messageData struct {
	Message string `json:"message"`
}

// phoneSendFunc is StartPhoneVerification or ResendPhoneVerification.
type phoneSendFunc func(context.Context, phoneauth.PhoneVerificationParams) (phoneauth.PhoneVerification, error)

func (h *Handler) servePhoneRegister(w http.ResponseWriter, r *http.Request) (any, *problem) {
	return h.servePhoneSend(w, r, h.auth.StartPhoneVerification)
}

func (h *Handler) servePhoneResend(w http.ResponseWriter, r *http.Request) (any, *problem) {
	return h.servePhoneSend(w, r, h.resendOrStart)
}

// resendOrStart is ResendPhoneVerification or, with nothing pending,
// StartPhoneVerification: seed 003's resend answers an authCode and sends
// a code, and has no failure for a verification that was never started
// (or has expired). The limits are register's either way.
func (h *Handler) resendOrStart(ctx context.Context, p phoneauth.PhoneVerificationParams) (phoneauth.PhoneVerification, error) {
	v, err := h.auth.ResendPhoneVerification(ctx, p)
	if errors.Is(err, phoneauth.ErrNoPendingCode) {
		return h.auth.StartPhoneVerification(ctx, p)
	}
	return v, err
}

// servePhoneSend serves register and resend.
func (h *Handler) servePhoneSend(w http.ResponseWriter, r *http.Request, send phoneSendFunc) (any, *problem) {
	c, p := user(r)
	if p != nil {
		return nil, p
	}
	var b phoneBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	if p := firstProblem(
		requiredIf(b.PhoneNumber == "", "phone_number"),
		inputProblem(phoneauth.CheckPhoneInput(b.PhoneNumber, b.CountryCode), phoneFields),
	); p != nil {
		return nil, p
	}
	v, err := send(r.Context(), phoneauth.PhoneVerificationParams{
		UserID:    c.Subject,
		SessionID: c.SessionID,
		Phone:     b.PhoneNumber,
		Country:   b.CountryCode,
		// The signed-in session stands for the device in the per-device
		// limit.
		DeviceID: "session:" + c.SessionID,
		IP:       h.clientIP(r),
		Locale:   locale("", r),
	})
	if err != nil {
		return nil, problemFor(err, phoneFields)
	}
	return authCodeData{AuthCode: v.RequestID, IsNewUser: v.IsNewUser, OTP: v.Code}, nil
}

// servePhoneVerify serves verify.
func (h *Handler) servePhoneVerify(w http.ResponseWriter, r *http.Request) (any, *problem) {
	c, p := user(r)
	if p != nil {
		return nil, p
	}
	var b phoneBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	if p := firstProblem(
		requiredIf(b.PhoneNumber == "", "phone_number"),
		inputProblem(phoneauth.CheckPhoneInput(b.PhoneNumber, b.CountryCode), phoneFields),
		requiredIf(b.AuthCode.String() == "", "authCode"),
		requiredIf(b.OTP.String() == "", "otp"),
	); p != nil {
		return nil, p
	}
	err := h.auth.ConfirmPhoneVerification(r.Context(), phoneauth.ConfirmPhoneVerificationParams{
		UserID:       c.Subject,
		SessionID:    c.SessionID,
		Phone:        b.PhoneNumber,
		Country:      b.CountryCode,
		RequestID:    b.AuthCode.String(),
		Code:         b.OTP.text,
		CodeIsNumber: b.OTP.number,
		IP:           h.clientIP(r),
		Locale:       locale("", r),
	})
	if err != nil {
		return nil, problemFor(err, phoneFields)
	}
	return messageData{Message: h.message(MessagePhoneVerified, "")}, nil
}

// user returns the claims that the route group's authentication put in the
// context, or a 401 if there are none.
func user(r *http.Request) (*phoneauth.Claims, *problem) {
	c, ok := ClaimsFromContext(r.Context())
	if !ok {
		return nil, &problem{status: http.StatusUnauthorized, code: CodeUnauthorized}
	}
	return c, nil
}
