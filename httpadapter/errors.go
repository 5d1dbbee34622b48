package httpadapter

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Error codes: the "code" of an error response, beside its status and
// message. Each phoneauth sentinel error has one (see the table in
// errors.go); the others come from the adapter itself.
const (
	CodeInvalidRequest       = "invalid_request"           // 400 malformed JSON, a wrong type, a missing field: the message says which
	CodeInvalidPhone         = "invalid_phone"             // 400 phoneauth.ErrInvalidPhone
	CodePhoneNotAllowed      = "phone_not_allowed"         // 422 phoneauth.ErrPhoneNotAllowed
	CodeInvalidOTP           = "invalid_otp"               // 400 phoneauth.ErrInvalidOTP
	CodeVerificationFailed   = "verification_failed"       // 401 phoneauth.ErrVerificationFailed
	CodeNoPendingCode        = "no_pending_code"           // 409 phoneauth.ErrNoPendingCode
	CodeSignupNotAllowed     = "signup_not_allowed"        // 403 phoneauth.ErrSignupNotAllowed
	CodePhoneTaken           = "phone_taken"               // 409 phoneauth.ErrPhoneTaken
	CodeCaptchaFailed        = "captcha_failed"            // 403 phoneauth.ErrCaptchaFailed
	CodeCaptchaUnavailable   = "captcha_unavailable"       // 503 phoneauth.ErrCaptchaUnavailable
	CodeRateLimited          = "rate_limited"              // 429 phoneauth.ErrRateLimited, with Retry-After
	CodeRangeThrottled       = "range_throttled"           // 429 phoneauth.ErrRangeThrottled (the conversion guard), with Retry-After
	CodeCaptchaRequired      = "captcha_required"          // 429 phoneauth.ErrCaptchaRequired: over the per-phone limit; send captchaToken now, or wait Retry-After
	CodeSendFailed           = "send_failed"               // 502 phoneauth.ErrSendFailed
	CodeInvalidToken         = "invalid_token"             // 401 phoneauth.ErrInvalidToken: a bad refresh token
	CodeTokenReused          = "token_reused"              // 401 phoneauth.ErrTokenReused: the session was revoked
	CodeReauthRequired       = "reauthentication_required" // 403 phoneauth.ErrReauthenticationRequired: sign in again first
	CodeStoreUnavailable     = "store_unavailable"         // 503 phoneauth.ErrStoreUnavailable
	CodeNotFound             = "not_found"                 // 404 phoneauth.ErrNotFound, or no such route
	CodeUnauthorized         = "unauthorized"              // 401 a missing or invalid access token where one is required
	CodeMethodNotAllowed     = "method_not_allowed"        // 405, with Allow
	CodeBodyTooLarge         = "body_too_large"            // 413
	CodeUnsupportedMediaType = "unsupported_media_type"    // 415
	CodeInternal             = "internal_error"            // 500 anything else (logged; should not happen)
)

// Keys of WithMessages for the success messages.
const (
	// MessageSuccess is the message of every successful envelope.
	MessageSuccess = "success"
	// MessagePhoneVerified is the message of a successful phone
	// verification.
	MessagePhoneVerified = "phone_verified"
)

// errorTable maps every phoneauth sentinel error to its response: the
// first row whose error matches (errors.Is) wins, so more specific rows
// come first (a reused refresh token also matches ErrInvalidToken).
var errorTable = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{phoneauth.ErrTokenReused, http.StatusUnauthorized, CodeTokenReused, "Refresh token reused; the session was revoked"},
	{phoneauth.ErrReauthenticationRequired, http.StatusForbidden, CodeReauthRequired, "Sign in again to change the phone number"},
	{phoneauth.ErrInvalidToken, http.StatusUnauthorized, CodeInvalidToken, "Invalid or expired token"},
	{phoneauth.ErrRangeThrottled, http.StatusTooManyRequests, CodeRangeThrottled, "Too many requests to this number range; try again later"},
	{phoneauth.ErrCaptchaRequired, http.StatusTooManyRequests, CodeCaptchaRequired, "Too many codes for this number; solve the captcha to get another"},
	{phoneauth.ErrRateLimited, http.StatusTooManyRequests, CodeRateLimited, "Too many requests"},
	{phoneauth.ErrInvalidPhone, http.StatusBadRequest, CodeInvalidPhone, "Invalid phone number"},
	{phoneauth.ErrPhoneNotAllowed, http.StatusUnprocessableEntity, CodePhoneNotAllowed, "Phone number not allowed"},
	{phoneauth.ErrInvalidOTP, http.StatusBadRequest, CodeInvalidOTP, "Invalid OTP"},
	{phoneauth.ErrVerificationFailed, http.StatusUnauthorized, CodeVerificationFailed, "OTP verification failed"},
	{phoneauth.ErrNoPendingCode, http.StatusConflict, CodeNoPendingCode, "No pending code; request a new one"},
	{phoneauth.ErrSignupNotAllowed, http.StatusForbidden, CodeSignupNotAllowed, "Sign-up is not allowed"},
	{phoneauth.ErrPhoneTaken, http.StatusConflict, CodePhoneTaken, "Phone number belongs to another account"},
	{phoneauth.ErrCaptchaFailed, http.StatusForbidden, CodeCaptchaFailed, "Captcha verification failed"},
	{phoneauth.ErrCaptchaUnavailable, http.StatusServiceUnavailable, CodeCaptchaUnavailable, "Captcha service unavailable; try again later"},
	{phoneauth.ErrSendFailed, http.StatusBadGateway, CodeSendFailed, "Could not send the code; try again later"},
	{phoneauth.ErrStoreUnavailable, http.StatusServiceUnavailable, CodeStoreUnavailable, "Service temporarily unavailable; try again later"},
	{phoneauth.ErrInvalidRequest, http.StatusBadRequest, CodeInvalidRequest, "Invalid request"},
	{phoneauth.ErrNotFound, http.StatusNotFound, CodeNotFound, "Not found"},
}

