package phoneauth

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// Config configures an Authenticator. Store, Sender, Secret and Tokens.Keys
// are required; every other field has a working default, listed with it.
type Config struct {
	// Store keeps challenges and sessions. Required.
	Store Store
	// Users resolves phones to user accounts. Default: Store, if it
	// implements Users.
	Users Users
	// Sender delivers codes. Required.
	Sender Sender

	// Secret keys the HMAC under which codes are stored: at least 32 random
	// bytes, the same on every replica. Required.
	Secret []byte
	// PreviousSecrets still verify codes issued under them, so that Secret
	// can be rotated without failing codes in flight.
	PreviousSecrets [][]byte

	// Tokens configures access and refresh tokens.
	Tokens TokenConfig

	// Clock tells the time. Default: the system clock.
	Clock Clock
	// Limiter counts requests for the limits. Default: an in-memory
	// limiter (one per Authenticator; use a shared one with replicas).
	Limiter Limiter
	// StoreTimeout bounds every call to Store, Users and Limiter: a call
	// that has no answer by then fails, and the Authenticator answers
	// ErrStoreUnavailable instead of waiting for a backend that hangs. A
	// backend must return soon after the context of a call is done (pgstore
	// does, and redisstore on a go-redis client created with
	// ContextTimeoutEnabled). Default DefaultStoreTimeout
	// (3 seconds), at least a millisecond; a negative value sets no
	// deadline of its own, leaving only the caller's context. Keep it below the HTTP server's write
	// timeout, so that a request is answered 503 rather than dropped. The
	// MemoryStore and MemoryLimiter, which cannot hang, run without it.
	StoreTimeout time.Duration
	// Logger receives the library's logs. Codes are never logged and phone
	// numbers are masked. Default: logs are discarded.
	Logger *slog.Logger
	// Events, if set, is called synchronously for every event (see Event):
	// for metrics and audit logs. It must be quick and safe for concurrent
	// use.
	Events func(context.Context, Event)
	// Captcha, if set, must accept a request's captcha token before a code
	// is sent. A request over the per-phone limit then escalates instead of
	// being refused: with a valid token it counts against
	// Limits.PerPhoneWithCaptcha, without one it gets ErrCaptchaRequired.
	Captcha CaptchaVerifier
	// CaptchaOnlyOverLimit asks for a captcha only from requests over the
	// per-phone limit (ErrCaptchaRequired), instead of from every request.
	CaptchaOnlyOverLimit bool

	// Development returns codes in results (and so in HTTP responses). Never
	// in production: New logs a warning when it is on.
	Development bool

	// CodeLength is the number of digits of a code. Default 6; 4 to 10.
	CodeLength int
	// AllowWeakCodes lets New accept a configuration under which an
	// attacker could guess a targeted phone's code with a probability above
	// 10⁻³ per day (a short code, a large failed-verify budget, limits
	// turned off); see docs/security.md for the computation. Default false:
	// New refuses such a configuration.
	AllowWeakCodes bool
	// CodeTTL is how long a code is valid. Default 5 minutes.
	CodeTTL time.Duration
	// MaxAttempts is how many verification attempts one code allows.
	// Default 5.
	MaxAttempts int
	// Limits are the abuse limits; see Limits for their defaults.
	Limits Limits
	// Phones is the number type and country policy.
	Phones PhonePolicy
	// TestNumbers maps E.164 numbers to fixed codes (app-store review). No
	// message is sent to them; each entry stops working at its Expires.
	TestNumbers map[string]TestNumber
	// Signup decides whether verifying an unknown phone creates a user.
	// Default SignupAllowed.
	Signup SignupPolicy

	// DefaultChannel is used when a request names none. Default SMS.
	DefaultChannel Channel
	// Templates render message text per locale (see Templates). Default:
	// DefaultTemplate for every locale.
	Templates Templates
	// AppName is shown in messages. Default "phoneauth".
	AppName string
	// PhoneChangeTemplates render, per locale as Templates do, the notice
	// sent to a user's old number when the account moves to another one. A
	// template may print {{.AppName}} and {{.Phone}} (the new number,
	// masked); there is no code. Default: DefaultPhoneChangeTemplate.
	PhoneChangeTemplates Templates
	// RecentSignIn is how recently a session must have signed in (verified
	// a code) to move its account to another phone. Default 10 minutes.
	RecentSignIn time.Duration
	// WebOTPDomain, if set, appends the WebOTP line "@domain #code" to
	// messages so browsers can fill the code in.
	WebOTPDomain string
}

