package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phoneauth/phoneauth"
)

// PutChallenge stores c under c.Key, replacing any challenge stored there.
// It implements phoneauth.ChallengeStore.
func (s *Store) PutChallenge(ctx context.Context, c phoneauth.Challenge) error {
	metadata, err := marshalMetadata(c.Metadata)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, s.q.putChallenge,
		c.Key, c.ID, c.Phone, c.UserID, string(c.Channel), c.CodeHash, c.Attempts, c.MaxAttempts,
		c.CreateUser, metadata, c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return unavailable("put challenge", err)
	}
	return nil
}

// GetChallenge returns the challenge stored under key, or
// phoneauth.ErrNotFound if there is none or it has expired at now. It
// implements phoneauth.ChallengeStore.
func (s *Store) GetChallenge(ctx context.Context, key string, now time.Time) (phoneauth.Challenge, error) {
	c, err := scanChallenge(s.pool.QueryRow(ctx, s.q.getChallenge, key, now))
	if err != nil {
		return phoneauth.Challenge{}, notFoundOr("get challenge", err)
	}
	return c, nil
}

// AttemptChallenge counts one verification attempt, in one UPDATE, and
// returns the challenge with the new count; see
// phoneauth.ChallengeStore.AttemptChallenge.
func (s *Store) AttemptChallenge(ctx context.Context, key, id string, now time.Time) (phoneauth.Challenge, error) {
	c, err := scanChallenge(s.pool.QueryRow(ctx, s.q.attemptChallenge, key, id, now))
	if err != nil {
		return phoneauth.Challenge{}, notFoundOr("attempt challenge", err)
	}
	return c, nil
}

// DeleteChallenge consumes the challenge under key if its ID is id; see
// phoneauth.ChallengeStore.DeleteChallenge.
func (s *Store) DeleteChallenge(ctx context.Context, key, id string) error {
	tag, err := s.pool.Exec(ctx, s.q.deleteChallenge, key, id)
	if err != nil {
		return unavailable("delete challenge", err)
	}
	if tag.RowsAffected() == 0 {
		return phoneauth.ErrNotFound
	}
	return nil
}

// CreateSession stores a new session with its first refresh token hash. A
// duplicate ID is an error. It implements phoneauth.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess phoneauth.Session) error {
	d := sess.Device
	_, err := s.pool.Exec(ctx, s.q.createSession,
		sess.ID, sess.UserID, sess.Phone, d.ID, d.Type, d.Name, d.PlatformVersion, d.PushToken,
		sess.CreatedAt, sess.ExpiresAt, sess.RefreshHash, sess.RefreshedAt, sess.RefreshExpiresAt)
	switch {
	case isUniqueViolation(err, "sessions_pkey"):
		return fmt.Errorf("pgstore: create session: a session with this ID exists already: %w", err)
	case err != nil:
		return unavailable("create session", err)
	}
	return nil
}

// GetSession returns the session with the given id, or phoneauth.ErrNotFound
// if there is none or it has expired at now. It implements
// phoneauth.SessionStore.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (phoneauth.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, s.q.getSession, id, now))
	if err != nil {
		return phoneauth.Session{}, notFoundOr("get session", err)
	}
	return sess, nil
}

// RotateRefresh replaces a session's refresh token, detects the reuse of a
// rotated one (deleting the session) and honours the grace interval, all in
// one statement; see phoneauth.SessionStore.RotateRefresh. Only when another
// rotation of the same session commits while the statement runs, and the
// presented token is neither the current one nor a past one known when it
// started, does it run the statement again (a few times at most).
func (s *Store) RotateRefresh(ctx context.Context, r phoneauth.Rotation) (phoneauth.Session, error) {
	sess, _, _, err := s.rotate(ctx, batch{}, r)
	return sess, err
}

