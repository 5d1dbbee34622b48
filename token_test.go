package phoneauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/phoneauth/phoneauth/internal/testutil"
)

// t0 is the start of every test clock: a whole second, as JWT times are.
var t0 = time.Date(2026, 2, 3, 14, 46, 16, 0, time.UTC)

// Test keys, generated once per test binary (RSA generation is slow).
var (
	testEdKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	testECKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	testHMACKey = []byte("0123456789abcdef0123456789abcdef")
)

func mustKey(t testing.TB, kid string, key any) *Key {
	t.Helper()
	k, err := NewSigningKey(kid, key)
	if err != nil {
		t.Fatalf("NewSigningKey(%q): %v", kid, err)
	}
	return k
}

func mustKeySet(t testing.TB, signing *Key, verifyOnly ...*Key) *KeySet {
	t.Helper()
	ks, err := NewKeySet(signing, verifyOnly...)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

// recorder collects events.
type recorder struct{ testutil.Recorder[Event] }

func (r *recorder) kinds() []EventKind {
	var ks []EventKind
	for _, e := range r.All() {
		ks = append(ks, e.Kind)
	}
	return ks
}

func (r *recorder) last(kind EventKind) (Event, bool) {
	all := r.All()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == kind {
			return all[i], true
		}
	}
	return Event{}, false
}

// tokenEnv is an Authenticator reduced to its token part, on a memory store
// and a manual clock.
type tokenEnv struct {
	a      *Authenticator
	clock  *ManualClock
	store  Store
	events *recorder
}

// newTokenEnv returns a tokenEnv; cfg.Keys defaults to an Ed25519 key set.
func newTokenEnv(t testing.TB, cfg TokenConfig) *tokenEnv {
	t.Helper()
	return newTokenEnvStore(t, cfg, NewMemoryStore())
}

func newTokenEnvStore(t testing.TB, cfg TokenConfig, store Store) *tokenEnv {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = mustKeySet(t, mustKey(t, "ed", testEdKey()))
	}
	clock := NewManualClock(t0)
	rec := new(recorder)
	a, err := New(Config{
		Store:  store,
		Users:  NewMemoryStore(),
		Sender: SenderFunc(func(context.Context, Message) (string, error) { return "id", nil }),
		Secret: []byte("a test secret of at least 32 bytes"),
		Tokens: cfg,
		Clock:  clock,
		Events: rec.Record,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &tokenEnv{a: a, clock: clock, store: store, events: rec}
}

var (
	alice = User{ID: "user-alice", Phone: "+923012345678"}
	bob   = User{ID: "user-bob", Phone: "+14155550123"}
	phone = Device{ID: "device-1", Type: "android", Name: "Pixel", PlatformVersion: "15"}
)

func (e *tokenEnv) signIn(t testing.TB, u User, d Device) (Session, Tokens) {
	t.Helper()
	s, toks, err := e.a.startSession(context.Background(), u, d)
	if err != nil {
		t.Fatalf("startSession: %v", err)
	}
	return s, toks
}

func (e *tokenEnv) refresh(t testing.TB, token string) SignIn {
	t.Helper()
	in, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: token, IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return in
}

// header decodes the JOSE header of a JWT without verifying it.
func header(t testing.TB, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatalf("decoding header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("decoding header: %v", err)
	}
	return h
}

func TestTokenRoundTripEveryAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		alg string
		key any
	}{
		{"EdDSA", testEdKey()},
		{"ES256", testECKey()},
		{"RS256", testRSAKey()},
		{"HS256", testHMACKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			k := mustKey(t, "k-"+tc.alg, tc.key)
			if k.Algorithm() != tc.alg || k.ID() != "k-"+tc.alg || !k.CanSign() {
				t.Fatalf("key = %s %s sign=%v", k.ID(), k.Algorithm(), k.CanSign())
			}
			e := newTokenEnv(t, TokenConfig{Keys: mustKeySet(t, k), Issuer: "https://auth.example", Audience: "api"})
			s, toks := e.signIn(t, alice, phone)

			h := header(t, toks.AccessToken)
			if h["alg"] != tc.alg || h["typ"] != "at+jwt" || h["kid"] != "k-"+tc.alg {
				t.Errorf("header = %v", h)
			}
			c, err := e.a.ValidateAccessToken(context.Background(), toks.AccessToken)
			if err != nil {
				t.Fatalf("ValidateAccessToken: %v", err)
			}
			if c.Subject != alice.ID || c.Phone != alice.Phone || c.SessionID != s.ID || c.Issuer != "https://auth.example" {
				t.Errorf("claims = %+v", c)
			}
			if len(c.Audience) != 1 || c.Audience[0] != "api" {
				t.Errorf("aud = %v", c.Audience)
			}
			if c.ID == "" || c.IssuedAt == nil || !c.IssuedAt.Equal(t0) {
				t.Errorf("jti = %q, iat = %v", c.ID, c.IssuedAt)
			}
			if want := t0.Add(defaultAccessTTL); !c.ExpiresAt.Equal(want) || !toks.AccessExpiresAt.Equal(want) {
				t.Errorf("exp = %v, AccessExpiresAt = %v, want %v", c.ExpiresAt, toks.AccessExpiresAt, want)
			}
		})
	}
}

func TestAccessTokenIDsAreUnique(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{})
	_, toks := e.signIn(t, alice, phone)
	in := e.refresh(t, toks.RefreshToken)
	c1, err1 := e.a.ValidateAccessToken(context.Background(), toks.AccessToken)
	c2, err2 := e.a.ValidateAccessToken(context.Background(), in.Tokens.AccessToken)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if c1.ID == c2.ID || toks.AccessToken == in.Tokens.AccessToken {
		t.Errorf("two access tokens share jti %q", c1.ID)
	}
}

func TestNewSigningKeyRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		kid string
		key any
	}{
		"empty kid":       {"", testEdKey()},
		"short HMAC":      {"k", testHMACKey[:31]},
		"RSA 1024":        {"k", small},
		"P-384":           {"k", p384},
		"nil ECDSA":       {"k", (*ecdsa.PrivateKey)(nil)},
		"nil RSA":         {"k", (*rsa.PrivateKey)(nil)},
		"short Ed25519":   {"k", ed25519.PrivateKey(make([]byte, 10))},
		"Ed25519 public":  {"k", testEdKey().Public()},
		"ECDSA public":    {"k", &testECKey().PublicKey},
		"string":          {"k", "secret-secret-secret-secret-secret"},
		"nil":             {"k", nil},
		"pointer to seed": {"k", new(ed25519.PrivateKey)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSigningKey(tc.kid, tc.key); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewSigningKey = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewVerificationKey(t *testing.T) {
	for _, tc := range []struct {
		pub any
		alg string
	}{
		{testEdKey().Public(), "EdDSA"},
		{&testECKey().PublicKey, "ES256"},
		{&testRSAKey().PublicKey, "RS256"},
		{testHMACKey, "HS256"},
		{testEdKey(), "EdDSA"}, // a private key: only its public half is kept
	} {
		k, err := NewVerificationKey("v", tc.pub)
		if err != nil {
			t.Fatalf("NewVerificationKey(%T): %v", tc.pub, err)
		}
		if k.Algorithm() != tc.alg {
			t.Errorf("%T: alg %s, want %s", tc.pub, k.Algorithm(), tc.alg)
		}
		if k.CanSign() != (tc.alg == "HS256") {
			t.Errorf("%T: CanSign = %v", tc.pub, k.CanSign())
		}
	}
	if _, err := NewVerificationKey("", testEdKey().Public()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty kid: NewVerificationKey = %v, want ErrInvalidConfig", err)
	}
	for name, pub := range map[string]any{
		"short Ed25519": ed25519.PublicKey(make([]byte, 5)),
		"small RSA":     &rsa.PublicKey{N: big.NewInt(1 << 40), E: 65537},
		"P-224":         &ecdsa.PublicKey{Curve: elliptic.P224()},
		"off-curve":     &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)},
		"short HMAC":    []byte("short"),
	} {
		if _, err := NewVerificationKey("v", pub); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewVerificationKey = %v, want ErrInvalidConfig", name, err)
		}
	}
	// A verification-only key cannot sign, so it cannot head a key set.
	v, _ := NewVerificationKey("v", testEdKey().Public())
	if _, err := NewKeySet(v); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewKeySet(verify-only) = %v, want ErrInvalidConfig", err)
	}
}

func TestNewKeySetRejects(t *testing.T) {
	ed := mustKey(t, "a", testEdKey())
	if _, err := NewKeySet(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil signing key: %v", err)
	}
	if _, err := NewKeySet(ed, mustKey(t, "a", testECKey())); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("duplicate kid: %v", err)
	}
	if _, err := NewKeySet(ed, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil verification key: %v", err)
	}
	if _, err := NewKeySet(&Key{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero Key: %v", err)
	}
}

// b64 decodes a JWK member.
func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("JWK member %q: %v", s, err)
	}
	return b
}

func TestJWKS(t *testing.T) {
	ed, ec, rs := testEdKey(), testECKey(), testRSAKey()
	ks := mustKeySet(t, mustKey(t, "ed", ed), mustKey(t, "ec", ec), mustKey(t, "hs", testHMACKey), mustKey(t, "rs", rs))
	raw := ks.JWKS()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, raw)
	}
	if strings.Contains(string(raw), `"hs"`) || strings.Contains(string(raw), "HS256") || strings.Contains(string(raw), `"k"`) {
		t.Errorf("the HMAC key leaks into the JWKS: %s", raw)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3: %s", len(doc.Keys), raw)
	}
	for i, want := range []string{"ed", "ec", "rs"} {
		j := doc.Keys[i]
		if j["kid"] != want || j["use"] != "sig" {
			t.Errorf("key %d = %v, want kid %q use sig", i, j, want)
		}
		if _, ok := j["d"]; ok {
			t.Errorf("key %q has a private member d", want)
		}
	}

	okp := doc.Keys[0]
	if okp["kty"] != "OKP" || okp["crv"] != "Ed25519" || okp["alg"] != "EdDSA" {
		t.Errorf("Ed25519 JWK = %v", okp)
	}
	if got := ed25519.PublicKey(b64(t, okp["x"])); !got.Equal(ed.Public()) {
		t.Errorf("Ed25519 x does not match the public key")
	}

	ecj := doc.Keys[1]
	if ecj["kty"] != "EC" || ecj["crv"] != "P-256" || ecj["alg"] != "ES256" {
		t.Errorf("EC JWK = %v", ecj)
	}
	x, y := b64(t, ecj["x"]), b64(t, ecj["y"])
	if len(x) != 32 || len(y) != 32 {
		t.Errorf("EC coordinates are %d and %d bytes, want 32 (RFC 7518 6.2.1.2)", len(x), len(y))
	}
	point, err := ec.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	if want := point.Bytes(); string(append(append([]byte{4}, x...), y...)) != string(want) {
		t.Errorf("EC x/y do not match the public key")
	}

	rsj := doc.Keys[2]
	if rsj["kty"] != "RSA" || rsj["alg"] != "RS256" {
		t.Errorf("RSA JWK = %v", rsj)
	}
	n, e := new(big.Int).SetBytes(b64(t, rsj["n"])), new(big.Int).SetBytes(b64(t, rsj["e"]))
	if n.Cmp(rs.N) != 0 || e.Int64() != int64(rs.E) {
		t.Errorf("RSA n/e do not match the public key")
	}
	if rsj["e"] != "AQAB" {
		t.Errorf("e = %q, want AQAB (65537)", rsj["e"])
	}

	// The document is a copy: changing it changes nothing.
	raw[0] = 'X'
	if ks.JWKS()[0] != '{' {
		t.Error("JWKS returned its internal buffer")
	}
}

