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
// Everything is lost when the process ends: pending codes, sessions (every
// device is signed out: refresh tokens stop working) and users (a phone
// signs up again as a new user, with a new id). Access tokens already
// issued stay valid until they expire (TokenConfig.AccessTTL) if the
// signing keys survive the restart (loaded rather than generated at start),
// also for users that no longer exist: a resource server that must refuse
// them checks that the token's session is live.
//
// Memory is bounded by three caps, each with its eviction order:
//
//   - MaxChallenges: when a new challenge would go over it, the expired
//     challenges are removed, then the oldest (by CreatedAt) eighth; their
//     codes stop working as if they had expired. The cap and the order
//     hold per sixteenth of the keys (the store's shards), so the cap is
//     rounded down to a multiple of sixteen (at least sixteen).
//   - MaxSessions: when a new session would go over it, the expired
//     sessions are removed, then the eighth least recently refreshed (by
//     RefreshedAt): those devices are signed out.
//   - MaxUsers: users are never evicted, since dropping one would give its
//     phone a new account. At the cap CreateUser fails (the Authenticator
//     answers ErrStoreUnavailable) until the process restarts.
//
// Expired challenges and sessions are treated as absent at once and are
// removed without a background goroutine: a write sweeps the expired
// entries out of its part of the store (challenges are split in sixteen by
// key) when at least a minute (challenges) or an hour (sessions) of the
// callers' time has passed since that part's last sweep. Below the caps,
// memory is thus what is live plus one interval's worth, and tables that
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

	// MaxChallenges caps the pending challenges; at the cap the expired,
	// then the oldest, are evicted (see MemoryStore). Zero or negative
	// means DefaultMaxChallenges. Set it before first use.
	MaxChallenges int
	// MaxSessions caps the sessions; at the cap the expired, then the
	// least recently refreshed, are evicted. Zero or negative means
	// DefaultMaxSessions. Set it before first use.
	MaxSessions int
	// MaxUsers caps the users, who are never evicted: at the cap
	// CreateUser fails for a new phone. Zero or negative means
	// DefaultMaxUsers. Set it before first use.
	MaxUsers int

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

// Default caps of a MemoryStore, with the memory each takes when full: a
// pending login challenge takes about 350 bytes, a session about 550 (plus
// about 100 per rotated refresh token it remembers), a user about 200.
const (
	DefaultMaxChallenges = 100_000   // about 35 MB
	DefaultMaxSessions   = 100_000   // about 55 MB, without rotated tokens
	DefaultMaxUsers      = 1_000_000 // about 200 MB
)

// errMemoryStoreFull is CreateUser's answer at MaxUsers.
var errMemoryStoreFull = errors.New("phoneauth: memory store: MaxUsers reached (users are never evicted)")

// capOr returns n, or def if n is not positive.
func capOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// oldest returns the keys of the n entries of m whose time (at) is
// earliest, to the microsecond; of entries at the same time, any. It sorts
// the times alone (integers, cheap to sort), then picks the entries up to
// the n-th.
func oldest[V any](m map[string]V, n int, at func(V) time.Time) []string {
	n = min(n, len(m))
	if n <= 0 {
		return nil
	}
	times := make([]int64, 0, len(m))
	for _, v := range m {
		times = append(times, at(v).UnixMicro())
	}
	slices.Sort(times)
	cutoff := times[n-1]
	// Fewer than n entries are before the cutoff, and at least n are at
	// or before it.
	keys, ties := make([]string, 0, n), make([]string, 0, n)
	for k, v := range m {
		switch t := at(v).UnixMicro(); {
		case t < cutoff:
			keys = append(keys, k)
		case t == cutoff && len(ties) < n:
			ties = append(ties, k)
		}
	}
	return append(keys, ties[:n-len(keys)]...)
}

// evictions is how many entries a full part of a store of capacity limit
// evicts at once, beyond what takes it back to limit: an eighth, so that
// the sort that picks them is paid once per limit/8 new entries.
func evictions(limit int) int { return max(1, limit/8) }

// NewMemoryStore returns an empty MemoryStore using the system clock.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Interface checks.
var (
	_ Store = (*MemoryStore)(nil)
	_ Users = (*MemoryStore)(nil)
)

// memoryStats counts what a MemoryStore holds, including expired entries
// that have not been swept out yet.
type memoryStats struct {
	Challenges int
	Sessions   int
	// PastTokens counts the remembered hashes of rotated refresh tokens.
	PastTokens int
	Users      int
}

