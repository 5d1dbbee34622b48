package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A backend is what a -store value opens: a store, and the users and
// limiter that go with it (nil: the store's own users, an in-memory
// limiter).
type backend struct {
	store   phoneauth.Store
	users   phoneauth.Users
	limiter phoneauth.Limiter
	close   func()
}

// openBackend opens the store named by uri. Each backend is one case: the
// Redis and Postgres modules add theirs here (and their requires to
// examples/go.mod).
func openBackend(ctx context.Context, uri string) (backend, error) {
	scheme, _, _ := strings.Cut(uri, "://")
	switch strings.ToLower(scheme) {
	case "memory":
		return backend{store: phoneauth.NewMemoryStore(), close: func() {}}, nil
	case "redis", "rediss":
		return backend{}, fmt.Errorf("-store %s: the Redis store is not part of this build yet (it arrives with the redisstore module); use -store memory", redact(uri))
	case "postgres", "postgresql":
		return backend{}, fmt.Errorf("-store %s: the Postgres store is not part of this build yet (it arrives with the pgstore module); use -store memory", redact(uri))
	}
	return backend{}, fmt.Errorf("-store %q: unknown store; want memory, redis://… or postgres://…", redact(uri))
}

// redact hides the password of a store URI in messages.
func redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + rest
}

// loadKeys returns the key set that signs access tokens: the PKCS#8 key in
// file, or a new Ed25519 key. The key id is derived from the public key, so
// a loaded key keeps its id across restarts.
func loadKeys(file string, log *slog.Logger) (*phoneauth.KeySet, error) {
	var priv crypto.Signer
	if file == "" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
		log.Warn("signing key generated at start: tokens die with the process; load one with -key")
	} else {
		var err error
		if priv, err = readPKCS8(file); err != nil {
			return nil, err
		}
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("-key %s: %w", file, err)
	}
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:9])
	key, err := phoneauth.NewSigningKey(kid, priv)
	if err != nil {
		return nil, fmt.Errorf("-key %s: %w", file, err)
	}
	log.Info("signing key ready", "kid", kid, "alg", key.Algorithm(), "file", file)
	return phoneauth.NewKeySet(key)
}

// readPKCS8 reads the private key of a PEM "PRIVATE KEY" block.
func readPKCS8(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("-key %s: want a PEM PRIVATE KEY block (PKCS#8), as written by openssl genpkey -algorithm ed25519", file)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("-key %s: %w", file, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("-key %s: %T cannot sign", file, priv)
	}
	return signer, nil
}

// loadSecret decodes PHONEAUTH_SECRET (hex or base64, at least 32 bytes),
// or generates a random secret if it is empty.
func loadSecret(env string, log *slog.Logger) ([]byte, error) {
	env = strings.TrimSpace(env)
	if env == "" {
		log.Warn("PHONEAUTH_SECRET not set: using a random secret; pending codes die on restart")
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		return secret, nil
	}
	for _, decode := range []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	} {
		if b, err := decode(env); err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("PHONEAUTH_SECRET: %d bytes; want at least 32 random bytes (openssl rand -hex 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("PHONEAUTH_SECRET: neither hex nor base64 (try openssl rand -hex 32)")
}

// seedTestNumbers makes the phone number of the API documents' examples a
// test number with their code, for a month from now.
func seedTestNumbers(now time.Time) map[string]phoneauth.TestNumber {
	return map[string]phoneauth.TestNumber{
		"+923012345678": {Code: "249364", Expires: now.AddDate(0, 1, 0)},
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// warnDevelopment says loudly that codes are in responses and logs.
func warnDevelopment() {
	fmt.Fprint(os.Stderr, `
  ****************************************************************
  *  DEVELOPMENT MODE: one-time codes are returned in responses  *
  *  and written to the log. Never let real users reach this     *
  *  server. In production: -dev=false and a real Sender.        *
  ****************************************************************

`)
}
