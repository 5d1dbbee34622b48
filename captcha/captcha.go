// Package captcha checks captcha tokens with Cloudflare Turnstile and
// hCaptcha, as phoneauth.CaptchaVerifier implementations: set one as
// phoneauth.Config.Captcha and every code request must carry a token the
// provider accepts.
//
// A missing or rejected token is an error matching
// phoneauth.ErrCaptchaFailed. When the provider cannot answer (network
// failure, timeout, HTTP 5xx or 429) the error matches
// phoneauth.ErrCaptchaUnavailable: requests are refused, the safe default
// against SMS pumping. FailOpen lets them through instead while the provider
// is down, logging each time, for those who prefer availability. Anything
// else that goes wrong fails closed with ErrCaptchaUnavailable even with
// FailOpen, so that it cannot go unnoticed nor be provoked by a crafted
// token: a reply that is not the expected JSON, or a misconfiguration the
// provider reports (a wrong secret or site key).
//
//	cfg.Captcha = &captcha.Turnstile{Secret: os.Getenv("TURNSTILE_SECRET")}
package captcha

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
)

// Defaults.
const (
	TurnstileURL   = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
	HCaptchaURL    = "https://api.hcaptcha.com/siteverify"
	DefaultTimeout = 5 * time.Second
)

// maxTokenLen bounds the tokens sent on (Turnstile's are at most 2048
// characters; hCaptcha's are longer).
const maxTokenLen = 8192

// Turnstile verifies Cloudflare Turnstile tokens. Secret is required; the
// other fields have working zero values. It is safe for concurrent use.
type Turnstile struct {
	// Secret is the widget's secret key.
	Secret string
	// Hostname, if set, must be the hostname the token was issued on.
	Hostname string
	// URL is the siteverify endpoint. Default TurnstileURL.
	URL string
	// HTTPClient makes the requests. Default http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds one verification. Default 5 seconds.
	Timeout time.Duration
	// FailOpen accepts requests when Turnstile cannot be reached.
	FailOpen bool
	// Logger receives a warning for each request let through by FailOpen.
	// Default: discarded.
	Logger *slog.Logger
}

// VerifyCaptcha checks token, for the client at remoteIP (may be empty).
func (t *Turnstile) VerifyCaptcha(ctx context.Context, token, remoteIP string) error {
	return verifier{
		provider: "turnstile", secret: t.Secret, hostname: t.Hostname, url: cmp.Or(t.URL, TurnstileURL),
		client: t.HTTPClient, timeout: t.Timeout, failOpen: t.FailOpen, log: t.Logger,
	}.verify(ctx, token, remoteIP, nil)
}

// HCaptcha verifies hCaptcha tokens. Secret is required; the other fields
// have working zero values. It is safe for concurrent use.
type HCaptcha struct {
	// Secret is the account's secret key.
	Secret string
	// SiteKey, if set, is sent along, and hCaptcha rejects tokens issued
	// for another site key.
	SiteKey string
	// Hostname, if set, must be the hostname the token was issued on.
	Hostname string
	// URL is the siteverify endpoint. Default HCaptchaURL.
	URL string
	// HTTPClient makes the requests. Default http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds one verification. Default 5 seconds.
	Timeout time.Duration
	// FailOpen accepts requests when hCaptcha cannot be reached.
	FailOpen bool
	// Logger receives a warning for each request let through by FailOpen.
	// Default: discarded.
	Logger *slog.Logger
}

// VerifyCaptcha checks token, for the client at remoteIP (may be empty).
func (h *HCaptcha) VerifyCaptcha(ctx context.Context, token, remoteIP string) error {
	var extra url.Values
	if h.SiteKey != "" {
		extra = url.Values{"sitekey": {h.SiteKey}}
	}
	return verifier{
		provider: "hcaptcha", secret: h.Secret, hostname: h.Hostname, url: cmp.Or(h.URL, HCaptchaURL),
		client: h.HTTPClient, timeout: h.Timeout, failOpen: h.FailOpen, log: h.Logger,
	}.verify(ctx, token, remoteIP, extra)
}

var (
	_ phoneauth.CaptchaVerifier = (*Turnstile)(nil)
	_ phoneauth.CaptchaVerifier = (*HCaptcha)(nil)
)

// verifier is the siteverify protocol both providers share.
type verifier struct {
	provider, secret, hostname, url string
	client                          *http.Client
	timeout                         time.Duration
	failOpen                        bool
	log                             *slog.Logger
}

// isConfigError reports an error code that means the verifier, not the
// token, is wrong.
func isConfigError(code string) bool {
	switch code {
	case "missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch", "invalid-sitekey":
		return true
	}
	return false
}

// siteverifyReply is the JSON answer of both providers.
type siteverifyReply struct {
	Success    bool     `json:"success"`
	ErrorCodes []string `json:"error-codes"`
	Hostname   string   `json:"hostname"`
}

func (v verifier) verify(ctx context.Context, token, remoteIP string, extra url.Values) error {
	if v.secret == "" {
		return fmt.Errorf("%w: %s: no secret configured", phoneauth.ErrCaptchaUnavailable, v.provider)
	}
	if token == "" {
		return fmt.Errorf("%w: %s: no token", phoneauth.ErrCaptchaFailed, v.provider)
	}
	if len(token) > maxTokenLen {
		return fmt.Errorf("%w: %s: token too long", phoneauth.ErrCaptchaFailed, v.provider)
	}
	form := url.Values{"secret": {v.secret}, "response": {token}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	for k, vs := range extra {
		form[k] = vs
	}
	reply, outage, err := v.post(ctx, form)
	if err != nil {
		if outage && ctx.Err() == nil && v.failOpen { // not the caller giving up
			if v.log != nil {
				v.log.LogAttrs(ctx, slog.LevelWarn, "phoneauth: captcha provider unavailable, request let through (FailOpen)",
					slog.String("provider", v.provider), slog.Any("error", err))
			}
			return nil
		}
		return fmt.Errorf("%w: %s: %w", phoneauth.ErrCaptchaUnavailable, v.provider, err)
	}
	codes := strings.Join(reply.ErrorCodes, ",")
	switch {
	case slices.ContainsFunc(reply.ErrorCodes, isConfigError):
		return fmt.Errorf("%w: %s: misconfigured: %s", phoneauth.ErrCaptchaUnavailable, v.provider, codes)
	case !reply.Success:
		return fmt.Errorf("%w: %s: %s", phoneauth.ErrCaptchaFailed, v.provider, cmp.Or(codes, "rejected"))
	case v.hostname != "" && !strings.EqualFold(reply.Hostname, v.hostname):
		return fmt.Errorf("%w: %s: token issued on %q, want %q", phoneauth.ErrCaptchaFailed, v.provider, reply.Hostname, v.hostname)
	}
	return nil
}

// post sends the form and decodes the reply. outage reports a failure
// that FailOpen may let pass: no reply in time, or HTTP 5xx or 429.
func (v verifier) post(ctx context.Context, form url.Values) (reply *siteverifyReply, outage bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(v.timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := v.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, true, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	reply = new(siteverifyReply)
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(reply); err != nil {
		if ctx.Err() != nil { // the timeout struck while reading
			return nil, true, fmt.Errorf("HTTP %d: reading the reply: %w", resp.StatusCode, ctx.Err())
		}
		return nil, false, fmt.Errorf("HTTP %d: unexpected reply: %w", resp.StatusCode, err)
	}
	if reply.Success && resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("HTTP %d: unexpected success", resp.StatusCode)
	}
	return reply, false, nil
}
