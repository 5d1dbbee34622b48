package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
)

// PutChallenge stores c under c.Key, replacing any challenge stored there,
// in one upsert. It implements phoneauth.ChallengeStore.
func (s *Store) PutChallenge(ctx context.Context, c phoneauth.Challenge) error {
	metadata, err := marshalMetadata(c.Metadata)
	if err != nil {
		return err
	}
	return s.write(ctx, "put challenge", func(t tx) error {
		_, err := t.exec(putChallengeSQL,
			c.Key, c.ID, c.Phone, c.UserID, string(c.Channel), nonNil(c.CodeHash), c.Attempts, c.MaxAttempts,
			c.CreateUser, metadata, micros(c.CreatedAt), micros(c.ExpiresAt))
		if err != nil {
			return unavailable("put challenge", err)
		}
		return nil
	})
}

// GetChallenge returns the challenge stored under key, or
// phoneauth.ErrNotFound if there is none or it has expired at now. It
// implements phoneauth.ChallengeStore.
func (s *Store) GetChallenge(ctx context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	c, err := scanChallenge(s.readRow(ctx, getChallengeSQL, key, micros(now)))
	if err != nil {
		return phoneauth.Challenge{}, notFoundOr("get challenge", err)
	}
	return c, nil
}

// AttemptChallenge counts one verification attempt in one conditional
// UPDATE, under the write lock, and returns the challenge with the new
// count; see phoneauth.ChallengeStore.AttemptChallenge.
func (s *Store) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	var c phoneauth.Challenge
	err := s.write(ctx, "attempt challenge", func(t tx) (err error) {
		c, err = scanChallenge(t.row(attemptChallengeSQL, key, id, micros(now)))
		if err != nil {
			return notFoundOr("attempt challenge", err)
		}
		return nil
	})
	if err != nil {
		return phoneauth.Challenge{}, err
	}
	return c, nil
}

// DeleteChallenge consumes the challenge under key if its ID is id, in one
// DELETE under the write lock: of concurrent calls, the first deletes the
// row and the others find it gone. An expired challenge still stored is deleted too (nil). See
// phoneauth.ChallengeStore.DeleteChallenge.
func (s *Store) DeleteChallenge(ctx context.Context, key, id string) error {
	return s.write(ctx, "delete challenge", func(t tx) error {
		res, err := t.exec(deleteChallengeSQL, key, id)
		return oneRow("delete challenge", res, err)
	})
}

// oneRow returns nil if the statement that gave res and err changed a
// row, phoneauth.ErrNotFound if it changed none, and its error otherwise.
func oneRow(op string, res sql.Result, err error) error {
	if err != nil {
		return unavailable(op, err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return unavailable(op, err)
	case n == 0:
		return phoneauth.ErrNotFound
	}
	return nil
}

// CreateSession stores a new session with its first refresh token hash. A
// duplicate ID is an error. It implements phoneauth.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	d := sess.Device
	return s.write(ctx, "create session", func(t tx) error {
		_, err := t.exec(createSessionSQL,
			sess.ID, sess.UserID, sess.Phone, d.ID, d.Type, d.Name, d.PlatformVersion, d.PushToken,
			micros(sess.CreatedAt), micros(sess.ExpiresAt), nonNil(sess.RefreshHash), micros(sess.RefreshedAt), micros(sess.RefreshExpiresAt))
		switch {
		case isUniqueViolation(err):
			return fmt.Errorf("sqlitestore: create session: a session with this ID exists already: %w", err)
		case err != nil:
			return unavailable("create session", err)
		}
		return nil
	})
}

// GetSession returns the session with the given id, or phoneauth.ErrNotFound
// if there is none or it has expired at now. It implements
// phoneauth.SessionStore.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (phoneauth.Session, error) {
	sess, err := scanSession(s.readRow(ctx, getSessionSQL, id, micros(now)))
	if err != nil {
		return phoneauth.Session{}, notFoundOr("get session", err)
	}
	return sess, nil
}