// rotate is RotateRefresh after the limits of b (none for the empty batch):
// refused and retryAfter are those of limiter_allow_all, in b's index. A
// run of the statement that must be repeated (a concurrent rotation) is
// repeated without the limits, whose events it recorded already; if that
// run fails, the events are given back, so that the failed refresh has
// charged nothing.
func (s *Store) rotate(ctx context.Context, b batch, r phoneauth.Rotation) (_ phoneauth.Session, refused int, retryAfter time.Duration, err error) {
	var graceCutoff *time.Time // NULL: no rotation is within grace
	if r.Grace > 0 {
		t := r.Now.Add(-r.Grace)
		graceCutoff = &t
	}
	var charged batch // the limits whose events a first run recorded
	for range maxRotateTries {
		var outcome *string // NULL: no such session
		var pos int32
		var retry int64
		var sess phoneauth.Session
		fields, found := nullable(sessionFields(&sess))
		err := s.pool.QueryRow(ctx, s.q.refreshSession,
			r.SessionID, r.Now, r.OldHash, r.NewHash, r.NewExpiresAt, graceCutoff,
			b.keys, b.intervals, b.periods, r.Now.UnixNano(),
		).Scan(append([]any{&pos, &retry, &outcome}, fields...)...)
		if err != nil {
			return phoneauth.Session{}, -1, 0, s.giveBack(ctx, charged, r.Now, unavailable("rotate refresh token", err))
		}
		if pos != 0 {
			refused, retryAfter, err := b.decide(pos, retry)
			return phoneauth.Session{}, refused, retryAfter, err
		}
		if len(b.keys) > 0 {
			b, charged = batch{}, b // the limits have their events
		}
		if outcome == nil {
			return phoneauth.Session{}, -1, 0, phoneauth.ErrNotFound
		}
		found()
		switch *outcome {
		case "rotate":
			sess.RefreshHash = r.NewHash
			sess.RefreshedAt = r.Now
			sess.RefreshExpiresAt = r.NewExpiresAt
			return sess, -1, 0, nil
		case "same": // this rotation again, within the grace: as it is
			return sess, -1, 0, nil
		case "reuse":
			return phoneauth.Session{}, -1, 0, phoneauth.ErrTokenReused
		case "retry":
			continue // a concurrent rotation: look again
		default:
			return phoneauth.Session{}, -1, 0, phoneauth.ErrNotFound
		}
	}
	// Outrun by other rotations of the session every time: the presented
	// token is not current, and whether it is a past one is not known.
	return phoneauth.Session{}, -1, 0, phoneauth.ErrNotFound
}

// nullable returns scan destinations for the pointers fields that accept
// NULL, and a function that copies the values scanned into fields (a NULL
// leaves its field as it is).
func nullable(fields []any) (dst []any, copyBack func()) {
	dst = make([]any, len(fields))
	for i, f := range fields {
		dst[i] = reflect.New(reflect.TypeOf(f)).Interface() // **T
	}
	return dst, func() {
		for i, f := range fields {
			if p := reflect.ValueOf(dst[i]).Elem(); !p.IsNil() {
				reflect.ValueOf(f).Elem().Set(p.Elem())
			}
		}
	}
}

// maxRotateTries bounds the statements of a RotateRefresh that concurrent
// rotations of the same session keep outrunning.
const maxRotateTries = 5

// DeleteSession deletes a session and its token hashes, or returns
// phoneauth.ErrNotFound if there is no such session. It implements
// phoneauth.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, s.q.deleteSession, id)
	if err != nil {
		return unavailable("delete session", err)
	}
	if tag.RowsAffected() == 0 {
		return phoneauth.ErrNotFound
	}
	return nil
}

// RevokeOtherSessions deletes every session of userID but keepID, with
// their token hashes, and gives keepID the phone, in one statement. It
// implements phoneauth.SessionStore.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error {
	var kept int
	if err := s.pool.QueryRow(ctx, s.q.revokeOtherSessions, userID, keepID, phone, now).Scan(&kept); err != nil {
		return unavailable("revoke other sessions", err)
	}
	if kept == 0 {
		return phoneauth.ErrNotFound
	}
	return nil
}

// ListSessions returns the user's sessions that have not expired at now,
// oldest first. It implements phoneauth.SessionStore.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]phoneauth.Session, error) {
	rows, err := s.pool.Query(ctx, s.q.listSessions, userID, now)
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	sessions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (phoneauth.Session, error) {
		return scanSession(row)
	})
	if err != nil {
		return nil, unavailable("list sessions", err)
	}
	if sessions == nil {
		sessions = []phoneauth.Session{}
	}
	return sessions, nil
}

