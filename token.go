package phoneauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token defaults (documented on the TokenConfig fields).
const (
	DefaultIssuer     = "phoneauth"
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultSessionTTL = 90 * 24 * time.Hour
	DefaultLeeway     = 30 * time.Second
)

// AccessTokenType is the "typ" header of every access token (RFC 9068).
// Validation refuses a JWT of any other type, so that an ID token or another
// JWT signed by the same key cannot be passed off as an access token.
const AccessTokenType = "at+jwt"

// Minimum key sizes accepted by NewSigningKey and NewVerificationKey.
const (
	MinRSABits  = 2048
	MinHMACSize = 32
)

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
	// ReuseGrace is how long a rotated refresh token is still accepted once
	// more, for a client that lost the response. Default 0 (never): any
	// reuse revokes the session. A grace weakens reuse detection (a thief
	// racing the user within it goes unnoticed), so keep it to seconds.
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

// Claims are the claims of an access token: iss, sub (the user id), aud,
// exp, iat, nbf, jti, and the two below.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the device session the token belongs to.
	SessionID string `json:"sid"`
	// Phone is the user's verified E.164 phone number.
	Phone string `json:"phone,omitempty"`
}

// Signing algorithms, as named in the JWT "alg" header.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// A Key is one named key of a KeySet. Its algorithm follows from its type:
//
//	ed25519.PrivateKey / ed25519.PublicKey    EdDSA
//	*ecdsa.PrivateKey / *ecdsa.PublicKey      ES256 (P-256 only)
//	*rsa.PrivateKey / *rsa.PublicKey          RS256 (at least 2048 bits)
//	[]byte                                    HS256 (at least 32 bytes)
//
// A token names its key with the "kid" header, and is only ever verified
// with that key's algorithm. A Key is immutable and safe for concurrent use.
type Key struct {
	kid    string
	method jwt.SigningMethod
	// private signs; nil for a verification-only key. For HS256 it is the
	// secret, as is public.
	private any
	// public verifies: ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey
	// or the HMAC secret.
	public any
}

// ID returns the key id, the "kid" of the tokens it signs.
func (k *Key) ID() string { return k.kid }

// Algorithm returns the JWT algorithm of the key: "EdDSA", "ES256", "RS256"
// or "HS256".
func (k *Key) Algorithm() string { return k.method.Alg() }

// CanSign reports whether the key holds a private key (or an HMAC secret)
// and so can sign tokens.
func (k *Key) CanSign() bool { return k.private != nil }

// NewSigningKey returns a key that signs and verifies tokens. key is an
// ed25519.PrivateKey, an *ecdsa.PrivateKey on P-256, an *rsa.PrivateKey of at
// least 2048 bits, or an HMAC secret ([]byte) of at least 32 bytes, which is
// copied. kid must not be empty. Errors match ErrInvalidConfig.
//
// Prefer an asymmetric key: with HS256 everyone who can verify tokens can
// also forge them, and the key does not appear in the JWKS.
func NewSigningKey(kid string, key any) (*Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: key id is empty", ErrInvalidConfig)
	}
	k := &Key{kid: kid}
	switch key := key.(type) {
	case ed25519.PrivateKey:
		if len(key) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: key %q: malformed Ed25519 private key", ErrInvalidConfig, kid)
		}
		k.method, k.private, k.public = jwt.SigningMethodEdDSA, key, key.Public()
	case *ecdsa.PrivateKey:
		if key == nil || key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %q: ECDSA keys must be on P-256 (ES256)", ErrInvalidConfig, kid)
		}
		if _, err := key.ECDH(); err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrInvalidConfig, kid, err)
		}
		k.method, k.private, k.public = jwt.SigningMethodES256, key, &key.PublicKey
	case *rsa.PrivateKey:
		if key == nil || key.N == nil || key.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: key %q: RSA keys need at least %d bits", ErrInvalidConfig, kid, MinRSABits)
		}
		if err := key.Validate(); err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrInvalidConfig, kid, err)
		}
		k.method, k.private, k.public = jwt.SigningMethodRS256, key, &key.PublicKey
	case []byte:
		if len(key) < MinHMACSize {
			return nil, fmt.Errorf("%w: key %q: HMAC secrets need at least %d bytes", ErrInvalidConfig, kid, MinHMACSize)
		}
		secret := append([]byte(nil), key...)
		k.method, k.private, k.public = jwt.SigningMethodHS256, secret, secret
	case ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey:
		return nil, fmt.Errorf("%w: key %q: a public key cannot sign; use NewVerificationKey", ErrInvalidConfig, kid)
	default:
		return nil, fmt.Errorf("%w: key %q: unsupported key type %T", ErrInvalidConfig, kid, key)
	}
	return k, nil
}

