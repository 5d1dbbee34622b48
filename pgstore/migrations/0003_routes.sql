-- phoneauth pgstore, migration 3: verify_challenge, the whole backend work
-- of a sign-in verification (phoneauth.RouteStore.VerifyChallenge) in one
-- call: one statement, one transaction, one WAL flush, instead of one per
-- step. An error anywhere rolls the whole call back.
--
-- Lock order, the same as every other writer's so that none deadlocks:
-- the address buckets (in key order, limiter_allow_all), the conversion
-- guard's buckets (in key order, as the Limiter's RefundAll), then the
-- challenge row, then the phone's failed-verify budget bucket. A code
-- request locks its buckets (in key order; the guard's among them) before
-- its challenge row, and locks no budget or address bucket of a
-- verification.
--
-- Times: now_ts for the tables' timestamptz columns, now_ns for the
-- limiter's buckets, both the caller's clock.
CREATE FUNCTION verify_challenge(
    ch_key               text,
    ch_id                text,     -- '' for any
    now_ts               timestamptz,
    now_ns               bigint,
    addr_keys            text[],   -- the per-address checks, as limiter_allow_all's
    addr_intervals       bigint[],
    addr_periods         bigint[],
    budget_key           text,     -- '' when the failed-verify budget is off
    budget_interval      bigint,
    budget_period        bigint,
    code_hashes          bytea[],  -- the typed code's MACs under each secret
    credit_keys          text[],   -- the guard's buckets, given one event back
    credit_steps         bigint[],
    signup               integer,  -- 0 create users, 1 only if the code asked, 2 never
    new_user_id          text,
    user_created_at      timestamptz,
    s_id                 text,
    s_device_id          text,
    s_device_type        text,
    s_device_name        text,
    s_platform_version   text,
    s_push_token         text,
    s_expires_at         timestamptz,
    s_refresh_hash       bytea,
    s_refresh_expires_at timestamptz,
    OUT outcome          text,     -- refused, none, wrong, nouser or ok
    OUT refused          integer,  -- from 1: the address checks, then the budget
    OUT retry_after      bigint,
    OUT c_id             text,
    OUT c_phone          text,
    OUT c_user_id        text,
    OUT c_channel        text,
    OUT c_attempts       integer,
    OUT c_max_attempts   integer,
    OUT c_create_user    boolean,
    OUT c_metadata       jsonb,
    OUT c_created_at     timestamptz,
    OUT c_expires_at     timestamptz,
    OUT u_id             text,
    OUT u_phone          text,
    OUT u_created_at     timestamptz
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    ch challenges%ROWTYPE;
BEGIN
    refused := 0;
    retry_after := 0;
    IF cardinality(addr_keys) > 0 THEN
        SELECT r.refused, r.retry_after INTO refused, retry_after
        FROM limiter_allow_all(addr_keys, addr_intervals, addr_periods, now_ns) AS r;
        IF refused > 0 THEN
            outcome := 'refused';
            RETURN;
        END IF;
    END IF;
    PERFORM 1 FROM limiter_buckets WHERE key = ANY (credit_keys) ORDER BY key FOR UPDATE;

    -- The attempt, as AttemptChallenge: the row lock queues concurrent
    -- verifications, each re-checking the row the previous one left.
    UPDATE challenges SET attempts = attempts + 1
    WHERE key = ch_key AND (ch_id = '' OR id = ch_id) AND expires_at > now_ts AND attempts < max_attempts
    RETURNING * INTO ch;
    IF NOT FOUND THEN
        outcome := 'none';
        RETURN;
    END IF;
    c_id := ch.id; c_phone := ch.phone; c_user_id := ch.user_id; c_channel := ch.channel;
    c_attempts := ch.attempts; c_max_attempts := ch.max_attempts; c_create_user := ch.create_user;
    c_metadata := ch.metadata; c_created_at := ch.created_at; c_expires_at := ch.expires_at;

    IF budget_key <> '' THEN
        SELECT r.refused, r.retry_after INTO refused, retry_after
        FROM limiter_allow_all(ARRAY[budget_key], ARRAY[budget_interval], ARRAY[budget_period], now_ns) AS r;
        IF refused > 0 THEN
            refused := coalesce(cardinality(addr_keys), 0) + 1;
            outcome := 'refused';
            RETURN; -- the attempt stays counted
        END IF;
    END IF;

    -- The MACs cannot be computed without the server's secret, so the
    -- time this comparison takes tells nothing about the code.
    IF NOT (ch.code_hash = ANY (code_hashes)) THEN
        outcome := 'wrong';
        RETURN;
    END IF;

    -- Verified: consume the code (its row is locked by this call), forget
    -- the budget, give the guard its events back.
    DELETE FROM challenges WHERE key = ch_key;
    DELETE FROM limiter_buckets WHERE key = budget_key;
    UPDATE limiter_buckets AS b SET tat = greatest(b.tat - r.step, now_ns)
    FROM unnest(credit_keys, credit_steps) AS r(key, step)
    WHERE b.key = r.key AND b.tat > now_ns;

    IF signup = 0 OR (signup = 1 AND ch.create_user) THEN
        -- As CreateUser: a concurrent signup's row is locked and returned.
        INSERT INTO users (id, phone, metadata, created_at)
        VALUES (new_user_id, ch.phone, ch.metadata, user_created_at)
        ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone
        RETURNING id, phone, created_at INTO u_id, u_phone, u_created_at;
    ELSE
        SELECT u.id, u.phone, u.created_at INTO u_id, u_phone, u_created_at
        FROM users AS u WHERE u.phone = ch.phone;
        IF NOT FOUND THEN
            outcome := 'nouser'; -- the code stays consumed
            RETURN;
        END IF;
    END IF;

    INSERT INTO sessions (id, user_id, phone, device_id, device_type, device_name, platform_version,
        push_token, created_at, expires_at, refresh_hash, refreshed_at, refresh_expires_at)
    VALUES (s_id, u_id, u_phone, s_device_id, s_device_type, s_device_name, s_platform_version,
        s_push_token, now_ts, s_expires_at, s_refresh_hash, now_ts, s_refresh_expires_at);
    outcome := 'ok';
END
$$;