// RotateRefresh replaces a session's refresh token, detects the reuse of a
// rotated one (deleting the session) and honours the grace interval, in
// one write: under the write lock from its first read, so concurrent
// rotations, in this process or another, take turns and each sees what the
// previous one wrote. See
// phoneauth.SessionStore.RotateRefresh. A rotated token is remembered until
// the expiry it was issued with; presenting it later is ErrNotFound.
func (s *Store) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	var sess phoneauth.Session
	var reused bool // the session was deleted: commit, then say so
	now := micros(r.Now)
	err := s.write(ctx, "rotate refresh token", func(t tx) error {
		var err error
		sess, err = scanSession(t.row(lockedSessionSQL, r.SessionID, now))
		if err != nil {
			return notFoundOr("rotate refresh token", err)
		}
		if !bytes.Equal(r.OldHash, sess.RefreshHash) || len(r.OldHash) == 0 {
			var rotatedAt int64
			err := t.row(pastTokenSQL, r.SessionID, r.OldHash, now).Scan(&rotatedAt)
			if err != nil {
				return notFoundOr("rotate refresh token", err)
			}
			if r.Grace > 0 && r.Now.Sub(fromMicros(rotatedAt)) < r.Grace && bytes.Equal(r.NewHash, sess.RefreshHash) {
				return nil // this very rotation again, within grace: the session as it is
			}
			if _, err := t.exec(deleteSessionSQL, r.SessionID); err != nil {
				return unavailable("rotate refresh token", err)
			}
			reused = true
			return nil
		} else if !r.Now.Before(sess.RefreshExpiresAt) {
			return phoneauth.ErrNotFound
		}
		_, err = t.exec(rememberTokenSQL, r.SessionID, sess.RefreshHash, now, micros(sess.RefreshExpiresAt))
		if err == nil {
			_, err = t.exec(replaceTokenSQL, nonNil(r.NewHash), now, micros(r.NewExpiresAt), r.SessionID)
		}
		if err != nil {
			return unavailable("rotate refresh token", err)
		}
		sess.RefreshHash = bytes.Clone(r.NewHash)
		sess.RefreshedAt = fromMicros(now)
		sess.RefreshExpiresAt = fromMicros(micros(r.NewExpiresAt))
		return nil
	})
	switch {
	case err != nil:
		return phoneauth.Session{}, err
	case reused:
		return phoneauth.Session{}, phoneauth.ErrTokenReused
	}
	return sess, nil
}

// RevokeOtherSessions gives the session keepID of userID the new phone
// and deletes the user's other sessions with their token hashes, in one
// write; a keepID that is not a live session of the user is
// phoneauth.ErrNotFound and changes nothing. It implements
// phoneauth.SessionStore.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	return s.write(ctx, "revoke other sessions", func(t tx) error {
		res, err := t.exec(keepSessionSQL, phone, keepID, userID, micros(now))
		if err := oneRow("revoke other sessions", res, err); err != nil {
			return err
		}
		if _, err := t.exec(deleteOtherSessionsSQL, userID, keepID); err != nil {
			return unavailable("revoke other sessions", err)
		}
		return nil
	})
}

// DeleteSession deletes a session and its token hashes (ON DELETE
// CASCADE), or returns phoneauth.ErrNotFound if there is no such session.
// It implements phoneauth.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.write(ctx, "delete session", func(t tx) error {
		res, err := t.exec(deleteSessionSQL, id)
		return oneRow("delete session", res, err)
	})
}

// ListSessions returns the user's sessions that have not expired at now,
// oldest first (then by ID). It implements phoneauth.SessionStore.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	rows, err := s.readRows(ctx, listSessionsSQL, userID, micros(now))
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	defer rows.Close()
	sessions := []phoneauth.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, unavailable("list sessions", err)
		}
		sessions = append(sessions, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list sessions", err)
	}
	return sessions, nil
}