func TestJWKSOnlyHMAC(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{Keys: mustKeySet(t, mustKey(t, "hs", testHMACKey))})
	if got := string(e.a.JWKS()); got != `{"keys":[]}` {
		t.Errorf("JWKS = %s, want an empty key list", got)
	}
}

// forge signs claims with method and key, with the header changed by
// hdr (a nil value deletes the member).
func forge(t *testing.T, method jwt.SigningMethod, key any, hdr map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "at+jwt"
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forging: %v", err)
	}
	return s
}

// goodClaims are valid claims for the default issuer at time now.
func goodClaims(now time.Time) *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    defaultIssuer,
			Subject:   alice.ID,
			Audience:  jwt.ClaimStrings{defaultIssuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        "jti",
		},
		SessionID: "sid",
	}
}

func TestValidateAccessTokenRejects(t *testing.T) {
	ed := testEdKey()
	// The key set mixes an HMAC key in, so that HS256 is an allowed method:
	// only the per-kid pinning stands between a forger and the classic
	// algorithm confusion.
	ks := mustKeySet(t, mustKey(t, "ed", ed), mustKey(t, "hs", testHMACKey))
	e := newTokenEnv(t, TokenConfig{Keys: ks})
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	edHdr := map[string]any{"kid": "ed"}

	with := func(f func(c *Claims)) *Claims {
		c := goodClaims(t0)
		f(c)
		return c
	}
	// The control: a well-formed forged token with the right key passes.
	good := forge(t, jwt.SigningMethodEdDSA, ed, edHdr, goodClaims(t0))
	if _, err := e.a.ValidateAccessToken(context.Background(), good); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	appType := forge(t, jwt.SigningMethodEdDSA, ed, map[string]any{"kid": "ed", "typ": "application/AT+JWT"}, goodClaims(t0))
	if _, err := e.a.ValidateAccessToken(context.Background(), appType); err != nil {
		t.Errorf("typ application/at+jwt rejected: %v", err)
	}

	for name, token := range map[string]string{
		"HS256 keyed with the Ed25519 public key": forge(t, jwt.SigningMethodHS256, []byte(ed.Public().(ed25519.PublicKey)), edHdr, goodClaims(t0)),
		"HS256 under an EdDSA kid":                forge(t, jwt.SigningMethodHS256, testHMACKey, edHdr, goodClaims(t0)),
		"alg none": forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			edHdr, goodClaims(t0)),
		"alg none, kid of the HMAC key": forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			map[string]any{"kid": "hs"}, goodClaims(t0)),
		"ES256 not in the key set": forge(t, jwt.SigningMethodES256, testECKey(), edHdr, goodClaims(t0)),
		"unknown kid":              forge(t, jwt.SigningMethodEdDSA, other, map[string]any{"kid": "nope"}, goodClaims(t0)),
		"no kid":                   forge(t, jwt.SigningMethodEdDSA, ed, nil, goodClaims(t0)),
		"other key, our kid":       forge(t, jwt.SigningMethodEdDSA, other, edHdr, goodClaims(t0)),
		"typ JWT":                  forge(t, jwt.SigningMethodEdDSA, ed, map[string]any{"kid": "ed", "typ": "JWT"}, goodClaims(t0)),
		"no typ":                   forge(t, jwt.SigningMethodEdDSA, ed, map[string]any{"kid": "ed", "typ": nil}, goodClaims(t0)),
		"wrong iss":                forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Issuer = "evil" })),
		"no iss":                   forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Issuer = "" })),
		"wrong aud":                forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"no aud":                   forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Audience = nil })),
		"no exp":                   forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.ExpiresAt = nil })),
		"expired":                  forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour)) })),
		"iat in the future":        forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Minute)) })),
		"nbf in the future":        forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Minute)) })),
		"no sub":                   forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Subject = "" })),
		"no sid":                   forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.SessionID = "" })),
		"tampered payload":         tamper(good),
		"non-canonical signature":  malleate(good),
		"CR in the signature":      good[:len(good)-5] + "\r" + good[len(good)-5:],
		"LF at the end":            good + "\n",
		"oversized":                forge(t, jwt.SigningMethodEdDSA, ed, edHdr, with(func(c *Claims) { c.Phone = strings.Repeat("9", 9000) })),
		"empty":                    "",
		"garbage":                  "not.a.jwt",
		"two segments":             "eyJhbGciOiJFZERTQSJ9.e30",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := e.a.ValidateAccessToken(context.Background(), token)
			if !errors.Is(err, ErrInvalidToken) || c != nil {
				t.Errorf("ValidateAccessToken = %v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
}

// malleate re-spells the signature of a JWT with non-zero padding bits in
// its last character: the same bytes to a lenient base64 decoder.
func malleate(token string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, token[len(token)-1])
	return token[:len(token)-1] + string(alphabet[last|1])
}

