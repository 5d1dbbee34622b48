// Command floor is the cheapest server a phone sign-in can have on a given
// machine and store, for measuring what phoneauth adds to it: the same
// routes, bodies and development-mode answers as examples/server, the same
// net/http timeouts and per-request deadline, a code from crypto/rand kept
// only as its HMAC, an Ed25519 access token and a random refresh token kept
// as its SHA-256, but no limits, no attempts, no events and no metrics. A
// sign-in is one store call per route: on Redis one command each (a SET,
// then one script), on PostgreSQL one durable statement each (an upsert of
// the challenge, then one statement that consumes it and creates the user
// and the session, in tables with examples/server's indexes).
//
// It takes examples/server's flags that scripts/loadgen-store.sh passes, so
// that the script measures it the same way:
//
//	(cd examples && go build -o /tmp/floor ./internal/floor)
//	scripts/loadgen-store.sh /tmp/floor /tmp/loadgen redis://127.0.0.1:16379/6 "$(cat $REDIS_DIR/redis.pid)" 3 32 10s
//
// It is a measuring instrument, not an example to follow: it refuses
// nothing, so it must never face a network.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// store keeps challenges, users and sessions.
type store interface {
	// put stores phone's challenge.
	put(ctx context.Context, phone string, codeHash []byte) error
	// signIn consumes phone's challenge if its hash is codeHash and creates
	// the user (if new) and a session; it returns the user's id.
	signIn(ctx context.Context, phone string, codeHash []byte, userID, sessionID string, refreshHash []byte) (string, error)
}

var errWrongCode = errors.New("wrong code")