// Limits are the abuse limits on sending and verifying codes. A zero Limit
// takes its default; Unlimited turns a limit off.
type Limits struct {
	// PerPhone limits codes sent to one phone. Default 3 per 5 minutes.
	PerPhone Limit
	// PerIP limits code requests from one client address: an IPv4 address,
	// or an IPv6 /64 with its /56 and /48 as aggregates (see
	// IPv6AggregateFactor). Default 10 per 10 minutes.
	PerIP Limit
	// VerifyPerIP limits verifications (Verify, ConfirmPhone) from one client
	// address, whatever their outcome, with the same aggregates. Default 30
	// per 10 minutes: three verifications for each code PerIP lets the
	// address request, so it binds only an address that verifies codes it
	// did not request (spraying guesses over many numbers).
	VerifyPerIP Limit
	// RefreshPerIP limits refreshes from one client address, with the same
	// aggregates. Default 120 per minute: refresh tokens cannot be guessed,
	// so it only bounds the load one address can put on the store, and it
	// leaves room for about 1,800 sessions refreshing every 15 minutes
	// behind one NAT.
	RefreshPerIP Limit
	// IPv6AggregateFactor scales the per-address limits for the IPv6
	// aggregates: a /56 gets factor times the events of the limit and a /48
	// factor² times (same period). Default 4 (so 40 and 160 code requests
	// per 10 minutes); a negative value limits IPv6 per /64 only.
	IPv6AggregateFactor int
	// PerDevice limits code requests from one device id. Default 5 per 10
	// minutes.
	PerDevice Limit
	// PerPhoneWithCaptcha limits the codes sent to one phone beyond PerPhone
	// by requests with a valid captcha token (Config.Captcha set). Default
	// 5 per hour.
	PerPhoneWithCaptcha Limit
	// Global caps all codes sent, by every client to every phone: a
	// ceiling on the SMS bill when an attack gets past the other limits
	// (thousands of addresses, each sending a few codes). Default 1,000 per
	// hour: a burst of 1,000, refilled at about 17 a minute, at most 24,000
	// texts a day.
	//
	// Size it from your own traffic: about three times the codes sent in
	// your busiest hour (sign-ins in that hour times about 1.2, for
	// resends), so that ordinary peaks pass and an attack costs at most
	// Events times the price of a text per Per. When it refuses, every
	// user is refused (with scope "global", logged as a warning): it trades
	// availability for money, so alert on it (EventRateLimited, or the
	// otelphoneauth module's phoneauth_limit_refusals_total{limit="global"}).
	// With several replicas, give them a shared Limiter, or divide Events
	// by the number of replicas.
	Global Limit

	// RangeDigits defines the number range of PerRange and of the
	// conversion guard: a phone's E.164 number without its last
	// RangeDigits digits (see NumberRange), so that a range holds
	// 10^RangeDigits numbers. Default 3: 1,000 numbers, the block an
	// operator assigns at once in most numbering plans, so that a block of
	// revenue-sharing numbers is one range while real users, spread over a
	// country's millions of numbers, rarely share one. 1 to 6.
	RangeDigits int
	// PerRange is the send budget of one number range, whether its codes
	// are verified or not. Default 30 per hour (a burst of 30, then one
	// every 2 minutes). Real traffic is thin per range: a service with a
	// million sign-ins a day in a country of 100 million numbers sees
	// about 10 a day per 1,000-number range; 30 in an hour is a company
	// enrolling its staff at once. It caps a pump whose operator can also
	// receive the codes and verify them, which the guard alone would
	// refund. Raise it for a known busy range (a corporate block).
	PerRange Limit
	// PerCountry is the send budget of the numbers of one region
	// (Phone.Region; RegionNonGeographic is one region), verified or not.
	// Default: half of Global's events over Global's period (500 per hour
	// at the default Global), off when Global is off. Sized as Global is
	// (three times the busiest hour), half of it still passes any one
	// country's ordinary peak, and a pump into one country can spend at
	// most half the global budget, leaving the other half to every other
	// country. A service that serves one country only should raise it to
	// Global (or set CountryBudgets for that country).
	PerCountry Limit
	// CountryBudgets overrides PerCountry for the regions it names, by
	// Phone.Region ("GB", or "001" for RegionNonGeographic): a large budget
	// for the countries your users live in, a small one for the others.
	CountryBudgets map[string]Limit
	// UnverifiedPerRange is the conversion guard of a number range: a
	// token bucket of codes sent to the range and never verified. Every
	// code sent takes an event; a successful verification gives it back.
	// When the bucket is empty the range is throttled: requests are
	// refused with ErrRangeThrottled (HTTP 429, code "range_throttled",
	// with Retry-After) and EventRangeThrottled is reported. The range
	// recovers as the bucket refills (one event every Per/Events) and
	// faster as the codes it is then sent are verified.
	//
	// Default 10 per hour. Equivalently: with sends s per hour and a
	// conversion rate r, the range is throttled when s·(1−r) exceeds 10
	// an hour after a first 10 unverified codes, so enough volume and a
	// low rate are both required: a range's real users (a few codes an
	// hour at most, 70 to 95 % converting) never come near, while a pump
	// (0 % converting) gets 10 codes, then 10 an hour, into a range. An
	// SMS delivery outage, during which nothing converts, throttles only
	// ranges with more than 10 codes in the hour.
	//
	// A captcha does not lift the throttle, unlike the per-phone limit
	// (PerPhoneWithCaptcha): solving services sell captchas for a fraction
	// of a text's price, so a pump that pays for them still profits, while
	// real users caught in a throttled range get through as the range
	// refills and their codes are verified.
	UnverifiedPerRange Limit
	// UnverifiedPerCountry is the conversion guard of a whole region,
	// against a pump spread over many ranges of one country. Default: a
	// quarter of Global's events over Global's period (250 per hour at the
	// default Global), off when Global is off: an ordinary country's
	// unverified codes, 5 to 30 % of its sends, stay far below a quarter
	// of a budget sized at three times the busiest hour.
	UnverifiedPerCountry Limit

	// ResendCooldown is the minimum time between two codes to one phone.
	// Default 30 seconds; a negative value turns it off.
	ResendCooldown time.Duration
	// FailedVerifies is the budget of consecutive failed verifications of
	// one phone, across codes, devices and resends: it is what bounds
	// guessing. Only a wrong guess at a code that exists is charged (a
	// verification that finds nothing to verify is not), and a success
	// resets it. Default 10 per hour.
	FailedVerifies Limit
}