// stats counts the entries of the store, for tests.
func (m *MemoryStore) stats() memoryStats {
	var st memoryStats
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
	if sweepDue(now, sh.swept, challengeSweepInterval) {
		sh.removeExpired(now)
		sh.m = shrink(sh.m, &sh.peak)
	}
}

// removeExpired removes the shard's challenges expired at now. The caller
// holds sh.mu.
func (sh *challengeShard) removeExpired(now time.Time) {
	sh.swept = now
	for k, c := range sh.m {
		if !now.Before(c.ExpiresAt) {
			delete(sh.m, k)
		}
	}
}

// makeRoom takes a shard at its cap, limit, below it: it removes the
// expired challenges, then, if that was not enough, the oldest. The caller
// holds sh.mu.
func (sh *challengeShard) makeRoom(now time.Time, limit int) {
	sh.removeExpired(now)
	if len(sh.m) < limit {
		return
	}
	for _, k := range oldest(sh.m, len(sh.m)-limit+evictions(limit), func(c *Challenge) time.Time { return c.CreatedAt }) {
		delete(sh.m, k)
	}
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
// challenges of its shard, taking c.CreatedAt as the current time, and at
// MaxChallenges evicts the oldest (see MemoryStore).
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
		if limit := max(1, capOr(m.MaxChallenges, DefaultMaxChallenges)/challengeShards); len(sh.m) >= limit {
			sh.makeRoom(c.CreatedAt, limit)
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
	m.removeExpiredSessions(now)
	m.sessions = shrink(m.sessions, &m.sessionsPeak)
}

// removeExpiredSessions removes the sessions expired at now and the rotated
// tokens that would have expired. The caller holds m.smu.
func (m *MemoryStore) removeExpiredSessions(now time.Time) {
	m.sessionSwept = now
	for _, s := range m.sessions {
		if !now.Before(s.ExpiresAt) {
			m.removeSession(s)
		} else {
			s.forgetPast(now)
		}
	}
}

// makeRoomForSession takes the sessions, at their cap, below it: it
// removes the expired ones, then, if that was not enough, the least
// recently refreshed. The caller holds m.smu.
func (m *MemoryStore) makeRoomForSession(now time.Time, limit int) {
	m.removeExpiredSessions(now)
	if len(m.sessions) < limit {
		return
	}
	for _, id := range oldest(m.sessions, len(m.sessions)-limit+evictions(limit), func(s *memSession) time.Time { return s.RefreshedAt }) {
		m.removeSession(m.sessions[id])
	}
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
// sessions, taking s.CreatedAt as the current time, and at MaxSessions
// evicts the least recently refreshed (see MemoryStore).
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
	if limit := capOr(m.MaxSessions, DefaultMaxSessions); len(m.sessions) >= limit {
		m.makeRoomForSession(s.CreatedAt, limit)
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
		if r.Grace > 0 && r.Now.Sub(s.past[i].rotatedAt) < r.Grace && bytes.Equal(newHash, s.RefreshHash) {
			return s.clone(), nil // the same rotation again
		}
		m.removeSession(s)
		return Session{}, ErrTokenReused
	}
	s.past = append(s.past, pastToken{hash: s.RefreshHash, rotatedAt: r.Now, expiresAt: s.RefreshExpiresAt})
	s.RefreshHash = newHash
	s.RefreshedAt = r.Now
	s.RefreshExpiresAt = r.NewExpiresAt
	return s.clone(), nil
}

// RevokeOtherSessions implements SessionStore, in one step.
func (m *MemoryStore) RevokeOtherSessions(_ context.Context, userID, keepID, phone string, now time.Time) error {
	m.smu.Lock()
	defer m.smu.Unlock()
	keep, ok := m.sessions[keepID]
	if !ok || keep.UserID != userID || !now.Before(keep.ExpiresAt) {
		return ErrNotFound
	}
	for _, id := range slices.Clone(m.userSessions[userID]) {
		if id != keepID {
			m.removeSession(m.sessions[id])
		}
	}
	keep.Phone = phone
	return nil
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
// no metadata. At MaxUsers it creates no user and returns an error (an
// existing user is still returned).
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
	if len(m.users) >= capOr(m.MaxUsers, DefaultMaxUsers) {
		return User{}, false, errMemoryStoreFull
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