// NewVerificationKey returns a key that only verifies tokens: a rotated-out
// key whose tokens must stay valid until they expire. public is an
// ed25519.PublicKey, an *ecdsa.PublicKey on P-256, an *rsa.PublicKey of at
// least 2048 bits, or an HMAC secret ([]byte, at least 32 bytes). A private
// key is accepted too; only its public half is kept. Errors match
// ErrInvalidConfig.
func NewVerificationKey(kid string, public any) (*Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: key id is empty", ErrInvalidConfig)
	}
	switch pub := public.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: key %q: malformed Ed25519 public key", ErrInvalidConfig, kid)
		}
		return &Key{kid: kid, method: jwt.SigningMethodEdDSA, public: pub}, nil
	case *ecdsa.PublicKey:
		if pub == nil || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %q: ECDSA keys must be on P-256 (ES256)", ErrInvalidConfig, kid)
		}
		if _, err := pub.ECDH(); err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrInvalidConfig, kid, err)
		}
		return &Key{kid: kid, method: jwt.SigningMethodES256, public: pub}, nil
	case *rsa.PublicKey:
		if pub == nil || pub.N == nil || pub.N.BitLen() < MinRSABits || pub.E < 3 {
			return nil, fmt.Errorf("%w: key %q: RSA keys need at least %d bits", ErrInvalidConfig, kid, MinRSABits)
		}
		return &Key{kid: kid, method: jwt.SigningMethodRS256, public: pub}, nil
	}
	k, err := NewSigningKey(kid, public)
	if err != nil {
		return nil, err
	}
	if k.method != jwt.SigningMethodHS256 {
		k.private = nil // keep only the public half
	}
	return k, nil
}

// GenerateEd25519Key returns a new random Ed25519 signing key, the default
// and fastest choice. A key generated at start-up does not survive a restart
// and differs between replicas: load a stored key in production.
func GenerateEd25519Key(kid string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generating an Ed25519 key: %w", ErrInvalidConfig, err)
	}
	return NewSigningKey(kid, priv)
}

// A KeySet holds the key that signs access tokens and the keys that verify
// them. To rotate keys, sign with a new key and keep the old one as a
// verification-only key until the last token it signed has expired
// (AccessTTL plus Leeway). A KeySet is immutable and safe for concurrent use;
// create it with NewKeySet.
type KeySet struct {
	signing *Key
	byKID   map[string]*Key
	algs    []string // distinct algorithms, for jwt.WithValidMethods
	jwks    []byte
}

// NewKeySet returns a key set that signs with signing and verifies with it
// and with verifyOnly. Key ids must be unique. Errors match
// ErrInvalidConfig.
func NewKeySet(signing *Key, verifyOnly ...*Key) (*KeySet, error) {
	if signing == nil || signing.method == nil {
		return nil, fmt.Errorf("%w: key set needs a signing key", ErrInvalidConfig)
	}
	if !signing.CanSign() {
		return nil, fmt.Errorf("%w: key %q holds no private key and cannot sign", ErrInvalidConfig, signing.kid)
	}
	ks := &KeySet{signing: signing, byKID: make(map[string]*Key, 1+len(verifyOnly))}
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for i, k := range append([]*Key{signing}, verifyOnly...) {
		if k == nil || k.method == nil {
			return nil, fmt.Errorf("%w: verification key %d is nil", ErrInvalidConfig, i-1)
		}
		if _, dup := ks.byKID[k.kid]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrInvalidConfig, k.kid)
		}
		ks.byKID[k.kid] = k
		if !slices.Contains(ks.algs, k.Algorithm()) {
			ks.algs = append(ks.algs, k.Algorithm())
		}
		if j, ok := k.jwk(); ok {
			doc.Keys = append(doc.Keys, j)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the JWKS: %w", ErrInvalidConfig, err)
	}
	ks.jwks = b
	return ks, nil
}

// JWKS returns the JSON Web Key Set (RFC 7517) of the set's public keys, to
// be served at /.well-known/jwks.json: {"keys": [...]} with the signing key
// first. HMAC secrets never appear in it. The document is computed once;
// the returned slice is a copy the caller may keep.
func (ks *KeySet) JWKS() []byte {
	if ks == nil || ks.jwks == nil {
		return []byte(`{"keys":[]}`)
	}
	return append([]byte(nil), ks.jwks...)
}