// defaultMessages holds the message of every code and message key. It is
// built once and never written.
var defaultMessages = func() map[string]string {
	m := map[string]string{
		CodeUnauthorized:         "UN_AUTHORIZED",
		CodeMethodNotAllowed:     "Method not allowed",
		CodeBodyTooLarge:         "Request body too large",
		CodeUnsupportedMediaType: "Content-Type must be application/json",
		CodeInternal:             "Internal server error",
		MessageSuccess:           "request processed successfully",
		MessagePhoneVerified:     "Phone number verified successfully",
	}
	for _, row := range errorTable {
		m[row.code] = row.message
	}
	return m
}()

// knownMessageKey reports whether WithMessages may override key.
func knownMessageKey(key string) bool {
	_, ok := defaultMessages[key]
	return ok
}

// A problem is an error response in the making.
type problem struct {
	status int
	code   string
	// detail, if set, replaces the default message of the code (unless the
	// caller overrode it).
	detail     string
	retryAfter time.Duration
	// cause is logged for 5xx responses.
	cause error
}

// fieldNames maps the core's names of input fields (phoneauth.InputError's
// Field) to the names of a route's body, such as "Country" to
// "otpInfo.country".
type fieldNames map[string]string

// problemFor maps an error of the Authenticator to its response: a
// *phoneauth.InputError is a 400 that names the field as the route's body
// does (names), any other error goes through errorTable; an unknown error
// is a 500.
func problemFor(err error, names fieldNames) *problem {
	var ie *phoneauth.InputError
	if errors.As(err, &ie) {
		field := names[ie.Field]
		if field == "" {
			field = ie.Field
		}
		return &problem{status: http.StatusBadRequest, code: CodeInvalidRequest, detail: field + " " + ie.Reason, cause: err}
	}
	for _, row := range errorTable {
		if !errors.Is(err, row.err) {
			continue
		}
		p := &problem{status: row.status, code: row.code, cause: err}
		switch row.code {
		case CodeRateLimited, CodeRangeThrottled, CodeCaptchaRequired:
			p.retryAfter = time.Second
			var rl *phoneauth.RateLimitError
			if errors.As(err, &rl) && rl.RetryAfter > p.retryAfter {
				p.retryAfter = rl.RetryAfter
			}
		}
		return p
	}
	return &problem{status: http.StatusInternalServerError, code: CodeInternal, cause: err}
}

// style is the shape of a route's responses.
type style uint8

const (
	// styleEnvelope is {success, message, code, data, timestamp}.
	styleEnvelope style = iota
	// styleBare is the phone-verification routes' {"message", "code"}.
	styleBare
)

// message returns the message for a code or message key, with detail as the
// fallback before the default.
func (h *Handler) message(key, detail string) string {
	if m, ok := h.messages[key]; ok {
		return m
	}
	if detail != "" {
		return detail
	}
	return defaultMessages[key]
}

// writeError answers p in style st, with Retry-After on a 429 and a 503,
// and logs the cause of a 5xx: at debug level for store_unavailable, whose
// outage the Authenticator logs once rather than once per request.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, st style, p *problem) {
	msg := h.message(p.code, p.detail)
	switch {
	case p.status == http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "httpadapter: unexpected error", "method", r.Method, "path", r.URL.Path, "err", p.cause)
	case p.code == CodeStoreUnavailable:
		h.log.DebugContext(r.Context(), "httpadapter: "+msg, "method", r.Method, "path", r.URL.Path, "status", p.status, "err", p.cause)
	case p.status >= 500:
		h.log.WarnContext(r.Context(), "httpadapter: "+msg, "method", r.Method, "path", r.URL.Path, "status", p.status, "err", p.cause)
	}
	switch p.status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(p.retryAfter), 10))
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(h.unavailableRetry), 10))
	}
	if st == styleBare {
		h.writeJSON(w, r, p.status, bareError{Message: msg, Code: p.code})
		return
	}
	h.writeJSON(w, r, p.status, envelope{Message: msg, Code: p.code, Timestamp: timestamp(h.clock.Now())})
}

// recoverPanic, deferred by every route, answers a panic (of a Sender,
// Store or callback that panicked) with a JSON 500 instead of the dropped
// connection net/http leaves, and logs it with its stack. The routes write
// their response last, in one piece, so nothing has been written yet.
// http.ErrAbortHandler, which asks for the connection to be dropped, is
// passed on.
func (h *Handler) recoverPanic(w http.ResponseWriter, r *http.Request, st style) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	h.writeError(w, r, st, &problem{status: http.StatusInternalServerError, code: CodeInternal, cause: fmt.Errorf("panic: %v\n%s", v, debug.Stack())})
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}
