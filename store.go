package phoneauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// A Challenge is a pending one-time code: the code's keyed hash and the
// bookkeeping around it. A Store keeps at most one challenge per Key: the
// newest.
type Challenge struct {
	// Key identifies what the code proves. Login challenges use
	// "login:" + E.164 phone; phone-verification challenges of a signed-in
	// user use "link:" + user id + ":" + E.164 phone. Stores treat it as an
	// opaque string.
	Key string
	// ID is the public, random identifier of this challenge (the request id
	// or authCode a client sees). It is bound into CodeHash.
	ID string
	// Phone is the E.164 phone number the code was sent to.
	Phone string
	// UserID is the signed-in user of a phone-verification challenge; empty
	// for a login challenge.
	UserID string
	// Channel is how the code was sent.
	Channel Channel
	// CodeHash is HMAC-SHA-256 of the code keyed with a server secret and
	// bound to ID and Phone. The code itself is never stored.
	CodeHash []byte
	// Attempts counts the verification attempts made so far.
	Attempts int
	// MaxAttempts is the number of attempts after which the code is dead.
	MaxAttempts int
	// CreateUser and Metadata carry the request's signup wishes to the
	// verification step. A nil and an empty Metadata are the same: a
	// backend may return either for the other.
	CreateUser bool
	Metadata   map[string]any
	// CreatedAt is when the code was issued; ExpiresAt when it stops being
	// valid (exclusive: at ExpiresAt it is expired).
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ChallengeStore keeps pending challenges. Every method must be safe for
// concurrent use, also across processes sharing one backend. An entry whose
// ExpiresAt is not after now is treated as absent, and a backend removes it
// eventually on its own (TTL, cleanup) so that storage does not grow without
// bound. Each method that takes now checks expiry itself, also as the first
// call on an entry: no method may count on an earlier call (a GetChallenge
// that deletes what it finds expired) to have removed it.
type ChallengeStore interface {
	// PutChallenge stores c under c.Key, replacing any challenge already
	// stored there (only the newest code of a key is valid). Attempts is
	// stored as given (normally 0).
	PutChallenge(ctx context.Context, c Challenge) error

	// GetChallenge returns the challenge stored under key. It returns
	// ErrNotFound if there is none or it has expired at now.
	GetChallenge(ctx context.Context, key string, now time.Time) (Challenge, error)

	// AttemptChallenge records one verification attempt, atomically, before
	// the caller compares codes: if the challenge under key exists, has not
	// expired at now, has ID id (any ID when id is empty) and
	// Attempts < MaxAttempts, it increments Attempts and returns the
	// challenge with the incremented count. Otherwise it returns ErrNotFound
	// and changes nothing. Under concurrent calls no increment is lost and
	// at most MaxAttempts calls ever succeed for one challenge.
	AttemptChallenge(ctx context.Context, key, id string, now time.Time) (Challenge, error)

	// DeleteChallenge removes the challenge under key if its ID is id, and
	// is how a verified code is consumed. Exactly one of any number of
	// concurrent calls for the same challenge returns nil; the others, and
	// calls for a missing or replaced challenge, return ErrNotFound.
	//
	// It takes no time, so it cannot tell an expired challenge from a live
	// one: it deletes an expired challenge that is still stored and returns
	// nil, or returns ErrNotFound if the backend has removed it already.
	// Either way nothing is left of it. (The Authenticator consumes only a
	// challenge that AttemptChallenge has just found live.)
	DeleteChallenge(ctx context.Context, key, id string) error
}

// Device describes the client a session belongs to, as the client reports
// it.
type Device struct {
	ID              string `json:"deviceId"`
	Type            string `json:"deviceType,omitempty"`
	Name            string `json:"deviceName,omitempty"`
	PlatformVersion string `json:"platformVersion,omitempty"`
	PushToken       string `json:"fcmToken,omitempty"`
}

// A Session is a signed-in device: one refresh-token family. Refresh tokens
// are stored only as SHA-256 hashes.
type Session struct {
	ID     string
	UserID string
	Phone  string
	Device Device
	// CreatedAt is when the user signed in; ExpiresAt is the absolute end of
	// the session, whatever its refreshes.
	CreatedAt time.Time
	ExpiresAt time.Time
	// RefreshHash is the hash of the current refresh token, which expires at
	// RefreshExpiresAt. RefreshedAt is when it was issued.
	RefreshHash      []byte
	RefreshedAt      time.Time
	RefreshExpiresAt time.Time
}

// A Rotation asks a SessionStore to replace a session's refresh token.
type Rotation struct {
	// SessionID is the session the presented token names.
	SessionID string
	// OldHash is the hash of the presented token; NewHash the hash of its
	// replacement, which expires at NewExpiresAt.
	OldHash      []byte
	NewHash      []byte
	NewExpiresAt time.Time
	// Now is the time of the rotation.
	Now time.Time
	// Grace is how long after its rotation an old token is still accepted
	// once more (a client that lost the response). Zero means never.
	Grace time.Duration
}

// SessionStore keeps sessions and the hashes of their refresh tokens. Every
// method must be safe for concurrent use, also across processes sharing one
// backend. A session whose ExpiresAt is not after now is treated as absent,
// and a backend removes it, with its token hashes, eventually on its own.
// As with challenges, each method that takes a time checks expiry itself,
// also as the first call on a session.
type SessionStore interface {
	// CreateSession stores a new session with its first refresh token hash.
	// IDs are random; a backend may reject a duplicate ID with an error.
	CreateSession(ctx context.Context, s Session) error

	// GetSession returns the session with the given id, or ErrNotFound if
	// there is none or it has expired at now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)

	// RotateRefresh replaces a session's refresh token, atomically:
	//
	//   - If the session is missing or expired at r.Now (whatever its
	//     tokens, and whatever r.Grace), it returns ErrNotFound.
	//   - If r.OldHash is the current token hash and RefreshExpiresAt is
	//     after r.Now, the token becomes rotated (remembered as a past token
	//     of the session, with r.Now as its rotation time), r.NewHash becomes
	//     current with r.NewExpiresAt, RefreshedAt becomes r.Now, and the
	//     updated session is returned. Of concurrent calls presenting the
	//     same current token exactly one succeeds this way.
	//   - If r.OldHash is a past token rotated less than r.Grace before
	//     r.Now, it is treated like the current token again (within the
	//     grace interval, as often as it comes): r.NewHash replaces the
	//     current token, which becomes a past token in its turn, and the
	//     session is returned. The interval runs from the token's own
	//     rotation, the first time it was replaced: a grace rotation does
	//     not restart it. The current token a grace rotation replaces, used
	//     or not, becomes a past token rotated at r.Now like any other, so
	//     presenting it later, outside its own grace, is reuse.
	//   - If r.OldHash is any other past token of the session, the session
	//     is deleted with all its tokens and ErrTokenReused is returned.
	//   - If r.OldHash is no token of the session (or the current one has
	//     expired), it returns ErrNotFound and changes nothing.
	//
	// A backend must remember a past token at least until the expiry it was
	// issued with (after which presenting it may return ErrNotFound instead
	// of ErrTokenReused), and may forget it then. Concurrent rotations of
	// one token with Grace 0 therefore revoke the session: one wins, and the
	// others present a past token.
	RotateRefresh(ctx context.Context, r Rotation) (Session, error)

	// DeleteSession deletes a session and its token hashes. Deleting a
	// missing session returns ErrNotFound.
	DeleteSession(ctx context.Context, id string) error

	// ListSessions returns the user's sessions that have not expired at now,
	// oldest first (sessions created at the same instant in any order). A
	// user without sessions gets an empty list, not an error; nil stands for
	// an empty list (callers test the length), here and wherever a list or
	// map is returned.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// A User is an account as phoneauth sees it: an id and a verified phone.
type User struct {
	ID        string
	Phone     string
	CreatedAt time.Time
}

// Users resolves verified phone numbers to user accounts. The memory store
// implements it; a server with its own user table implements it there.
// Methods must be safe for concurrent use.
//
// Its methods receive no time: CreatedAt comes from the backend's own clock
// (a configurable Clock, such as MemoryStore.Clock, defaulting to the system
// clock), is never zero, and is returned unchanged by later lookups.
type Users interface {
	// UserByPhone returns the user whose verified phone is phone (E.164), or
	// ErrNotFound.
	UserByPhone(ctx context.Context, phone string) (User, error)

	// CreateUser creates a user with phone (E.164) as its verified phone and
	// returns it with created true. If a user with that phone exists already
	// (a concurrent signup), it returns that user with created false.
	//
	// metadata is the client's signup data (RequestParams.Metadata; nil if
	// none), for the application: a backend may keep it (pgstore,
	// redisstore and sqlitestore keep it as JSON) or ignore it (MemoryStore
	// does). phoneauth never reads it back.
	CreateUser(ctx context.Context, phone string, metadata map[string]any) (u User, created bool, err error)

	// SetPhone records phone (E.164) as the verified phone of the user with
	// id userID. It returns ErrPhoneTaken if another user has that phone,
	// and ErrNotFound if there is no such user.
	SetPhone(ctx context.Context, userID, phone string) error
}

// Store is everything the Authenticator keeps: challenges and sessions. A
// backend that also implements Users is used for users when Config.Users is
// nil.
//
// Every string the Authenticator passes to a Store, to Users or to a
// Limiter (keys, ids, device details) is valid UTF-8 without NUL bytes, and
// metadata encodes as JSON without a NUL character: the Authenticator
// refuses client input that is not, with ErrInvalidRequest, before asking
// the backend. So a backend may keep them as text and jsonb (PostgreSQL
// refuses NUL in both), and a backend error is never the client's doing.
type Store interface {
	ChallengeStore
	SessionStore
}

// The MemoryStore sweeps out expired entries once per interval of the time
// its callers pass in: challenges often (they live minutes), sessions rarely
// (they live days, and a sweep walks all of them).
const (
	challengeSweepInterval = time.Minute
	sessionSweepInterval   = time.Hour
)

// challengeShards is the number of independently locked parts of the
// MemoryStore's challenges: it spreads lock contention and makes each sweep
// walk a sixteenth of them.
const challengeShards = 16

// errDuplicateSession is CreateSession's answer to an ID in use.
var errDuplicateSession = errors.New("phoneauth: memory store: duplicate session id")

// MemoryStore keeps challenges, sessions and users in memory. It implements
// Store and Users for a single process (one server, tests, development);
// replicas behind a load balancer need a shared backend such as redisstore
// or pgstore. The zero value is ready to use, and so is NewMemoryStore().
// A MemoryStore is safe for concurrent use and must not be copied after
// first use.
//
// Expired challenges and sessions are treated as absent at once and are
// removed without a background goroutine: a write sweeps the expired
// entries out of its part of the store (challenges are split in sixteen by
// key) when at least a minute (challenges) or an hour (sessions) of the
// callers' time has passed since that part's last sweep. Memory is thus
// bounded by what is live plus one interval's worth, and tables that
// emptied after a burst are rebuilt smaller. A pending login challenge
// takes about 350 bytes. Values passed in and returned are
// copies: changing a returned slice or map never changes the store.
// Challenge metadata is copied shallowly, and empty metadata comes back nil.
//
// For each session it remembers the hashes of rotated refresh tokens, to
// detect their reuse, until the time each of them would have expired;
// after that a rotated token is unknown (ErrNotFound) rather than reused.
type MemoryStore struct {
	// Clock dates the users CreateUser creates (Users methods receive no
	// time). Default: the system clock. Set it before first use.
	Clock Clock

	challenges [challengeShards]challengeShard

	smu          sync.Mutex
	sessions     map[string]*memSession
	userSessions map[string][]string // user id → ids of their sessions
	sessionsPeak int                 // high-water mark of len(sessions)
	sessionSwept time.Time

	umu    sync.Mutex
	users  map[string]User   // id → user
	phones map[string]string // phone → user id
}

// NewMemoryStore returns an empty MemoryStore using the system clock.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Interface checks.
var (
	_ Store = (*MemoryStore)(nil)
	_ Users = (*MemoryStore)(nil)
)

// MemoryStats counts what a MemoryStore holds, including expired entries
// that have not been swept out yet.
type MemoryStats struct {
	Challenges int
	Sessions   int
	// PastTokens counts the remembered hashes of rotated refresh tokens.
	PastTokens int
	Users      int
}

// Stats counts the entries of the store, for metrics and tests.
func (m *MemoryStore) Stats() MemoryStats {
	var st MemoryStats
	for i := range m.challenges {
		sh := &m.challenges[i]
		sh.mu.Lock()
		st.Challenges += len(sh.m)
		sh.mu.Unlock()
	}
	m.smu.Lock()
	st.Sessions = len(m.sessions)
	for _, s := range m.sessions {
		st.PastTokens += len(s.past)
	}
	m.smu.Unlock()
	m.umu.Lock()
	st.Users = len(m.users)
	m.umu.Unlock()
	return st
}

// sweepDue reports whether a sweep is due at now, the last one having been
// at last. Times a little out of order (callers read their clocks before
// taking the lock) do not trigger one; a clock set back by more than an
// interval does.
func sweepDue(now, last time.Time, interval time.Duration) bool {
	d := now.Sub(last)
	return !now.IsZero() && (d >= interval || d <= -interval)
}

// shrink returns m, or a copy of it sized to its contents once it holds
// fewer than a quarter of its high-water mark *peak: Go maps never give
// back the memory of deleted entries, so after a burst the table is
// rebuilt.
func shrink[V any](m map[string]V, peak *int) map[string]V {
	if *peak < 1024 || len(m) >= *peak/4 {
		return m
	}
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	*peak = len(c)
	return c
}

// A challengeShard is the part of a MemoryStore's challenges whose keys
// hash to it.
type challengeShard struct {
	mu    sync.Mutex
	m     map[string]*Challenge
	peak  int // high-water mark of len(m)
	swept time.Time
}

// shard returns the shard of key (FNV-1a).
func (m *MemoryStore) shard(key string) *challengeShard {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return &m.challenges[h%challengeShards]
}

// sweep removes the shard's challenges expired at now, if a sweep is due.
// The caller holds sh.mu.
func (sh *challengeShard) sweep(now time.Time) {
	if !sweepDue(now, sh.swept, challengeSweepInterval) {
		return
	}
	sh.swept = now
	for k, c := range sh.m {
		if !now.Before(c.ExpiresAt) {
			delete(sh.m, k)
		}
	}
	sh.m = shrink(sh.m, &sh.peak)
}

// clone returns c with its own copies of CodeHash and Metadata (nil if
// empty: most challenges carry none, and an empty map still costs memory).
func (c Challenge) clone() Challenge {
	c.CodeHash = bytes.Clone(c.CodeHash)
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	} else {
		c.Metadata = maps.Clone(c.Metadata)
	}
	return c
}

// PutChallenge implements ChallengeStore. A put may sweep out the expired
// challenges of its shard, taking c.CreatedAt as the current time.
func (m *MemoryStore) PutChallenge(_ context.Context, c Challenge) error {
	c = c.clone()
	sh := m.shard(c.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[c.Key]; ok {
		*old = c // returned challenges are copies: overwriting is safe
	} else {
		if sh.m == nil {
			sh.m = make(map[string]*Challenge)
		}
		p := new(Challenge)
		*p = c
		sh.m[c.Key] = p
		sh.peak = max(sh.peak, len(sh.m))
	}
	sh.sweep(c.CreatedAt)
	return nil
}

// GetChallenge implements ChallengeStore.
func (m *MemoryStore) GetChallenge(_ context.Context, key string, now time.Time) (Challenge, error) {
	sh := m.shard(key)
	sh.mu.Lock()
	c, ok := sh.m[key]
	if ok && !now.Before(c.ExpiresAt) {
		delete(sh.m, key)
		ok = false
	}
	var out Challenge
	if ok {
		out = *c
	}
	sh.mu.Unlock()
	if !ok {
		return Challenge{}, ErrNotFound
	}
	// The stored CodeHash and Metadata are never modified in place (a put
	// replaces them), so they can be copied outside the lock.
	return out.clone(), nil
}

// AttemptChallenge implements ChallengeStore.
func (m *MemoryStore) AttemptChallenge(_ context.Context, key, id string, now time.Time) (Challenge, error) {
	sh := m.shard(key)
	sh.mu.Lock()
	c, ok := sh.m[key]
	if ok && !now.Before(c.ExpiresAt) {
		delete(sh.m, key)
		ok = false
	}
	ok = ok && (id == "" || c.ID == id) && c.Attempts < c.MaxAttempts
	var out Challenge
	if ok {
		c.Attempts++
		out = *c
	}
	sh.sweep(now)
	sh.mu.Unlock()
	if !ok {
		return Challenge{}, ErrNotFound
	}
	return out.clone(), nil
}

// DeleteChallenge implements ChallengeStore.
func (m *MemoryStore) DeleteChallenge(_ context.Context, key, id string) error {
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c, ok := sh.m[key]; !ok || c.ID != id {
		return ErrNotFound
	}
	delete(sh.m, key)
	return nil
}

// A memSession is a stored session with the refresh tokens it has rotated.
type memSession struct {
	Session
	past []pastToken
}

// A pastToken is a rotated refresh token, remembered to detect its reuse.
type pastToken struct {
	hash      []byte
	rotatedAt time.Time
	expiresAt time.Time // when it would have expired had it not been rotated
}

// clone returns a copy of s that shares no memory with the store.
func (s *memSession) clone() Session {
	out := s.Session
	out.RefreshHash = bytes.Clone(s.RefreshHash)
	return out
}

// forgetPast drops the rotated tokens that would have expired by now.
func (s *memSession) forgetPast(now time.Time) {
	s.past = slices.DeleteFunc(s.past, func(p pastToken) bool { return !now.Before(p.expiresAt) })
}

// sweepSessions removes the sessions expired at now, and the rotated tokens
// that would have expired, if a sweep is due. The caller holds m.smu.
func (m *MemoryStore) sweepSessions(now time.Time) {
	if !sweepDue(now, m.sessionSwept, sessionSweepInterval) {
		return
	}
	m.sessionSwept = now
	for _, s := range m.sessions {
		if !now.Before(s.ExpiresAt) {
			m.removeSession(s)
		} else {
			s.forgetPast(now)
		}
	}
	m.sessions = shrink(m.sessions, &m.sessionsPeak)
}

// removeSession deletes s and its place in the user index. The caller holds
// m.smu.
func (m *MemoryStore) removeSession(s *memSession) {
	delete(m.sessions, s.ID)
	ids := slices.DeleteFunc(m.userSessions[s.UserID], func(id string) bool { return id == s.ID })
	if len(ids) == 0 {
		delete(m.userSessions, s.UserID)
	} else {
		m.userSessions[s.UserID] = ids
	}
}

// CreateSession implements SessionStore. It rejects an ID in use by a
// session that has not expired at s.CreatedAt. It may sweep out expired
// sessions, taking s.CreatedAt as the current time.
func (m *MemoryStore) CreateSession(_ context.Context, s Session) error {
	stored := &memSession{Session: s}
	stored.RefreshHash = bytes.Clone(s.RefreshHash)
	m.smu.Lock()
	defer m.smu.Unlock()
	if old, ok := m.sessions[s.ID]; ok {
		if s.CreatedAt.Before(old.ExpiresAt) {
			return errDuplicateSession
		}
		m.removeSession(old)
	}
	if m.sessions == nil {
		m.sessions = make(map[string]*memSession)
		m.userSessions = make(map[string][]string)
	}
	m.sessions[s.ID] = stored
	m.userSessions[s.UserID] = append(m.userSessions[s.UserID], s.ID)
	m.sessionsPeak = max(m.sessionsPeak, len(m.sessions))
	m.sweepSessions(s.CreatedAt)
	return nil
}

// GetSession implements SessionStore.
func (m *MemoryStore) GetSession(_ context.Context, id string, now time.Time) (Session, error) {
	m.smu.Lock()
	defer m.smu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	if !now.Before(s.ExpiresAt) {
		m.removeSession(s)
		return Session{}, ErrNotFound
	}
	return s.clone(), nil
}

// RotateRefresh implements SessionStore. It may sweep out expired sessions,
// taking r.Now as the current time.
func (m *MemoryStore) RotateRefresh(_ context.Context, r Rotation) (Session, error) {
	newHash := bytes.Clone(r.NewHash)
	m.smu.Lock()
	defer m.smu.Unlock()
	m.sweepSessions(r.Now)
	s, ok := m.sessions[r.SessionID]
	if !ok || len(r.OldHash) == 0 {
		return Session{}, ErrNotFound
	}
	if !r.Now.Before(s.ExpiresAt) {
		m.removeSession(s)
		return Session{}, ErrNotFound
	}
	s.forgetPast(r.Now)
	if bytes.Equal(r.OldHash, s.RefreshHash) {
		if !r.Now.Before(s.RefreshExpiresAt) {
			return Session{}, ErrNotFound
		}
	} else {
		i := slices.IndexFunc(s.past, func(p pastToken) bool { return bytes.Equal(p.hash, r.OldHash) })
		if i < 0 {
			return Session{}, ErrNotFound
		}
		if r.Grace <= 0 || r.Now.Sub(s.past[i].rotatedAt) >= r.Grace {
			m.removeSession(s)
			return Session{}, ErrTokenReused
		}
		// Within the grace interval: rotate once more, below. The
		// current token, never used, becomes a past token too.
	}
	s.past = append(s.past, pastToken{hash: s.RefreshHash, rotatedAt: r.Now, expiresAt: s.RefreshExpiresAt})
	s.RefreshHash = newHash
	s.RefreshedAt = r.Now
	s.RefreshExpiresAt = r.NewExpiresAt
	return s.clone(), nil
}

// DeleteSession implements SessionStore.
func (m *MemoryStore) DeleteSession(_ context.Context, id string) error {
	m.smu.Lock()
	defer m.smu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return ErrNotFound
	}
	m.removeSession(s)
	return nil
}

// ListSessions implements SessionStore. Sessions created at the same time
// are ordered by ID.
func (m *MemoryStore) ListSessions(_ context.Context, userID string, now time.Time) ([]Session, error) {
	m.smu.Lock()
	ids := m.userSessions[userID]
	list := make([]Session, 0, len(ids))
	for _, id := range ids {
		if s := m.sessions[id]; s != nil && now.Before(s.ExpiresAt) {
			list = append(list, s.clone())
		}
	}
	m.smu.Unlock()
	slices.SortFunc(list, func(a, b Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list, nil
}

// UserByPhone implements Users.
func (m *MemoryStore) UserByPhone(_ context.Context, phone string) (User, error) {
	m.umu.Lock()
	defer m.umu.Unlock()
	id, ok := m.phones[phone]
	if !ok {
		return User{}, ErrNotFound
	}
	return m.users[id], nil
}

// CreateUser implements Users. The new user gets a random 128-bit ID (26
// base32 characters) and its CreatedAt from m.Clock. The MemoryStore keeps
// no metadata.
func (m *MemoryStore) CreateUser(_ context.Context, phone string, _ map[string]any) (User, bool, error) {
	clock := m.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	now := clock.Now()
	m.umu.Lock()
	defer m.umu.Unlock()
	if id, ok := m.phones[phone]; ok {
		return m.users[id], false, nil
	}
	if m.users == nil {
		m.users = make(map[string]User)
		m.phones = make(map[string]string)
	}
	id := rand.Text()
	for m.users[id].ID != "" { // 2⁻¹²⁸: never, but cheap to rule out
		id = rand.Text()
	}
	u := User{ID: id, Phone: phone, CreatedAt: now}
	m.users[id] = u
	m.phones[phone] = id
	return u, true, nil
}

// SetPhone implements Users. The user's previous phone becomes free for
// another user.
func (m *MemoryStore) SetPhone(_ context.Context, userID, phone string) error {
	m.umu.Lock()
	defer m.umu.Unlock()
	u, ok := m.users[userID]
	if !ok {
		return ErrNotFound
	}
	if owner, taken := m.phones[phone]; taken {
		if owner == userID {
			return nil
		}
		return ErrPhoneTaken
	}
	if m.phones[u.Phone] == userID {
		delete(m.phones, u.Phone)
	}
	u.Phone = phone
	m.users[userID] = u
	m.phones[phone] = userID
	return nil
}
