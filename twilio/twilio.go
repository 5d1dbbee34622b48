// Package twilio sends phoneauth codes by SMS and WhatsApp through Twilio's
// Programmable Messaging REST API, over plain net/http (no SDK).
//
// Every message is one request, POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, authenticated with the
// account SID and auth token or with an API key and its secret. SMS goes
// from a phone number or sender id (From) or through a Messaging Service.
// WhatsApp uses the "whatsapp:" address prefix and, as Meta requires for
// authentication messages outside a customer-initiated conversation, an
// approved content template (Config.WhatsAppContentSID) whose variable
// carries the code.
//
// Each message gets a ValidityPeriod ending when its code expires, so that a
// message stuck in Twilio's queue is dropped rather than delivered dead.
//
// Failures are *Error values: they match phoneauth.ErrSendFailed, some also
// phoneauth.ErrInvalidPhone or phoneauth.ErrPhoneNotAllowed, and they say
// whether a retry may succeed (see delivery.RetryableError), which
// delivery.Async acts on.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
	"github.com/phoneauth/phoneauth/internal/redact"
)

// Defaults of Config.
const (
	DefaultBaseURL = "https://api.twilio.com"
	DefaultTimeout = 10 * time.Second
	// DefaultCodeVariable is the content template variable that receives
	// the code: {{1}}, as in WhatsApp authentication templates.
	DefaultCodeVariable = "1"
)

// maxValidity is the largest ValidityPeriod Twilio accepts, in seconds.
const maxValidity = 36000

// Config configures a Sender. AccountSID, one kind of credentials and at
// least one sender (From, MessagingServiceSID or WhatsAppFrom) are required.
type Config struct {
	// AccountSID is the account the messages are sent from ("AC…").
	AccountSID string
	// AuthToken is the account's auth token. Set it, or APIKeySID and
	// APIKeySecret (recommended: a key can be revoked alone).
	AuthToken string
	// APIKeySID ("SK…") and APIKeySecret are an API key of the account.
	APIKeySID    string
	APIKeySecret string

	// From is the SMS sender: an E.164 number or an alphanumeric sender id.
	From string
	// MessagingServiceSID ("MG…") sends through a Messaging Service (sender
	// pools, geographic matching). It takes precedence over From for SMS,
	// and is used for WhatsApp when WhatsAppFrom is empty.
	MessagingServiceSID string

	// WhatsAppFrom is the WhatsApp sender's E.164 number (with or without
	// the "whatsapp:" prefix). Without it and without MessagingServiceSID,
	// WhatsApp messages fail.
	WhatsAppFrom string
	// WhatsAppContentSID ("HX…") is the approved content template of
	// WhatsApp messages, normally a WhatsApp authentication template. Without
	// it the rendered text is sent as the Body, which WhatsApp delivers only
	// within 24 hours of a message from the user.
	WhatsAppContentSID string
	// WhatsAppCodeVariable is the template variable set to the code, sent
	// as ContentVariables {"1":"123456"}. Default "1".
	WhatsAppCodeVariable string

	// StatusCallback, if set, is the URL Twilio posts delivery status
	// updates to.
	StatusCallback string

	// BaseURL is the API's address. Default https://api.twilio.com.
	BaseURL string
	// HTTPClient makes the requests. Default: a client with a 10 second
	// timeout.
	HTTPClient *http.Client
	// Clock tells the time, for ValidityPeriod and Retry-After dates.
	// Default phoneauth.SystemClock.
	Clock phoneauth.Clock
}

// Sender is a phoneauth.Sender that sends through Twilio. It is safe for
// concurrent use.
type Sender struct {
	cfg      Config
	endpoint string
	user     string
	password string
	whatsapp string // "whatsapp:+…" or ""
	client   *http.Client
	clock    phoneauth.Clock
}