// TestNumber is a phone number with a fixed code, for app-store review and
// automated tests.
type TestNumber struct {
	// Code is the fixed code (CodeLength digits).
	Code string
	// Expires is when the entry stops working. Required.
	Expires time.Time
}

// SignupPolicy decides what verifying the phone of no existing user does.
// Whatever the policy, requesting a code answers the same for known and
// unknown phones, so the request step is no account-enumeration oracle.
type SignupPolicy int

const (
	// SignupAllowed creates a user on first verification.
	SignupAllowed SignupPolicy = iota
	// SignupWithCreateUser creates a user only if the code was requested
	// with CreateUser set.
	SignupWithCreateUser
	// SignupDisabled never creates users: only existing users sign in.
	SignupDisabled
)

// A CaptchaVerifier checks a captcha token. It returns nil for a valid token,
// an error matching ErrCaptchaFailed for a missing or rejected one, and
// another error (normally matching ErrCaptchaUnavailable) when the provider
// could not answer.
type CaptchaVerifier interface {
	VerifyCaptcha(ctx context.Context, token, remoteIP string) error
}

// Defaults of Config and Limits.
const (
	defaultCodeLength     = 6
	defaultCodeTTL        = 5 * time.Minute
	defaultMaxAttempts    = 5
	defaultResendCooldown = 30 * time.Second
	defaultAppName        = "phoneauth"
	defaultRecentSignIn   = 10 * time.Minute
)