func run() error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	storeURL := fs.String("store", "memory", "memory, redis://… or postgres://…[?schema=S]")
	pool := fs.Int("pool", 32, "PostgreSQL pool size")
	fs.Int("global-limit", 0, "ignored (examples/server's flag)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var s store
	switch {
	case *storeURL == "memory":
		s = newMemStore()
	case strings.HasPrefix(*storeURL, "redis://"):
		opt, err := redis.ParseURL(*storeURL)
		if err != nil {
			return err
		}
		s = &redisStore{c: redis.NewClient(opt)}
	case strings.HasPrefix(*storeURL, "postgres://"):
		u, err := url.Parse(*storeURL)
		if err != nil {
			return err
		}
		q := u.Query()
		schema := q.Get("schema")
		q.Del("schema")
		u.RawQuery = q.Encode()
		cfg, err := pgxpool.ParseConfig(u.String())
		if err != nil {
			return err
		}
		if schema != "" {
			cfg.ConnConfig.RuntimeParams["search_path"] = schema
		}
		cfg.MaxConns = int32(*pool)
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer p.Close()
		if err := migrate(ctx, p, schema); err != nil {
			return err
		}
		s = &pgStore{p: p}
	default:
		return fmt.Errorf("unknown store %q", *storeURL)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Addr:              *addr,
		Handler:           handler(s, key),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler serves the sign-in routes on s, signing with key, each request
// with a 5 s deadline, as examples/server does.
func handler(s store, key ed25519.PrivateKey) http.Handler {
	srv := &server{store: s, key: key, pepper: make([]byte, 32)}
	rand.Read(srv.pepper)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/otp/request", srv.request)
	mux.HandleFunc("POST /auth/otp/verify", srv.verify)
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"keys":[]}`) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// server is the routes' state: the store, the signing key and the secret
// of the codes' MACs.
type server struct {
	store  store
	key    ed25519.PrivateKey
	pepper []byte
}

func (s *server) codeHash(phone, code string) []byte {
	m := hmac.New(sha256.New, s.pepper)
	io.WriteString(m, phone)
	io.WriteString(m, "\x00")
	io.WriteString(m, code)
	return m.Sum(nil)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<10))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (s *server) request(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone    string `json:"phone"`
		DeviceID string `json:"deviceId"`
	}
	if !decode(w, r, &in) {
		return
	}
	var b [8]byte
	rand.Read(b[:])
	code := fmt.Sprintf("%06d", binary.BigEndian.Uint64(b[:])%1_000_000)
	if err := s.store.put(r.Context(), in.Phone, s.codeHash(in.Phone, code)); err != nil {
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	type data struct {
		Phone     string `json:"phone"`
		ExpiresIn int    `json:"expiresIn"`
		OTP       string `json:"otp"`
	}
	reply(w, struct {
		Data data `json:"data"`
	}{data{in.Phone, 300, code}})
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *server) verify(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OTPInfo struct {
			Phone string `json:"phone"`
			OTP   string `json:"otp"`
		} `json:"otpInfo"`
		DeviceInfo struct {
			DeviceID   string `json:"deviceId"`
			DeviceType string `json:"deviceType"`
		} `json:"deviceInfo"`
	}
	if !decode(w, r, &in) {
		return
	}
	var refresh [32]byte
	rand.Read(refresh[:])
	refreshHash := sha256.Sum256(refresh[:])
	sessionID := randomID()
	userID, err := s.store.signIn(r.Context(), in.OTPInfo.Phone, s.codeHash(in.OTPInfo.Phone, in.OTPInfo.OTP), randomID(), sessionID, refreshHash[:])
	switch {
	case errors.Is(err, errWrongCode):
		http.Error(w, `{"error":"wrong code"}`, http.StatusUnauthorized)
		return
	case err != nil:
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	now := time.Now()
	access, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "floor", "sub": userID, "sid": sessionID, "phone": in.OTPInfo.Phone,
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}).SignedString(s.key)
	if err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	type token struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresIn    int    `json:"expiresIn"`
	}
	type user struct {
		ID    string `json:"id"`
		Phone string `json:"phone"`
	}
	type data struct {
		Token token `json:"token"`
		User  user  `json:"user"`
	}
	reply(w, struct {
		Data data `json:"data"`
	}{data{token{access, base64.RawURLEncoding.EncodeToString(refresh[:]), 900}, user{userID, in.OTPInfo.Phone}}})
}

func newMemStore() *memStore {
	return &memStore{challenges: map[string][]byte{}, users: map[string]string{}, sessions: map[string][]byte{}}
}

// memStore keeps everything in maps under one mutex.
type memStore struct {
	mu         sync.Mutex
	challenges map[string][]byte
	users      map[string]string
	sessions   map[string][]byte
}

func (m *memStore) put(_ context.Context, phone string, codeHash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.challenges[phone] = codeHash
	return nil
}

func (m *memStore) signIn(_ context.Context, phone string, codeHash []byte, userID, sessionID string, refreshHash []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !hmac.Equal(m.challenges[phone], codeHash) {
		return "", errWrongCode
	}
	delete(m.challenges, phone)
	if id, ok := m.users[phone]; ok {
		userID = id
	} else {
		m.users[phone] = userID
	}
	m.sessions[sessionID] = refreshHash
	return userID, nil
}

type redisStore struct{ c *redis.Client }

// signInScript: KEYS challenge, user, session; ARGV code hash, new user
// id, refresh hash.
var signInScript = redis.NewScript(`
local h = redis.call('GETDEL', KEYS[1])
if h ~= ARGV[1] then return false end
local uid = redis.call('GET', KEYS[2])
if not uid then uid = ARGV[2]; redis.call('SET', KEYS[2], uid) end
redis.call('SET', KEYS[3], ARGV[3], 'PX', 2592000000)
return uid`)

func (r *redisStore) put(ctx context.Context, phone string, codeHash []byte) error {
	return r.c.Set(ctx, "floor:ch:"+phone, codeHash, 5*time.Minute).Err()
}

func (r *redisStore) signIn(ctx context.Context, phone string, codeHash []byte, userID, sessionID string, refreshHash []byte) (string, error) {
	id, err := signInScript.Run(ctx, r.c, []string{"floor:ch:" + phone, "floor:user:" + phone, "floor:session:" + sessionID}, codeHash, userID, refreshHash).Text()
	if errors.Is(err, redis.Nil) {
		return "", errWrongCode
	}
	return id, err
}

type pgStore struct{ p *pgxpool.Pool }

func migrate(ctx context.Context, p *pgxpool.Pool, schema string) error {
	if schema != "" {
		if _, err := p.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}
	_, err := p.Exec(ctx, `
CREATE TABLE IF NOT EXISTS floor_challenges (phone text PRIMARY KEY, code_hash bytea NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS floor_challenges_expires_at_idx ON floor_challenges (expires_at);
CREATE TABLE IF NOT EXISTS floor_users (id text PRIMARY KEY, phone text NOT NULL UNIQUE, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS floor_sessions (id text PRIMARY KEY, user_id text NOT NULL, refresh_hash bytea NOT NULL,
  created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS floor_sessions_user_id_idx ON floor_sessions (user_id, created_at);
CREATE INDEX IF NOT EXISTS floor_sessions_expires_at_idx ON floor_sessions (expires_at)`)
	return err
}

func (s *pgStore) put(ctx context.Context, phone string, codeHash []byte) error {
	_, err := s.p.Exec(ctx, `INSERT INTO floor_challenges VALUES ($1, $2, now() + interval '5 minutes')
ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at`, phone, codeHash)
	return err
}

func (s *pgStore) signIn(ctx context.Context, phone string, codeHash []byte, userID, sessionID string, refreshHash []byte) (string, error) {
	var id string
	err := s.p.QueryRow(ctx, `
WITH c AS (DELETE FROM floor_challenges WHERE phone = $1 AND code_hash = $2 AND expires_at > now() RETURNING phone),
u AS (INSERT INTO floor_users SELECT $3, phone, now() FROM c ON CONFLICT (phone) DO NOTHING RETURNING id),
uid AS (SELECT id FROM u UNION ALL SELECT id FROM floor_users WHERE phone = (SELECT phone FROM c) LIMIT 1),
s AS (INSERT INTO floor_sessions SELECT $4, id, $5, now(), now() + interval '30 days' FROM uid RETURNING user_id)
SELECT user_id FROM s`, phone, codeHash, userID, sessionID, refreshHash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errWrongCode
	}
	return id, err
}
