-- phoneauth sqlitestore, migration 1: challenges, sessions, refresh tokens,
-- users and limiter buckets.
--
-- Times are microseconds since the Unix epoch on the caller's clock
-- (never SQLite's), limiter times nanoseconds. STRICT tables refuse a value
-- of the wrong type instead of converting it.

-- One pending code per key: only the newest code of a key is valid.
CREATE TABLE challenges (
    key          TEXT    PRIMARY KEY,
    id           TEXT    NOT NULL,
    phone        TEXT    NOT NULL,
    user_id      TEXT    NOT NULL DEFAULT '',
    channel      TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    create_user  INTEGER NOT NULL DEFAULT 0,
    metadata     TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
-- Cleanup finds expired rows by expiry.
CREATE INDEX challenges_expires_at_idx ON challenges (expires_at);

-- A signed-in device: one refresh-token family; refresh_hash is the current
-- token.
CREATE TABLE sessions (
    id                 TEXT    PRIMARY KEY,
    user_id            TEXT    NOT NULL,
    phone              TEXT    NOT NULL,
    device_id          TEXT    NOT NULL DEFAULT '',
    device_type        TEXT    NOT NULL DEFAULT '',
    device_name        TEXT    NOT NULL DEFAULT '',
    platform_version   TEXT    NOT NULL DEFAULT '',
    push_token         TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    refresh_hash       BLOB    NOT NULL,
    refreshed_at       INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL
) STRICT;
-- ListSessions: a user's sessions, oldest first.
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at, id);
-- Cleanup finds expired rows by expiry.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every rotated (past) refresh token of a session, for reuse detection and
-- the grace interval, until the expiry it was issued with. Deleting a
-- session deletes its tokens (every connection turns foreign keys on).
CREATE TABLE refresh_tokens (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL,
    rotated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, hash)
) STRICT;
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- Users, for a server without its own user table. metadata is the signup
-- data, as JSON, for the application.
CREATE TABLE users (
    id         TEXT    PRIMARY KEY,
    phone      TEXT    NOT NULL UNIQUE,
    metadata   TEXT,
    created_at INTEGER NOT NULL
) STRICT;

-- GCRA buckets of the Limiter: tat is the theoretical arrival time in
-- nanoseconds. A bucket whose tat has passed is full again, the same as no
-- row, and Cleanup deletes it.
CREATE TABLE limiter_buckets (
    key TEXT    PRIMARY KEY,
    tat INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX limiter_buckets_tat_idx ON limiter_buckets (tat);
