package phoneauth

import (
	"context"
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
	a.emit(ctx, Event{Kind: EventSignedIn, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: d.ID})
	return withoutSecrets(s), Tokens{
		AccessToken:      access,
		AccessExpiresAt:  accessExp,
		RefreshToken:     refresh,
		RefreshExpiresAt: s.RefreshExpiresAt,
	}, nil
}

// Refresh exchanges a refresh token for a new access token and a new refresh
// token. Refresh tokens are single use (rotated on every refresh, RFC 9700
// section 4.14):
//
//   - The presented token stops working; the new one expires after
//     TokenConfig.RefreshTTL, and never after the session's absolute end
//     (SessionTTL from sign-in).
//   - Of concurrent refreshes with one token exactly one succeeds (with a
//     ReuseGrace, the others may then succeed as grace uses).
//   - A token that was already rotated means that two parties hold the
//     token family, a thief and the user: the whole session is revoked
//     (every refresh token of it, the newest included) and the error
//     matches ErrTokenReused (and ErrInvalidToken), with EventTokenReused
//     and a logged warning. Only within TokenConfig.ReuseGrace after its
//     rotation is a rotated token accepted once more, for a client that
//     lost the response; the grace is 0 (off) by default.
//
// A malformed, unknown, expired or revoked token is ErrInvalidToken; a store
// failure ErrStoreUnavailable. The result's User carries the session's ID
// and Phone only; IsNewUser is false; its Session carries no RefreshHash.
func (a *Authenticator) Refresh(ctx context.Context, refreshToken string) (_ SignIn, err error) {
	defer a.done(ctx, "refresh", a.start(), &err)
	sid, ok := parseRefreshToken(refreshToken)
	if !ok {
		return SignIn{}, errMalformedRefresh
	}
	now := a.clock.Now()
	next, nextHash := newRefreshToken(sid)
	s, err := a.store.RotateRefresh(ctx, Rotation{
		SessionID: sid,
		OldHash:   hashRefreshToken(refreshToken),
		NewHash:   nextHash,
		// The store forgets the session at its ExpiresAt, so the effective
		// expiry is capped by the session's end (reported below).
		NewExpiresAt: now.Add(a.cfg.Tokens.RefreshTTL),
		Now:          now,
		Grace:        a.cfg.Tokens.ReuseGrace,
	})
	switch {
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
	refreshExp := now.Add(a.cfg.Tokens.RefreshTTL)
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
// current (newest, unexpired) token; anything else is ErrInvalidToken.
// Access tokens already issued stay valid until they expire (AccessTTL): a
// resource server that must cut them off at once checks the session too.
func (a *Authenticator) Logout(ctx context.Context, refreshToken string) (err error) {
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
	if subtle.ConstantTimeCompare(hashRefreshToken(refreshToken), s.RefreshHash) != 1 || !s.RefreshExpiresAt.After(now) {
		return fmt.Errorf("%w: not the session's current refresh token", ErrInvalidToken)
	}
	if err := a.store.DeleteSession(ctx, sid); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no such session", ErrInvalidToken)
	} else if err != nil {
		return storeErr("delete session", err)
	}
	a.emit(ctx, Event{Kind: EventSignedOut, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return nil
}

// Sessions returns the user's live sessions (signed-in devices), oldest
// first, without their refresh-token hashes.
func (a *Authenticator) Sessions(ctx context.Context, userID string) (_ []Session, err error) {
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
