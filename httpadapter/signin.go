package httpadapter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
)

// requestFields names the inputs of Request and Resend as the body of
// /otp/request and /otp/resend does.
var requestFields = fieldNames{"Phone": "phone", "Country": "country", "DeviceID": "deviceId", "Channel": "channel", "Metadata": "metadata"}

// requestFieldsWithData is requestFields for a body whose metadata came
// as "data".
var requestFieldsWithData = fieldNames{"Phone": "phone", "Country": "country", "DeviceID": "deviceId", "Channel": "channel", "Metadata": "data"}

// verifyFields names the inputs of Verify as the body of /otp/verify does.
var verifyFields = fieldNames{
	"Phone": "otpInfo.phone", "Country": "otpInfo.country", "RequestID": "requestId",
	"Device.ID": "deviceInfo.deviceId", "Device.Type": "deviceInfo.deviceType", "Device.Name": "deviceInfo.deviceName",
	"Device.PlatformVersion": "deviceInfo.platformVersion", "Device.PushToken": "deviceInfo.fcmToken",
}

// requestBody is the body of /otp/request and /otp/resend: seed 000's
// phone, country and deviceId, or seed 002's (GoTrue's) phone,
// create_user and data.
type requestBody struct {
	Phone   string `json:"phone"`
	Country string `json:"country"`
	// DeviceID is optional: without it the per-device limit does not
	// apply (the per-phone and per-address limits do), and the code is
	// verified without a device too (see verifyBody).
	DeviceID string `json:"deviceId"`
	Channel  string `json:"channel"`
	// CreateUser is also accepted as create_user. It matters only under
	// phoneauth.SignupWithCreateUser (see phoneauth.Config.Signup).
	CreateUser      bool `json:"createUser"`
	CreateUserSnake bool `json:"create_user"`
	// Metadata is also accepted as data, GoTrue's name; metadata wins when
	// both are sent.
	Metadata     map[string]any `json:"metadata"`
	Data         map[string]any `json:"data"`
	CaptchaToken string         `json:"captchaToken"`
	// Locale, if empty, comes from Accept-Language.
	Locale string `json:"locale"`
}

// codeData is the data of a sent code.
type codeData struct {
	RequestID   string `json:"requestId"`
	MaskedPhone string `json:"maskedPhone"`
	Channel     string `json:"channel"`
	ExpiresIn   int64  `json:"expiresIn"`   // seconds
	ResendAfter int64  `json:"resendAfter"` // seconds
	MessageID   string `json:"messageId,omitempty"`
	OTP         string `json:"otp,omitempty"` // development mode only
}

// sendFunc is Authenticator.Request or Resend.
type sendFunc func(context.Context, phoneauth.RequestParams) (phoneauth.RequestResult, error)

func (h *Handler) serveRequest(w http.ResponseWriter, r *http.Request) (any, *problem) {
	return h.serveSend(w, r, h.auth.Request)
}

func (h *Handler) serveResend(w http.ResponseWriter, r *http.Request) (any, *problem) {
	return h.serveSend(w, r, h.auth.Resend)
}

// serveSend serves /otp/request and /otp/resend.
func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request, send sendFunc) (any, *problem) {
	var b requestBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	if p := firstProblem(
		requiredIf(b.Phone == "", "phone"),
		inputProblem(phoneauth.CheckPhoneInput(b.Phone, b.Country), requestFields),
	); p != nil {
		return nil, p
	}
	fields := requestFields
	if b.Metadata == nil && b.Data != nil {
		b.Metadata, fields = b.Data, requestFieldsWithData
	}
	res, err := send(r.Context(), phoneauth.RequestParams{
		Phone:        b.Phone,
		Country:      b.Country,
		DeviceID:     b.DeviceID,
		IP:           h.clientIP(r),
		Channel:      phoneauth.Channel(strings.ToLower(strings.TrimSpace(b.Channel))),
		CreateUser:   b.CreateUser || b.CreateUserSnake,
		Metadata:     b.Metadata,
		CaptchaToken: b.CaptchaToken,
		Locale:       locale(b.Locale, r),
	})
	if err != nil {
		return nil, problemFor(err, fields)
	}
	return codeData{
		RequestID:   res.RequestID,
		MaskedPhone: res.MaskedPhone,
		Channel:     string(res.Channel),
		ExpiresIn:   seconds(res.ExpiresIn),
		ResendAfter: seconds(res.ResendAfter),
		MessageID:   res.MessageID,
		OTP:         res.Code,
	}, nil
}