// New returns a Sender for cfg, or an error matching
// phoneauth.ErrInvalidConfig.
func New(cfg Config) (*Sender, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: twilio: %s", phoneauth.ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !validSID(cfg.AccountSID, "AC") {
		return nil, invalid("AccountSID %q is not an account SID (AC…)", cfg.AccountSID)
	}
	s := &Sender{cfg: cfg, client: cfg.HTTPClient, clock: cfg.Clock}
	switch {
	case cfg.AuthToken != "" && (cfg.APIKeySID != "" || cfg.APIKeySecret != ""):
		return nil, invalid("set AuthToken or an API key, not both")
	case cfg.AuthToken != "":
		s.user, s.password = cfg.AccountSID, cfg.AuthToken
	case cfg.APIKeySID != "" && cfg.APIKeySecret != "":
		if !validSID(cfg.APIKeySID, "SK") {
			return nil, invalid("APIKeySID %q is not an API key SID (SK…)", cfg.APIKeySID)
		}
		s.user, s.password = cfg.APIKeySID, cfg.APIKeySecret
	default:
		return nil, invalid("AuthToken, or APIKeySID and APIKeySecret, required")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" && cfg.WhatsAppFrom == "" {
		return nil, invalid("From, MessagingServiceSID or WhatsAppFrom required")
	}
	if cfg.MessagingServiceSID != "" && !validSID(cfg.MessagingServiceSID, "MG") {
		return nil, invalid("MessagingServiceSID %q is not a Messaging Service SID (MG…)", cfg.MessagingServiceSID)
	}
	if cfg.WhatsAppContentSID != "" && !validSID(cfg.WhatsAppContentSID, "HX") {
		return nil, invalid("WhatsAppContentSID %q is not a content SID (HX…)", cfg.WhatsAppContentSID)
	}
	if cfg.WhatsAppFrom != "" {
		s.whatsapp = "whatsapp:" + strings.TrimPrefix(cfg.WhatsAppFrom, "whatsapp:")
	}
	if cfg.WhatsAppCodeVariable == "" {
		s.cfg.WhatsAppCodeVariable = DefaultCodeVariable
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, invalid("BaseURL %q is not an http(s) URL", base)
	}
	s.endpoint = strings.TrimSuffix(base, "/") + "/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json"
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultTimeout}
	}
	if s.clock == nil {
		s.clock = phoneauth.SystemClock{}
	}
	return s, nil
}

// validSID reports whether sid is prefix followed by letters and digits.
func validSID(sid, prefix string) bool {
	if !strings.HasPrefix(sid, prefix) || len(sid) <= len(prefix) || len(sid) > 64 {
		return false
	}
	for _, c := range []byte(sid) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Send sends m on its channel (SMS or WhatsApp) and returns the message SID
// ("SM…" or "MM…"). Errors are *Error values matching
// phoneauth.ErrSendFailed.
func (s *Sender) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	form, err := s.form(m)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &Error{Message: "building the request", Err: err}
	}
	req.SetBasicAuth(s.user, s.password)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", transportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := s.apiError(resp, body)
		e.Message = redact.Message(e.Message, m.To, m.Code) // errors end up in logs
		return "", e
	}
	var created struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.SID == "" {
		return "", &Error{Status: resp.StatusCode, Message: "response without a message sid"}
	}
	return created.SID, nil
}

// form builds the request body of m.
func (s *Sender) form(m phoneauth.Message) (url.Values, error) {
	if m.To == "" {
		return nil, &Error{Message: "message without a recipient"}
	}
	f := url.Values{}
	switch m.Channel {
	case phoneauth.SMS, "":
		switch {
		case s.cfg.MessagingServiceSID != "":
			f.Set("MessagingServiceSid", s.cfg.MessagingServiceSID)
		case s.cfg.From != "":
			f.Set("From", s.cfg.From)
		default:
			return nil, &Error{Message: "no SMS sender configured (From or MessagingServiceSID)"}
		}
		if m.Text == "" {
			return nil, &Error{Message: "SMS without text"}
		}
		f.Set("To", m.To)
		f.Set("Body", m.Text)
	case phoneauth.WhatsApp:
		switch {
		case s.whatsapp != "":
			f.Set("From", s.whatsapp)
		case s.cfg.MessagingServiceSID != "":
			f.Set("MessagingServiceSid", s.cfg.MessagingServiceSID)
		default:
			return nil, &Error{Message: "no WhatsApp sender configured (WhatsAppFrom or MessagingServiceSID)"}
		}
		f.Set("To", "whatsapp:"+m.To)
		if s.cfg.WhatsAppContentSID != "" {
			vars, err := json.Marshal(map[string]string{s.cfg.WhatsAppCodeVariable: m.Code})
			if err != nil {
				return nil, &Error{Message: "encoding ContentVariables", Err: err}
			}
			f.Set("ContentSid", s.cfg.WhatsAppContentSID)
			f.Set("ContentVariables", string(vars))
		} else {
			if m.Text == "" {
				return nil, &Error{Message: "WhatsApp message without text or content template"}
			}
			f.Set("Body", m.Text)
		}
	default:
		return nil, &Error{Message: fmt.Sprintf("unsupported channel %q", m.Channel)}
	}
	if !m.ExpiresAt.IsZero() {
		left := int64(m.ExpiresAt.Sub(s.clock.Now()) / time.Second)
		if left < 1 {
			return nil, &Error{Message: "the code has expired"}
		}
		f.Set("ValidityPeriod", strconv.FormatInt(min(left, maxValidity), 10))
	}
	if s.cfg.StatusCallback != "" {
		f.Set("StatusCallback", s.cfg.StatusCallback)
	}
	return f, nil
}

