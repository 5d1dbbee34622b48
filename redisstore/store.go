// Package redisstore keeps phoneauth's challenges, sessions and users in
// Redis (or Valkey, or a Redis Cluster), and provides a Limiter whose limits
// all replicas of a server share.
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
//		Addrs:                 []string{"127.0.0.1:6379"},
//		ContextTimeoutEnabled: true, // calls end at their context's deadline
//	})
//	if _, err := redisstore.CheckSettings(ctx, rdb, logger); err != nil { … } // warns if not durable
//	store := redisstore.New(rdb, redisstore.Options{Prefix: "myapp"})
//	auth, err := phoneauth.New(phoneauth.Config{
//		Store:   store,
//		Users:   store, // or your own user table
//		Limiter: redisstore.NewLimiter(rdb, redisstore.Options{Prefix: "myapp"}),
//		// ...
//	})
//
// Every operation is one round trip to Redis, except ListSessions (two;
// see its documentation). Operations that must be atomic run as Lua
// scripts, and every script touches keys of a single hash slot. Entries
// carry native TTLs, so Redis removes what has expired on its own.
//
// Times are stored as unix microseconds and compared with the time the
// caller passes in, never with Redis's clock, so replicas agree and test
// clocks work; stored times come back in UTC, truncated to the microsecond.
// TTLs are set relative to the entry's own lifetime (ExpiresAt minus
// CreatedAt, plus a margin), so they do not depend on the caller's clock and
// Redis's agreeing either.
//
// Errors: a missing entry is phoneauth.ErrNotFound, as the Store contract
// says; any other failure (a connection refused, a timeout, a Redis error)
// is returned wrapped so that it matches phoneauth.ErrStoreUnavailable, with
// the cause kept. go-redis reconnects on its own: when Redis is back, so are
// the calls. With ContextTimeoutEnabled set on the client, every operation
// returns by the deadline of its context, also when Redis is paused.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix of a Store or Limiter whose Options name
// none.
const DefaultPrefix = "phoneauth"

// ttlMargin is how long Redis keeps an entry after it expired by the
// caller's clock: room for clocks of replicas that disagree a little.
const ttlMargin = time.Minute

// Options configures a Store or a Limiter. The zero value works.
type Options struct {
	// Prefix starts every key, so that several applications (or tests)
	// can share a Redis. Default DefaultPrefix. It should not contain
	// braces: they would change the keys' hash tags (and put everything
	// into fewer cluster slots).
	Prefix string
	// Clock dates the users CreateUser creates. Default
	// phoneauth.SystemClock. (Challenges and sessions carry their own
	// times.)
	Clock phoneauth.Clock
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Clock == nil {
		o.Clock = phoneauth.SystemClock{}
	}
	return o
}

// Store is a phoneauth.Store and phoneauth.Users kept in Redis. It is safe
// for concurrent use, also by several processes sharing one Redis. Create
// it with New.
//
// Keys, with P the prefix (braces mark the hash tag, which decides the
// cluster slot):
//
//	{P:l}c:KEY     hash  a challenge, under its Challenge.Key
//	{P:s:ID}       hash  a session
//	{P:s:ID}:t     hash  its past refresh-token hashes → rotation time
//	{P:u}us:USER   zset  the user's session ids, scored by expiry (an index)
//	{P:u}:by-phone hash  phone → user id
//	{P:u}:phone    hash  user id → phone
//	{P:u}:created  hash  user id → creation time
//	{P:u}:metadata hash  user id → signup metadata (JSON)
//
// A session and its token hashes share a slot, so that a rotation is one
// atomic script. All users share one slot, so that phone uniqueness holds
// atomically when a user changes phones, and the per-user session indexes
// live in that slot too, so that a sign-in finds or creates its user and
// indexes its session in one script. Challenges share the slot of the
// Limiter's keys ({P:l}, see Limiter), so that a code request decides its
// limits and stores its challenge in one script, and a verification
// counts its attempt, charges and resets the failed-verify budget and
// consumes the code in another (see routes.go). On Redis Cluster the
// limiter's node therefore also holds the pending challenges: small hashes
// that expire within minutes, on the node every code request visits
// anyway; sessions, the bulk of the data, spread over the cluster.
type Store struct {
	rdb   redis.UniversalClient
	keys  keys
	clock phoneauth.Clock
}

