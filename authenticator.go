package phoneauth

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// An Authenticator runs phone-number sign-in by one-time code: it requests,
// resends and verifies codes, issues and rotates tokens, and enforces the
// limits. It is safe for concurrent use; create one with New and share it.
// The methods of one that New did not make (a zero or nil Authenticator)
// return an error matching ErrInvalidConfig.
//
// # Failures
//
// Every call to the Store, Users and Limiter runs under
// Config.StoreTimeout: a backend that fails or does not answer in time is
// ErrStoreUnavailable, and the first such call ends the operation. An
// operation answered with an error has not happened, as far as the
// Authenticator knows:
//
//   - Request, Resend and the phone-verification starts send nothing
//     unless the code was stored, and when storing or sending fails (an
//     error matching ErrStoreUnavailable or ErrSendFailed) they give the
//     limit events they recorded back (Limiter.Refund), so that the
//     failure starts no cooldown and spends no limit; a code that was not
//     sent is deleted and can never be verified.
//   - Verify and ConfirmPhone count an attempt before comparing, consume
//     the code only after it matched, and give the failed-verify budget's
//     event back when the store fails before the code was consumed: the
//     retry verifies the same code. The steps after the consume (creating
//     the user and the session, or recording the phone) cannot undo it: if
//     one of them fails, the code is used and the client requests a new
//     one.
//   - Refresh rotates in one atomic store call: an error before it changed
//     nothing, and the same token works again.
//   - With a RouteStore (pgstore with its own Limiter and Users) a code
//     request, a verification and a refresh are each one atomic call, a
//     transaction: an error means nothing was recorded, stored or
//     consumed. (redisstore's verification is three scripts in order, and
//     keeps the guarantee above.)
//
// Where the store cannot promise that, the guarantee is weaker: a call cut
// off by its deadline may still have happened in the store (it received
// the write, and ran it after the Authenticator stopped waiting). Then a
// limiter call that had recorded its events keeps them (the retry may get
// a 429 with its Retry-After), an attempt stays counted, a consumed code
// stays consumed, and a rotation stays done: the old refresh token is
// accepted again only within TokenConfig.ReuseGrace, so that should be
// longer than StoreTimeout plus the client's wait before retrying. No
// store call is ever half-done: each is atomic. docs/operations.md lists
// the cases.
type Authenticator struct {
	cfg     Config         // with defaults applied
	store   guardedStore   // backend.go: Config.Store under StoreTimeout
	users   guardedUsers   // backend.go: Config.Users under StoreTimeout
	limiter guardedLimiter // backend.go: Config.Limiter under StoreTimeout
	sender  Sender
	clock   Clock
	log     *slog.Logger
	render  *messageRenderer // sender.go
	notices *messageRenderer // sender.go: phone-change notices
	phones  *phoneParser     // phone.go
	parser  *jwt.Parser      // accesstoken.go: validates access tokens
	cleanup sync.WaitGroup   // limits.go: refunds and session deletions under way
}

// New returns an Authenticator for cfg, or an error matching
// ErrInvalidConfig.
func New(cfg Config) (*Authenticator, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{
		cfg:     cfg,
		store:   guardedStore{cfg.Store, newRoutes(&cfg), newBackend("store", cfg.Store, &cfg)},
		users:   guardedUsers{cfg.Users, newBackend("users", cfg.Users, &cfg)},
		limiter: newGuardedLimiter(cfg.Limiter, &cfg),
		sender:  cfg.Sender,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		phones:  newPhoneParser(0),
		parser:  newAccessTokenParser(cfg.Tokens, cfg.Clock),
	}
	var err error
	if a.render, err = newMessageRenderer(cfg.Templates, cfg.AppName, cfg.WebOTPDomain, cfg.CodeLength, cfg.Logger); err != nil {
		return nil, err
	}
	if a.notices, err = newNoticeRenderer(cfg.PhoneChangeTemplates, cfg.AppName); err != nil {
		return nil, err
	}
	if cfg.Development {
		a.log.Warn("phoneauth: DEVELOPMENT MODE: codes are returned in results and HTTP responses; never run this in production")
	}
	return a, nil
}

// errNotMadeByNew is what the methods of an Authenticator that New did not
// make (a zero or nil one) return.
var errNotMadeByNew = fmt.Errorf("%w: the Authenticator was not made by New", ErrInvalidConfig)

// made returns nil if New made a, and otherwise errNotMadeByNew.
func (a *Authenticator) made() error {
	if a == nil || a.parser == nil {
		return errNotMadeByNew
	}
	return nil
}

// Development reports whether the Authenticator returns codes in results.
func (a *Authenticator) Development() bool { return a != nil && a.cfg.Development }

// Clock returns the clock the Authenticator tells the time by
// (Config.Clock), for a server that must agree with it.
// An Authenticator that New did not make tells the system clock.
func (a *Authenticator) Clock() Clock {
	if a == nil || a.clock == nil {
		return SystemClock{}
	}
	return a.clock
}
