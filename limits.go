package phoneauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"time"
)

// allowSend applies the sending limits in order: cooldown, IP, device,
// phone, global. With a BatchLimiter they are decided in one call, all or
// nothing; otherwise one by one, stopping at the first refusal (the earlier
// ones keep their event): the cooldown comes first so that a double tap
// costs nothing else, the global budget last so that only requests every
// other limit accepted spend it. When all allow, it returns the checks
// that recorded an event, for refund.
func (a *Authenticator) allowSend(ctx context.Context, phone, deviceID, ip string) (charged []LimitCheck, err error) {
	l := a.cfg.Limits
	all := [...]struct {
		scope string
		check LimitCheck
	}{
		{"cooldown", LimitCheck{"cooldown:" + phone, Limit{Events: 1, Per: l.ResendCooldown}}},
		{"ip", LimitCheck{ipKey(ip), l.PerIP}},
		{"device", LimitCheck{deviceKey(deviceID), l.PerDevice}},
		{"phone", LimitCheck{"phone:" + phone, l.PerPhone}},
		{"global", LimitCheck{"global", l.Global}},
	}
	scopes := make([]string, 0, len(all))
	checks := make([]LimitCheck, 0, len(all))
	for _, c := range all {
		if c.check.Key == "" || c.check.Limit.Off() || c.check.Limit.Per <= 0 {
			continue
		}
		c.check.Key = limiterPrefix + c.check.Key
		scopes, checks = append(scopes, c.scope), append(checks, c.check)
	}
	if a.limiter.batch != nil {
		refused, retry, err := a.limiter.AllowAll(ctx, checks, a.clock.Now())
		if err != nil {
			return nil, storeErr("limiter", err)
		}
		if refused >= 0 && refused < len(scopes) {
			return nil, a.refuse(ctx, scopes[refused], retry, phone)
		}
		return checks, nil
	}
	for i, c := range checks {
		if err := a.allow(ctx, scopes[i], c.Key, c.Limit, phone); err != nil {
			return nil, err
		}
	}
	return checks, nil
}

// refund gives back the events a request recorded (see Limiter.Refund)
// when it is answered with an error after all: its store write or its send
// failed. Where the limiter's own call failed, nothing is known to have
// been recorded and nothing is refunded.
//
// It runs in the background, detached from ctx (the client may be gone),
// each call under the limiter's deadline, so that a limiter that is down
// as well does not hold up the answer. A refund that fails is logged: the
// retry may then be refused until the events refill.
func (a *Authenticator) refund(ctx context.Context, charged []LimitCheck) {
	if len(charged) == 0 {
		return
	}
	now := a.clock.Now()
	ctx = context.WithoutCancel(ctx)
	a.refunds.Add(1)
	go func() {
		defer a.refunds.Done()
		for _, c := range charged {
			if err := a.limiter.Refund(ctx, c.Key, c.Limit, now); err != nil {
				a.log.WarnContext(ctx, "phoneauth: giving back the limit events of a failed request failed", "err", err)
				return
			}
		}
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
	return a.refuse(ctx, scope, retry, phone)
}

// refuse reports and returns the *RateLimitError of a limit's refusal.
func (a *Authenticator) refuse(ctx context.Context, scope string, retry time.Duration, phone string) error {
	rl := &RateLimitError{Scope: scope, RetryAfter: retry}
	a.emit(ctx, Event{Kind: EventRateLimited, Phone: phone, Scope: scope, Err: rl})
	level := slog.LevelInfo
	if scope == "global" { // every user is refused: the operator must know
		level = slog.LevelWarn
	}
	a.log.Log(ctx, level, "phoneauth: rate limited", "scope", scope, "phone", MaskPhone(phone), "retry_after", retry)
	return rl
}

// ipKey is the per-IP limiter key: the address, or its /64 for IPv6, so
// that one client cannot rotate through its own prefix. An empty ip means
// the caller has none to give: no per-IP limit.
func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:?" + boundedKey(ip)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
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
