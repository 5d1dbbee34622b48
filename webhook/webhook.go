// Package webhook delivers phoneauth codes to a delivery service of your
// own: each message is POSTed as JSON (a Payload) and signed per the
// Standard Webhooks specification (https://www.standardwebhooks.com), with
// the headers webhook-id, webhook-timestamp and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>").
//
// The receiving side checks a request with Verify before trusting it:
//
//	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
//	...
//	if err := webhook.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
//	var p webhook.Payload
//	err = json.Unmarshal(body, &p) // p.To, p.Channel, p.Code, p.Text…
//
// and answers 2xx with {"messageId": "…"} once it has taken the message.
// The webhook-id of a message is the same on every attempt, so a receiver
// that remembers the ids it has seen can drop a retried duplicate.
//
// Any Standard Webhooks library verifies these requests too; the secret is
// in the same "whsec_" form (see NewSecret).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
	"github.com/phoneauth/phoneauth/internal/redact"
)

// Defaults.
const (
	// DefaultTimeout bounds one delivery with the default HTTP client.
	DefaultTimeout = 10 * time.Second
	// DefaultTolerance is how far a webhook-timestamp may be from the
	// receiver's clock, either way, when Verify is given no tolerance.
	DefaultTolerance = 5 * time.Minute
	// MinSecretBytes is the smallest secret New accepts, as the Standard
	// Webhooks specification recommends.
	MinSecretBytes = 24
)

// secretPrefix marks a Standard Webhooks secret.
const secretPrefix = "whsec_"

// Errors of Verify.
var (
	// ErrInvalidSignature reports a request without a valid signature: a
	// missing or malformed header, or no signature that matches.
	ErrInvalidSignature = errors.New("webhook: invalid signature")
	// ErrTimestampOutOfRange reports a webhook-timestamp too far from now:
	// a replayed or delayed request.
	ErrTimestampOutOfRange = errors.New("webhook: timestamp out of range")
)

// Payload is the JSON body of a delivery request.
type Payload struct {
	// To is the E.164 phone number.
	To string `json:"to"`
	// Channel is "sms" or "whatsapp".
	Channel phoneauth.Channel `json:"channel"`
	// Code is the one-time code, for a provider template of your own.
	Code string `json:"code"`
	// Text is the message rendered by phoneauth.
	Text string `json:"text"`
	// ChallengeID identifies the code's challenge.
	ChallengeID string `json:"challengeId"`
	// ExpiresAt is when the code expires: there is no point delivering it
	// later.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Locale is the user's language, if known.
	Locale string `json:"locale,omitempty"`
}

// Config configures a Sender. URL and Secret are required.
type Config struct {
	// URL receives the POST requests.
	URL string
	// Secret signs the requests: "whsec_" followed by the base64 of at
	// least 24 random bytes (NewSecret makes one). The prefix is optional.
	Secret string
	// Header holds extra request headers, such as an Authorization header
	// for a gateway in front of the receiver.
	Header http.Header
	// HTTPClient makes the requests. Default: a client with a 10 second
	// timeout that does not follow redirects (a redirected POST would lose
	// its body).
	HTTPClient *http.Client
	// Clock stamps the requests. Default phoneauth.SystemClock.
	Clock phoneauth.Clock
}

// Sender is a phoneauth.Sender that POSTs signed messages to Config.URL. It
// is safe for concurrent use.
type Sender struct {
	url    string
	key    []byte
	header http.Header
	client *http.Client
	clock  phoneauth.Clock
}

