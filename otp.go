package phoneauth

import (
	"context"
	"log/slog"
	"time"
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
	Channel     Channel
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
	panic("not written yet")
}

// Request sends a new code to a phone, replacing any pending one.
func (a *Authenticator) Request(ctx context.Context, p RequestParams) (RequestResult, error) {
	panic("not written yet")
}

// Resend sends a new code to a phone that has one pending, replacing it.
func (a *Authenticator) Resend(ctx context.Context, p RequestParams) (RequestResult, error) {
	panic("not written yet")
}

// Verify checks a code and signs the user in.
func (a *Authenticator) Verify(ctx context.Context, p VerifyParams) (SignIn, error) {
	panic("not written yet")
}

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

// StartPhoneVerification sends a code to a phone that a signed-in user
// wants to add to their account.
func (a *Authenticator) StartPhoneVerification(ctx context.Context, p PhoneVerificationParams) (PhoneVerification, error) {
	panic("not written yet")
}

// ResendPhoneVerification sends a new code for a pending phone
// verification.
func (a *Authenticator) ResendPhoneVerification(ctx context.Context, p PhoneVerificationParams) (PhoneVerification, error) {
	panic("not written yet")
}

// ConfirmPhone checks a phone-verification code and records the phone as
// the user's verified phone.
func (a *Authenticator) ConfirmPhone(ctx context.Context, p ConfirmPhoneParams) error {
	panic("not written yet")
}

// Development reports whether the Authenticator returns codes in results.
func (a *Authenticator) Development() bool { return a.cfg.Development }
