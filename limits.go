package phoneauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// A scopedCheck is a LimitCheck with the scope a refusal reports.
type scopedCheck struct {
	scope string
	check LimitCheck
}

// allowSend applies the sending limits in order: cooldown, address, device,
// phone, number range and country (guard.go), global. The cooldown comes
// first so that a double tap costs nothing else, the global budget last so
// that only requests every other limit accepted spend it. When all allow,
// it returns the checks that recorded an event, for refund.
//
// With a Config.Captcha, a request the per-phone limit refuses escalates
// instead: with a captcha token (verified here when
// Config.CaptchaOnlyOverLimit; already verified otherwise) it is counted
// against Limits.PerPhoneWithCaptcha; without one it is refused with a
// *RateLimitError that matches ErrCaptchaRequired. So a stranger who
// spends the phone's budget cannot keep its owner from getting a code. A
// signed-in user's phone verification, which carries no captcha token, is
// refused as without a captcha.
//
// With put (a RouteStore's Authenticator) every decision is an
// IssueChallenge of put, so that the challenge is stored in the same call
// as the limits allow it.
func (a *Authenticator) allowSend(ctx context.Context, p issueParams, addr clientAddr, put *Challenge) (charged []LimitCheck, err error) {
	phone, l := p.phone.E164, a.cfg.Limits
	checks := []scopedCheck{{"cooldown", LimitCheck{"cooldown:" + phone, Limit{Events: 1, Per: l.ResendCooldown}}}}
	checks = append(checks, a.addressChecks("ip", "ip:", addr, l.PerIP)...)
	checks = append(checks,
		scopedCheck{"device", LimitCheck{deviceKey(p.DeviceID), l.PerDevice}},
		scopedCheck{"phone", LimitCheck{"phone:" + phone, l.PerPhone}},
	)
	checks = append(checks, a.rangeChecks(p.phone)...)
	checks = append(checks, scopedCheck{"global", LimitCheck{"global", l.Global}})
	checks = liveChecks(checks)
	i, retry, err := a.allowChecks(ctx, checks, put)
	switch {
	case err != nil:
		return nil, err
	case i < 0:
		return limitChecks(checks), nil
	case checks[i].scope != "phone" || a.cfg.Captcha == nil || p.userID != "":
		return nil, a.refuse(ctx, checks[i].scope, retry, phone, false)
	case p.CaptchaToken == "":
		return nil, a.refuse(ctx, "phone", retry, phone, true)
	}
	if a.cfg.CaptchaOnlyOverLimit {
		if err := a.checkCaptcha(ctx, p.CaptchaToken, p.IP); err != nil {
			return nil, err
		}
	}
	checks[i] = scopedCheck{"phone-captcha", LimitCheck{limiterPrefix + "phone-captcha:" + phone, l.PerPhoneWithCaptcha}}
	checks = liveChecks(checks)
	again := checks
	if a.limiter.batch == nil && put == nil {
		again = checks[i:] // the checks before i have recorded their event
	}
	j, retry, err := a.allowChecks(ctx, again, put)
	switch {
	case err != nil:
		a.refund(ctx, limitChecks(checks[:len(checks)-len(again)]))
		return nil, err
	case j >= 0:
		return nil, a.refuse(ctx, again[j].scope, retry, phone, false)
	}
	return limitChecks(checks), nil
}

// allowAddress applies the per-address limit of a verification ("verify-ip")
// or a refresh ("refresh-ip").
// When it allows, it returns the checks that recorded an event, for
// refundOnOutage.
func (a *Authenticator) allowAddress(ctx context.Context, scope string, addr clientAddr, l Limit, phone string) (charged []LimitCheck, err error) {
	checks := liveChecks(a.addressChecks(scope, scope+":", addr, l))
	i, retry, err := a.allowChecks(ctx, checks, nil)
	switch {
	case err != nil:
		return nil, err
	case i < 0:
		return limitChecks(checks), nil
	}
	return nil, a.refuse(ctx, checks[i].scope, retry, phone, false)
}

// refundOnOutage gives back *charged (see refund) when *err, the answer
// of the request that recorded them, is a store outage: a verification or
// a refresh answered 503 costs its address and its phone's failed-verify
// budget nothing, so that the retry the 503 asks for is not refused.
// Deferred by the request, which may add to *charged as it goes.
func (a *Authenticator) refundOnOutage(ctx context.Context, charged *[]LimitCheck, err *error) {
	if errors.Is(*err, ErrStoreUnavailable) {
		a.refund(ctx, *charged)
	}
}

