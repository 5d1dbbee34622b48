package phoneauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tokens are what a sign-in or a refresh grants.
type Tokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Refresh tokens are "<session id>.<secret>": the session id is 16 random
// bytes and the secret 32 (256 bits), both base64url without padding. The
// store keeps only the SHA-256 of the whole string.
const (
	sessionIDBytes     = 16
	refreshSecretBytes = 32
)

// newRefreshToken returns a fresh refresh token of session sid and its hash.
func newRefreshToken(sid string) (token string, hash []byte) {
	token = sid + "." + randomBase64(refreshSecretBytes)
	return token, hashRefreshToken(token)
}

// successor returns the refresh token that replaces token (of session sid)
// and its hash: HMAC-SHA-256 of token under the server secret, so that
// every presentation of one token, on any replica, is offered the same
// successor, and a retried or doubled refresh can be answered like the
// first (see RotateRefresh). It cannot be computed without the secret.
func (a *Authenticator) successor(sid, token string) (string, []byte) {
	m := hmac.New(sha256.New, a.cfg.Secret)
	m.Write([]byte("phoneauth/refresh/v1\x00"))
	m.Write([]byte(token))
	next := sid + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:refreshSecretBytes])
	return next, hashRefreshToken(next)
}

// hashRefreshToken is the stored form of a refresh token. A plain SHA-256 is
// enough: the token holds 256 random bits, so there is nothing to guess.
func hashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// parseRefreshToken returns the session id of a well-formed refresh token.
func parseRefreshToken(token string) (sid string, ok bool) {
	sid, secret, ok := strings.Cut(token, ".")
	if !ok || !isBase64URLOf(sid, sessionIDBytes) || !isBase64URLOf(secret, refreshSecretBytes) {
		return "", false
	}
	return sid, true
}

// errMalformedRefresh is the error of a refresh token that cannot be one of
// ours; the store is not consulted.
var errMalformedRefresh = fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)

// errReused is the error of a rotated refresh token presented again. It
// matches ErrTokenReused and, since the token is no longer valid,
// ErrInvalidToken.
var errReused error = reusedError{}

type reusedError struct{}

func (reusedError) Error() string { return ErrTokenReused.Error() + "; the session was revoked" }

func (reusedError) Is(target error) bool {
	return target == ErrTokenReused || target == ErrInvalidToken
}

// isBase64URLOf reports whether s is the canonical unpadded base64url
// encoding of n bytes. (The decoder skips CR and LF even in strict mode, so
// the decoded length is checked as well as the encoded one.)
func isBase64URLOf(s string, n int) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == n
}

// randomBase64 returns n bytes from crypto/rand, base64url without padding.
func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+: a failure crashes the program)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newSession returns a session of user u on device d starting at now, with
// its first refresh token.
func (a *Authenticator) newSession(u User, d Device, now time.Time) (Session, string) {
	sid := randomBase64(sessionIDBytes)
	refresh, hash := newRefreshToken(sid)
	s := Session{
		ID:               sid,
		UserID:           u.ID,
		Phone:            u.Phone,
		Device:           d,
		CreatedAt:        now,
		ExpiresAt:        now.Add(a.cfg.Tokens.SessionTTL),
		RefreshHash:      hash,
		RefreshedAt:      now,
		RefreshExpiresAt: now.Add(a.cfg.Tokens.RefreshTTL),
	}
	if s.ExpiresAt.Before(s.RefreshExpiresAt) {
		s.RefreshExpiresAt = s.ExpiresAt
	}
	return s, refresh
}

// withoutSecrets returns s without its refresh-token hash, which is of no
// use outside the store.
func withoutSecrets(s Session) Session {
	s.RefreshHash = nil
	return s
}

// startSession creates a session for user u on device d and issues its
// first tokens. The access token is signed before the session is stored, so
// a failure leaves nothing behind. The returned Session carries no
// RefreshHash.
func (a *Authenticator) startSession(ctx context.Context, u User, d Device) (Session, Tokens, error) {
	now := a.clock.Now()
	s, refresh := a.newSession(u, d, now)
	access, accessExp, err := a.accessToken(s, now)
	if err != nil {
		return Session{}, Tokens{}, err
	}
	if err := a.store.CreateSession(ctx, s); err != nil {
		return Session{}, Tokens{}, storeErr("create session", err)
	}
	return withoutSecrets(s), Tokens{
		AccessToken:      access,
		AccessExpiresAt:  accessExp,
		RefreshToken:     refresh,
		RefreshExpiresAt: s.RefreshExpiresAt,
	}, nil
}

// dropSession deletes a session that startSession created for a sign-in
// that failed after all, so that no session is left that nobody holds a
// token of. It runs as a clean-up (see cleanUp): the answer does not wait
// for a store that is down. A failure is logged: the session then lives
// on, unused, until it expires.
func (a *Authenticator) dropSession(ctx context.Context, s Session) {
	ctx = context.WithoutCancel(ctx)
	a.cleanUp(a.store.b, func() {
		if err := a.store.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, ErrNotFound) {
			a.log.ErrorContext(ctx, "phoneauth: deleting the session of a failed sign-in failed", "session", s.ID, "err", err)
		}
	})
}

