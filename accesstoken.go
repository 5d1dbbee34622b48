package phoneauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token defaults (documented on the TokenConfig fields).
const (
	defaultIssuer     = "phoneauth"
	defaultAccessTTL  = 15 * time.Minute
	defaultRefreshTTL = 30 * 24 * time.Hour
	defaultSessionTTL = 90 * 24 * time.Hour
	defaultLeeway     = 30 * time.Second
	defaultReuseGrace = 10 * time.Second
)

// AccessTokenType is the "typ" header of every access token (RFC 9068).
// Validation refuses a JWT of any other type, so that an ID token or another
// JWT signed by the same key cannot be passed off as an access token.
const AccessTokenType = "at+jwt"

// TokenConfig configures access and refresh tokens.
type TokenConfig struct {
	// Keys signs and verifies access tokens. Required.
	Keys *KeySet
	// Issuer is the iss claim. Default "phoneauth".
	Issuer string
	// Audience is the aud claim. Default: Issuer.
	Audience string
	// AccessTTL is the lifetime of an access token: at least a second, as
	// token times have second precision. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of one refresh token; every refresh issues
	// a new one. Default 30 days.
	RefreshTTL time.Duration
	// SessionTTL is the absolute lifetime of a session, whatever its
	// refreshes. Default 90 days.
	SessionTTL time.Duration
	// ReuseGrace is how long after its rotation a refresh token presented
	// again is answered as its rotation was (the same successor, a fresh
	// access token) instead of revoking the session: a refresh fired twice
	// (two tabs, a retry) or retried after a lost response then leaves one
	// working session. Default 10 seconds; a negative value turns it off
	// (any second presentation revokes the session). A grace lets a thief
	// who presents a stolen token within it get the same successor as the
	// user unnoticed, so keep it to seconds.
	ReuseGrace time.Duration
	// Leeway tolerates clock skew when validating access tokens. Default 30
	// seconds.
	Leeway time.Duration
}

// setDefaults fills in the zero fields of c with their defaults.
func (c *TokenConfig) setDefaults() {
	if c.Issuer == "" {
		c.Issuer = defaultIssuer
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	setDefault := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDefault(&c.AccessTTL, defaultAccessTTL)
	setDefault(&c.RefreshTTL, defaultRefreshTTL)
	setDefault(&c.SessionTTL, defaultSessionTTL)
	setDefault(&c.Leeway, defaultLeeway)
	setDefault(&c.ReuseGrace, defaultReuseGrace)
}

// validate checks a TokenConfig with its defaults applied. It reports
// every problem, joined; each matches ErrInvalidConfig.
func (c *TokenConfig) validate() error {
	var errs []error
	if c.Keys == nil || c.Keys.signing == nil {
		errs = append(errs, fmt.Errorf("%w: Tokens.Keys is required (see NewKeySet)", ErrInvalidConfig))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"AccessTTL", c.AccessTTL}, {"RefreshTTL", c.RefreshTTL}, {"SessionTTL", c.SessionTTL},
		{"Leeway", c.Leeway},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: Tokens.%s is negative", ErrInvalidConfig, d.name))
		}
	}
	if c.AccessTTL >= 0 && c.AccessTTL < time.Second {
		errs = append(errs, fmt.Errorf("%w: Tokens.AccessTTL is under a second (token times have second precision)", ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// newAccessTokenParser returns the parser that validates access tokens
// under c (defaults applied), telling the time by clock.
func newAccessTokenParser(c TokenConfig, clock Clock) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(c.Keys.algs),
		jwt.WithIssuer(c.Issuer),
		jwt.WithAudience(c.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.Leeway),
		jwt.WithTimeFunc(clock.Now),
		// One token, one spelling: no second encoding of the same signature.
		jwt.WithStrictDecoding(),
	)
}

// Claims are the claims of an access token: iss, sub (the user id), aud,
// exp, iat, nbf, jti, and the two below.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the device session the token belongs to.
	SessionID string `json:"sid"`
	// Phone is the user's verified E.164 phone number.
	Phone string `json:"phone,omitempty"`
}