// jwk is one entry of a JWKS.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// jwk returns the public JWK of k, or false for an HMAC secret.
func (k *Key) jwk() (jwk, bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := jwk{Kid: k.kid, Alg: k.Algorithm(), Use: "sig"}
	switch pub := k.public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
	case *ecdsa.PublicKey:
		ecdhKey, err := pub.ECDH() // checked by the constructors
		if err != nil {
			return jwk{}, false
		}
		point := ecdhKey.Bytes() // 0x04 || X || Y, each 32 bytes
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(point[1:33]), b64(point[33:65])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	default:
		return jwk{}, false
	}
	return j, true
}

// tokenService issues and checks tokens. It is immutable after
// newTokenService and safe for concurrent use.
type tokenService struct {
	cfg    TokenConfig // with defaults applied
	keys   *KeySet
	store  SessionStore
	clock  Clock
	parser *jwt.Parser
}

// newTokenService applies the TokenConfig defaults, validates cfg, and
// builds the access-token parser once. Errors match ErrInvalidConfig.
func newTokenService(cfg TokenConfig, store SessionStore, clock Clock) (*tokenService, error) {
	if cfg.Keys == nil || cfg.Keys.signing == nil {
		return nil, fmt.Errorf("%w: Tokens.Keys is required (see NewKeySet)", ErrInvalidConfig)
	}
	if store == nil {
		return nil, fmt.Errorf("%w: a session store is required", ErrInvalidConfig)
	}
	if clock == nil {
		clock = SystemClock{}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"AccessTTL", cfg.AccessTTL}, {"RefreshTTL", cfg.RefreshTTL}, {"SessionTTL", cfg.SessionTTL},
		{"ReuseGrace", cfg.ReuseGrace}, {"Leeway", cfg.Leeway},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: Tokens.%s is negative", ErrInvalidConfig, d.name)
		}
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	setDefault := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDefault(&cfg.AccessTTL, DefaultAccessTTL)
	setDefault(&cfg.RefreshTTL, DefaultRefreshTTL)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.Leeway, DefaultLeeway)
	if cfg.AccessTTL < time.Second {
		return nil, fmt.Errorf("%w: Tokens.AccessTTL is under a second (token times have second precision)", ErrInvalidConfig)
	}

	ts := &tokenService{cfg: cfg, keys: cfg.Keys, store: store, clock: clock}
	ts.parser = jwt.NewParser(
		jwt.WithValidMethods(cfg.Keys.algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(clock.Now),
		// One token, one spelling: no second encoding of the same signature.
		jwt.WithStrictDecoding(),
	)
	return ts, nil
}

// keyFor is the jwt.Keyfunc of access tokens: the token's kid picks the key,
// and the key alone decides the algorithm, so a token cannot choose how it
// is checked (no "alg": "none", no HS256 keyed with a public key).
func (ts *tokenService) keyFor(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); !isAccessTokenType(typ) {
		return nil, fmt.Errorf("token type %q is not %q", typ, AccessTokenType)
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := ts.keys.byKID[kid]
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

// validate parses and validates an access token.
func (ts *tokenService) validate(token string) (*Claims, error) {
	// The base64 decoder skips CR and LF: refuse them, so that a token has
	// a single spelling (as with WithStrictDecoding for the padding bits).
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: line break in token", ErrInvalidToken)
	}
	if len(token) > maxAccessTokenLen {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxAccessTokenLen)
	}
	claims := new(Claims)
	if _, err := ts.parser.ParseWithClaims(token, claims, ts.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" || claims.SessionID == "" {
		return nil, fmt.Errorf("%w: access token without sub or sid", ErrInvalidToken)
	}
	return claims, nil
}