var (
	_ phoneauth.Store = (*Store)(nil)
	_ phoneauth.Users = (*Store)(nil)
)

// New returns a Store that keeps its data through client: a *redis.Client,
// *redis.ClusterClient, a failover client or any other
// redis.UniversalClient. The caller keeps ownership of the client (and
// closes it). With a nil client every call fails with an error that says
// so (matching phoneauth.ErrStoreUnavailable).
func New(client redis.UniversalClient, opts Options) *Store {
	opts = opts.withDefaults()
	return &Store{rdb: orNilClient(client), keys: keys{opts.Prefix}, clock: opts.Clock}
}

// errNilClient is the failure of every call through a nil client.
var errNilClient = fmt.Errorf("%w: redisstore: nil client", phoneauth.ErrInvalidConfig)

// orNilClient returns client, or for a nil one a client whose every call
// fails with errNilClient, without retrying.
func orNilClient(client redis.UniversalClient) redis.UniversalClient {
	if client != nil {
		return client
	}
	return redis.NewClient(&redis.Options{
		MaxRetries:         -1,
		DialerRetries:      1,
		DialerRetryTimeout: time.Nanosecond,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return nil, errNilClient
		},
	})
}

// keys names the keys of one prefix.
type keys struct{ prefix string }

func (k keys) challenge(key string) string   { return "{" + k.prefix + ":l}c:" + key }
func (k keys) deleted(key string) string     { return "{" + k.prefix + ":l}cd:" + key }
func (k keys) session(id string) string      { return "{" + k.prefix + ":s:" + id + "}" }
func (k keys) tokens(id string) string       { return k.session(id) + ":t" }
func (k keys) userSessions(id string) string { return "{" + k.prefix + ":u}us:" + id }
func (k keys) users(table string) string     { return "{" + k.prefix + ":u}:" + table }
func (k keys) limit(key string) string       { return "{" + k.prefix + ":l}:" + key }

// unavailable wraps a Redis failure so that it matches
// phoneauth.ErrStoreUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: redisstore: %s: %w", phoneauth.ErrStoreUnavailable, op, err)
}

// PutChallenge implements phoneauth.ChallengeStore: one MULTI/EXEC that
// replaces the challenge's hash and sets its TTL.
func (s *Store) PutChallenge(ctx context.Context, c phoneauth.Challenge) error {
	f, err := challengeFields(c)
	if err != nil {
		return fmt.Errorf("redisstore: put challenge: %w", err)
	}
	key := s.keys.challenge(c.Key)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, f...)
		p.PExpire(ctx, key, ttl(c.CreatedAt, c.ExpiresAt))
		return nil
	})
	if err != nil {
		return unavailable("put challenge", err)
	}
	return nil
}

// GetChallenge implements phoneauth.ChallengeStore: one HGETALL.
func (s *Store) GetChallenge(ctx context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	fields, err := s.rdb.HGetAll(ctx, s.keys.challenge(key)).Result()
	if err != nil {
		return phoneauth.Challenge{}, unavailable("get challenge", err)
	}
	if len(fields) == 0 {
		return phoneauth.Challenge{}, phoneauth.ErrNotFound
	}
	c, err := decodeChallenge(key, fields)
	if err != nil {
		return phoneauth.Challenge{}, unavailable("get challenge", err)
	}
	if !c.ExpiresAt.After(now) {
		return phoneauth.Challenge{}, phoneauth.ErrNotFound
	}
	return c, nil
}