// Default limits (documented on the Limits fields).
var (
	defaultPerPhone            = Limit{Events: 3, Per: 5 * time.Minute}
	defaultPerIP               = Limit{Events: 10, Per: 10 * time.Minute}
	defaultPerDevice           = Limit{Events: 5, Per: 10 * time.Minute}
	defaultPerPhoneWithCaptcha = Limit{Events: 5, Per: time.Hour}
	defaultFailedVerifies      = Limit{Events: 10, Per: time.Hour}
	defaultGlobal              = Limit{Events: 1000, Per: time.Hour}
	defaultVerifyPerIP         = Limit{Events: 30, Per: 10 * time.Minute}
	defaultRefreshPerIP        = Limit{Events: 120, Per: time.Minute}
	defaultPerRange            = Limit{Events: 30, Per: time.Hour}
	defaultUnverifiedPerRange  = Limit{Events: 10, Per: time.Hour}
)

// defaultRangeDigits is the default of Limits.RangeDigits; maxRangeDigits
// its largest value.
const (
	defaultRangeDigits = 3
	maxRangeDigits     = 6
)

// fractionOf returns the Limit of 1/div of l's events over l's period (at
// least one event), or Unlimited when l is off: the defaults of the
// country budgets, which scale with Global.
func fractionOf(l Limit, div int) Limit {
	if l.Off() {
		return Unlimited
	}
	return Limit{Events: max(1, l.Events/div), Per: l.Per}
}

// defaultIPv6AggregateFactor is the default of Limits.IPv6AggregateFactor.
const defaultIPv6AggregateFactor = 4