// TestKeyForPinsAlgorithm checks the per-kid algorithm pinning on its own:
// jwt/v5 would also refuse a key of the wrong type for a method, and the
// pinning must not depend on that.
func TestKeyForPinsAlgorithm(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, "ed", testEdKey()), mustKey(t, "hs", testHMACKey))
	e := newTokenEnv(t, TokenConfig{Keys: ks})
	for _, tc := range []struct {
		method jwt.SigningMethod
		kid    string
		ok     bool
	}{
		{jwt.SigningMethodEdDSA, "ed", true},
		{jwt.SigningMethodHS256, "hs", true},
		{jwt.SigningMethodHS256, "ed", false},
		{jwt.SigningMethodEdDSA, "hs", false},
		{jwt.SigningMethodHS384, "hs", false},
	} {
		tok := &jwt.Token{Method: tc.method, Header: map[string]any{"alg": tc.method.Alg(), "kid": tc.kid, "typ": "at+jwt"}}
		key, err := e.a.cfg.Tokens.Keys.keyFor(tok)
		if (err == nil) != tc.ok || (err == nil) != (key != nil) {
			t.Errorf("keyFor(alg %s, kid %s) = %v, %v; want ok=%v", tc.method.Alg(), tc.kid, key, err, tc.ok)
		}
	}
}

// tamper swaps the payload of a signed JWT for another subject's.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), alice.ID, "user-admin", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestAccessTokenLeeway(t *testing.T) {
	for _, leeway := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprint(leeway), func(t *testing.T) {
			e := newTokenEnv(t, TokenConfig{Leeway: leeway, AccessTTL: time.Minute})
			if leeway == 0 {
				leeway = defaultLeeway
			}
			_, toks := e.signIn(t, alice, phone)
			if !toks.AccessExpiresAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("AccessExpiresAt = %v", toks.AccessExpiresAt)
			}
			e.clock.Set(toks.AccessExpiresAt.Add(leeway - time.Second))
			if _, err := e.a.ValidateAccessToken(context.Background(), toks.AccessToken); err != nil {
				t.Errorf("expired %v ago, within the leeway: %v", leeway-time.Second, err)
			}
			e.clock.Set(toks.AccessExpiresAt.Add(leeway))
			_, err := e.a.ValidateAccessToken(context.Background(), toks.AccessToken)
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("expired by exactly the leeway: %v, want an expired token", err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	store := NewMemoryStore()
	oldKey := mustKey(t, "2026-01", testEdKey())
	before := newTokenEnvStore(t, TokenConfig{Keys: mustKeySet(t, oldKey)}, store)
	_, oldToks := before.signIn(t, alice, phone)

	newKey, err := GenerateEd25519Key("2026-02")
	if err != nil {
		t.Fatal(err)
	}
	oldPublic, err := NewVerificationKey("2026-01", testEdKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	after := newTokenEnvStore(t, TokenConfig{Keys: mustKeySet(t, newKey, oldPublic)}, store)

	if _, err := after.a.ValidateAccessToken(context.Background(), oldToks.AccessToken); err != nil {
		t.Errorf("a token of the rotated-out key no longer validates: %v", err)
	}
	in, err := after.a.Refresh(context.Background(), RefreshParams{RefreshToken: oldToks.RefreshToken, IP: "192.0.2.1"})
	if err != nil {
		t.Fatalf("refresh across the rotation: %v", err)
	}
	if kid := header(t, in.Tokens.AccessToken)["kid"]; kid != "2026-02" {
		t.Errorf("new tokens are signed by %v, want the new key", kid)
	}
	if _, err := after.a.ValidateAccessToken(context.Background(), in.Tokens.AccessToken); err != nil {
		t.Errorf("new token: %v", err)
	}
	if _, err := before.a.ValidateAccessToken(context.Background(), in.Tokens.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the old key set accepts a token of a key it does not know: %v", err)
	}
	var doc struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(after.a.JWKS(), &doc); err != nil || len(doc.Keys) != 2 || doc.Keys[0].Kid != "2026-02" || doc.Keys[1].Kid != "2026-01" {
		t.Errorf("JWKS during rotation = %s (%v)", after.a.JWKS(), err)
	}
}

func TestTokenConfigDefaults(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, "ed", testEdKey()))
	cfg := TokenConfig{Keys: ks}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	want := TokenConfig{Keys: ks, Issuer: "phoneauth", Audience: "phoneauth", AccessTTL: 15 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour, SessionTTL: 90 * 24 * time.Hour, ReuseGrace: 10 * time.Second, Leeway: 30 * time.Second}
	if cfg != want {
		t.Errorf("defaults = %+v\nwant %+v", cfg, want)
	}
	cfg = TokenConfig{Keys: ks, Issuer: "https://id.example"}
	cfg.setDefaults()
	if cfg.Audience != "https://id.example" {
		t.Errorf("Audience defaults to Issuer: %+v", cfg)
	}

	for name, cfg := range map[string]TokenConfig{
		"no keys":             {},
		"zero key set":        {Keys: &KeySet{}},
		"negative AccessTTL":  {Keys: ks, AccessTTL: -1},
		"negative RefreshTTL": {Keys: ks, RefreshTTL: -1},
		"negative SessionTTL": {Keys: ks, SessionTTL: -1},
		"negative Leeway":     {Keys: ks, Leeway: -1},
		"AccessTTL under 1s":  {Keys: ks, AccessTTL: time.Millisecond},
	} {
		cfg.setDefaults()
		if err := cfg.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if _, err := New(Config{Store: NewMemoryStore(), Sender: LogSender{}, Secret: make([]byte, 32), Tokens: cfg}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New with %s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestStartSession(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{RefreshTTL: time.Hour, SessionTTL: 2 * time.Hour})
	s, toks := e.signIn(t, alice, phone)
	if s.UserID != alice.ID || s.Phone != alice.Phone || s.Device != phone || !s.CreatedAt.Equal(t0) ||
		!s.ExpiresAt.Equal(t0.Add(2*time.Hour)) || !s.RefreshExpiresAt.Equal(t0.Add(time.Hour)) || s.RefreshHash != nil {
		t.Errorf("session = %+v", s)
	}
	if !toks.RefreshExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("RefreshExpiresAt = %v", toks.RefreshExpiresAt)
	}
	if sid, ok := parseRefreshToken(toks.RefreshToken); !ok || sid != s.ID {
		t.Errorf("refresh token %q does not name session %q", toks.RefreshToken, s.ID)
	}
	stored, err := e.store.GetSession(context.Background(), s.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.RefreshHash) != string(hashRefreshToken(toks.RefreshToken)) {
		t.Error("the store does not hold the SHA-256 of the refresh token")
	}
	if strings.Contains(fmt.Sprintf("%+v", stored), toks.RefreshToken) {
		t.Error("the store holds the refresh token itself")
	}
	// The sign-in is reported by Verify, once the code is consumed.
	if ev, ok := e.events.last(EventSignedIn); ok {
		t.Errorf("startSession reported %+v, want no signed_in event", ev)
	}

	// The refresh token may not outlive a shorter session.
	e = newTokenEnv(t, TokenConfig{RefreshTTL: 3 * time.Hour, SessionTTL: time.Hour, AccessTTL: 2 * time.Hour})
	s, toks = e.signIn(t, alice, phone)
	if !s.RefreshExpiresAt.Equal(t0.Add(time.Hour)) || !toks.RefreshExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("refresh expiry %v / %v, want the session's end", s.RefreshExpiresAt, toks.RefreshExpiresAt)
	}
	if !toks.AccessExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("access expiry %v, want the session's end", toks.AccessExpiresAt)
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{})
	s, toks := e.signIn(t, alice, phone)
	sid, secret, ok := strings.Cut(toks.RefreshToken, ".")
	if !ok || sid != s.ID {
		t.Fatalf("refresh token %q", toks.RefreshToken)
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		t.Errorf("secret is %d bytes (%v), want 32", len(b), err)
	}
	if b, err := base64.RawURLEncoding.DecodeString(sid); err != nil || len(b) != 16 {
		t.Errorf("session id is %d bytes (%v), want 16", len(b), err)
	}
	_, toks2 := e.signIn(t, alice, phone)
	if toks2.RefreshToken == toks.RefreshToken {
		t.Error("two sign-ins got the same refresh token")
	}
}

