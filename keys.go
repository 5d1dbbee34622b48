package phoneauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Minimum key sizes accepted by NewSigningKey and NewVerificationKey.
const (
	minRSABits  = 2048
	minHMACSize = 32
)

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
		if key == nil || key.N == nil || key.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("%w: key %q: RSA keys need at least %d bits", ErrInvalidConfig, kid, minRSABits)
		}
		if err := key.Validate(); err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrInvalidConfig, kid, err)
		}
		k.method, k.private, k.public = jwt.SigningMethodRS256, key, &key.PublicKey
	case []byte:
		if len(key) < minHMACSize {
			return nil, fmt.Errorf("%w: key %q: HMAC secrets need at least %d bytes", ErrInvalidConfig, kid, minHMACSize)
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
		if pub == nil || pub.N == nil || pub.N.BitLen() < minRSABits || pub.E < 3 {
			return nil, fmt.Errorf("%w: key %q: RSA keys need at least %d bits", ErrInvalidConfig, kid, minRSABits)
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

// JWKS returns the JSON Web Key Set of the public keys that verify access
// tokens (see KeySet.JWKS), for /.well-known/jwks.json.
func (a *Authenticator) JWKS() []byte {
	if a == nil {
		return (*KeySet)(nil).JWKS()
	}
	return a.cfg.Tokens.Keys.JWKS()
}