// AttemptChallenge implements phoneauth.ChallengeStore: one script that
// checks the challenge and increments its count with HINCRBY.
func (s *Store) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	res, err := attemptChallenge.Run(ctx, s.rdb, []string{s.keys.challenge(key)}, id, micros(now)).Slice()
	switch {
	case errors.Is(err, redis.Nil):
		return phoneauth.Challenge{}, phoneauth.ErrNotFound
	case err != nil:
		return phoneauth.Challenge{}, unavailable("attempt challenge", err)
	}
	c, err := decodeChallenge(key, pairs(res))
	if err != nil {
		return phoneauth.Challenge{}, unavailable("attempt challenge", err)
	}
	return c, nil
}

// DeleteChallenge implements phoneauth.ChallengeStore: one script that
// compares the id and deletes, and recognises its own repetition by a
// nonce of the call (see deleteChallenge).
func (s *Store) DeleteChallenge(ctx context.Context, key, id string) error {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (Go 1.24+: a failure crashes the program)
	n, err := deleteChallenge.Run(ctx, s.rdb, []string{s.keys.challenge(key), s.keys.deleted(key)},
		id, nonce, restoreWindow.Milliseconds()).Int64()
	if err != nil {
		return unavailable("delete challenge", err)
	}
	if n == 0 {
		return phoneauth.ErrNotFound
	}
	return nil
}

// CreateSession implements phoneauth.SessionStore: one pipeline of two
// scripts, one storing the session (it refuses a duplicate id with an
// error), the other adding it to its user's index.
func (s *Store) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	device, err := json.Marshal(storedDevice(sess.Device))
	if err != nil {
		return fmt.Errorf("redisstore: create session: device: %w", err)
	}
	life := ttl(sess.CreatedAt, sess.ExpiresAt)
	var created *redis.Cmd
	// EVAL, not EVALSHA: in a pipeline a missing script could not be
	// retried without a second round trip. The script cache makes EVAL
	// cheap; the price is a few hundred bytes per sign-in.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		created = createSession.Eval(ctx, p,
			[]string{s.keys.session(sess.ID), s.keys.tokens(sess.ID)},
			append([]any{life.Milliseconds()}, sessionFields(sess, device)...)...)
		indexSession.Eval(ctx, p, []string{s.keys.userSessions(sess.UserID)},
			sess.ID, micros(sess.ExpiresAt), micros(sess.CreatedAt), life.Milliseconds())
		return nil
	})
	if err != nil {
		return unavailable("create session", err)
	}
	if created.Val() != int64(1) {
		return errors.New("redisstore: create session: duplicate session id")
	}
	return nil
}

// challengeFields are the fields and values of a challenge's hash.
func challengeFields(c phoneauth.Challenge) ([]any, error) {
	meta, err := encodeJSON(c.Metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return []any{
		"id", c.ID,
		"phone", c.Phone,
		"user", c.UserID,
		"channel", string(c.Channel),
		"hash", c.CodeHash,
		"attempts", c.Attempts,
		"max_attempts", c.MaxAttempts,
		"create_user", encodeBool(c.CreateUser),
		"metadata", meta,
		"created_at", encodeTime(c.CreatedAt),
		"expires_at", encodeTime(c.ExpiresAt),
	}, nil
}

// sessionFields are the fields and values of a session's hash, with its
// device encoded as device.
func sessionFields(sess phoneauth.Session, device []byte) []any {
	return []any{
		"user", sess.UserID,
		"phone", sess.Phone,
		"device", device,
		"created_at", encodeTime(sess.CreatedAt),
		"expires_at", encodeTime(sess.ExpiresAt),
		"refresh_hash", sess.RefreshHash,
		"refreshed_at", encodeTime(sess.RefreshedAt),
		"refresh_expires_at", encodeTime(sess.RefreshExpiresAt),
	}
}

// GetSession implements phoneauth.SessionStore: one HGETALL.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (phoneauth.Session, error) {
	fields, err := s.rdb.HGetAll(ctx, s.keys.session(id)).Result()
	if err != nil {
		return phoneauth.Session{}, unavailable("get session", err)
	}
	if len(fields) == 0 {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	sess, err := decodeSession(id, fields)
	if err != nil {
		return phoneauth.Session{}, unavailable("get session", err)
	}
	if !sess.ExpiresAt.After(now) {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	return sess, nil
}

// RotateRefresh implements phoneauth.SessionStore: one script over the
// session and its past tokens. A session revoked for token reuse stays in
// its user's index until ListSessions prunes it.
func (s *Store) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	res, err := rotateRefresh.Run(ctx, s.rdb,
		[]string{s.keys.session(r.SessionID), s.keys.tokens(r.SessionID)},
		r.OldHash, r.NewHash, micros(r.NewExpiresAt), micros(r.Now), r.Grace.Microseconds(),
	).Result()
	if err != nil {
		return phoneauth.Session{}, unavailable("rotate refresh token", err)
	}
	switch res := res.(type) {
	case []any:
		sess, err := decodeSession(r.SessionID, pairs(res))
		if err != nil {
			return phoneauth.Session{}, unavailable("rotate refresh token", err)
		}
		return sess, nil
	case int64:
		if res == 1 {
			return phoneauth.Session{}, phoneauth.ErrTokenReused
		}
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	return phoneauth.Session{}, unavailable("rotate refresh token", fmt.Errorf("unexpected reply %T", res))
}

// DeleteSession implements phoneauth.SessionStore: one MULTI/EXEC deleting
// the session and its token hashes. The id stays in its user's index until
// ListSessions prunes it.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.keys.session(id))
		p.Del(ctx, s.keys.tokens(id))
		return nil
	})
	if err != nil {
		return unavailable("delete session", err)
	}
	if del.Val() == 0 {
		return phoneauth.ErrNotFound
	}
	return nil
}