func TestRefreshRotates(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{})
	s, first := e.signIn(t, alice, phone)

	e.clock.Advance(time.Minute)
	in := e.refresh(t, first.RefreshToken)
	if in.Tokens.RefreshToken == first.RefreshToken || in.Tokens.AccessToken == first.AccessToken {
		t.Fatal("refresh did not issue new tokens")
	}
	if in.User.ID != alice.ID || in.User.Phone != alice.Phone || in.IsNewUser || in.Session.ID != s.ID || in.Session.RefreshHash != nil {
		t.Errorf("SignIn = %+v", in)
	}
	if want := t0.Add(time.Minute + defaultRefreshTTL); !in.Tokens.RefreshExpiresAt.Equal(want) {
		t.Errorf("RefreshExpiresAt = %v, want %v", in.Tokens.RefreshExpiresAt, want)
	}
	c, err := e.a.ValidateAccessToken(context.Background(), in.Tokens.AccessToken)
	if err != nil || c.SessionID != s.ID || c.Subject != alice.ID || !c.IssuedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("refreshed access token: %+v, %v", c, err)
	}
	if ev, ok := e.events.last(EventTokenRefreshed); !ok || ev.SessionID != s.ID || ev.UserID != alice.ID {
		t.Errorf("token_refreshed event = %+v, %v", ev, ok)
	}
	second := e.refresh(t, in.Tokens.RefreshToken)

	// The first token was rotated: presenting it again is reuse, which
	// revokes the whole session, the newest token included.
	_, err = e.a.Refresh(context.Background(), RefreshParams{RefreshToken: first.RefreshToken, IP: "192.0.2.1"})
	if !errors.Is(err, ErrTokenReused) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("reused token: %v, want ErrTokenReused", err)
	}
	if !strings.Contains(err.Error(), "reused") || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("error text %q", err)
	}
	if ev, ok := e.events.last(EventTokenReused); !ok || ev.SessionID != s.ID {
		t.Errorf("token_reused event = %+v, %v", ev, ok)
	}
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: second.Tokens.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenReused) {
		t.Errorf("newest token after reuse: %v, want ErrInvalidToken", err)
	}
	if ss, err := e.a.Sessions(context.Background(), alice.ID); err != nil || len(ss) != 0 {
		t.Errorf("sessions after reuse = %v, %v; want none", ss, err)
	}
}