// liveChecks returns the checks that limit anything (an empty key or an off
// limit limits nothing), with their keys prefixed, keeping prefixed ones.
func liveChecks(all []scopedCheck) []scopedCheck {
	out := all[:0:0]
	for _, c := range all {
		if c.check.Key == "" || c.check.Limit.Off() || c.check.Limit.Per <= 0 {
			continue
		}
		if !strings.HasPrefix(c.check.Key, limiterPrefix) {
			c.check.Key = limiterPrefix + c.check.Key
		}
		out = append(out, c)
	}
	return out
}

// limitChecks returns the LimitChecks of checks.
func limitChecks(checks []scopedCheck) []LimitCheck {
	lc := make([]LimitCheck, len(checks))
	for i, c := range checks {
		lc[i] = c.check
	}
	return lc
}

// allowChecks applies live checks and returns the index of the one that
// refused (-1 if none) and when it allows again. With a BatchLimiter they
// are decided in one call, all or nothing; otherwise one by one, stopping
// at the first refusal (the earlier ones keep their event) or failure (the
// earlier ones get their event back: a failed request costs nothing). With put, they
// are decided by the RouteStore's IssueChallenge, which stores put if they
// all allow.
func (a *Authenticator) allowChecks(ctx context.Context, checks []scopedCheck, put *Challenge) (int, time.Duration, error) {
	now := a.clock.Now()
	if put != nil {
		return a.issueByRoute(ctx, checks, *put, now)
	}
	if len(checks) == 0 {
		return -1, 0, nil
	}
	if a.limiter.batch != nil {
		refused, retry, err := a.limiter.AllowAll(ctx, limitChecks(checks), now)
		if err != nil {
			return -1, 0, storeErr("limiter", err)
		}
		if refused >= len(checks) {
			refused = -1
		}
		return refused, retry, nil
	}
	for i, c := range checks {
		ok, retry, err := a.limiter.Allow(ctx, c.check.Key, c.check.Limit, now)
		if err != nil {
			// The request fails: the checks before i recorded their
			// event, which it gives back.
			a.refund(ctx, limitChecks(checks[:i]))
			return -1, 0, storeErr("limiter", err)
		}
		if !ok {
			return i, retry, nil
		}
	}
	return -1, 0, nil
}

// refund gives back the events a request recorded (see Limiter.Refund)
// when it is answered with an error after all: its store write or its send
// failed. Where the limiter's own call failed, nothing is known to have
// been recorded and nothing is refunded.
//
// It runs in the background, detached from ctx (the client may be gone),
// each call under the limiter's deadline, so that a limiter that is down
// as well does not hold up the answer. A refund that fails is logged: the
// retry may then be refused until the events refill. The in-memory
// limiter, which cannot be down, is refunded at once.
func (a *Authenticator) refund(ctx context.Context, charged []LimitCheck) {
	if len(charged) == 0 {
		return
	}
	now := a.clock.Now()
	ctx = context.WithoutCancel(ctx)
	give := func() {
		for _, c := range charged {
			if err := a.limiter.Refund(ctx, c.Key, c.Limit, now); err != nil {
				a.log.WarnContext(ctx, "phoneauth: giving back limit events failed", "err", err)
				return
			}
		}
	}
	a.cleanUp(a.limiter.b, give)
}

// cleanUp runs fn, the clean-up of a failed request on backend b,
// detached from the request: at once for an in-process backend, which
// cannot be down, else in the background, so that a backend that is down
// as well does not hold up the answer.
func (a *Authenticator) cleanUp(b *backend, fn func()) {
	if b.inProcess {
		fn()
		return
	}
	a.cleanup.Add(1)
	go func() {
		defer a.cleanup.Done()
		fn()
	}()
}

// limiterPrefix starts every key phoneauth gives its Limiter.
const limiterPrefix = "phoneauth:"