// RevokeOtherSessions implements phoneauth.SessionStore. A user's sessions
// live in many slots, so it cannot be one transaction: a script gives the
// kept session its new phone (and checks it), then one pipeline reads the
// user's index, and another deletes every other session with its tokens
// and drops them from the index. A failure part-way leaves some other
// sessions alive, never the kept one changed wrongly; calling again
// finishes the job.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	done, err := keepSession.Run(ctx, s.rdb, []string{s.keys.session(keepID)}, userID, phone, micros(now)).Int64()
	if err != nil {
		return unavailable("revoke other sessions", err)
	}
	if done == 0 {
		return phoneauth.ErrNotFound
	}
	index := s.keys.userSessions(userID)
	ids, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return unavailable("revoke other sessions", err)
	}
	others := make([]any, 0, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			if id != keepID {
				p.Del(ctx, s.keys.session(id), s.keys.tokens(id))
				others = append(others, id)
			}
		}
		if len(others) > 0 {
			p.ZRem(ctx, index, others...)
		}
		return nil
	})
	if err != nil {
		return unavailable("revoke other sessions", err)
	}
	return nil
}

// ListSessions implements phoneauth.SessionStore. It costs two round trips,
// because a user's sessions live in many slots: one pipeline drops expired
// ids from the user's index and reads it, a second reads the sessions (on a
// cluster, go-redis sends it to the nodes concurrently). The index may hold
// ids of sessions deleted (logout, token reuse) since: those are skipped,
// and removed from the index with a third round trip.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	index := s.keys.userSessions(userID)
	var ids *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, index, "-inf", strconv.FormatInt(micros(now), 10))
		ids = p.ZRange(ctx, index, 0, -1)
		return nil
	})
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	if len(ids.Val()) == 0 {
		return []phoneauth.Session{}, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids.Val()))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids.Val() {
			cmds[i] = p.HGetAll(ctx, s.keys.session(id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	sessions := make([]phoneauth.Session, 0, len(cmds))
	var stale []any
	for i, cmd := range cmds {
		id := ids.Val()[i]
		if len(cmd.Val()) == 0 {
			stale = append(stale, id)
			continue
		}
		sess, err := decodeSession(id, cmd.Val())
		if err != nil {
			return nil, unavailable("list sessions", err)
		}
		if sess.UserID != userID {
			stale = append(stale, id) // a duplicate id indexed by mistake
			continue
		}
		if sess.ExpiresAt.After(now) {
			sessions = append(sessions, sess)
		}
	}
	if len(stale) > 0 {
		if err := s.rdb.ZRem(ctx, index, stale...).Err(); err != nil {
			return nil, unavailable("list sessions", err)
		}
	}
	sort.SliceStable(sessions, func(i, j int) bool {
		if !sessions[i].CreatedAt.Equal(sessions[j].CreatedAt) {
			return sessions[i].CreatedAt.Before(sessions[j].CreatedAt)
		}
		return sessions[i].ID < sessions[j].ID
	})
	return sessions, nil
}

// ttl is how long Redis keeps an entry created at created that expires at
// expires: its lifetime plus a margin. It is relative, so it holds whatever
// the caller's clock says compared with Redis's.
func ttl(created, expires time.Time) time.Duration {
	d := expires.Sub(created)
	if d < 0 {
		d = 0
	}
	return d + ttlMargin
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// encodeTime formats t as unix microseconds, the zero time as "".
func encodeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func decodeTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return time.UnixMicro(us).UTC(), nil
}

func encodeBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// encodeJSON encodes metadata as JSON, nil as "" (so that nil and empty
// survive the round trip as they were).
func encodeJSON(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeJSON(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	return m, nil
}

// pairs turns a script's HGETALL reply into a map.
func pairs(res []any) map[string]string {
	m := make(map[string]string, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		m[k] = v
	}
	return m
}

// A decoder reads typed fields from a hash, remembering the first error.
type decoder struct {
	fields map[string]string
	err    error
}

func (d *decoder) time(name string) time.Time {
	t, err := decodeTime(d.fields[name])
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("field %s: %w", name, err)
	}
	return t
}

func (d *decoder) int(name string) int {
	v := d.fields[name]
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("field %s: bad number %q", name, v)
	}
	return n
}

func (d *decoder) bytes(name string) []byte {
	v, ok := d.fields[name]
	if !ok {
		return nil
	}
	return []byte(v)
}

func decodeChallenge(key string, f map[string]string) (phoneauth.Challenge, error) {
	d := decoder{fields: f}
	c := phoneauth.Challenge{
		Key:         key,
		ID:          f["id"],
		Phone:       f["phone"],
		UserID:      f["user"],
		Channel:     phoneauth.Channel(f["channel"]),
		CodeHash:    d.bytes("hash"),
		Attempts:    d.int("attempts"),
		MaxAttempts: d.int("max_attempts"),
		CreateUser:  f["create_user"] == "1",
		CreatedAt:   d.time("created_at"),
		ExpiresAt:   d.time("expires_at"),
	}
	if d.err != nil {
		return phoneauth.Challenge{}, fmt.Errorf("challenge: %w", d.err)
	}
	meta, err := decodeJSON(f["metadata"])
	if err != nil {
		return phoneauth.Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	c.Metadata = meta
	return c, nil
}

func decodeSession(id string, f map[string]string) (phoneauth.Session, error) {
	d := decoder{fields: f}
	s := phoneauth.Session{
		ID:               id,
		UserID:           f["user"],
		Phone:            f["phone"],
		CreatedAt:        d.time("created_at"),
		ExpiresAt:        d.time("expires_at"),
		RefreshHash:      d.bytes("refresh_hash"),
		RefreshedAt:      d.time("refreshed_at"),
		RefreshExpiresAt: d.time("refresh_expires_at"),
	}
	if d.err != nil {
		return phoneauth.Session{}, fmt.Errorf("session: %w", d.err)
	}
	if dev := f["device"]; dev != "" {
		var sd storedDevice
		if err := json.Unmarshal([]byte(dev), &sd); err != nil {
			return phoneauth.Session{}, fmt.Errorf("session: bad device: %w", err)
		}
		s.Device = phoneauth.Device(sd)
	}
	return s, nil
}

// storedDevice is the JSON form of a session's device in its hash's
// "device" field.
type storedDevice struct {
	ID              string `json:"deviceId"`
	Type            string `json:"deviceType,omitempty"`
	Name            string `json:"deviceName,omitempty"`
	PlatformVersion string `json:"platformVersion,omitempty"`
	PushToken       string `json:"fcmToken,omitempty"`
}