// New returns a Sender for cfg, or an error matching
// phoneauth.ErrInvalidConfig.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook: URL %q is not an http(s) URL", phoneauth.ErrInvalidConfig, cfg.URL)
	}
	key, err := decodeSecret(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", phoneauth.ErrInvalidConfig, err)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("%w: webhook: Secret has %d bytes, want at least %d", phoneauth.ErrInvalidConfig, len(key), MinSecretBytes)
	}
	s := &Sender{url: cfg.URL, key: key, header: cfg.Header.Clone(), client: cfg.HTTPClient, clock: cfg.Clock}
	if s.client == nil {
		s.client = &http.Client{
			Timeout:       DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.clock == nil {
		s.clock = phoneauth.SystemClock{}
	}
	return s, nil
}

// NewSecret returns a new random secret in the Standard Webhooks form,
// "whsec_" and the base64 of 32 bytes.
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Send POSTs m as a signed Payload and returns the receiver's message id
// ("messageId" or "id" of a JSON reply), or the webhook-id if the 2xx reply
// names none. Failures are *Error values matching phoneauth.ErrSendFailed;
// a 5xx, 408 or 429 reply and a network failure are temporary (see
// delivery.RetryableError), since the stable webhook-id lets the receiver
// drop a duplicate.
func (s *Sender) Send(ctx context.Context, m phoneauth.Message) (string, error) {
	body, err := json.Marshal(Payload{
		To: m.To, Channel: m.Channel, Code: m.Code, Text: m.Text,
		ChallengeID: m.ChallengeID, ExpiresAt: m.ExpiresAt, Locale: m.Locale,
	})
	if err != nil {
		return "", &Error{Err: err}
	}
	id := s.messageID(m)
	now := s.clock.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", &Error{Err: err}
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sign(s.key, id, now.Unix(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		// Retrying is safe (same webhook-id) unless the caller gave up.
		return "", &Error{Err: err, Retryable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", &Error{Status: resp.StatusCode, Err: err, Retryable: ctx.Err() == nil}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode, Body: snippet(redact.Message(string(reply), m.To, m.Code))}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
			e.Retryable = true
			e.RetryAfter = delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return "", e
	}
	var ack struct {
		MessageID string `json:"messageId"`
		ID        string `json:"id"`
	}
	if json.Unmarshal(reply, &ack) == nil {
		if ack.MessageID != "" {
			return ack.MessageID, nil
		}
		if ack.ID != "" {
			return ack.ID, nil
		}
	}
	return id, nil
}

// messageID returns the webhook-id of m: derived from its challenge and
// code under the secret, so that every attempt to deliver one message
// carries the same id (and a resent code a new one) without revealing
// anything; random for a message without a challenge id.
func (s *Sender) messageID(m phoneauth.Message) string {
	if m.ChallengeID == "" {
		return "msg_" + rand.Text()
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("phoneauth webhook-id\x00"))
	mac.Write([]byte(m.ChallengeID))
	mac.Write([]byte{0})
	mac.Write([]byte(m.Code))
	return "msg_" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// Sign returns the webhook-signature header value ("v1,<base64>") of a
// request with the given id, timestamp and body, for tests of a receiver.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return sign(key, id, timestamp.Unix(), body), nil
}

// Verify checks a delivery request: its webhook-signature must hold a "v1"
// signature of webhook-id, webhook-timestamp and body under secret, and its
// webhook-timestamp must be within tolerance of now (DefaultTolerance if
// tolerance is not positive). The header may hold several space-separated
// signatures (during a secret rotation): one valid signature is enough.
// Signatures are compared in constant time.
//
// The error matches ErrInvalidSignature or ErrTimestampOutOfRange; for a
// malformed secret it matches neither. Verify body exactly as received,
// before decoding it.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, ts := header.Get("webhook-id"), header.Get("webhook-timestamp")
	signatures := header.Values("webhook-signature")
	if id == "" || ts == "" || len(signatures) == 0 {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature header", ErrInvalidSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed webhook-timestamp %q", ErrInvalidSignature, ts)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %s away from now", ErrTimestampOutOfRange, d.Round(time.Second))
	}
	want := mac(key, id, unix, body)
	for _, value := range signatures {
		for _, sig := range strings.Fields(value) {
			version, encoded, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(encoded)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no matching v1 signature", ErrInvalidSignature)
}

func sign(key []byte, id string, unix int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, unix, body))
}

// mac is HMAC-SHA256 of "id.timestamp.body".
func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// decodeSecret decodes a "whsec_" secret (prefix optional).
func decodeSecret(secret string) ([]byte, error) {
	encoded := strings.TrimPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(encoded)
	}
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: the secret is not whsec_ followed by base64")
	}
	return key, nil
}

// snippet returns the start of a reply body, for error messages.
func snippet(body string) string {
	const n = 200
	s := strings.ToValidUTF8(body[:min(len(body), n)], "")
	if len(body) > n {
		s += "…"
	}
	return s
}

// Error is a failed delivery: a non-2xx reply (Status set) or no reply (Err
// set). It matches phoneauth.ErrSendFailed; Temporary and RetryDelay make
// it a delivery.RetryableError.
type Error struct {
	// Status is the HTTP status of the reply, 0 if there was none.
	Status int
	// Body is the start of the reply (200 bytes), with the recipient's
	// number masked and the code replaced by asterisks: errors end up in
	// logs.
	Body string
	// Retryable reports a failure that may pass: a 5xx, 408 or 429 reply,
	// or a network failure (unless the caller's context ended).
	Retryable bool
	// RetryAfter is the wait that the Retry-After header asked for, or 0.
	RetryAfter time.Duration
	// Err is the cause of a failure to get a reply.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return "webhook: " + e.Err.Error()
	case e.Body != "":
		return fmt.Sprintf("webhook: HTTP %d: %s", e.Status, e.Body)
	}
	return fmt.Sprintf("webhook: HTTP %d", e.Status)
}

// Unwrap returns the cause of a failure to get a reply.
func (e *Error) Unwrap() error { return e.Err }

// Is matches phoneauth.ErrSendFailed.
func (e *Error) Is(target error) bool { return target == phoneauth.ErrSendFailed }

// Temporary reports e.Retryable.
func (e *Error) Temporary() bool { return e.Retryable }

// RetryDelay returns e.RetryAfter.
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

var (
	_ phoneauth.Sender        = (*Sender)(nil)
	_ delivery.RetryableError = (*Error)(nil)
)