// UserByPhone returns the user whose verified phone is phone, or
// phoneauth.ErrNotFound. It implements phoneauth.Users.
func (s *Store) UserByPhone(ctx context.Context, phone string) (phoneauth.User, error) {
	var u phoneauth.User
	err := s.pool.QueryRow(ctx, s.q.userByPhone, phone).Scan(&u.ID, &u.Phone, &u.CreatedAt)
	if err != nil {
		return phoneauth.User{}, notFoundOr("get user", err)
	}
	return u, nil
}

// CreateUser creates a user with a random UUID as its ID, or returns the
// user who has the phone already with created false. It implements
// phoneauth.Users.
func (s *Store) CreateUser(ctx context.Context, phone string, metadata map[string]any) (phoneauth.User, bool, error) {
	md, err := marshalMetadata(metadata)
	if err != nil {
		return phoneauth.User{}, false, err
	}
	id := newID()
	var u phoneauth.User
	err = s.pool.QueryRow(ctx, s.q.createUser, id, phone, md, s.clock.Now()).Scan(&u.ID, &u.Phone, &u.CreatedAt)
	if err != nil {
		return phoneauth.User{}, false, unavailable("create user", err)
	}
	return u, u.ID == id, nil
}

// SetPhone records phone as the verified phone of the user userID. It
// returns phoneauth.ErrPhoneTaken if another user has it and
// phoneauth.ErrNotFound if there is no such user. It implements
// phoneauth.Users.
func (s *Store) SetPhone(ctx context.Context, userID, phone string) error {
	tag, err := s.pool.Exec(ctx, s.q.setPhone, userID, phone)
	switch {
	case isUniqueViolation(err, "users_phone_key"):
		return phoneauth.ErrPhoneTaken
	case err != nil:
		return unavailable("set phone", err)
	case tag.RowsAffected() == 0:
		return phoneauth.ErrNotFound
	}
	return nil
}

// notFoundOr maps pgx.ErrNoRows to phoneauth.ErrNotFound and wraps any
// other error as a failure of op.
func notFoundOr(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return phoneauth.ErrNotFound
	}
	return unavailable(op, err)
}

// marshalMetadata encodes metadata for a jsonb column: NULL when empty.
func marshalMetadata(metadata map[string]any) ([]byte, error) {
	if len(metadata) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(metadata)
	if err != nil {
		return nil, fmt.Errorf("pgstore: metadata cannot be stored as JSON: %w", err)
	}
	return b, nil
}

// scanChallenge scans a row of challengeColumns.
func scanChallenge(row pgx.Row) (phoneauth.Challenge, error) {
	var c phoneauth.Challenge
	var channel string
	err := row.Scan(&c.Key, &c.ID, &c.Phone, &c.UserID, &channel, &c.CodeHash, &c.Attempts, &c.MaxAttempts,
		&c.CreateUser, &c.Metadata, &c.CreatedAt, &c.ExpiresAt)
	c.Channel = phoneauth.Channel(channel)
	return c, err
}

// sessionFields returns the scan destinations of sessionColumns in s.
func sessionFields(s *phoneauth.Session) []any {
	d := &s.Device
	return []any{&s.ID, &s.UserID, &s.Phone, &d.ID, &d.Type, &d.Name, &d.PlatformVersion, &d.PushToken,
		&s.CreatedAt, &s.ExpiresAt, &s.RefreshHash, &s.RefreshedAt, &s.RefreshExpiresAt}
}

// scanSession scans a row of sessionColumns.
func scanSession(row pgx.Row) (phoneauth.Session, error) {
	var s phoneauth.Session
	err := row.Scan(sessionFields(&s)...)
	return s, err
}

// giveBack gives back one event of each limit of b, after the route call
// that recorded them failed with err, and returns err, saying so if giving
// back failed. It runs detached from ctx, whose deadline may be what
// failed, for at most refundTimeout.
func (s *Store) giveBack(ctx context.Context, b batch, now time.Time, err error) error {
	if len(b.keys) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	if rerr := s.Limiter().refund(ctx, b.keys, b.intervals, nil, now); rerr != nil {
		return fmt.Errorf("%w (the limits stay charged: giving their events back failed: %v)", err, rerr)
	}
	return err
}

// refundTimeout bounds giveBack.
const refundTimeout = 500 * time.Millisecond