// verifyBody is the body of /otp/verify.
type verifyBody struct {
	OTPInfo *otpInfo `json:"otpInfo"`
	// DeviceInfo names the device the session will belong to. Its deviceId
	// must be the one the code was requested with: a code requested without
	// a deviceId (seed 002) is verified without one (no deviceInfo, or no
	// deviceId in it).
	DeviceInfo deviceInfo `json:"deviceInfo"`
	// RequestID, if set (here or in otpInfo), must name the newest code.
	RequestID string `json:"requestId"`
}

type otpInfo struct {
	Phone     string         `json:"phone"`
	OTP       stringOrNumber `json:"otp"`
	Country   string         `json:"country"`
	RequestID string         `json:"requestId"`
}

// deviceInfo is the client device of /otp/verify.
type deviceInfo struct {
	ID              string `json:"deviceId"`
	Type            string `json:"deviceType"`
	Name            string `json:"deviceName"`
	PlatformVersion string `json:"platformVersion"`
	PushToken       string `json:"fcmToken"`
}

// serveVerify serves /otp/verify.
func (h *Handler) serveVerify(w http.ResponseWriter, r *http.Request) (any, *problem) {
	var b verifyBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	var p *problem
	switch {
	case b.OTPInfo == nil:
		p = required("otpInfo")
	default:
		p = firstProblem(
			requiredIf(b.OTPInfo.Phone == "", "otpInfo.phone"),
			requiredIf(b.OTPInfo.OTP.String() == "", "otpInfo.otp"),
			inputProblem(phoneauth.CheckPhoneInput(b.OTPInfo.Phone, b.OTPInfo.Country), verifyFields),
		)
	}
	if p != nil {
		return nil, p
	}
	requestID := b.RequestID
	if requestID == "" {
		requestID = b.OTPInfo.RequestID
	}
	in, err := h.auth.Verify(r.Context(), phoneauth.VerifyParams{
		Phone:        b.OTPInfo.Phone,
		Country:      b.OTPInfo.Country,
		RequestID:    requestID,
		Code:         b.OTPInfo.OTP.text,
		CodeIsNumber: b.OTPInfo.OTP.number,
		Device:       phoneauth.Device(b.DeviceInfo),
		IP:           h.clientIP(r),
	})
	if err != nil {
		return nil, problemFor(err, verifyFields)
	}
	return newSignInData(in), nil
}

// signInData is the data of a verification or a refresh.
type signInData struct {
	Token            tokenData `json:"token"`
	User             userData  `json:"user"`
	ExpiresIn        int64     `json:"expiresIn"`        // of the access token, seconds
	RefreshExpiresIn int64     `json:"refreshExpiresIn"` // of the refresh token, seconds
}

type tokenData struct {
	AccessToken   string     `json:"accessToken"`
	RefreshToken  string     `json:"refreshToken"`
	TokenType     string     `json:"tokenType"`
	CurrentDevice deviceData `json:"currentDevice"`
}

// deviceData is a device session as its owner sees it.
type deviceData struct {
	ID              string `json:"id"` // the session id
	DeviceID        string `json:"deviceId"`
	DeviceType      string `json:"deviceType,omitempty"`
	DeviceName      string `json:"deviceName,omitempty"`
	PlatformVersion string `json:"platformVersion,omitempty"`
	CreatedAt       string `json:"createdAt"` // RFC 3339, UTC, to the millisecond
	ExpiresAt       string `json:"expiresAt"`
}

type userData struct {
	ID        string `json:"id"`
	Phone     string `json:"phone"`
	IsNewUser bool   `json:"isNewUser"`
}

