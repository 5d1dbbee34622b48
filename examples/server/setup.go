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
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/pgstore"
	"github.com/phoneauth/phoneauth/redisstore"
	"github.com/phoneauth/phoneauth/sqlitestore"
)

// A backend is what a -store value opens: a store, and the users and
// limiter that go with it (nil: the store's own users, an in-memory
// limiter), and what closes it all on shutdown.
type backend struct {
	store   phoneauth.Store
	users   phoneauth.Users
	limiter phoneauth.Limiter
	close   func()
}

// backendOptions configure openBackend.
type backendOptions struct {
	log     *slog.Logger
	pool    int           // PostgreSQL: connections in the pool
	timeout time.Duration // the request deadline: no store call needs longer
}

// defaultPoolSize is the PostgreSQL pool of -pool. With durable commits
// each write waits for its WAL flush, and PostgreSQL flushes the commits of
// concurrent connections together, so more connections serve more flows: on
// two cores, with 32 clients, 32 connections served about 3.3 times the
// flows of pgx's default of four, and 1.5 times those of 16 (see
// docs/operations.md).
const defaultPoolSize = 32

// connectTimeout bounds the first contact with a Redis or Postgres server:
// a server that does not answer at start is a clear error, not a hang.
const connectTimeout = 5 * time.Second

// openBackend opens the store named by uri:
//
//	memory                                   in-memory store and limiter (one process)
//	redis://[:password@]host:port/db         Redis: store, users and shared limiter
//	rediss://…                               the same over TLS
//	postgres://user:password@host:port/db    PostgreSQL: tables migrated at start,
//	postgresql://…                           expired rows cleaned up every minute
//	sqlite:FILE                              SQLite file (created if missing): store, users and
//	                                         limits survive restarts; one node; cleaned up every minute
//
// A Redis URI may carry ?prefix=P (default "phoneauth"), the key prefix; a
// Postgres URI ?schema=S (default "phoneauth"), the schema of the tables, and
// pgx's own pool parameters (pool_max_conns…). Either server is pinged at
// start, with a timeout, and an unreachable one is an error; its settings
// are checked, and those that put single use at risk are logged as
// warnings (see redisstore.CheckSettings, pgstore.Store.CheckSettings).
func openBackend(ctx context.Context, uri string, opts backendOptions) (backend, error) {
	if file, ok := strings.CutPrefix(uri, "sqlite:"); ok {
		b, err := openSQLite(ctx, file, opts.log)
		if err != nil {
			return backend{}, fmt.Errorf("-store %s: %w", uri, err)
		}
		return b, nil
	}
	scheme, _, _ := strings.Cut(uri, "://")
	switch strings.ToLower(scheme) {
	case "memory":
		return backend{store: phoneauth.NewMemoryStore(), close: func() {}}, nil
	case "redis", "rediss":
		b, err := openRedis(ctx, uri, opts)
		if err != nil {
			return backend{}, fmt.Errorf("-store %s: %w", redact(uri), err)
		}
		return b, nil
	case "postgres", "postgresql":
		b, err := openPostgres(ctx, uri, opts)
		if err != nil {
			return backend{}, fmt.Errorf("-store %s: %w", redact(uri), err)
		}
		return b, nil
	}
	return backend{}, fmt.Errorf("-store %q: unknown store; want memory, redis://…, postgres://… or sqlite:FILE", redact(uri))
}

// openRedis connects to the Redis of uri and returns its store, which is
// also the users, and its shared limiter. The client honours the deadlines
// of its callers' contexts, and its own read and write timeouts are no
// shorter than a request's deadline, so that the deadline decides: go-redis
// retries a command whose own timeout fires first, and a command retried
// after it ran (a rotation, a consumed code) would run twice.
func openRedis(ctx context.Context, uri string, o backendOptions) (backend, error) {
	uri, prefix, err := cutParam(uri, "prefix")
	if err != nil {
		return backend{}, err
	}
	opts, err := redis.ParseURL(uri)
	if err != nil {
		return backend{}, err
	}
	opts.ContextTimeoutEnabled = true
	opts.ReadTimeout = max(opts.ReadTimeout, o.timeout)
	opts.WriteTimeout = max(opts.WriteTimeout, o.timeout)
	rdb := redis.NewClient(opts)
	startCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := rdb.Ping(startCtx).Err(); err != nil {
		rdb.Close()
		return backend{}, fmt.Errorf("redis does not answer: %w", err)
	}
	if _, err := redisstore.CheckSettings(startCtx, rdb, o.log); err != nil {
		rdb.Close()
		return backend{}, err
	}
	so := redisstore.Options{Prefix: prefix}
	store := redisstore.New(rdb, so)
	return backend{
		store:   store,
		users:   store,
		limiter: redisstore.NewLimiter(rdb, so),
		close:   func() { rdb.Close() },
	}, nil
}

