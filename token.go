package phoneauth

// STUB: token.go is being written (access/refresh tokens, key set, JWKS).

import (
	"context"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenConfig configures access and refresh tokens.
type TokenConfig struct {
	// Keys signs and verifies access tokens. Required.
	Keys *KeySet
	// Issuer is the iss claim. Default "phoneauth".
	Issuer string
	// Audience is the aud claim. Default: Issuer.
	Audience string
	// AccessTTL is the lifetime of an access token. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of one refresh token; every refresh issues
	// a new one. Default 30 days.
	RefreshTTL time.Duration
	// SessionTTL is the absolute lifetime of a session, whatever its
	// refreshes. Default 90 days.
	SessionTTL time.Duration
	// ReuseGrace is how long a rotated refresh token is still accepted once
	// more, for a client that lost the response. Default 0 (never).
	ReuseGrace time.Duration
	// Leeway tolerates clock skew when validating access tokens. Default 30
	// seconds.
	Leeway time.Duration
}

// Tokens are what a sign-in or a refresh grants.
type Tokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the device session the token belongs to.
	SessionID string `json:"sid"`
	// Phone is the user's verified E.164 phone number.
	Phone string `json:"phone,omitempty"`
}

// A KeySet holds the key that signs access tokens and the keys that verify
// them.
type KeySet struct{}

// startSession creates a session for user on device and issues its first
// tokens.
func (a *Authenticator) startSession(ctx context.Context, u User, d Device) (Session, Tokens, error) {
	panic("not written yet")
}

type tokenService struct{}
