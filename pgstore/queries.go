package pgstore

import "strings"

// queries are the statements of a Store, with its schema filled in.
type queries struct {
	putChallenge, getChallenge, attemptChallenge, deleteChallenge         string
	createSession, getSession, rotateRefresh, deleteSession, listSessions string
	revokeOtherSessions                                                   string
	issueChallenge, verifyChallenge, refreshSession                       string
	userByPhone, createUser, setPhone                                     string
	allow, allowAll, refund, reset                                        string
	cleanupChallenges, cleanupSessions, cleanupBuckets, bucketBlocks      string
}

// newQueries returns the queries for the tables in schema, a quoted
// identifier.
func newQueries(schema string) queries {
	r := strings.NewReplacer("{schema}", schema)
	return queries{
		putChallenge:        r.Replace(putChallengeSQL),
		getChallenge:        r.Replace(getChallengeSQL),
		attemptChallenge:    r.Replace(attemptChallengeSQL),
		deleteChallenge:     r.Replace(deleteChallengeSQL),
		createSession:       r.Replace(createSessionSQL),
		getSession:          r.Replace(getSessionSQL),
		rotateRefresh:       r.Replace(rotateRefreshSQL),
		deleteSession:       r.Replace(deleteSessionSQL),
		listSessions:        r.Replace(listSessionsSQL),
		revokeOtherSessions: r.Replace(revokeOtherSessionsSQL),
		issueChallenge:      r.Replace(issueChallengeSQL),
		verifyChallenge:     r.Replace(verifyChallengeSQL),
		refreshSession:      r.Replace(refreshSessionSQL()),
		userByPhone:         r.Replace(userByPhoneSQL),
		createUser:          r.Replace(createUserSQL),
		setPhone:            r.Replace(setPhoneSQL),
		allow:               r.Replace(allowSQL),
		allowAll:            r.Replace(allowAllSQL),
		refund:              r.Replace(refundSQL),
		reset:               r.Replace(resetSQL),
		cleanupChallenges:   r.Replace(cleanupChallengesSQL),
		cleanupSessions:     r.Replace(cleanupSessionsSQL),
		cleanupBuckets:      r.Replace(cleanupBucketsSQL),
		bucketBlocks:        bucketBlocksSQL,
	}
}

const challengeColumns = `key, id, phone, user_id, channel, code_hash, attempts, max_attempts,
	create_user, metadata, created_at, expires_at`

