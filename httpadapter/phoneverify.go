package httpadapter

import (
	"context"
	"net/http"

	"github.com/phoneauth/phoneauth"
)

// The phone-verification routes let a signed-in user (their access token in
// "user-jwt-token" or "Authorization: Bearer") prove they own a phone
// number: register sends a code and returns an authCode, verify checks the
// code with the authCode, resend sends a new code. They answer in the bare
// shapes their clients expect, without the envelope.

// phoneFields names the inputs of the phone verification as the bodies of
// its routes do.
var phoneFields = fieldNames{"Phone": "phone_number", "Country": "countryCode", "AuthCode": "authCode", "Code": "otp"}

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

func (b *phoneBody) decodeFast(l *jsonLexer) bool {
	return l.object(func(key []byte) bool {
		switch string(key) {
		case "phone_number":
			return l.string(&b.PhoneNumber)
		case "countryCode":
			return l.string(&b.CountryCode)
		case "authCode":
			return l.stringOrNumber(&b.AuthCode)
		case "otp":
			return l.stringOrNumber(&b.OTP)
		}
		return false
	})
}

// authCodeData is the response of register and resend.
type authCodeData struct {
	AuthCode  string `json:"authCode"`
	IsNewUser bool   `json:"isNewUser"`
	OTP       string `json:"otp,omitempty"` // development mode only
}

func (d authCodeData) appendJSON(b []byte) []byte {
	o := beginObject(b)
	o.string("authCode", d.AuthCode)
	o.bool("isNewUser", d.IsNewUser)
	o.stringOmitEmpty("otp", d.OTP)
	return o.end()
}

// messageData is the response of verify.
type messageData struct {
	Message string `json:"message"`
}

func (d messageData) appendJSON(b []byte) []byte {
	o := beginObject(b)
	o.string("message", d.Message)
	return o.end()
}

// phoneSendFunc is StartPhoneVerification or ResendPhoneVerification.
type phoneSendFunc func(context.Context, phoneauth.PhoneVerificationParams) (phoneauth.PhoneVerification, error)

func (h *Handler) servePhoneRegister(w http.ResponseWriter, r *http.Request) {
	h.servePhoneSend(w, r, h.auth.StartPhoneVerification)
}

func (h *Handler) servePhoneResend(w http.ResponseWriter, r *http.Request) {
	h.servePhoneSend(w, r, h.auth.ResendPhoneVerification)
}

// servePhoneSend serves register and resend.
func (h *Handler) servePhoneSend(w http.ResponseWriter, r *http.Request, send phoneSendFunc) {
	c, ok := h.user(w, r)
	if !ok {
		return
	}
	var b phoneBody
	if p := h.decode(w, r, &b); p != nil {
		h.writeError(w, r, styleBare, p)
		return
	}
	if p := firstProblem(
		requiredIf(b.PhoneNumber == "", "phone_number"),
		inputProblem(phoneauth.CheckPhoneInput(b.PhoneNumber, b.CountryCode), phoneFields),
	); p != nil {
		h.writeError(w, r, styleBare, p)
		return
	}
	v, err := send(r.Context(), phoneauth.PhoneVerificationParams{
		UserID:  c.Subject,
		Phone:   b.PhoneNumber,
		Country: b.CountryCode,
		// The signed-in session stands for the device in the per-device
		// limit.
		DeviceID: "session:" + c.SessionID,
		IP:       h.clientIP(r),
		Locale:   locale("", r),
	})
	if err != nil {
		h.fail(w, r, styleBare, err, phoneFields)
		return
	}
	h.writeJSON(w, r, http.StatusOK, authCodeData{AuthCode: v.RequestID, IsNewUser: v.IsNewUser, OTP: v.Code}.appendJSON)
}

// servePhoneVerify serves verify.
func (h *Handler) servePhoneVerify(w http.ResponseWriter, r *http.Request) {
	c, ok := h.user(w, r)
	if !ok {
		return
	}
	var b phoneBody
	if p := h.decode(w, r, &b); p != nil {
		h.writeError(w, r, styleBare, p)
		return
	}
	if p := firstProblem(
		requiredIf(b.PhoneNumber == "", "phone_number"),
		inputProblem(phoneauth.CheckPhoneInput(b.PhoneNumber, b.CountryCode), phoneFields),
		requiredIf(b.AuthCode.String() == "", "authCode"),
		requiredIf(b.OTP.String() == "", "otp"),
	); p != nil {
		h.writeError(w, r, styleBare, p)
		return
	}
	err := h.auth.ConfirmPhone(r.Context(), phoneauth.ConfirmPhoneParams{
		UserID:       c.Subject,
		Phone:        b.PhoneNumber,
		Country:      b.CountryCode,
		AuthCode:     b.AuthCode.String(),
		Code:         b.OTP.text,
		CodeIsNumber: b.OTP.number,
		IP:           h.clientIP(r),
	})
	if err != nil {
		h.fail(w, r, styleBare, err, phoneFields)
		return
	}
	h.writeJSON(w, r, http.StatusOK, messageData{Message: h.message(MessagePhoneVerified, "")}.appendJSON)
}

// user returns the claims that requireUser put in the context, or answers
// 401 if there are none (a route mounted without requireUser).
func (h *Handler) user(w http.ResponseWriter, r *http.Request) (*phoneauth.Claims, bool) {
	c, ok := ClaimsFromContext(r.Context())
	if !ok {
		h.writeError(w, r, styleBare, &problem{status: http.StatusUnauthorized, code: CodeUnauthorized})
	}
	return c, ok
}
