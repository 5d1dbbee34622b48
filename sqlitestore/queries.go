package sqlitestore

// The statements of a Store. The writes are prepared once, on the writer's
// connection, when the Store opens (writeQueries); the reads on each read
// connection the first time they run there.

const challengeColumns = `key, id, phone, user_id, channel, code_hash, attempts, max_attempts,
	create_user, metadata, created_at, expires_at`

const sessionColumns = `id, user_id, phone, device_id, device_type, device_name, platform_version,
	push_token, created_at, expires_at, refresh_hash, refreshed_at, refresh_expires_at`

// Reads.
const (
	getChallengeSQL = `SELECT ` + challengeColumns + ` FROM challenges WHERE key = ? AND expires_at > ?`
	getSessionSQL   = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ? AND expires_at > ?`
	listSessionsSQL = `SELECT ` + sessionColumns + `
FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id`
	userByPhoneSQL = `SELECT id, phone, created_at FROM users WHERE phone = ?`
)

// Writes.
const (
	// A new challenge replaces the key's previous one, whatever its state.
	putChallengeSQL = `INSERT INTO challenges (` + challengeColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
	id = excluded.id, phone = excluded.phone, user_id = excluded.user_id,
	channel = excluded.channel, code_hash = excluded.code_hash,
	attempts = excluded.attempts, max_attempts = excluded.max_attempts,
	create_user = excluded.create_user, metadata = excluded.metadata,
	created_at = excluded.created_at, expires_at = excluded.expires_at`

	attemptChallengeSQL = `UPDATE challenges SET attempts = attempts + 1
WHERE key = ?1 AND (?2 = '' OR id = ?2) AND expires_at > ?3 AND attempts < max_attempts
RETURNING ` + challengeColumns

	deleteChallengeSQL = `DELETE FROM challenges WHERE key = ? AND id = ?`

	createSessionSQL = `INSERT INTO sessions (` + sessionColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// RotateRefresh, in the writer's transaction: the live session, a past
	// token, the current token remembered as past, the new one current, or
	// the session deleted on reuse (its past tokens by ON DELETE CASCADE).
	lockedSessionSQL = getSessionSQL
	pastTokenSQL     = `SELECT rotated_at FROM refresh_tokens WHERE session_id = ? AND hash = ? AND expires_at > ?`
	rememberTokenSQL = `INSERT INTO refresh_tokens (session_id, hash, rotated_at, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (session_id, hash) DO NOTHING`
	replaceTokenSQL  = `UPDATE sessions SET refresh_hash = ?, refreshed_at = ?, refresh_expires_at = ? WHERE id = ?`
	deleteSessionSQL = `DELETE FROM sessions WHERE id = ?`

	// RevokeOtherSessions, in the writer's transaction: the kept session
	// gets the new phone if it is the user's and live, then the user's
	// other sessions go (their past tokens by ON DELETE CASCADE).
	keepSessionSQL         = `UPDATE sessions SET phone = ? WHERE id = ? AND user_id = ? AND expires_at > ?`
	deleteOtherSessionsSQL = `DELETE FROM sessions WHERE user_id = ? AND id <> ?`

	// On a concurrent signup the existing row is returned (DO UPDATE, unlike
	// DO NOTHING, returns the row); the caller tells the cases apart by id.
	createUserSQL = `INSERT INTO users (id, phone, metadata, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (phone) DO UPDATE SET phone = excluded.phone
RETURNING id, phone, created_at`

	setPhoneSQL = `UPDATE users SET phone = ? WHERE id = ?`

	bucketSQL    = `SELECT tat FROM limiter_buckets WHERE key = ?`
	setBucketSQL = `INSERT INTO limiter_buckets (key, tat) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`
	resetBucketSQL = `DELETE FROM limiter_buckets WHERE key = ?`
	// refundBucketSQL gives one event back: tat moves back one emission
	// interval (the first parameter), not before now (the second); a
	// bucket whose tat has passed is full and stays as it is.
	refundBucketSQL = `UPDATE limiter_buckets SET tat = max(tat - ?1, ?2) WHERE key = ?3 AND tat > ?2`

	// Cleanup deletes in batches of at most the second parameter's rows.
	cleanupChallengesSQL = `DELETE FROM challenges WHERE key IN (SELECT key FROM challenges WHERE expires_at <= ? LIMIT ?)`
	cleanupSessionsSQL   = `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)`
	cleanupTokensSQL     = `DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens WHERE expires_at <= ? LIMIT ?)`
	cleanupBucketsSQL    = `DELETE FROM limiter_buckets WHERE key IN (SELECT key FROM limiter_buckets WHERE tat <= ? LIMIT ?)`
)

// writeQueries are the statements the writer runs.
func writeQueries() []string {
	return []string{
		putChallengeSQL, attemptChallengeSQL, deleteChallengeSQL, createSessionSQL,
		lockedSessionSQL, pastTokenSQL, rememberTokenSQL, replaceTokenSQL, deleteSessionSQL,
		keepSessionSQL, deleteOtherSessionsSQL, createUserSQL, setPhoneSQL, bucketSQL, setBucketSQL, resetBucketSQL, refundBucketSQL,
		cleanupChallengesSQL, cleanupSessionsSQL, cleanupTokensSQL, cleanupBucketsSQL,
	}
}