const (
	// A new challenge replaces the key's previous one, whatever its state.
	putChallengeSQL = `INSERT INTO {schema}.challenges (` + challengeColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (key) DO UPDATE SET
	id = EXCLUDED.id, phone = EXCLUDED.phone, user_id = EXCLUDED.user_id,
	channel = EXCLUDED.channel, code_hash = EXCLUDED.code_hash,
	attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts,
	create_user = EXCLUDED.create_user, metadata = EXCLUDED.metadata,
	created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`

	getChallengeSQL = `SELECT ` + challengeColumns + `
FROM {schema}.challenges WHERE key = $1 AND expires_at > $2`

	// Concurrent updates of one row queue on its lock, and each re-checks
	// the WHERE clause against the row the previous one left (READ
	// COMMITTED): no increment is lost and at most max_attempts succeed.
	attemptChallengeSQL = `UPDATE {schema}.challenges SET attempts = attempts + 1
WHERE key = $1 AND ($2 = '' OR id = $2) AND expires_at > $3 AND attempts < max_attempts
RETURNING ` + challengeColumns

	// Of concurrent deletes of one row, the first deletes it; the others
	// find it gone when they get its lock.
	deleteChallengeSQL = `DELETE FROM {schema}.challenges WHERE key = $1 AND id = $2`
)

const (
	// issueChallengeSQL is IssueChallenge in one statement: the request's
	// limits (limiterAllowAll's $1 to $4), and, only if none refused, the
	// challenge ($5 to $16, as putChallengeSQL's $1 to $12). The function
	// locks the buckets in key order before the insert locks the
	// challenge's row, as verify_challenge does.
	issueChallengeSQL = `WITH lim AS MATERIALIZED (
	SELECT refused, retry_after FROM {schema}.limiter_allow_all($1, $2, $3, $4)
), put AS (
	INSERT INTO {schema}.challenges (` + challengeColumns + `)
	SELECT $5::text, $6::text, $7::text, $8::text, $9::text, $10::bytea, $11::integer, $12::integer,
		$13::boolean, $14::jsonb, $15::timestamptz, $16::timestamptz
	FROM lim WHERE lim.refused = 0
	ON CONFLICT (key) DO UPDATE SET
		id = EXCLUDED.id, phone = EXCLUDED.phone, user_id = EXCLUDED.user_id,
		channel = EXCLUDED.channel, code_hash = EXCLUDED.code_hash,
		attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts,
		create_user = EXCLUDED.create_user, metadata = EXCLUDED.metadata,
		created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
)
SELECT refused, retry_after FROM lim`

	// verifyChallengeSQL is VerifyChallenge: the function of migrations 3 and 4.
	verifyChallengeSQL = `SELECT outcome, refused, retry_after,
	c_id, c_phone, c_user_id, c_channel, c_attempts, c_max_attempts, c_create_user, c_metadata,
	c_created_at, c_expires_at, u_id, u_phone, u_created_at
FROM {schema}.verify_challenge($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
	$16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`
)

const sessionColumns = `id, user_id, phone, device_id, device_type, device_name, platform_version,
	push_token, created_at, expires_at, refresh_hash, refreshed_at, refresh_expires_at`

const (
	createSessionSQL = `INSERT INTO {schema}.sessions (` + sessionColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

	getSessionSQL = `SELECT ` + sessionColumns + `
FROM {schema}.sessions WHERE id = $1 AND expires_at > $2`

	// rotateRefreshSQL is RotateRefresh in one statement. Parameters: $1
	// session id, $2 now, $3 presented (old) hash, $4 new hash, $5 new
	// expiry, $6 grace cutoff (now - grace; NULL when there is no grace).
	//
	// cur locks the session row. Of concurrent rotations, the first gets
	// the lock; the others wait and then read the row as the first left it
	// (READ COMMITTED re-reads a locked row): they find the presented token
	// in prev_hash, rotated at that very moment, and so see either the same
	// rotation again (their new hash is now current, within the grace:
	// 'same', which changes nothing) or a reuse, exactly as if they had come
	// one after another. Older past tokens are in refresh_tokens, read as of
	// the start of the statement (past); only the token rotated last can be
	// 'same'. A token rotated after that start by a concurrent statement and
	// already replaced again is in neither: the session row then differs
	// from the one the statement started with (seen), and the outcome is
	// 'retry', which changes nothing; the caller runs the statement again.
	//
	// The outcome is decided once, in verdict, and the three
	// data-modifying CTEs act on it: at most one of them changes anything.
	rotateRefreshSQL = `WITH cur AS (
	SELECT ` + sessionColumns + `, prev_hash, prev_rotated_at
	FROM {schema}.sessions
	WHERE id = $1 AND expires_at > $2
	FOR UPDATE
), seen AS (
	SELECT refresh_hash FROM {schema}.sessions WHERE id = $1
), past AS (
	SELECT max(rotated_at) AS rotated_at
	FROM {schema}.refresh_tokens
	WHERE session_id = $1 AND hash = $3
), verdict AS (
	SELECT CASE
		WHEN cur.refresh_hash = $3 AND cur.refresh_expires_at > $2 THEN 'rotate'
		WHEN cur.prev_hash = $3 AND cur.refresh_hash = $4 AND cur.prev_rotated_at > $6 THEN 'same'
		WHEN cur.prev_hash = $3 OR past.rotated_at IS NOT NULL THEN 'reuse'
		WHEN seen.refresh_hash IS DISTINCT FROM cur.refresh_hash THEN 'retry'
		ELSE 'none'
	END AS outcome
	FROM cur CROSS JOIN past LEFT JOIN seen ON true
), rotated AS (
	UPDATE {schema}.sessions s
	SET refresh_hash = $4, refresh_expires_at = $5, refreshed_at = $2,
		prev_hash = cur.refresh_hash, prev_rotated_at = $2
	FROM cur, verdict
	WHERE s.id = cur.id AND verdict.outcome = 'rotate'
), remembered AS (
	INSERT INTO {schema}.refresh_tokens (session_id, hash, rotated_at)
	SELECT cur.id, cur.refresh_hash, $2
	FROM cur, verdict
	WHERE verdict.outcome = 'rotate'
	ON CONFLICT (session_id, hash) DO NOTHING
), revoked AS (
	DELETE FROM {schema}.sessions s
	USING cur, verdict
	WHERE s.id = cur.id AND verdict.outcome = 'reuse'
)
` + rotateRefreshResult

	// rotateRefreshResult is the last part of rotateRefreshSQL.
	rotateRefreshResult = `SELECT verdict.outcome, ` + sessionColumns + `
FROM verdict CROSS JOIN cur`

	// Token hashes go with the session (ON DELETE CASCADE).
	deleteSessionSQL = `DELETE FROM {schema}.sessions WHERE id = $1`

	// revokeOtherSessionsSQL is RevokeOtherSessions in one statement:
	// parameters $1 user id, $2 the kept session, $3 its new phone, $4 now.
	// keep locks and updates the kept session if it is the user's and live;
	// the others are deleted (with their tokens, ON DELETE CASCADE) only
	// then. It returns how many sessions were kept: 1, or 0 for nothing
	// done.
	revokeOtherSessionsSQL = `WITH keep AS (
	UPDATE {schema}.sessions SET phone = $3
	WHERE id = $2 AND user_id = $1 AND expires_at > $4
	RETURNING id
), gone AS (
	DELETE FROM {schema}.sessions
	WHERE user_id = $1 AND id <> $2 AND EXISTS (SELECT 1 FROM keep)
)
SELECT count(*) FROM keep`

	listSessionsSQL = `SELECT ` + sessionColumns + `
FROM {schema}.sessions WHERE user_id = $1 AND expires_at > $2
ORDER BY created_at, id`
)

// refreshSessionSQL is RefreshSession: rotateRefreshSQL after the
// refresh's limits, limiter_allow_all of $7 to $10 (as allowAllSQL's $1 to
// $4). A refusal is the outcome 'refused', which changes nothing. The
// statement returns one row whatever happens: the limits' answer, and the
// outcome and session, or NULLs for a session that is missing.
func refreshSessionSQL() string {
	r := strings.NewReplacer(
		"WITH cur AS (", `WITH lim AS MATERIALIZED (
	SELECT refused, retry_after FROM {schema}.limiter_allow_all($7, $8, $9, $10)
), cur AS (`,
		"\tSELECT CASE\n", "\tSELECT CASE\n\t\tWHEN lim.refused > 0 THEN 'refused'\n",
		"FROM cur CROSS JOIN past LEFT JOIN seen ON true", "FROM cur CROSS JOIN past LEFT JOIN seen ON true CROSS JOIN lim",
		rotateRefreshResult, `SELECT lim.refused, lim.retry_after, v.outcome, `+sessionColumns+`
FROM lim LEFT JOIN (SELECT verdict.outcome, cur.* FROM verdict CROSS JOIN cur) AS v ON true`,
	)
	return r.Replace(rotateRefreshSQL)
}

const (
	userByPhoneSQL = `SELECT id, phone, created_at FROM {schema}.users WHERE phone = $1`

	// On a concurrent signup the conflicting row is locked and returned
	// (DO UPDATE, unlike DO NOTHING, always returns the row); the caller
	// tells the two cases apart by the id.
	createUserSQL = `INSERT INTO {schema}.users (id, phone, metadata, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone
RETURNING id, phone, created_at`

	setPhoneSQL = `UPDATE {schema}.users SET phone = $2 WHERE id = $1`
)

const (
	// allowSQL is GCRA in one upsert. Parameters: $1 key, $2 now, $3 the
	// emission interval (per/events), $4 the period, all in nanoseconds. An
	// event is allowed when the bucket's theoretical arrival time (tat),
	// pushed one interval on, is at most one period ahead of now; then tat
	// moves on, otherwise it stays. A new key's first event is always
	// allowed. The row lock serialises concurrent events of one key.
	allowSQL = `INSERT INTO {schema}.limiter_buckets AS b (key, tat, allowed)
VALUES ($1, $2::bigint + $3::bigint, true)
ON CONFLICT (key) DO UPDATE SET
	tat = CASE WHEN greatest(b.tat, $2) + $3 - $4 <= $2 THEN greatest(b.tat, $2) + $3 ELSE b.tat END,
	allowed = greatest(b.tat, $2) + $3 - $4 <= $2
RETURNING tat, allowed`

	// allowAllSQL is AllowAll: the function of migrations 2 and 4, which locks the
	// batch's buckets in key order, decides every check and records an
	// event on each, or on none. Parameters: $1 the keys, $2 the emission
	// intervals, $3 the periods (as in allowSQL, one per check), $4 now.
	allowAllSQL = `SELECT refused, retry_after FROM {schema}.limiter_allow_all($1, $2, $3, $4)`

	// refundSQL is RefundAll: each bucket of $1 gives one event back (its
	// tat moves back its emission interval in $3, not before now $2, as
	// if the event had not happened; a bucket whose tat has passed is
	// full and stays as it is), and the buckets of $4 are deleted. The
	// rows are locked in key order first, so that concurrent calls
	// sharing buckets (a country's) queue instead of deadlocking.
	refundSQL = `WITH locked AS (
	SELECT key FROM {schema}.limiter_buckets
	WHERE key = ANY($1::text[]) OR key = ANY($4::text[]) ORDER BY key FOR UPDATE
), refunded AS (
	UPDATE {schema}.limiter_buckets b SET tat = greatest(b.tat - r.step, $2::bigint)
	FROM unnest($1::text[], $3::bigint[]) AS r(key, step)
	WHERE b.key = r.key AND b.tat > $2::bigint AND b.key IN (SELECT key FROM locked)
)
DELETE FROM {schema}.limiter_buckets WHERE key = ANY($4::text[]) AND key IN (SELECT key FROM locked)`

	resetSQL = `DELETE FROM {schema}.limiter_buckets WHERE key = $1`
)

// Cleanup deletes in batches ($2 rows at most) and skips rows that running
// operations hold. Challenges and sessions are found by their expiry
// index. Buckets have no index on tat (it changes with every event, and an
// index on it would make every update write index entries): they are
// scanned one range of blocks at a time ($3 to $4, block numbers), so that
// a cleanup reads the table once, however many batches it deletes.
const (
	cleanupChallengesSQL = `DELETE FROM {schema}.challenges WHERE key IN (
	SELECT key FROM {schema}.challenges WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`

	cleanupSessionsSQL = `DELETE FROM {schema}.sessions WHERE id IN (
	SELECT id FROM {schema}.sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`

	cleanupBucketsSQL = `DELETE FROM {schema}.limiter_buckets WHERE key IN (
	SELECT key FROM {schema}.limiter_buckets
	WHERE ctid >= format('(%s,0)', $3::bigint)::tid AND ctid < format('(%s,0)', $4::bigint)::tid AND tat <= $1
	LIMIT $2 FOR UPDATE SKIP LOCKED)`

	// bucketBlocksSQL is the number of blocks of the table $1 names.
	bucketBlocksSQL = `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint`
)