// apiError decodes Twilio's error response.
func (s *Sender) apiError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var payload struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(body, &payload) == nil {
		e.Code, e.Message, e.MoreInfo = payload.Code, payload.Message, payload.MoreInfo
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500,
		e.Code == CodeTooManyRequests, e.Code == CodeInternalError, e.Code == CodeServiceUnavailable:
		e.Retryable = true
		e.RetryAfter = delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now())
	}
	return e
}

// transportError wraps a failure to get a response. Only a failure to
// connect is retryable: after that, Twilio may have created the message,
// and it has no idempotency key to make a retry safe.
func transportError(err error) *Error {
	e := &Error{Message: "request failed", Err: err}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		e.Retryable = true
	}
	return e
}

// Twilio error codes that Error gives a meaning to. See
// https://www.twilio.com/docs/api/errors.
const (
	CodeTooManyRequests    = 20429 // rate limited
	CodeInternalError      = 20500
	CodeServiceUnavailable = 20503
	CodeInvalidTo          = 21211 // the To number is not a valid phone number
	CodeRegionNotEnabled   = 21408 // sending to this region is not enabled
	CodeUnsubscribed       = 21610 // the recipient replied STOP
	CodeUnreachable        = 21612 // the To number cannot be reached on this channel
	CodeNotMobile          = 21614 // the To number is not a mobile number
	CodeUnreachableHandset = 30003
	CodeUnknownDestination = 30005
	CodeLandline           = 30006 // landline or unreachable carrier
)

var (
	_ phoneauth.Sender        = (*Sender)(nil)
	_ delivery.RetryableError = (*Error)(nil)
)

// Error is a failed send: an error response of the API (Status and Code
// set), a failure to reach it (Err set), or a message the Sender could not
// build. It always matches phoneauth.ErrSendFailed; it also matches
// phoneauth.ErrInvalidPhone for CodeInvalidTo, and
// phoneauth.ErrPhoneNotAllowed for CodeNotMobile, CodeLandline and
// CodeRegionNotEnabled. Temporary and RetryDelay make it a
// delivery.RetryableError.
type Error struct {
	// Status is the HTTP status, 0 if there was no response.
	Status int
	// Code is Twilio's error code, 0 if there was none.
	Code int
	// Message describes the failure, with the recipient's number masked
	// and the message's code replaced by asterisks (errors end up in
	// logs); MoreInfo links to Twilio's page about the error code.
	Message  string
	MoreInfo string
	// Retryable reports a failure that may pass: rate limited (HTTP 429 or
	// 20429), a server error (5xx), or no connection.
	Retryable bool
	// RetryAfter is the wait that the Retry-After header asked for, or 0.
	RetryAfter time.Duration
	// Err is the cause of a failure to get a response.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("twilio: ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d: ", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "error %d: ", e.Code)
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause of a failure to get a response.
func (e *Error) Unwrap() error { return e.Err }

// Is matches phoneauth.ErrSendFailed, and for some codes
// phoneauth.ErrInvalidPhone or phoneauth.ErrPhoneNotAllowed.
func (e *Error) Is(target error) bool {
	switch target {
	case phoneauth.ErrSendFailed:
		return true
	case phoneauth.ErrInvalidPhone:
		return e.Code == CodeInvalidTo
	case phoneauth.ErrPhoneNotAllowed:
		return e.Code == CodeNotMobile || e.Code == CodeLandline || e.Code == CodeRegionNotEnabled
	}
	return false
}

// Temporary reports e.Retryable.
func (e *Error) Temporary() bool { return e.Retryable }

// RetryDelay returns e.RetryAfter.
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }
