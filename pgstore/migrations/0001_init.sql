-- phoneauth pgstore, migration 1: challenges, sessions, refresh tokens,
-- users and limiter buckets.
--
-- Migrate runs this in a transaction, with search_path set to the store's
-- schema, so names are unqualified here. Times are timestamptz compared
-- with the time the caller passes (never now()), so a test clock works.

-- One pending code per key: only the newest code of a key is valid.
CREATE TABLE challenges (
    key          text        PRIMARY KEY,
    id           text        NOT NULL,
    phone        text        NOT NULL,
    user_id      text        NOT NULL DEFAULT '',
    channel      text        NOT NULL,
    code_hash    bytea       NOT NULL,
    attempts     integer     NOT NULL,
    max_attempts integer     NOT NULL,
    create_user  boolean     NOT NULL DEFAULT false,
    metadata     jsonb,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
-- Cleanup finds expired rows by expiry.
CREATE INDEX challenges_expires_at_idx ON challenges (expires_at);

-- A signed-in device: one refresh-token family. refresh_hash is the current
-- token; prev_hash the token it replaced, kept in the row so that a
-- rotation racing another one sees it under the row lock.
CREATE TABLE sessions (
    id                 text        PRIMARY KEY,
    user_id            text        NOT NULL,
    phone              text        NOT NULL,
    device_id          text        NOT NULL DEFAULT '',
    device_type        text        NOT NULL DEFAULT '',
    device_name        text        NOT NULL DEFAULT '',
    platform_version   text        NOT NULL DEFAULT '',
    push_token         text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    refresh_hash       bytea       NOT NULL,
    refreshed_at       timestamptz NOT NULL,
    refresh_expires_at timestamptz NOT NULL,
    prev_hash          bytea,
    prev_rotated_at    timestamptz
);
-- ListSessions: a user's sessions, oldest first.
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);
-- Cleanup finds expired rows by expiry.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every rotated (past) refresh token of a session, for reuse detection and
-- the grace interval. Deleting a session deletes its tokens.
CREATE TABLE refresh_tokens (
    session_id text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    hash       bytea       NOT NULL,
    rotated_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, hash)
);

-- Users, for a server without its own user table.
CREATE TABLE users (
    id         text        PRIMARY KEY,
    phone      text        NOT NULL UNIQUE,
    metadata   jsonb,
    created_at timestamptz NOT NULL
);

-- GCRA buckets of the Limiter: tat is the theoretical arrival time in
-- nanoseconds since the Unix epoch; allowed is the last decision (so that
-- one upsert can both decide and report). A bucket whose tat has passed is
-- full again, the same as no row, and Cleanup deletes it.
CREATE TABLE limiter_buckets (
    key     text    PRIMARY KEY,
    tat     bigint  NOT NULL,
    allowed boolean NOT NULL
);