// setDefaults fills in the zero fields of a Config with their defaults.
func (c *Config) setDefaults() {
	if c.Users == nil {
		if u, ok := c.Store.(Users); ok {
			c.Users = u
		}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Limiter == nil {
		c.Limiter = NewMemoryLimiter(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.CodeLength == 0 {
		c.CodeLength = defaultCodeLength
	}
	if c.CodeTTL == 0 {
		c.CodeTTL = defaultCodeTTL
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
	l := &c.Limits
	l.PerPhone = l.PerPhone.or(defaultPerPhone)
	l.PerIP = l.PerIP.or(defaultPerIP)
	l.PerDevice = l.PerDevice.or(defaultPerDevice)
	l.PerPhoneWithCaptcha = l.PerPhoneWithCaptcha.or(defaultPerPhoneWithCaptcha)
	l.Global = l.Global.or(defaultGlobal)
	if l.RangeDigits == 0 {
		l.RangeDigits = defaultRangeDigits
	}
	l.PerRange = l.PerRange.or(defaultPerRange)
	l.UnverifiedPerRange = l.UnverifiedPerRange.or(defaultUnverifiedPerRange)
	l.PerCountry = l.PerCountry.or(fractionOf(l.Global, 2))
	l.UnverifiedPerCountry = l.UnverifiedPerCountry.or(fractionOf(l.Global, 4))
	l.FailedVerifies = l.FailedVerifies.or(defaultFailedVerifies)
	l.VerifyPerIP = l.VerifyPerIP.or(defaultVerifyPerIP)
	l.RefreshPerIP = l.RefreshPerIP.or(defaultRefreshPerIP)
	if l.IPv6AggregateFactor == 0 {
		l.IPv6AggregateFactor = defaultIPv6AggregateFactor
	}
	if l.ResendCooldown == 0 {
		l.ResendCooldown = defaultResendCooldown
	}
	if c.DefaultChannel == "" {
		c.DefaultChannel = SMS
	}
	if c.AppName == "" {
		c.AppName = defaultAppName
	}
	if c.RecentSignIn == 0 {
		c.RecentSignIn = defaultRecentSignIn
	}
	c.Tokens.setDefaults()
}

// validate checks a Config with its defaults applied. Errors match
// ErrInvalidConfig.
func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Store == nil {
		return bad("Store is required")
	}
	if c.Sender == nil {
		return bad("Sender is required")
	}
	if err := checkSecret(c.Secret); err != nil {
		return bad("Secret %s", err)
	}
	for i, s := range c.PreviousSecrets {
		if err := checkSecret(s); err != nil {
			return bad("PreviousSecrets[%d] %s", i, err)
		}
	}
	if c.Users == nil {
		return bad("Users is required when the Store does not implement Users")
	}
	if c.CodeLength < 4 || c.CodeLength > 10 {
		return bad("CodeLength must be 4 to 10, got %d", c.CodeLength)
	}
	if c.CodeTTL < time.Second {
		return bad("CodeTTL must be at least a second, got %s", c.CodeTTL)
	}
	if c.StoreTimeout > 0 && c.StoreTimeout < time.Millisecond {
		return bad("StoreTimeout must be at least a millisecond (or negative for none), got %s", c.StoreTimeout)
	}
	if c.RecentSignIn < 0 {
		return bad("RecentSignIn is negative")
	}
	if c.MaxAttempts < 1 {
		return bad("MaxAttempts must be positive, got %d", c.MaxAttempts)
	}
	l := &c.Limits
	for name, lim := range map[string]Limit{"PerPhone": l.PerPhone, "PerIP": l.PerIP, "PerDevice": l.PerDevice, "Global": l.Global, "FailedVerifies": l.FailedVerifies,
		"VerifyPerIP": l.VerifyPerIP, "RefreshPerIP": l.RefreshPerIP, "PerPhoneWithCaptcha": l.PerPhoneWithCaptcha,
		"PerRange": l.PerRange, "PerCountry": l.PerCountry, "UnverifiedPerRange": l.UnverifiedPerRange, "UnverifiedPerCountry": l.UnverifiedPerCountry} {
		if !lim.valid() {
			return bad("Limits.%s must have Events > 0 and Per > 0, or be Unlimited", name)
		}
	}
	if l.RangeDigits < 1 || l.RangeDigits > maxRangeDigits {
		return bad("Limits.RangeDigits must be 1 to %d, got %d", maxRangeDigits, l.RangeDigits)
	}
	for region, lim := range l.CountryBudgets {
		if !validBudgetRegion(region) {
			return bad("Limits.CountryBudgets: unknown region %q (want an upper-case ISO 3166-1 alpha-2 code, or %q)", region, RegionNonGeographic)
		}
		if !lim.valid() {
			return bad("Limits.CountryBudgets[%q] must have Events > 0 and Per > 0, or be Unlimited", region)
		}
	}
	if err := c.Phones.validate(); err != nil {
		return err
	}
	for number, tn := range c.TestNumbers {
		ph, err := ParsePhone(number, "")
		if err != nil || ph.E164 != number {
			return bad("TestNumbers key %q is not an E.164 number", number)
		}
		if _, ok := normalizeCode(tn.Code, c.CodeLength); !ok || tn.Code != strings.TrimSpace(tn.Code) {
			return bad("TestNumbers[%q].Code must be %d digits", number, c.CodeLength)
		}
		if tn.Expires.IsZero() {
			return bad("TestNumbers[%q].Expires is required", number)
		}
	}
	if c.CaptchaOnlyOverLimit && c.Captcha == nil {
		return bad("CaptchaOnlyOverLimit needs a Captcha")
	}
	if c.Signup < SignupAllowed || c.Signup > SignupDisabled {
		return bad("unknown Signup policy %d", c.Signup)
	}
	if c.DefaultChannel != SMS && c.DefaultChannel != WhatsApp {
		return bad("unknown DefaultChannel %q", c.DefaultChannel)
	}
	if p := c.guessOdds(); p > maxGuessOdds && !c.AllowWeakCodes {
		return bad("an attacker could guess a phone's code with probability %.2g per day (CodeLength %d, MaxAttempts %d, Limits.FailedVerifies, PerPhone and ResendCooldown), above %g; strengthen them or set AllowWeakCodes",
			p, c.CodeLength, c.MaxAttempts, maxGuessOdds)
	}
	return c.Tokens.validate()
}

// minSecretBytes and minSecretSymbols bound what a server secret looks
// like: at least 32 bytes, of at least 8 different values. The second
// refuses placeholders (all zeros, one repeated character, "abab…"); a
// secret from crypto/rand has about 30 different bytes in 32, and one
// written as hex 16.
const (
	minSecretBytes   = 32
	minSecretSymbols = 8
)

// checkSecret returns what is wrong with a server secret, or nil.
func checkSecret(s []byte) error {
	if len(s) < minSecretBytes {
		return fmt.Errorf("must be at least %d bytes, got %d", minSecretBytes, len(s))
	}
	var seen [256]bool
	n := 0
	for _, b := range s {
		if !seen[b] {
			seen[b] = true
			n++
		}
	}
	if n < minSecretSymbols {
		return fmt.Errorf("has only %d different bytes: it is a placeholder, not random (use crypto/rand)", n)
	}
	return nil
}

// maxGuessOdds is the highest probability per day of guessing a targeted
// phone's code that New accepts without Config.AllowWeakCodes.
const maxGuessOdds = 1e-3

// guessOdds bounds the probability that an attacker guesses the code of
// one targeted phone within a day, for a Config with its defaults applied:
// the most wrong guesses the limits let through per phone per day, over the
// 10^CodeLength possible codes (a union bound). The guesses are the fewer
// of what the failed-verify budget allows and what the codes the phone can
// be sent allow (MaxAttempts each), whatever the number of addresses and
// devices, since both counts are per phone. A limit turned off counts as no
// bound (+Inf).
func (c *Config) guessOdds() float64 {
	codes := codesPerDay(c.Limits)
	if c.Captcha != nil { // the escalation sends beyond PerPhone
		codes += eventsPerDay(c.Limits.PerPhoneWithCaptcha)
	}
	guesses := math.Min(eventsPerDay(c.Limits.FailedVerifies), codes*float64(c.MaxAttempts))
	return math.Min(1, guesses/math.Pow10(c.CodeLength))
}

// codesPerDay is the most codes the sending limits let one phone be sent in
// a day: the fewer of the per-phone limit and the cooldown.
func codesPerDay(l Limits) float64 {
	n := eventsPerDay(l.PerPhone)
	if l.ResendCooldown > 0 {
		n = math.Min(n, 1+math.Floor(float64(day)/float64(l.ResendCooldown)))
	}
	return math.Min(n, eventsPerDay(l.Global))
}

const day = 24 * time.Hour

// eventsPerDay is the most events a Limit (a token bucket) allows in a day:
// the full burst, then the refill over the day; +Inf if it is off.
func eventsPerDay(l Limit) float64 {
	if l.Off() {
		return math.Inf(1)
	}
	return float64(l.Events) + math.Floor(float64(l.Events)*float64(day)/float64(l.Per))
}