func newSignInData(in phoneauth.SignIn) signInData {
	s := in.Session
	issued := s.RefreshedAt // when these tokens were issued
	if issued.IsZero() {
		issued = s.CreatedAt
	}
	return signInData{
		Token: tokenData{
			AccessToken:  in.Tokens.AccessToken,
			RefreshToken: in.Tokens.RefreshToken,
			TokenType:    "Bearer",
			CurrentDevice: deviceData{
				ID:              s.ID,
				DeviceID:        s.Device.ID,
				DeviceType:      s.Device.Type,
				DeviceName:      s.Device.Name,
				PlatformVersion: s.Device.PlatformVersion,
				CreatedAt:       jsonTime(s.CreatedAt),
				ExpiresAt:       jsonTime(s.ExpiresAt),
			},
		},
		User:             userData{ID: in.User.ID, Phone: in.User.Phone, IsNewUser: in.IsNewUser},
		ExpiresIn:        seconds(in.Tokens.AccessExpiresAt.Sub(issued)),
		RefreshExpiresIn: seconds(in.Tokens.RefreshExpiresAt.Sub(issued)),
	}
}

// jsonTime is t in UTC, truncated to the millisecond, as time.Time's
// MarshalJSON writes it (RFC 3339 with as many digits of the second as it
// takes), without the second pass encoding/json gives a Marshaler's output.
func jsonTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

// refreshBody is the body of /token/refresh and /logout.
type refreshBody struct {
	RefreshToken string `json:"refreshToken"`
}

// serveRefresh serves /token/refresh.
func (h *Handler) serveRefresh(w http.ResponseWriter, r *http.Request) (any, *problem) {
	var b refreshBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	if b.RefreshToken == "" {
		return nil, required("refreshToken")
	}
	in, err := h.auth.Refresh(r.Context(), phoneauth.RefreshParams{RefreshToken: b.RefreshToken, IP: h.clientIP(r)})
	if err != nil {
		return nil, problemFor(err, nil)
	}
	return newSignInData(in), nil
}

// serveLogout serves /logout: it ends the session of the refresh token in
// the body or, without one, the session of the access token in the
// Authorization header (a session that has ended already is no error then).
// A 401 without credentials, or for a bad bearer token, carries the
// WWW-Authenticate challenge of RFC 6750, as RequireAuth's do.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) (any, *problem) {
	var b refreshBody
	if p := h.decode(w, r, &b); p != nil {
		return nil, p
	}
	var err error
	switch access := accessToken(r); {
	case b.RefreshToken != "":
		err = h.auth.Logout(r.Context(), b.RefreshToken)
	case access != "":
		var c *phoneauth.Claims
		if c, err = h.auth.ValidateAccessToken(r.Context(), access); err == nil {
			err = h.auth.RevokeSession(r.Context(), c.Subject, c.SessionID)
			if errors.Is(err, phoneauth.ErrNotFound) {
				err = nil
			}
		} else if errors.Is(err, phoneauth.ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
	default:
		w.Header().Set("WWW-Authenticate", "Bearer")
		return nil, &problem{status: http.StatusUnauthorized, code: CodeUnauthorized,
			detail: "refreshToken or an Authorization: Bearer access token is required"}
	}
	if err != nil {
		return nil, problemFor(err, nil)
	}
	return struct{}{}, nil
}

// serveJWKS serves the key set, cacheable for five minutes and with an
// ETag.
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) {
	serveDocument(w, r, h.jwks, h.jwksETag)
}

// serveOpenAPI serves the OpenAPI document.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	serveDocument(w, r, h.openAPI, etag(h.openAPI))
}

// serveDocument serves a public JSON document that changes only on a
// restart.
func serveDocument(w http.ResponseWriter, r *http.Request, doc []byte, tag string) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "public, max-age=300")
	hdr.Set("ETag", tag)
	if etagMatch(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr["X-Content-Type-Options"] = nosniff
	hdr.Set("Content-Length", strconv.Itoa(len(doc)))
	_, _ = w.Write(doc)
}

// etag is a strong entity tag of b.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// etagMatch reports whether an If-None-Match header names tag.
func etagMatch(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

// locale returns the body's locale or else the first language of
// Accept-Language.
func locale(body string, r *http.Request) string {
	l := body
	if l == "" {
		l, _, _ = strings.Cut(r.Header.Get("Accept-Language"), ",")
		l, _, _ = strings.Cut(l, ";")
	}
	l = strings.TrimSpace(l)
	if l == "*" || len(l) > 35 { // BCP 47 tags are short
		return ""
	}
	return l
}

// seconds rounds d up to whole seconds, at least 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// requiredIf is required(field) if missing, or nil.
func requiredIf(missing bool, field string) *problem {
	if missing {
		return required(field)
	}
	return nil
}

// firstProblem returns the first non-nil problem.
func firstProblem(ps ...*problem) *problem {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}