// keyFor is the jwt.Keyfunc of access tokens: the token's kid picks the key,
// and the key alone decides the algorithm, so a token cannot choose how it
// is checked (no "alg": "none", no HS256 keyed with a public key).
func (ks *KeySet) keyFor(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); !isAccessTokenType(typ) {
		return nil, fmt.Errorf("token type %q is not %q", typ, AccessTokenType)
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := ks.byKID[kid]
	if !ok {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	if t.Method.Alg() != k.Algorithm() {
		return nil, fmt.Errorf("algorithm %s does not match key %q (%s)", t.Method.Alg(), kid, k.Algorithm())
	}
	return k.public, nil
}

// isAccessTokenType reports whether a "typ" header names an access token:
// "at+jwt", or "application/at+jwt", compared without case (RFC 7515 4.1.9).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, AccessTokenType) || strings.EqualFold(typ, "application/"+AccessTokenType)
}

// maxAccessTokenLen bounds the work an oversized token can cause. Ours are
// well under a kilobyte (RS256 about 700 bytes).
const maxAccessTokenLen = 8 << 10

// ValidateAccessToken checks an access token and returns its claims. The
// checks:
//
//   - the "kid" header names a key of the KeySet, and that key alone decides
//     the algorithm (a token saying "alg": "none", or HS256 over a public
//     key, is refused);
//   - the signature;
//   - the "typ" header is "at+jwt" (RFC 9068), so other JWTs signed by the
//     same key are refused;
//   - the token has one spelling: no line breaks, no non-zero base64
//     padding bits, at most 8 KiB;
//   - iss and aud are TokenConfig.Issuer and Audience; exp is present and
//     not past, iat and nbf not in the future, each give or take
//     TokenConfig.Leeway; sub and sid are present.
//
// Every failure matches ErrInvalidToken. Validation does not consult the
// store: a revoked session's access tokens stay valid until they expire.
func (a *Authenticator) ValidateAccessToken(ctx context.Context, token string) (*Claims, error) {
	if err := a.made(); err != nil {
		return nil, err
	}
	// The base64 decoder skips CR and LF: refuse them, so that a token has
	// a single spelling (as with WithStrictDecoding for the padding bits).
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: line break in token", ErrInvalidToken)
	}
	if len(token) > maxAccessTokenLen {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxAccessTokenLen)
	}
	claims := new(Claims)
	if _, err := a.parser.ParseWithClaims(token, claims, a.cfg.Tokens.Keys.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" || claims.SessionID == "" {
		return nil, fmt.Errorf("%w: access token without sub or sid", ErrInvalidToken)
	}
	return claims, nil
}

// accessToken signs an access token for session s at now. It expires after
// AccessTTL, and never after the session itself.
func (a *Authenticator) accessToken(s Session, now time.Time) (string, time.Time, error) {
	now = now.Truncate(time.Second) // JWT times have second precision
	exp := now.Add(a.cfg.Tokens.AccessTTL)
	if s.ExpiresAt.Before(exp) {
		exp = s.ExpiresAt.Truncate(time.Second)
	}
	k := a.cfg.Tokens.Keys.signing
	t := &jwt.Token{
		Header: map[string]any{"alg": k.Algorithm(), "typ": AccessTokenType, "kid": k.kid},
		Method: k.method,
		Claims: Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    a.cfg.Tokens.Issuer,
				Subject:   s.UserID,
				Audience:  jwt.ClaimStrings{a.cfg.Tokens.Audience},
				ExpiresAt: jwt.NewNumericDate(exp),
				IssuedAt:  jwt.NewNumericDate(now),
				ID:        randomBase64(16),
			},
			SessionID: s.ID,
			Phone:     s.Phone,
		},
	}
	signed, err := t.SignedString(k.private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("phoneauth: signing the access token with key %q: %w", k.kid, err)
	}
	return signed, exp, nil
}
