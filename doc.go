// Package phoneauth is phone-number sign-in by one-time code (SMS or
// WhatsApp) for Go servers: request, verify and resend a code, issue and
// rotate tokens, and keep SMS fraud and brute force out.
//
// # The flow
//
// A server creates one [Authenticator] with [New], giving it a [Store] (the
// in-memory [MemoryStore] for one process, or a shared backend such as
// phoneauth/redisstore or phoneauth/pgstore for several replicas), a
// [Sender] and a secret. Then:
//
//   - [Authenticator.Request] normalises the phone number, applies the
//     number policy, the captcha and the limits, stores a keyed hash of a
//     fresh code and sends the code;
//   - [Authenticator.Verify] counts the attempt, compares the code in
//     constant time, consumes it, finds or creates the user through
//     [Users], and starts a device [Session] with an access token (a JWT)
//     and a refresh token;
//   - [Authenticator.Refresh] rotates the refresh token; presenting a
//     rotated token again revokes the whole session;
//   - [Authenticator.Logout], [Authenticator.Sessions] and
//     [Authenticator.RevokeSession] end sessions;
//   - [Authenticator.ValidateAccessToken] checks access tokens, and
//     [Authenticator.JWKS] publishes the public keys.
//
// A signed-in user proves a further phone with
// [Authenticator.StartPhoneVerification] and [Authenticator.ConfirmPhoneVerification].
// The package phoneauth/httpadapter mounts all of it as JSON routes on a
// *http.ServeMux.
//
// # Security defaults
//
// Codes are 6 digits from crypto/rand, valid 5 minutes, single use, and
// only the newest code of a phone per device is valid: a code belongs to
// the device that requested it. They are stored only as HMAC-SHA-256 under
// Config.Secret, bound to the phone and the challenge id, and never logged
// (except by the development [LogSender]). A code allows 5 attempts,
// counted atomically before comparing, and a phone has a budget of 10
// failed verifications per hour across codes, charged only for wrong
// guesses at a code that exists. Sending is limited per phone, per address
// (per /64 for IPv6, with /56 and /48 aggregates), per device, per number
// range and per country, globally, and by a 30-second cooldown; verifying
// and refreshing per address. The global budget (1,000 codes an hour) caps
// the SMS bill, and the conversion guard throttles a number range whose
// codes nobody verifies (SMS pumping; see [Limits.UnverifiedPerRange]).
// Premium-rate, toll-free and shared-cost numbers are refused, and so are
// satellite and international-network ones ([RegionNonGeographic]). Every
// number is a [Config] field, and New refuses configurations under which a
// code can be guessed with probability above 10⁻³ a day. docs/security.md
// holds the threat model.
//
// In production, also list the countries your users live in: SMS pumping
// targets the destinations where texts cost the most, and an allowlist
// takes the others off the table (see [PhonePolicy]):
//
//	Phones: phoneauth.PhonePolicy{AllowCountries: []string{"PK", "AE", "GB"}},
//
// Errors are sentinels such as [ErrInvalidOTP] and [ErrRateLimited] (a
// [*RateLimitError] with its RetryAfter), matched with errors.Is and
// errors.As. Time comes from a [Clock], logs go to a *slog.Logger with phone
// numbers masked, and every step can be observed through Config.Events.
//
// Every call to the store and the limiter has a deadline
// (Config.StoreTimeout, 3 seconds): a store that hangs is answered
// [ErrStoreUnavailable] by then, and an operation answered with an error
// did not happen, or is safe to retry (see [Authenticator]).
//
// # Storage
//
// The [Store] contract is written in the doc comments of [ChallengeStore]
// and [SessionStore]: what each method does on missing and expired entries
// and under concurrent calls. The package phoneauth/storetest holds any
// backend to that contract.
package phoneauth
