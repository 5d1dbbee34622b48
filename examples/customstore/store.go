package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/phoneauth/phoneauth"
)

// store is a phoneauth.Store and phoneauth.Users kept in plain maps under
// one mutex. Every method does all of its reading and writing while holding
// the lock, and that is what makes each one atomic: the single property
// to carry over to a real database. The comments say how each primitive
// stays atomic in Redis and in SQL.
type store struct {
	mu         sync.Mutex
	challenges map[string]phoneauth.Challenge // by Key: one per key, the newest
	sessions   map[string]*session            // by ID
	users      map[string]phoneauth.User      // by ID
	phones     map[string]string              // verified phone → user ID
	swept      time.Time                      // when expired entries were last removed
}

// session is a stored session with the refresh tokens it has rotated,
// remembered so that their reuse can be detected.
type session struct {
	phoneauth.Session
	rotated map[string]time.Time // hash of a past token → when it was rotated
}

func newStore() *store {
	return &store{
		challenges: make(map[string]phoneauth.Challenge),
		sessions:   make(map[string]*session),
		users:      make(map[string]phoneauth.User),
		phones:     make(map[string]string),
	}
}

// Time is always the caller's: a challenge or session is expired when its
// ExpiresAt is not after the now we are given.
func expired(expiresAt, now time.Time) bool { return !now.Before(expiresAt) }

// sweep removes expired entries, at most once a minute, so that memory does
// not grow without bound. (Redis: give keys a TTL. SQL: a periodic
// DELETE … WHERE expires_at <= now().) The caller holds s.mu.
func (s *store) sweep(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	maps.DeleteFunc(s.challenges, func(_ string, c phoneauth.Challenge) bool { return expired(c.ExpiresAt, now) })
	maps.DeleteFunc(s.sessions, func(_ string, ss *session) bool { return expired(ss.ExpiresAt, now) })
}

// copyChallenge returns c sharing no memory with the caller, who may change
// the slices and maps it passed in or got back.
func copyChallenge(c phoneauth.Challenge) phoneauth.Challenge {
	c.CodeHash = bytes.Clone(c.CodeHash)
	c.Metadata = maps.Clone(c.Metadata)
	return c
}

// PutChallenge replaces whatever is stored under the key: only the newest
// code of a phone is valid. (Redis: SET key value PX ttl. SQL: INSERT …
// ON CONFLICT (key) DO UPDATE SET …, which also resets the attempt count
// and the id.)
func (s *store) PutChallenge(_ context.Context, c phoneauth.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(c.CreatedAt)
	s.challenges[c.Key] = copyChallenge(c)
	return nil
}

func (s *store) GetChallenge(_ context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.challenges[key]
	if !ok || expired(c.ExpiresAt, now) {
		return phoneauth.Challenge{}, phoneauth.ErrNotFound
	}
	return copyChallenge(c), nil
}

// AttemptChallenge counts an attempt before the caller compares codes. The
// check and the increment must be one step, or concurrent guesses could
// all pass the check. Redis: a Lua script doing HGET, compare, HINCRBY.
// SQL:
//
//	UPDATE challenges SET attempts = attempts + 1
//	WHERE key = $1 AND (id = $2 OR $2 = '') AND attempts < max_attempts AND expires_at > $3
//	RETURNING …
func (s *store) AttemptChallenge(_ context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.challenges[key]
	if !ok || expired(c.ExpiresAt, now) || (id != "" && c.ID != id) || c.Attempts >= c.MaxAttempts {
		return phoneauth.Challenge{}, phoneauth.ErrNotFound
	}
	c.Attempts++
	s.challenges[key] = c
	return copyChallenge(c), nil
}

// DeleteChallenge consumes a verified code: of concurrent calls exactly one
// may find it. (Redis: a script that deletes only if the id matches and
// returns whether it did. SQL: DELETE … WHERE key = $1 AND id = $2, then
// look at the number of rows deleted.)
func (s *store) DeleteChallenge(_ context.Context, key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.challenges[key]; !ok || c.ID != id {
		return phoneauth.ErrNotFound
	}
	delete(s.challenges, key)
	return nil
}

// copySession returns the session part of ss, sharing no memory with it.
func copySession(ss *session) phoneauth.Session {
	out := ss.Session
	out.RefreshHash = bytes.Clone(ss.RefreshHash)
	return out
}