// Hole 5: a refresh retried after a lost response, within the grace, gets
// the same successor and a fresh access token; the session survives and
// the successor works. After the grace, the same presentation is reuse.
func TestRefreshReuseGrace(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{})
	grace := e.a.cfg.Tokens.ReuseGrace
	if grace != 10*time.Second {
		t.Fatalf("default ReuseGrace %s, want 10s", grace)
	}
	_, a := e.signIn(t, alice, phone)
	e.clock.Advance(time.Minute)
	b := e.refresh(t, a.RefreshToken) // a rotated now; the response is lost

	e.clock.Advance(grace - time.Second)
	c := e.refresh(t, a.RefreshToken) // the retry
	if c.Tokens.RefreshToken != b.Tokens.RefreshToken || c.Tokens.AccessToken == "" || !c.Tokens.RefreshExpiresAt.Equal(b.Tokens.RefreshExpiresAt) {
		t.Fatalf("retry within the grace: %+v, want the successor of the first refresh %+v", c.Tokens, b.Tokens)
	}
	d := e.refresh(t, c.Tokens.RefreshToken) // the successor works
	if d.Tokens.RefreshToken == c.Tokens.RefreshToken {
		t.Fatal("a refresh kept its token")
	}

	// a was rotated a minute and 9 seconds ago: reuse.
	e.clock.Advance(time.Minute)
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: a.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrTokenReused) {
		t.Fatalf("reuse after the grace: %v, want ErrTokenReused", err)
	}
	if ss, _ := e.a.Sessions(context.Background(), alice.ID); len(ss) != 0 {
		t.Errorf("session survived reuse: %v", ss)
	}
	// Exactly at the grace, a retry is reuse too.
	_, a = e.signIn(t, alice, phone)
	e.refresh(t, a.RefreshToken)
	e.clock.Advance(grace)
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: a.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrTokenReused) {
		t.Fatalf("retry exactly at the grace: %v, want ErrTokenReused", err)
	}
	// A token two rotations back is reuse even within the grace.
	_, a = e.signIn(t, alice, phone)
	b = e.refresh(t, a.RefreshToken)
	e.refresh(t, b.Tokens.RefreshToken)
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: a.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrTokenReused) {
		t.Fatalf("a token two rotations back: %v, want ErrTokenReused", err)
	}
}

func TestRefreshWithoutGraceRevokesAtOnce(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{ReuseGrace: -1})
	_, a := e.signIn(t, alice, phone)
	e.refresh(t, a.RefreshToken)
	// Same instant: without a grace even an immediate retry is reuse.
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: a.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrTokenReused) {
		t.Errorf("immediate reuse: %v, want ErrTokenReused", err)
	}
}

func TestRefreshTokenExpiry(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{RefreshTTL: time.Hour})
	s, toks := e.signIn(t, alice, phone)
	e.clock.Advance(time.Hour - time.Second)
	in := e.refresh(t, toks.RefreshToken)

	e.clock.Advance(time.Hour) // in's token expires exactly now
	_, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"})
	if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenReused) {
		t.Errorf("expired refresh token: %v, want ErrInvalidToken", err)
	}
	if ss, _ := e.a.Sessions(context.Background(), alice.ID); len(ss) != 1 || ss[0].ID != s.ID {
		t.Errorf("an expired refresh token is no reuse, the session stays: %v", ss)
	}
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{RefreshTTL: time.Hour, SessionTTL: 150 * time.Minute, AccessTTL: 30 * time.Minute})
	_, toks := e.signIn(t, alice, phone)
	end := t0.Add(150 * time.Minute)
	tok := toks.RefreshToken
	for _, at := range []time.Duration{50 * time.Minute, 100 * time.Minute, 140 * time.Minute} {
		e.clock.Set(t0.Add(at))
		in := e.refresh(t, tok)
		tok = in.Tokens.RefreshToken
		if in.Tokens.RefreshExpiresAt.After(end) || in.Tokens.AccessExpiresAt.After(end) {
			t.Errorf("at %v: tokens outlive the session: refresh %v, access %v, session %v",
				at, in.Tokens.RefreshExpiresAt, in.Tokens.AccessExpiresAt, end)
		}
	}
	e.clock.Set(end)
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: tok, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("refresh at the session's end: %v, want ErrInvalidToken", err)
	}
}

// countingStore counts the session-store calls that reach it and can fail
// them.
type countingStore struct {
	Store
	mu    sync.Mutex
	calls int
	err   error
}

func (s *countingStore) hit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.err
}

func (s *countingStore) RotateRefresh(ctx context.Context, r Rotation) (Session, error) {
	if err := s.hit(); err != nil {
		return Session{}, err
	}
	return s.Store.RotateRefresh(ctx, r)
}

func (s *countingStore) GetSession(ctx context.Context, id string, now time.Time) (Session, error) {
	if err := s.hit(); err != nil {
		return Session{}, err
	}
	return s.Store.GetSession(ctx, id, now)
}

func (s *countingStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	if err := s.hit(); err != nil {
		return nil, err
	}
	return s.Store.ListSessions(ctx, userID, now)
}

func (s *countingStore) CreateSession(ctx context.Context, sess Session) error {
	if err := s.hit(); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, sess)
}

func TestMalformedRefreshTokenSkipsStore(t *testing.T) {
	store := &countingStore{Store: NewMemoryStore()}
	e := newTokenEnvStore(t, TokenConfig{}, store)
	_, toks := e.signIn(t, alice, phone)
	sid, secret, _ := strings.Cut(toks.RefreshToken, ".")
	store.calls = 0
	for _, bad := range []string{
		"", ".", "abc", sid, sid + ".", "." + secret, sid + "." + secret[1:], sid + "." + secret + "A",
		sid[1:] + "." + secret, sid + "." + secret[:42] + "!", sid + "." + secret + "." + secret,
		strings.Replace(toks.RefreshToken, ".", "-", 1), sid + "=." + secret[:42],
	} {
		if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: bad, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Refresh(%q) = %v, want ErrInvalidToken", bad, err)
		}
		if err := e.a.Logout(context.Background(), bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Logout(%q) = %v, want ErrInvalidToken", bad, err)
		}
	}
	if store.calls != 0 {
		t.Errorf("malformed tokens reached the store %d times", store.calls)
	}
	// A well-formed token that is not the session's is looked up, and refused.
	forged := sid + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if _, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: forged, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenReused) {
		t.Errorf("unknown token: %v, want ErrInvalidToken", err)
	}
	if store.calls != 1 {
		t.Errorf("store calls = %d, want 1", store.calls)
	}
	e.refresh(t, toks.RefreshToken) // the session is unharmed
}