// accessToken signs an access token for session s at now. It expires after
// AccessTTL, and never after the session itself.
func (ts *tokenService) accessToken(s Session, now time.Time) (string, time.Time, error) {
	now = now.Truncate(time.Second) // JWT times have second precision
	exp := now.Add(ts.cfg.AccessTTL)
	if s.ExpiresAt.Before(exp) {
		exp = s.ExpiresAt.Truncate(time.Second)
	}
	k := ts.keys.signing
	t := &jwt.Token{
		Header: map[string]any{"alg": k.Algorithm(), "typ": AccessTokenType, "kid": k.kid},
		Method: k.method,
		Claims: Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    ts.cfg.Issuer,
				Subject:   s.UserID,
				Audience:  jwt.ClaimStrings{ts.cfg.Audience},
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
func (ts *tokenService) newSession(u User, d Device, now time.Time) (Session, string) {
	sid := randomBase64(sessionIDBytes)
	refresh, hash := newRefreshToken(sid)
	s := Session{
		ID:               sid,
		UserID:           u.ID,
		Phone:            u.Phone,
		Device:           d,
		CreatedAt:        now,
		ExpiresAt:        now.Add(ts.cfg.SessionTTL),
		RefreshHash:      hash,
		RefreshedAt:      now,
		RefreshExpiresAt: now.Add(ts.cfg.RefreshTTL),
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
	now := a.tokens.clock.Now()
	s, refresh := a.tokens.newSession(u, d, now)
	access, accessExp, err := a.tokens.accessToken(s, now)
	if err != nil {
		return Session{}, Tokens{}, err
	}
	if err := a.tokens.store.CreateSession(ctx, s); err != nil {
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
func (a *Authenticator) Refresh(ctx context.Context, refreshToken string) (SignIn, error) {
	ts := a.tokens
	sid, ok := parseRefreshToken(refreshToken)
	if !ok {
		return SignIn{}, errMalformedRefresh
	}
	now := ts.clock.Now()
	next, nextHash := newRefreshToken(sid)
	s, err := ts.store.RotateRefresh(ctx, Rotation{
		SessionID: sid,
		OldHash:   hashRefreshToken(refreshToken),
		NewHash:   nextHash,
		// The store forgets the session at its ExpiresAt, so the effective
		// expiry is capped by the session's end (reported below).
		NewExpiresAt: now.Add(ts.cfg.RefreshTTL),
		Now:          now,
		Grace:        ts.cfg.ReuseGrace,
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
	access, accessExp, err := ts.accessToken(s, now)
	if err != nil {
		return SignIn{}, err
	}
	refreshExp := now.Add(ts.cfg.RefreshTTL)
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
func (a *Authenticator) Logout(ctx context.Context, refreshToken string) error {
	ts := a.tokens
	sid, ok := parseRefreshToken(refreshToken)
	if !ok {
		return errMalformedRefresh
	}
	now := ts.clock.Now()
	s, err := ts.store.GetSession(ctx, sid, now)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no such session", ErrInvalidToken)
	}
	if err != nil {
		return storeErr("get session", err)
	}
	if subtle.ConstantTimeCompare(hashRefreshToken(refreshToken), s.RefreshHash) != 1 || !s.RefreshExpiresAt.After(now) {
		return fmt.Errorf("%w: not the session's current refresh token", ErrInvalidToken)
	}
	if err := ts.store.DeleteSession(ctx, sid); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: no such session", ErrInvalidToken)
	} else if err != nil {
		return storeErr("delete session", err)
	}
	a.emit(ctx, Event{Kind: EventSignedOut, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return nil
}

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
	return a.tokens.validate(token)
}

// Sessions returns the user's live sessions (signed-in devices), oldest
// first, without their refresh-token hashes.
func (a *Authenticator) Sessions(ctx context.Context, userID string) ([]Session, error) {
	if !isText(userID) {
		return nil, nil // no such user can exist
	}
	ss, err := a.tokens.store.ListSessions(ctx, userID, a.tokens.clock.Now())
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
func (a *Authenticator) RevokeSession(ctx context.Context, userID, sessionID string) error {
	ts := a.tokens
	notFound := fmt.Errorf("%w: session %q of user %q", ErrNotFound, sessionID, userID)
	if !isText(sessionID) || !isText(userID) {
		return notFound // no such session can exist
	}
	s, err := ts.store.GetSession(ctx, sessionID, ts.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return notFound
	}
	if err != nil {
		return storeErr("get session", err)
	}
	if s.UserID != userID {
		return notFound
	}
	if err := ts.store.DeleteSession(ctx, sessionID); errors.Is(err, ErrNotFound) {
		return notFound
	} else if err != nil {
		return storeErr("delete session", err)
	}
	a.emit(ctx, Event{Kind: EventSignedOut, Phone: s.Phone, UserID: s.UserID, SessionID: s.ID, DeviceID: s.Device.ID})
	return nil
}

// JWKS returns the JSON Web Key Set of the public keys that verify access
// tokens (see KeySet.JWKS), for /.well-known/jwks.json.
func (a *Authenticator) JWKS() []byte {
	return a.tokens.keys.JWKS()
}
