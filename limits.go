package phoneauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"time"
)

// A scopedCheck is a LimitCheck with the scope a refusal reports.
type scopedCheck struct {
	scope string
	check LimitCheck
}

// sendChecks are the sending limits, in the order they apply: cooldown,
// address, device, phone, number range and country (guard.go), global. The
// cooldown comes first so that a double tap costs nothing else, the global
// budget last so that only requests every other limit accepted spend it.
func (a *Authenticator) sendChecks(ph Phone, deviceID string, addr clientAddr) []scopedCheck {
	l := a.cfg.Limits
	phone := ph.E164
	checks := []scopedCheck{{"cooldown", LimitCheck{"cooldown:" + phone, Limit{Events: 1, Per: l.ResendCooldown}}}}
	checks = append(checks, a.addressChecks("ip", "ip:", addr, l.PerIP)...)
	checks = append(checks,
		scopedCheck{"device", LimitCheck{deviceKey(deviceID), l.PerDevice}},
		scopedCheck{"phone", LimitCheck{"phone:" + phone, l.PerPhone}},
	)
	checks = append(checks, a.rangeChecks(ph)...)
	return append(checks, scopedCheck{"global", LimitCheck{"global", l.Global}})
}

// allowAddress applies the per-address limit of a verification ("verify-ip")
// or a refresh ("refresh-ip").
func (a *Authenticator) allowAddress(ctx context.Context, scope string, addr clientAddr, l Limit, phone string) error {
	_, err := a.allowAll(ctx, phone, a.addressChecks(scope, scope+":", addr, l))
	return err
}

// allowAll applies checks (those with an empty key or an off limit are
// skipped). With a BatchLimiter they are decided in one call, all or
// nothing; otherwise one by one, stopping at the first refusal (the earlier
// ones keep their event). When all allow, it returns the checks that
// recorded an event, for refund.
func (a *Authenticator) allowAll(ctx context.Context, phone string, all []scopedCheck) (charged []LimitCheck, err error) {
	scopes, checks := limiterChecks(all)
	if len(checks) == 0 {
		return nil, nil
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
	if a.limiter.b.inProcess {
		give()
		return
	}
	a.refunds.Add(1)
	go func() {
		defer a.refunds.Done()
		give()
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
