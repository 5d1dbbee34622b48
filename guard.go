package phoneauth

import (
	"context"
	"strings"
)

// SMS pumping (toll fraud) sends codes to numbers whose operators share the
// revenue of each text with the attacker. Its numbers never verify a code,
// and they cluster: an operator's revenue-sharing numbers sit in a few
// number ranges of one country. Two kinds of limits follow from that, both
// ordinary LimitChecks in the batch call every request already makes, so
// that they cost no extra round trip and every replica sharing the Limiter
// shares them:
//
//   - budgets: codes sent per number range (Limits.PerRange) and per country
//     (Limits.PerCountry, Limits.CountryBudgets), verified or not;
//   - the conversion guard: unverified codes per range and per country
//     (Limits.UnverifiedPerRange, Limits.UnverifiedPerCountry). Each code
//     sent takes one event of the range's and the country's guard buckets;
//     a successful verification gives it back (Limiter.Refund, in the one
//     call that also resets the failed-verify budget: BatchRefunder). The
//     buckets therefore drain only under codes nobody types in, and the
//     guard never throttles a range whose codes convert, however busy it
//     is (PerRange still bounds it).

// Scopes of the refusals of the number-range and country limits (see
// RateLimitError.Scope). A refusal of ScopeRangeGuard or ScopeCountryGuard
// also matches ErrRangeThrottled.
const (
	ScopeRange        = "range"         // Limits.PerRange
	ScopeCountry      = "country"       // Limits.PerCountry, Limits.CountryBudgets
	ScopeRangeGuard   = "range_guard"   // Limits.UnverifiedPerRange
	ScopeCountryGuard = "country_guard" // Limits.UnverifiedPerCountry
)

// NumberRange returns the number range of an E.164 number under
// Limits.RangeDigits digits: the number without its last digits digits, so
// that "+447400123456" is in the range "+447400123" (1,000 numbers) with
// the default 3. At least the "+" and one digit are kept; digits of 0 or
// less keep the whole number.
func NumberRange(e164 string, digits int) string {
	keep := max(len(e164)-max(digits, 0), min(2, len(e164)))
	return e164[:keep]
}

// rangeChecks are the sending checks of a phone's number range and
// country, the guard's before the budget's so that a range throttled for
// its conversion says so.
func (a *Authenticator) rangeChecks(ph Phone) []scopedCheck {
	l := a.cfg.Limits
	rng := NumberRange(ph.E164, l.RangeDigits)
	return []scopedCheck{
		{ScopeRangeGuard, LimitCheck{"unverified-range:" + rng, l.UnverifiedPerRange}},
		{ScopeRange, LimitCheck{"range:" + rng, l.PerRange}},
		{ScopeCountryGuard, LimitCheck{"unverified-country:" + ph.Region, l.UnverifiedPerCountry}},
		{ScopeCountry, LimitCheck{"country:" + ph.Region, l.countryBudget(ph.Region)}},
	}
}

// countryBudget is the send budget of a region: its CountryBudgets entry,
// else PerCountry.
func (l Limits) countryBudget(region string) Limit {
	if b, ok := l.CountryBudgets[region]; ok {
		return b
	}
	return l.PerCountry
}

// settleVerified runs the limiter's side of a successful verification in
// one call (BatchRefunder): it forgets the resets keys (the phone's
// failed-verify budget) and gives back the guard events of the code, so
// that the guard counts only codes nobody typed in. A failure is logged:
// the budget then stays charged, and the range counts one unverified code
// too many, until they refill.
func (a *Authenticator) settleVerified(ctx context.Context, ph Phone, resets []string) {
	refunds := a.guardCredits(ph)
	if len(refunds) == 0 && len(resets) == 0 {
		return
	}
	if err := a.limiter.RefundAll(ctx, refunds, resets, a.clock.Now()); err != nil {
		a.log.WarnContext(ctx, "phoneauth: resetting the failed-verify budget and crediting the conversion guard failed", "phone", MaskPhone(ph.E164), "err", err)
	}
}

// guardCredits are the (prefixed) guard checks whose events a verified
// code of ph gives back.
func (a *Authenticator) guardCredits(ph Phone) []LimitCheck {
	l := a.cfg.Limits
	var credits []LimitCheck
	for _, c := range [...]LimitCheck{
		{"unverified-range:" + NumberRange(ph.E164, l.RangeDigits), l.UnverifiedPerRange},
		{"unverified-country:" + ph.Region, l.UnverifiedPerCountry},
	} {
		if !c.Limit.Off() {
			credits = append(credits, LimitCheck{limiterPrefix + c.Key, c.Limit})
		}
	}
	return credits
}

// isGuardScope reports whether a refusal's scope is the conversion guard's.
func isGuardScope(scope string) bool {
	return scope == ScopeRangeGuard || scope == ScopeCountryGuard
}

// guardEvent is the EventRangeThrottled of a guard refusal of phone.
func (a *Authenticator) guardEvent(scope, phone string, rl *RateLimitError) Event {
	e := Event{Kind: EventRangeThrottled, Phone: phone, Scope: scope, Err: rl}
	if ph, err := a.phones.parse(phone, ""); err == nil {
		e.Region = ph.Region
		if scope == ScopeRangeGuard {
			e.Range = NumberRange(ph.E164, a.cfg.Limits.RangeDigits)
		}
	}
	return e
}

// validBudgetRegion reports whether a CountryBudgets key names a region as
// Phone.Region does: upper case, or RegionNonGeographic.
func validBudgetRegion(region string) bool {
	return region == RegionNonGeographic || (isRegion(region) && region == strings.ToUpper(region))
}
