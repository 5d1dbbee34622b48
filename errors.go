package phoneauth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned by the Authenticator. Match them with errors.Is;
// they are usually wrapped with more detail.
var (
	// ErrInvalidConfig reports a Config that New cannot run with.
	ErrInvalidConfig = errors.New("phoneauth: invalid config")

	// ErrInvalidRequest reports a missing or malformed input other than the
	// phone or the code: a number without "+" and without a country, an
	// unknown channel, a missing user id, an id, device detail or metadata
	// that is not text (a NUL byte, invalid UTF-8; see Store). The error is
	// an *InputError that names the field.
	ErrInvalidRequest = errors.New("phoneauth: invalid request")

	// ErrInvalidPhone reports a phone number that cannot be parsed or is not
	// a valid number, or an unknown country.
	ErrInvalidPhone = errors.New("phoneauth: invalid phone number")
	// ErrPhoneNotAllowed reports a valid number refused by policy: its type
	// (premium-rate, toll-free, shared-cost…) or its country.
	ErrPhoneNotAllowed = errors.New("phoneauth: phone number not allowed")

	// ErrRateLimited reports a limit hit. The error is a *RateLimitError that
	// says how long to wait.
	ErrRateLimited = errors.New("phoneauth: too many requests")
	// ErrRangeThrottled reports a request refused by the conversion guard
	// against SMS pumping: too many codes sent to the phone's number range
	// (or country) were never verified (see Limits.UnverifiedPerRange). The
	// error is a *RateLimitError (Scope ScopeRangeGuard or
	// ScopeCountryGuard) and also matches ErrRateLimited.
	ErrRangeThrottled = errors.New("phoneauth: number range throttled")

	// ErrInvalidOTP reports a wrong code for a pending challenge (or a code
	// that is not made of the expected number of digits).
	ErrInvalidOTP = errors.New("phoneauth: invalid code")
	// ErrVerificationFailed reports that there is nothing to verify: no code
	// pending, expired, already used, attempts exhausted, or another
	// challenge id than the newest.
	ErrVerificationFailed = errors.New("phoneauth: verification failed")
	// ErrNoPendingCode reports a resend for a phone with no pending code.
	ErrNoPendingCode = errors.New("phoneauth: no pending code")

	// ErrSignupNotAllowed reports a verified phone that has no user while the
	// signup policy forbids creating one.
	ErrSignupNotAllowed = errors.New("phoneauth: signup not allowed")
	// ErrPhoneTaken reports a phone that is already verified for another user.
	ErrPhoneTaken = errors.New("phoneauth: phone number belongs to another user")

	// ErrCaptchaRequired reports a request over a per-phone limit that a
	// captcha would let through (Config.Captcha is set): the client should
	// show a captcha and send its token, or wait RetryAfter. The error is a
	// *RateLimitError (it matches ErrRateLimited too).
	ErrCaptchaRequired = errors.New("phoneauth: captcha required")
	// ErrCaptchaFailed reports a missing or rejected captcha token.
	ErrCaptchaFailed = errors.New("phoneauth: captcha verification failed")
	// ErrCaptchaUnavailable reports a captcha provider that could not be
	// reached (and a policy that fails closed).
	ErrCaptchaUnavailable = errors.New("phoneauth: captcha provider unavailable")

	// ErrSendFailed reports a message that could not be delivered to the
	// provider. The code it carried can never be verified.
	ErrSendFailed = errors.New("phoneauth: sending the code failed")

	// ErrInvalidToken reports an access or refresh token that is malformed,
	// expired, revoked, signed by an unknown key or otherwise not valid.
	ErrInvalidToken = errors.New("phoneauth: invalid token")
	// ErrReauthenticationRequired reports an action that needs a recent
	// sign-in (a phone change: Config.RecentSignIn) from a session that
	// signed in longer ago. Signing in again (a new code) allows it.
	ErrReauthenticationRequired = errors.New("phoneauth: a recent sign-in is required")
	// ErrTokenReused reports a refresh token presented again after it was
	// rotated; the whole session has been revoked.
	ErrTokenReused = errors.New("phoneauth: refresh token reused")

	// ErrStoreUnavailable reports a Store, Users or Limiter failure (a
	// database down, a call without an answer within Config.StoreTimeout).
	// Nothing was half-written, and the operation did not happen, or is
	// safe to retry (see Authenticator).
	//
	// An outage is logged when it starts, once a minute while it lasts,
	// and when it ends, not once per failed call.
	ErrStoreUnavailable = errors.New("phoneauth: store unavailable")

	// ErrNotFound is returned by Store methods for an entry that does not
	// exist, has expired, or no longer matches (see each method's contract).
	ErrNotFound = errors.New("phoneauth: not found")
)

// RateLimitError is the error of a request refused by a limit. It matches
// ErrRateLimited with errors.Is.
type RateLimitError struct {
	// Scope names the limit that refused: "cooldown", "ip", "device",
	// "phone", "phone-captcha" (Limits.PerPhoneWithCaptcha), "global",
	// "verify" (the failed-verify budget), "verify-ip", "refresh-ip", or
	// one of the number-range and country scopes (ScopeRange…).
	Scope string
	// RetryAfter is how long the caller should wait before trying again.
	RetryAfter time.Duration
	// CaptchaRequired reports that the request would go through now with a
	// captcha token (see ErrCaptchaRequired).
	CaptchaRequired bool
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("phoneauth: too many requests (%s limit), retry after %s", e.Scope, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true, and errors.Is(err,
// ErrCaptchaRequired) when CaptchaRequired is set, and errors.Is(err,
// ErrRangeThrottled) for a refusal of the conversion guard.
func (e *RateLimitError) Is(target error) bool {
	return target == ErrRateLimited || target == ErrCaptchaRequired && e.CaptchaRequired ||
		target == ErrRangeThrottled && isGuardScope(e.Scope)
}

// storeErr wraps an unexpected Store or Limiter error so that it matches
// ErrStoreUnavailable while keeping the cause.
func storeErr(op string, err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, op, err)
}