func TestTokenStoreErrors(t *testing.T) {
	boom := errors.New("connection refused")
	store := &countingStore{Store: NewMemoryStore()}
	e := newTokenEnvStore(t, TokenConfig{}, store)
	s, toks := e.signIn(t, alice, phone)
	store.err = boom
	ctx := context.Background()

	_, _, err := e.a.startSession(ctx, alice, phone)
	_, rerr := e.a.Refresh(ctx, RefreshParams{RefreshToken: toks.RefreshToken, IP: "192.0.2.1"})
	lerr := e.a.Logout(ctx, toks.RefreshToken)
	_, serr := e.a.Sessions(ctx, alice.ID)
	verr := e.a.RevokeSession(ctx, alice.ID, s.ID)
	for name, err := range map[string]error{"startSession": err, "Refresh": rerr, "Logout": lerr, "Sessions": serr, "RevokeSession": verr} {
		if !errors.Is(err, ErrStoreUnavailable) || !errors.Is(err, boom) {
			t.Errorf("%s: %v, want ErrStoreUnavailable wrapping the cause", name, err)
		}
	}
	store.err = nil
	e.refresh(t, toks.RefreshToken)
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	e := newTokenEnv(t, TokenConfig{RefreshTTL: time.Hour})
	// Logout with a rotated token is reuse: the session is revoked.
	stolen, first := e.signIn(t, alice, phone)
	e.refresh(t, first.RefreshToken)
	if err := e.a.Logout(ctx, first.RefreshToken); !errors.Is(err, ErrTokenReused) || !errors.Is(err, ErrInvalidToken) {
		t.Errorf("logout with a rotated token: %v, want ErrTokenReused", err)
	}
	if _, err := e.store.GetSession(ctx, stolen.ID, e.clock.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after a logout with a rotated token: %v, want it revoked", err)
	}
	if ev, ok := e.events.last(EventTokenReused); !ok || ev.SessionID != stolen.ID {
		t.Errorf("token_reused event = %+v, %v", ev, ok)
	}
	// A token of no session, well formed, changes nothing.
	s, first := e.signIn(t, alice, phone)
	in := e.refresh(t, first.RefreshToken)
	if err := e.a.Logout(ctx, s.ID+"."+randomBase64(refreshSecretBytes)); !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrTokenReused) {
		t.Errorf("logout with an unknown token of the session: %v, want ErrInvalidToken", err)
	}
	if _, err := e.store.GetSession(ctx, s.ID, e.clock.Now()); err != nil {
		t.Fatalf("a refused logout ended the session: %v", err)
	}
	if err := e.a.Logout(ctx, in.Tokens.RefreshToken); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if ev, ok := e.events.last(EventSignedOut); !ok || ev.SessionID != s.ID || ev.UserID != alice.ID {
		t.Errorf("signed_out event = %+v, %v", ev, ok)
	}
	if _, err := e.store.GetSession(ctx, s.ID, e.clock.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after logout: %v", err)
	}
	if _, err := e.a.Refresh(ctx, RefreshParams{RefreshToken: in.Tokens.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("refresh after logout: %v", err)
	}
	if err := e.a.Logout(ctx, in.Tokens.RefreshToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("second logout: %v", err)
	}

	// An expired refresh token cannot log out either.
	_, toks := e.signIn(t, alice, phone)
	e.clock.Advance(time.Hour)
	if err := e.a.Logout(ctx, toks.RefreshToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("logout with an expired token: %v", err)
	}
}

