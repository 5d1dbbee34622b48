package phoneauth

import (
	"context"
	"time"
)

// A Challenge is a pending one-time code: the code's keyed hash and the
// bookkeeping around it. A Store keeps at most one challenge per Key: the
// newest.
type Challenge struct {
	// Key identifies what the code proves. Sign-in challenges use
	// "login:" + E.164 phone, followed for a client that names its device
	// by "#" and a hash of the device id (a code belongs to the device that
	// requested it); phone-verification challenges of a signed-in
	// user use "phone-verification:" + user id + ":" + E.164 phone. Stores
	// treat it as an opaque string.
	Key string
	// ID is the public, random identifier of this challenge (the request id
	// a client sees). It is bound into CodeHash.
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
	// ID identifies the device; the client chooses it.
	ID string
	// Type ("ios", "android", "web"), Name and PlatformVersion describe
	// it for the user's list of sessions.
	Type            string
	Name            string
	PlatformVersion string
	// PushToken is the device's push-notification token (FCM), if any.
	PushToken string
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
	// Grace is how long after its rotation a past token presented again
	// with the NewHash it was rotated to is answered as that rotation was
	// (a retry, or a concurrent refresh). Zero means never.
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
	//     r.Now and r.NewHash is already the current token (the very
	//     rotation arriving again: a retry, or a concurrent refresh of the
	//     same token, whose successor the Authenticator derives from it), it
	//     changes nothing and returns the session as it is.
	//   - If r.OldHash is any other past token of the session, the session
	//     is deleted with all its tokens and ErrTokenReused is returned.
	//   - If r.OldHash is no token of the session (or the current one has
	//     expired), it returns ErrNotFound and changes nothing.
	//
	// A backend must remember a past token at least until the expiry it was
	// issued with (after which presenting it may return ErrNotFound instead
	// of ErrTokenReused), and may forget it then. Concurrent rotations of
	// one token with the same NewHash and a Grace therefore all succeed with
	// the same session; with different NewHashes, or Grace 0, one wins and
	// the others present a past token: the session is revoked.
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

	// RevokeOtherSessions ends every session of userID except keepID, with
	// their token hashes, and records phone as keepID's Phone (which the
	// tokens it issues from then on carry): after a phone change, the
	// session that made it is the user's only one. If keepID is not a
	// session of userID live at now, it returns ErrNotFound and changes
	// nothing. Calling it again after a failure, or twice, is safe. A
	// backend whose sessions cannot be changed in one transaction (Redis
	// Cluster) updates keepID first, then deletes the others.
	RevokeOtherSessions(ctx context.Context, userID, keepID, phone string, now time.Time) error
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
//
// Every call of a Store, Users or Limiter method gets a context with a
// deadline (Config.StoreTimeout): a backend must return soon after its
// context is done, with an error, so that the Authenticator can answer
// ErrStoreUnavailable instead of hanging.
type Store interface {
	ChallengeStore
	SessionStore
}