// RefreshParams are the inputs of Refresh.
type RefreshParams struct {
	// RefreshToken is the token to exchange.
	RefreshToken string
	// IP is the client's address, as in RequestParams. Required.
	IP string
}

// Refresh exchanges a refresh token for a new access token and a new refresh
// token. Refresh tokens are single use (rotated on every refresh, RFC 9700
// section 4.14):
//
//   - The presented token stops working; the new one expires after
//     TokenConfig.RefreshTTL, and never after the session's absolute end
//     (SessionTTL from sign-in).
//   - The successor of a token is derived from it under the server secret,
//     so the same token presented again within TokenConfig.ReuseGrace
//     (default 10 seconds) of its rotation, concurrently or as a retry after
//     a lost response, is answered as its rotation was: the same new
//     refresh token (still current) and a fresh access token. A refresh
//     fired twice leaves one working session.
//   - Any other presentation of a rotated token means that two parties
//     hold the token family, a thief and the user: the whole session is
//     revoked (every refresh token of it, the newest included) and the
//     error matches ErrTokenReused (and ErrInvalidToken), with
//     EventTokenReused and a logged warning.
//
// A malformed, unknown, expired or revoked token is ErrInvalidToken; a store
// failure ErrStoreUnavailable. The result's User carries the session's ID
// and Phone only; IsNewUser is false; its Session carries no RefreshHash.
func (a *Authenticator) Refresh(ctx context.Context, p RefreshParams) (_ SignIn, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "refresh", a.start(), &err)
	if err := checkIP("IP", p.IP); err != nil {
		return SignIn{}, err
	}
	refreshToken := p.RefreshToken
	sid, ok := parseRefreshToken(refreshToken)
	if !ok {
		return SignIn{}, errMalformedRefresh
	}
	addr := parseClientAddr(p.IP)
	now := a.clock.Now()
	next, nextHash := a.successor(sid, refreshToken)
	rotation := Rotation{
		SessionID: sid,
		OldHash:   hashRefreshToken(refreshToken),
		NewHash:   nextHash,
		// The store forgets the session at its ExpiresAt, so the effective
		// expiry is capped by the session's end (reported below).
		NewExpiresAt: now.Add(a.cfg.Tokens.RefreshTTL),
		Now:          now,
		Grace:        max(a.cfg.Tokens.ReuseGrace, 0),
	}
	var s Session
	if a.store.routes != nil {
		s, err = a.rotateByRoute(ctx, liveChecks(a.addressChecks("refresh-ip", "refresh-ip:", addr, a.cfg.Limits.RefreshPerIP)), rotation)
	} else {
		var charged []LimitCheck
		if charged, err = a.allowAddress(ctx, "refresh-ip", addr, a.cfg.Limits.RefreshPerIP, ""); err == nil {
			defer a.refundOnOutage(ctx, &charged, &err)
			s, err = a.store.RotateRefresh(ctx, rotation)
		}
	}
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		return SignIn{}, err
	case errors.Is(err, ErrTokenReused):
		a.log.WarnContext(ctx, "phoneauth: rotated refresh token presented again; session revoked", "session", sid)
		a.emit(ctx, Event{Kind: EventTokenReused, SessionID: sid, Err: ErrTokenReused})
		return SignIn{}, errReused
	case errors.Is(err, ErrNotFound):
		return SignIn{}, fmt.Errorf("%w: refresh token unknown, expired or revoked", ErrInvalidToken)
	case err != nil:
		return SignIn{}, storeErr("rotate", err)
	}
	access, accessExp, err := a.accessToken(s, now)
	if err != nil {
		return SignIn{}, err
	}
	refreshExp := s.RefreshExpiresAt // as rotated, or by the first of a retried rotation
	if s.ExpiresAt.Before(refreshExp) {
		refreshExp = s.ExpiresAt
	}
	a.emit(ctx, Event{Kind: EventTokenRefreshed, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return SignIn{
		User:    User{ID: s.UserID, Phone: s.Phone},
		Session: withoutSecrets(s),
		Tokens: Tokens{
			AccessToken:      access,
			AccessExpiresAt:  accessExp,
			RefreshToken:     next,
			RefreshExpiresAt: refreshExp,
		},
	}, nil
}

// Logout ends the session of a refresh token, which must be the session's
// current (newest, unexpired) token. A rotated token of the session is
// reuse, as in Refresh: the session is revoked and the error matches
// ErrTokenReused; anything else is ErrInvalidToken.
// Access tokens already issued stay valid until they expire (AccessTTL): a
// resource server that must cut them off at once checks the session too.
func (a *Authenticator) Logout(ctx context.Context, refreshToken string) (err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "logout", a.start(), &err)
	sid, ok := parseRefreshToken(refreshToken)
	if !ok {
		return errMalformedRefresh
	}
	now := a.clock.Now()
	s, err := a.store.GetSession(ctx, sid, now)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no such session", ErrInvalidToken)
	}
	if err != nil {
		return storeErr("get session", err)
	}
	hash := hashRefreshToken(refreshToken)
	if subtle.ConstantTimeCompare(hash, s.RefreshHash) != 1 {
		return a.logoutNotCurrent(ctx, s, hash, now)
	}
	if !s.RefreshExpiresAt.After(now) {
		return fmt.Errorf("%w: the session's refresh token has expired", ErrInvalidToken)
	}
	if err := a.store.DeleteSession(ctx, sid); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no such session", ErrInvalidToken)
	} else if err != nil {
		return storeErr("delete session", err)
	}
	a.emit(ctx, Event{Kind: EventSignedOut, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return nil
}

// logoutNotCurrent answers a logout with a token of session s that is not
// its current one. A rotated token is reuse, as in Refresh: the session is
// revoked. The store tells: a rotation of the presented token to a random
// one, without grace, revokes the session for a past token and changes
// nothing for a token it does not know (the presented token is not current,
// and a token never becomes current again).
func (a *Authenticator) logoutNotCurrent(ctx context.Context, s Session, hash []byte, now time.Time) error {
	_, random := newRefreshToken(s.ID)
	_, err := a.store.RotateRefresh(ctx, Rotation{SessionID: s.ID, OldHash: hash, NewHash: random, NewExpiresAt: now, Now: now})
	switch {
	case errors.Is(err, ErrTokenReused):
		a.log.WarnContext(ctx, "phoneauth: logout with a rotated refresh token; session revoked", "session", s.ID)
		a.emit(ctx, Event{Kind: EventTokenReused, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID, Err: ErrTokenReused})
		return errReused
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: not a refresh token of the session", ErrInvalidToken)
	case err != nil:
		return storeErr("rotate", err)
	}
	// Only a current token rotates, and the presented one was not current.
	return fmt.Errorf("%w: not the session's current refresh token", ErrInvalidToken)
}

// ValidateSession checks an access token as ValidateAccessToken does and
// then that its session is live: not logged out, revoked (token reuse, a
// phone change) or expired, and the token's user's. It costs one store read.
// Every failure matches ErrInvalidToken; a store failure
// ErrStoreUnavailable. Routes that change the account should use it rather
// than ValidateAccessToken, whose tokens outlive their session by up to
// TokenConfig.AccessTTL.
func (a *Authenticator) ValidateSession(ctx context.Context, token string) (*Claims, error) {
	c, err := a.ValidateAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if _, err := a.liveSession(ctx, c.Subject, c.SessionID, a.clock.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

// liveSession returns the session id of userID if it is live at now, or an
// error matching ErrInvalidToken.
func (a *Authenticator) liveSession(ctx context.Context, userID, id string, now time.Time) (Session, error) {
	s, err := a.store.GetSession(ctx, id, now)
	switch {
	case errors.Is(err, ErrNotFound):
		return Session{}, fmt.Errorf("%w: the session has ended", ErrInvalidToken)
	case err != nil:
		return Session{}, storeErr("get session", err)
	case s.UserID != userID:
		return Session{}, fmt.Errorf("%w: the session is another user's", ErrInvalidToken)
	}
	return s, nil
}

// Sessions returns the user's live sessions (signed-in devices), oldest
// first, without their refresh-token hashes.
func (a *Authenticator) Sessions(ctx context.Context, userID string) (_ []Session, err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "sessions", a.start(), &err)
	if !isText(userID) {
		return nil, nil // no such user can exist
	}
	ss, err := a.store.ListSessions(ctx, userID, a.clock.Now())
	if err != nil {
		return nil, storeErr("list sessions", err)
	}
	for i := range ss {
		ss[i] = withoutSecrets(ss[i])
	}
	return ss, nil
}

// RevokeSession ends one of the user's sessions, such as a lost device. A
// session that does not exist, has expired, or belongs to another user is
// an error matching ErrNotFound, the same in all three cases.
func (a *Authenticator) RevokeSession(ctx context.Context, userID, sessionID string) (err error) {
	if err = a.made(); err != nil {
		return
	}
	defer a.done(ctx, "revoke_session", a.start(), &err)
	notFound := fmt.Errorf("%w: session %q of user %q", ErrNotFound, sessionID, userID)
	if !isText(sessionID) || !isText(userID) {
		return notFound // no such session can exist
	}
	s, err := a.store.GetSession(ctx, sessionID, a.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return notFound
	}
	if err != nil {
		return storeErr("get session", err)
	}
	if s.UserID != userID {
		return notFound
	}
	if err := a.store.DeleteSession(ctx, sessionID); errors.Is(err, ErrNotFound) {
		return notFound
	} else if err != nil {
		return storeErr("delete session", err)
	}
	a.emit(ctx, Event{Kind: EventSignedOut, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return nil
}