func TestSessionsAndRevoke(t *testing.T) {
	ctx := context.Background()
	e := newTokenEnv(t, TokenConfig{})
	tablet := Device{ID: "device-2", Type: "ios", Name: "iPad"}
	s1, t1 := e.signIn(t, alice, phone)
	e.clock.Advance(time.Second)
	s2, _ := e.signIn(t, alice, tablet)
	sb, _ := e.signIn(t, bob, phone)

	ss, err := e.a.Sessions(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].ID != s1.ID || ss[1].ID != s2.ID || ss[1].Device != tablet {
		t.Fatalf("Sessions(alice) = %+v", ss)
	}
	for _, s := range ss {
		if s.RefreshHash != nil {
			t.Error("Sessions exposes refresh hashes")
		}
	}
	if ss, err := e.a.Sessions(ctx, "nobody"); err != nil || len(ss) != 0 {
		t.Errorf("Sessions(nobody) = %v, %v", ss, err)
	}

	// Bob cannot revoke Alice's session, and learns nothing about it.
	errOther := e.a.RevokeSession(ctx, bob.ID, s1.ID)
	errMissing := e.a.RevokeSession(ctx, bob.ID, "no-such-session")
	if !errors.Is(errOther, ErrNotFound) || !errors.Is(errMissing, ErrNotFound) {
		t.Errorf("RevokeSession of another user's / a missing session: %v / %v, want ErrNotFound", errOther, errMissing)
	}
	if _, err := e.store.GetSession(ctx, s1.ID, e.clock.Now()); err != nil {
		t.Fatalf("another user revoked the session: %v", err)
	}

	if err := e.a.RevokeSession(ctx, alice.ID, s1.ID); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if ev, ok := e.events.last(EventSignedOut); !ok || ev.SessionID != s1.ID {
		t.Errorf("signed_out event = %+v, %v", ev, ok)
	}
	if _, err := e.a.Refresh(ctx, RefreshParams{RefreshToken: t1.RefreshToken, IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("refresh of a revoked session: %v", err)
	}
	if err := e.a.RevokeSession(ctx, alice.ID, s1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if ss, _ := e.a.Sessions(ctx, alice.ID); len(ss) != 1 || ss[0].ID != s2.ID {
		t.Errorf("Sessions(alice) after revoke = %+v", ss)
	}
	if ss, _ := e.a.Sessions(ctx, bob.ID); len(ss) != 1 || ss[0].ID != sb.ID {
		t.Errorf("Sessions(bob) = %+v", ss)
	}
}

// Without a grace, of concurrent refreshes of one token exactly one wins.
func TestConcurrentRefreshOneWinner(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{ReuseGrace: -1})
	_, toks := e.signIn(t, alice, phone)

	const n = 20
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		winners []SignIn
		errs    []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in, err := e.a.Refresh(context.Background(), RefreshParams{RefreshToken: toks.RefreshToken, IP: "192.0.2.1"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, in)
			} else {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()

	if len(winners) != 1 {
		t.Fatalf("%d refreshes of one token succeeded, want exactly 1", len(winners))
	}
	for _, err := range errs {
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("loser error %v, want ErrInvalidToken or ErrTokenReused", err)
		}
	}
	refreshed := 0
	for _, k := range e.events.kinds() {
		if k == EventTokenRefreshed {
			refreshed++
		}
	}
	if refreshed != 1 {
		t.Errorf("%d token_refreshed events, want 1", refreshed)
	}
}

// Hole 5: a refresh fired many times at once (tabs, retries) leaves one
// working session: every call gets the same successor, nothing is revoked.
func TestConcurrentRefreshIsSafe(t *testing.T) {
	e := newTokenEnv(t, TokenConfig{})
	s, toks := e.signIn(t, alice, phone)
	const n = 20
	results := make([]SignIn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = e.a.Refresh(context.Background(), RefreshParams{RefreshToken: toks.RefreshToken, IP: "192.0.2.1"})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d of %d concurrent: %v", i, n, err)
		}
		if results[i].Tokens.RefreshToken != results[0].Tokens.RefreshToken || results[i].Session.ID != s.ID {
			t.Fatalf("refresh %d got another refresh token or session", i)
		}
	}
	if _, ok := e.events.last(EventTokenReused); ok {
		t.Fatal("a concurrent refresh was taken for reuse")
	}
	next := e.refresh(t, results[0].Tokens.RefreshToken)
	if next.Session.ID != s.ID {
		t.Fatalf("the shared successor refreshed into session %s", next.Session.ID)
	}
}

func BenchmarkValidateAccessToken(b *testing.B) {
	e := newTokenEnv(b, TokenConfig{})
	_, toks := e.signIn(b, alice, phone)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.a.ValidateAccessToken(ctx, toks.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTParseBaseline is the floor of BenchmarkValidateAccessToken: a
// bare jwt/v5 parse of the same token with the same key, checking only the
// signature and the registered claims' times.
func BenchmarkJWTParseBaseline(b *testing.B) {
	e := newTokenEnv(b, TokenConfig{})
	_, toks := e.signIn(b, alice, phone)
	pub := testEdKey().Public()
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.ParseWithClaims(toks.AccessToken, &jwt.RegisteredClaims{}, keyFunc,
			jwt.WithTimeFunc(e.clock.Now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh refreshes one session every access-token lifetime, as a
// client does. The store remembers each rotated token until it would have
// expired (RefreshTTL, 30 days), so after 2880 refreshes it reaches the
// steady state of a session in constant use. The session is given a long
// life so that it outlasts the benchmark.
func BenchmarkRefresh(b *testing.B) {
	e := newTokenEnv(b, TokenConfig{SessionTTL: 10 * 365 * 24 * time.Hour})
	_, toks := e.signIn(b, alice, phone)
	ctx := context.Background()
	token := toks.RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		e.clock.Advance(defaultAccessTTL)
		in, err := e.a.Refresh(ctx, RefreshParams{RefreshToken: token, IP: "192.0.2.1"})
		if err != nil {
			b.Fatal(err)
		}
		token = in.Tokens.RefreshToken
	}
}

func FuzzParseRefreshToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add(".")
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		sid, ok := parseRefreshToken(token)
		if !ok {
			if sid != "" {
				t.Errorf("rejected token %q yields session id %q", token, sid)
			}
			return
		}
		// Accepted tokens are exactly what newRefreshToken makes: 16 and 32
		// bytes in canonical base64url.
		id, secret, _ := strings.Cut(token, ".")
		if id != sid {
			t.Errorf("session id %q, want %q", sid, id)
		}
		idb, err1 := base64.RawURLEncoding.Strict().DecodeString(id)
		secb, err2 := base64.RawURLEncoding.Strict().DecodeString(secret)
		if err1 != nil || err2 != nil || len(idb) != sessionIDBytes || len(secb) != refreshSecretBytes {
			t.Errorf("accepted malformed token %q", token)
		}
		if base64.RawURLEncoding.EncodeToString(idb)+"."+base64.RawURLEncoding.EncodeToString(secb) != token {
			t.Errorf("accepted non-canonical token %q", token)
		}
	})
}

func FuzzValidateAccessToken(f *testing.F) {
	e := newTokenEnv(f, TokenConfig{})
	_, toks := e.signIn(f, alice, phone)
	f.Add(toks.AccessToken)
	f.Add(tamper(toks.AccessToken))
	f.Add(malleate(toks.AccessToken))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := e.a.ValidateAccessToken(context.Background(), token)
		switch {
		case err == nil && token != toks.AccessToken:
			t.Errorf("accepted a token that was never issued: %q", token)
		case err != nil && !errors.Is(err, ErrInvalidToken):
			t.Errorf("error %v does not match ErrInvalidToken", err)
		case err != nil && c != nil:
			t.Errorf("claims returned with an error")
		}
	})
}