// allow asks the Limiter about one (prefixed) key and turns a refusal into
// a *RateLimitError.
func (a *Authenticator) allow(ctx context.Context, scope, key string, l Limit, phone string) error {
	ok, retry, err := a.limiter.Allow(ctx, key, l, a.clock.Now())
	if err != nil {
		return storeErr("limiter", err)
	}
	if ok {
		return nil
	}
	return a.refuse(ctx, scope, retry, phone, false)
}

// refuse reports and returns the *RateLimitError of a limit's refusal;
// captcha says that a captcha token would have let the request through.
func (a *Authenticator) refuse(ctx context.Context, scope string, retry time.Duration, phone string, captcha bool) error {
	rl := &RateLimitError{Scope: scope, RetryAfter: retry, CaptchaRequired: captcha}
	level := slog.LevelInfo
	switch {
	case isGuardScope(scope):
		a.emit(ctx, a.guardEvent(scope, phone, rl))
	case scope == "global": // every user is refused: the operator must know
		level = slog.LevelWarn
		fallthrough
	default:
		a.emit(ctx, Event{Kind: EventRateLimited, Phone: phone, Scope: scope, Err: rl})
	}
	a.log.Log(ctx, level, "phoneauth: rate limited", "scope", scope, "phone", MaskPhone(phone), "retry_after", retry)
	return rl
}

// NoIP is the value of a params' IP that says "this caller has no client
// address to give" (a batch job, a test). The per-address limits then do
// not apply; an empty IP is refused with ErrInvalidRequest instead, so that
// a forgotten address never silently turns those limits off.
const NoIP = "-"

// A clientAddr is the client address of a call: the per-address limiter
// keys of its network and, for IPv6, of the /56 and /48 around it.
type clientAddr struct {
	// keys are the limiter keys without their purpose prefix: the address
	// (IPv4) or its /64 (IPv6), then the /56 and the /48; "unknown" for an
	// address that does not parse; none for NoIP.
	keys []string
}

// checkIP returns an *InputError for a missing client address (field is
// the params' field name). Any other value is accepted: one that is no
// address counts in the shared "unknown" bucket and never reaches a
// backend.
func checkIP(field, ip string) error {
	if ip == "" {
		return &InputError{Field: field, Reason: "is required (the client's address, for the per-address limits; phoneauth.NoIP if there is none)"}
	}
	return nil
}

// parseClientAddr returns the limiter view of a client address. One that
// does not parse shares the bucket "unknown" with every other such client:
// an unreadable peer fails closed, never into "no limit". An IPv6 client is
// limited per /64 (one client can rotate through its own /64 at will) and
// its /56 and /48 as aggregates, so that a whole allocation cannot multiply
// its budget by its number of /64s.
func parseClientAddr(ip string) clientAddr {
	if ip == NoIP {
		return clientAddr{}
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return clientAddr{keys: []string{"unknown"}}
	}
	addr = addr.Unmap().WithZone("")
	if !addr.Is6() {
		return clientAddr{keys: []string{addr.String()}}
	}
	keys := make([]string, 0, 3)
	for _, bits := range [...]int{64, 56, 48} {
		p, _ := addr.Prefix(bits)
		keys = append(keys, p.String())
	}
	return clientAddr{keys: keys}
}

// addressChecks returns the checks of addr under l with keys prefix+key:
// the address (or /64) under l, the /56 under factor times l's events and
// the /48 under factor² times (l.Per unchanged), with
// Limits.IPv6AggregateFactor as factor (aggregates off when it is
// negative).
func (a *Authenticator) addressChecks(scope, prefix string, addr clientAddr, l Limit) []scopedCheck {
	if l.Off() {
		return nil
	}
	out := make([]scopedCheck, 0, len(addr.keys))
	factor := a.cfg.Limits.IPv6AggregateFactor
	scaled := l
	for i, k := range addr.keys {
		if i > 0 {
			if factor < 0 {
				break
			}
			scaled.Events *= factor
		}
		out = append(out, scopedCheck{scope, LimitCheck{prefix + k, scaled}})
	}
	return out
}

// deviceKey is the per-device limiter key, empty without a device id.
func deviceKey(id string) string {
	if id == "" {
		return ""
	}
	return "device:" + boundedKey(id)
}

// boundedKey keeps client-chosen strings in limiter keys short and text:
// anything longer than 64 bytes, or not valid text (isText), is replaced by
// its SHA-256.
func boundedKey(s string) string {
	if len(s) <= 64 && isText(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