// UserByPhone returns the user whose verified phone is phone, or
// phoneauth.ErrNotFound. It implements phoneauth.Users.
func (s *Store) UserByPhone(ctx context.Context, phone string) (phoneauth.User, error) {
	u, err := scanUser(s.readRow(ctx, userByPhoneSQL, phone))
	if err != nil {
		return phoneauth.User{}, notFoundOr("get user", err)
	}
	return u, nil
}

// CreateUser creates a user with a random 128-bit ID (26 base32
// characters), its metadata kept as JSON and CreatedAt from
// Options.Clock, or returns the user who has the phone already with
// created false: one upsert, which returns the row either way. It
// implements phoneauth.Users.
func (s *Store) CreateUser(ctx context.Context, phone string, metadata map[string]any) (phoneauth.User, bool, error) {
	md, err := marshalMetadata(metadata)
	if err != nil {
		return phoneauth.User{}, false, err
	}
	id, created := newID(), micros(s.clock.Now())
	var u phoneauth.User
	err = s.write(ctx, "create user", func(t tx) (err error) {
		u, err = scanUser(t.row(createUserSQL, id, phone, md, created))
		if err != nil {
			return unavailable("create user", err)
		}
		return nil
	})
	if err != nil {
		return phoneauth.User{}, false, err
	}
	return u, u.ID == id, nil
}

// SetPhone records phone as the verified phone of the user userID. It
// returns phoneauth.ErrPhoneTaken if another user has it and
// phoneauth.ErrNotFound if there is no such user. It implements
// phoneauth.Users.
func (s *Store) SetPhone(ctx context.Context, userID, phone string) error {
	return s.write(ctx, "set phone", func(t tx) error {
		res, err := t.exec(setPhoneSQL, phone, userID)
		if isUniqueViolation(err) {
			return phoneauth.ErrPhoneTaken
		}
		return oneRow("set phone", res, err)
	})
}

// marshalMetadata encodes metadata for a TEXT column: NULL when empty.
func marshalMetadata(metadata map[string]any) (*string, error) {
	if len(metadata) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(metadata)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: metadata cannot be stored as JSON: %w", err)
	}
	text := string(b)
	return &text, nil
}

// nonNil returns b, or an empty slice for nil: a nil []byte would be
// stored as NULL, which the NOT NULL BLOB columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// A scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanChallenge scans a row of challengeColumns.
func scanChallenge(row scanner) (phoneauth.Challenge, error) {
	var c phoneauth.Challenge
	var channel string
	var metadata sql.NullString
	var created, expires int64
	err := row.Scan(&c.Key, &c.ID, &c.Phone, &c.UserID, &channel, &c.CodeHash, &c.Attempts, &c.MaxAttempts,
		&c.CreateUser, &metadata, &created, &expires)
	if err != nil {
		return phoneauth.Challenge{}, err
	}
	if metadata.Valid {
		if err := json.Unmarshal([]byte(metadata.String), &c.Metadata); err != nil {
			return phoneauth.Challenge{}, fmt.Errorf("challenge metadata: %w", err)
		}
	}
	c.Channel = phoneauth.Channel(channel)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, nil
}

// scanSession scans a row of sessionColumns.
func scanSession(row scanner) (phoneauth.Session, error) {
	var s phoneauth.Session
	var created, expires, refreshed, refreshExpires int64
	d := &s.Device
	err := row.Scan(&s.ID, &s.UserID, &s.Phone, &d.ID, &d.Type, &d.Name, &d.PlatformVersion, &d.PushToken,
		&created, &expires, &s.RefreshHash, &refreshed, &refreshExpires)
	if err != nil {
		return phoneauth.Session{}, err
	}
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	s.RefreshedAt, s.RefreshExpiresAt = fromMicros(refreshed), fromMicros(refreshExpires)
	return s, nil
}

// scanUser scans id, phone and created_at.
func scanUser(row scanner) (phoneauth.User, error) {
	var u phoneauth.User
	var created int64
	if err := row.Scan(&u.ID, &u.Phone, &created); err != nil {
		return phoneauth.User{}, err
	}
	u.CreatedAt = fromMicros(created)
	return u, nil
}
