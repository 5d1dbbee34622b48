package phoneauth

import (
	"log/slog"

	"github.com/golang-jwt/jwt/v5"
)

// An Authenticator runs phone-number sign-in by one-time code: it requests,
// resends and verifies codes, issues and rotates tokens, and enforces the
// limits. It is safe for concurrent use; create one with New and share it.
type Authenticator struct {
	cfg     Config // with defaults applied
	store   Store
	users   Users
	sender  Sender
	clock   Clock
	limiter Limiter
	log     *slog.Logger
	render  *messageRenderer // sender.go
	notices *messageRenderer // sender.go: phone-change notices
	phones  *phoneParser     // phone.go
	parser  *jwt.Parser      // accesstoken.go: validates access tokens
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
		store:   cfg.Store,
		users:   cfg.Users,
		sender:  cfg.Sender,
		clock:   cfg.Clock,
		limiter: cfg.Limiter,
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

// Development reports whether the Authenticator returns codes in results.
func (a *Authenticator) Development() bool { return a.cfg.Development }

// Clock returns the clock the Authenticator tells the time by
// (Config.Clock), for a server that must agree with it.
func (a *Authenticator) Clock() Clock { return a.clock }