func (s *store) CreateSession(_ context.Context, sess phoneauth.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(sess.CreatedAt)
	sess.RefreshHash = bytes.Clone(sess.RefreshHash)
	s.sessions[sess.ID] = &session{Session: sess, rotated: make(map[string]time.Time)}
	return nil
}

func (s *store) GetSession(_ context.Context, id string, now time.Time) (phoneauth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || expired(ss.ExpiresAt, now) {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	return copySession(ss), nil
}

// RotateRefresh is the heart of refresh-token rotation: of concurrent calls
// with one token exactly one may succeed, and a rotated token that comes
// back revokes the whole session. (Redis: one Lua script over the session
// hash and a set of its past token hashes. SQL: SELECT … FOR UPDATE of the
// session row in a transaction, or one UPDATE … WHERE refresh_hash = $old
// RETURNING, falling back to the past-token table when no row matched.)
func (s *store) RotateRefresh(_ context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[r.SessionID]
	if !ok || expired(ss.ExpiresAt, r.Now) {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	if !bytes.Equal(r.OldHash, ss.RefreshHash) {
		rotatedAt, past := ss.rotated[string(r.OldHash)]
		if !past {
			return phoneauth.Session{}, phoneauth.ErrNotFound // no token of ours: change nothing
		}
		if r.Now.Sub(rotatedAt) < r.Grace && bytes.Equal(r.NewHash, ss.RefreshHash) {
			return copySession(ss), nil // the same rotation again (a retry): as it is
		}
		delete(s.sessions, ss.ID) // a rotated token came back: revoke the family
		return phoneauth.Session{}, phoneauth.ErrTokenReused
	} else if expired(ss.RefreshExpiresAt, r.Now) {
		return phoneauth.Session{}, phoneauth.ErrNotFound
	}
	ss.rotated[string(ss.RefreshHash)] = r.Now
	ss.RefreshHash = bytes.Clone(r.NewHash)
	ss.RefreshedAt = r.Now
	ss.RefreshExpiresAt = r.NewExpiresAt
	return copySession(ss), nil
}

// RevokeOtherSessions walks every session, as ListSessions does.
func (s *store) RevokeOtherSessions(_ context.Context, userID, keepID, phone string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep, ok := s.sessions[keepID]
	if !ok || keep.UserID != userID || expired(keep.ExpiresAt, now) {
		return phoneauth.ErrNotFound
	}
	for id, ss := range s.sessions {
		if ss.UserID == userID && id != keepID {
			delete(s.sessions, id)
		}
	}
	keep.Phone = phone
	return nil
}

func (s *store) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return phoneauth.ErrNotFound
	}
	delete(s.sessions, id)
	return nil
}

// ListSessions walks every session; a database would use an index on the
// user id.
func (s *store) ListSessions(_ context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	s.mu.Lock()
	var list []phoneauth.Session
	for _, ss := range s.sessions {
		if ss.UserID == userID && !expired(ss.ExpiresAt, now) {
			list = append(list, copySession(ss))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b phoneauth.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

// The Users methods: your own user table would go here.

func (s *store) UserByPhone(_ context.Context, phone string) (phoneauth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.phones[phone]
	if !ok {
		return phoneauth.User{}, phoneauth.ErrNotFound
	}
	return s.users[id], nil
}

// CreateUser is find-or-create: concurrent sign-ups of one phone make one
// user. (SQL: a unique index on the phone and INSERT … ON CONFLICT (phone)
// DO NOTHING, then SELECT.)
func (s *store) CreateUser(_ context.Context, phone string, _ map[string]any) (phoneauth.User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.phones[phone]; ok {
		return s.users[id], false, nil
	}
	u := phoneauth.User{ID: rand.Text(), Phone: phone, CreatedAt: time.Now()}
	s.users[u.ID] = u
	s.phones[phone] = u.ID
	return u, true, nil
}

func (s *store) SetPhone(_ context.Context, userID, phone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return phoneauth.ErrNotFound
	}
	if owner, taken := s.phones[phone]; taken && owner != userID {
		return phoneauth.ErrPhoneTaken
	}
	delete(s.phones, u.Phone)
	u.Phone = phone
	s.users[userID] = u
	s.phones[phone] = userID
	return nil
}