// redisLogger sends go-redis's own log lines (failed dials, pool events)
// to a slog.Logger. main installs it with redis.SetLogger, which sets a
// variable of the whole process: a program may, a library must not.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "go-redis", slog.String("detail", fmt.Sprintf(format, v...)))
}

// openPostgres connects to the database of uri, migrates the schema, and
// returns its store, which is also the users, and its shared limiter.
// Expired rows are cleaned up every minute until the backend is closed.
//
// The pool has o.pool connections unless the URI sets pool_max_conns. pgx
// sends a cancel request for a statement abandoned at its deadline; as a
// backstop for when that request cannot get through, the server's
// statement_timeout is set to the request deadline, unless the URI sets
// one.
func openPostgres(ctx context.Context, uri string, o backendOptions) (backend, error) {
	uri, schema, err := cutParam(uri, "schema")
	if err != nil {
		return backend{}, err
	}
	cfg, err := pgxpool.ParseConfig(uri)
	if err != nil {
		return backend{}, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(uri, "pool_max_conns") {
		cfg.MaxConns = int32(min(o.pool, 10_000))
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.timeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	if err != nil {
		return backend{}, err
	}
	store, err := pgstore.New(pool, pgstore.Options{Schema: schema, Logger: o.log})
	if err != nil {
		pool.Close()
		return backend{}, err
	}
	startCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := pool.Ping(startCtx); err != nil {
		pool.Close()
		return backend{}, fmt.Errorf("postgres does not answer: %w", err)
	}
	if err := store.Migrate(startCtx); err != nil {
		pool.Close()
		return backend{}, err
	}
	if _, err := store.CheckSettings(startCtx, o.log); err != nil {
		pool.Close()
		return backend{}, err
	}
	return cleanedBackend(ctx, store, store.Limiter(), pool.Close), nil
}

// openSQLite opens (creating and migrating it if need be) the SQLite file
// and returns its store, which is also the users, and its limiter. Expired
// rows are cleaned up every minute until the backend is closed.
func openSQLite(ctx context.Context, file string, log *slog.Logger) (backend, error) {
	store, err := sqlitestore.Open(ctx, file, sqlitestore.Options{Logger: log})
	if err != nil {
		return backend{}, err
	}
	return cleanedBackend(ctx, store, store.Limiter(), func() { store.Close() }), nil
}

// A cleanedStore is a database store that is also the users and deletes
// its expired rows in a loop.
type cleanedStore interface {
	phoneauth.Store
	phoneauth.Users
	RunCleanup(ctx context.Context, every time.Duration)
}

// cleanedBackend returns the backend of store and limiter, with store's
// cleanup running every minute until the backend is closed; closing it
// stops the cleanup, then calls closeStore.
func cleanedBackend(ctx context.Context, store cleanedStore, limiter phoneauth.Limiter, closeStore func()) backend {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.RunCleanup(ctx, time.Minute)
	}()
	return backend{
		store:   store,
		users:   store,
		limiter: limiter,
		close: func() {
			stop()
			<-done
			closeStore()
		},
	}
}

// cutParam removes the query parameter name from uri and returns uri
// without it and the parameter's value ("" if absent).
func cutParam(uri, name string) (string, string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", errors.New("not a valid URI") // url's error would repeat the password
	}
	q := u.Query()
	value := q.Get(name)
	q.Del(name)
	u.RawQuery = q.Encode()
	return u.String(), value, nil
}

// startCPUProfile profiles the process into file until the returned
// function is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
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
