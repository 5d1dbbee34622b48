-- phoneauth pgstore, migration 4: limiter_allow_all and verify_challenge
-- with the same signatures and results, doing less work per call.
--
-- What a call cost (pg_stat_statements with track = all, perf on the
-- backends): limiter_allow_all ran two statements per key (an upsert, then
-- a read of an existing bucket), so a code request of six limits ran
-- fourteen statements inside its one; the statements of the functions that
-- take an array (key = ANY (…)) were planned again on every call, as a
-- custom plan for that array looked cheaper than the generic one; and a
-- verification wrote the phone's failed-verify budget bucket only to delete
-- it again when the code was right. Now:
--
-- * limiter_allow_all decides a batch of distinct keys (every batch of the
--   Authenticator) in one upsert that takes the keys in key order (the
--   lock order stays the same, see migrations 2 and 3): a missing bucket
--   is inserted with its event, an existing one locked and given its event
--   if it fits. A refusal then takes the recorded events back (prev_tat)
--   and deletes the inserted buckets. A batch that names a key twice goes
--   the way of migration 2, with its per-key statements made set-wise.
-- * Both functions run with plan_cache_mode = force_generic_plan: their
--   statements look rows up by primary key (key = x or key = ANY (…), never
--   a join that an empty table's plan would make a sequential scan), which
--   the generic plan does as well as any, so they are planned once per
--   connection.
-- * verify_challenge locks the challenge row (SELECT … FOR UPDATE, as the
--   attempt's update did) and then either deletes it, when the code is
--   right, or counts the attempt, when it is not: the right code's attempt
--   is not written only to be deleted. With the right code the
--   failed-verify budget is only read: a missing bucket is full and cannot
--   refuse, and an existing one is deleted when it allows the attempt,
--   which is what recording the event and then forgetting the budget did.
-- * Consuming the code, forgetting the budget, crediting the guard and
--   creating the user and the session are one statement. A user that
--   exists already is read, not rewritten: the insert does nothing on a
--   conflict, and the row is then read.
-- * The limits of the verification's address are an expression, not a
--   query of the function.
--
-- The lock order is that of migration 3: the address buckets (in key
-- order), the guard's buckets (in key order), the challenge row, then the
-- budget bucket.

-- prev_tat is a bucket's tat before the last event limiter_allow_all
-- recorded on it, so that a refused batch can take its events back.
ALTER TABLE limiter_buckets ADD COLUMN prev_tat bigint;

CREATE OR REPLACE FUNCTION limiter_allow_all(
    check_keys      text[],
    check_intervals bigint[],
    check_periods   bigint[],
    now_ns          bigint,
    OUT refused     integer,
    OUT retry_after bigint
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n       integer := cardinality(check_keys);
    keys    text[];   -- the distinct keys, sorted: the lock order
    pos     integer[] := '{}'; -- each check's key, as an index into keys
    tats    bigint[]; -- each key's tat before the batch (0, full, for a new bucket)
    created text[];   -- the keys whose buckets this call inserted
    changed text[];   -- the keys whose events this call recorded
    prevs   bigint[]; -- their tats before
    fits    bigint;
    simple  boolean := true;
BEGIN
    IF cardinality(check_intervals) <> n OR cardinality(check_periods) <> n THEN
        RAISE EXCEPTION 'limiter_allow_all: % keys, % intervals, % periods',
            n, cardinality(check_intervals), cardinality(check_periods);
    END IF;
    refused := 0;
    retry_after := 0;
    IF coalesce(n, 0) = 0 THEN
        RETURN;
    END IF;

    -- A batch of distinct keys, each check able to fit in a full bucket
    -- (interval <= period: every batch of the Limiter), is decided in one
    -- upsert. It takes the keys in key order, the lock order, one row
    -- after the other: a missing bucket is inserted with its event; an
    -- existing one is locked (DO UPDATE locks the row even when its WHERE
    -- is false) and, if its check fits, gets its event, its tat before
    -- kept in prev_tat. RETURNING names the rows inserted or changed: a
    -- key missing from it refused. Only then are the events taken back.
    FOR i IN 1 .. n LOOP
        simple := simple AND check_intervals[i] <= check_periods[i];
        FOR j IN 1 .. i - 1 LOOP
            simple := simple AND check_keys[i] <> check_keys[j];
        END LOOP;
    END LOOP;
    IF simple THEN
        WITH up AS (
            INSERT INTO limiter_buckets AS b (key, tat, allowed)
            SELECT c.k, now_ns + c.iv, true
            FROM unnest(check_keys, check_intervals) AS c(k, iv)
            ORDER BY c.k
            ON CONFLICT (key) DO UPDATE
            SET prev_tat = b.tat, allowed = true,
                tat = greatest(b.tat, now_ns) + check_intervals[array_position(check_keys, b.key)]
            WHERE greatest(b.tat, now_ns) + check_intervals[array_position(check_keys, b.key)]
                - check_periods[array_position(check_keys, b.key)] <= now_ns
            RETURNING b.key, b.prev_tat
        )
        SELECT coalesce(array_agg(up.key) FILTER (WHERE up.prev_tat IS NULL), '{}'),
            coalesce(array_agg(up.key) FILTER (WHERE up.prev_tat IS NOT NULL), '{}'),
            coalesce(array_agg(up.prev_tat) FILTER (WHERE up.prev_tat IS NOT NULL), '{}')
        INTO created, changed, prevs
        FROM up;
        IF cardinality(created) + cardinality(changed) = n THEN
            RETURN;
        END IF;
        -- Refused: the first check whose key was neither inserted nor
        -- changed; its bucket is locked and as it was.
        FOR i IN 1 .. n LOOP
            IF NOT (check_keys[i] = ANY (created) OR check_keys[i] = ANY (changed)) THEN
                SELECT greatest(b.tat, now_ns) + check_intervals[i] - check_periods[i] INTO fits
                FROM limiter_buckets AS b WHERE b.key = check_keys[i];
                refused := i;
                retry_after := fits - now_ns;
                EXIT;
            END IF;
        END LOOP;
        IF cardinality(created) > 0 THEN
            DELETE FROM limiter_buckets WHERE key = ANY (created);
        END IF;
        IF cardinality(changed) > 0 THEN
            UPDATE limiter_buckets AS b SET tat = prevs[array_position(changed, b.key)]
            WHERE b.key = ANY (changed);
        END IF;
        RETURN;
    END IF;

    -- Any other batch (a key named by several checks): as in migration 2,
    -- in four steps.
    SELECT array_agg(DISTINCT u.k ORDER BY u.k) INTO keys FROM unnest(check_keys) AS u(k);
    FOR i IN 1 .. n LOOP
        pos := pos || array_position(keys, check_keys[i]);
    END LOOP;
    tats := array_fill(0::bigint, ARRAY[cardinality(keys)]);

    -- 1. Lock every key's bucket, in key order, in one upsert: a missing
    -- bucket is inserted as the batch would leave it (a new bucket is
    -- full, so its checks cannot refuse); an existing one is locked and
    -- left as it is.
    WITH ins AS (
        INSERT INTO limiter_buckets AS b (key, tat, allowed)
        SELECT u.k, u.t, true
        FROM unnest(keys, limiter_record(tats, pos, check_intervals, check_periods, now_ns)) AS u(k, t)
        ORDER BY u.k
        ON CONFLICT (key) DO UPDATE SET allowed = true WHERE false
        RETURNING b.key
    )
    SELECT coalesce(array_agg(ins.key), '{}') INTO created FROM ins;

    -- 2. Read the existing buckets, locked by step 1, so as they are now.
    IF cardinality(created) < cardinality(keys) THEN
        SELECT array_agg(CASE WHEN b.key = ANY (created) THEN 0 ELSE b.tat END
            ORDER BY array_position(keys, b.key)) INTO tats
        FROM limiter_buckets AS b WHERE b.key = ANY (keys);
    END IF;

    -- 3. Decide every check, in order, on the buckets as they were before
    -- the batch. At the first refusal the buckets step 1 inserted are
    -- deleted again: a refused batch leaves the table as it found it.
    FOR i IN 1 .. n LOOP
        fits := greatest(tats[pos[i]], now_ns) + check_intervals[i] - check_periods[i];
        IF fits > now_ns THEN
            IF cardinality(created) > 0 THEN
                DELETE FROM limiter_buckets WHERE key = ANY (created);
            END IF;
            refused := i;
            retry_after := fits - now_ns;
            RETURN;
        END IF;
    END LOOP;

    -- 4. Allowed: record the events on the buckets that existed (a later
    -- check of a repeated key records its event only if it still fits).
    IF cardinality(created) < cardinality(keys) THEN
        tats := limiter_record(tats, pos, check_intervals, check_periods, now_ns);
        UPDATE limiter_buckets AS b SET tat = tats[array_position(keys, b.key)], allowed = true
        WHERE b.key = ANY (keys) AND NOT (b.key = ANY (created));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION verify_challenge(
    ch_key               text,
    ch_id                text,
    now_ts               timestamptz,
    now_ns               bigint,
    addr_keys            text[],
    addr_intervals       bigint[],
    addr_periods         bigint[],
    budget_key           text,
    budget_interval      bigint,
    budget_period        bigint,
    code_hashes          bytea[],
    credit_keys          text[],
    credit_steps         bigint[],
    signup               integer,
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
    OUT outcome          text,
    OUT refused          integer,
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
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    ch    challenges%ROWTYPE;
    lim        record;
    code_ok    boolean;
    budget_tat bigint;
    fits       bigint;
BEGIN
    refused := 0;
    retry_after := 0;
    IF cardinality(addr_keys) > 0 THEN
        lim := limiter_allow_all(addr_keys, addr_intervals, addr_periods, now_ns);
        refused := lim.refused;
        retry_after := lim.retry_after;
        IF refused > 0 THEN
            outcome := 'refused';
            RETURN;
        END IF;
    END IF;
    IF cardinality(credit_keys) > 0 THEN
        PERFORM 1 FROM limiter_buckets WHERE key = ANY (credit_keys) ORDER BY key FOR UPDATE;
    END IF;

    -- The attempt: the row lock queues concurrent verifications, each
    -- re-checking the row the previous one left (READ COMMITTED re-reads
    -- a locked row), as the update of migration 3 did.
    SELECT * INTO ch FROM challenges
    WHERE key = ch_key AND (ch_id = '' OR id = ch_id) AND expires_at > now_ts AND attempts < max_attempts
    FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'none';
        RETURN;
    END IF;
    ch.attempts := ch.attempts + 1;
    c_id := ch.id; c_phone := ch.phone; c_user_id := ch.user_id; c_channel := ch.channel;
    c_attempts := ch.attempts; c_max_attempts := ch.max_attempts; c_create_user := ch.create_user;
    c_metadata := ch.metadata; c_created_at := ch.created_at; c_expires_at := ch.expires_at;

    -- The MACs cannot be computed without the server's secret, so the
    -- time this comparison takes tells nothing about the code.
    code_ok := ch.code_hash = ANY (code_hashes);

    -- The failed-verify budget. A wrong code records its event; a right
    -- one only needs the decision, since a verified code forgets the
    -- budget: a missing bucket is full and allows it.
    IF budget_key <> '' AND NOT code_ok THEN
        lim := limiter_allow_all(ARRAY[budget_key], ARRAY[budget_interval], ARRAY[budget_period], now_ns);
        refused := lim.refused;
        retry_after := lim.retry_after;
    ELSIF budget_key <> '' THEN
        SELECT b.tat INTO budget_tat FROM limiter_buckets AS b WHERE b.key = budget_key FOR UPDATE;
        fits := greatest(budget_tat, now_ns) + budget_interval - budget_period;
        IF fits > now_ns THEN
            refused := 1;
            retry_after := fits - now_ns;
        END IF;
    END IF;
    IF refused > 0 OR NOT code_ok THEN
        -- The attempt stays counted.
        UPDATE challenges SET attempts = ch.attempts WHERE key = ch_key;
        IF refused > 0 THEN
            refused := coalesce(cardinality(addr_keys), 0) + 1;
            outcome := 'refused';
        ELSE
            outcome := 'wrong';
        END IF;
        RETURN;
    END IF;

    -- Verified, in one statement: consume the code (its row is locked by
    -- this call), forget the budget, give the guard its events back and,
    -- as CreateUser does, create the user with the session, unless the
    -- phone has a user already (then its row is read, not rewritten).
    WITH consumed AS (
        DELETE FROM challenges WHERE key = ch_key
    ), forgotten AS (
        DELETE FROM limiter_buckets WHERE key = budget_key AND budget_tat IS NOT NULL
    ), credited AS (
        UPDATE limiter_buckets AS b SET tat = greatest(b.tat - credit_steps[array_position(credit_keys, b.key)], now_ns)
        WHERE b.key = ANY (credit_keys) AND b.tat > now_ns
    ), u AS (
        INSERT INTO users (id, phone, metadata, created_at)
        SELECT new_user_id, ch.phone, ch.metadata, user_created_at
        WHERE signup = 0 OR (signup = 1 AND ch.create_user)
        ON CONFLICT (phone) DO NOTHING
        RETURNING id, phone, created_at
    ), s AS (
        INSERT INTO sessions (id, user_id, phone, device_id, device_type, device_name, platform_version,
            push_token, created_at, expires_at, refresh_hash, refreshed_at, refresh_expires_at)
        SELECT s_id, u.id, u.phone, s_device_id, s_device_type, s_device_name, s_platform_version,
            s_push_token, now_ts, s_expires_at, s_refresh_hash, now_ts, s_refresh_expires_at
        FROM u
    )
    SELECT u.id, u.phone, u.created_at INTO u_id, u_phone, u_created_at FROM u;
    IF FOUND THEN
        outcome := 'ok';
        RETURN;
    END IF;

    SELECT u.id, u.phone, u.created_at INTO u_id, u_phone, u_created_at
    FROM users AS u WHERE u.phone = ch.phone;
    IF NOT FOUND AND (signup = 0 OR (signup = 1 AND ch.create_user)) THEN
        -- The user that conflicted was deleted meanwhile.
        INSERT INTO users (id, phone, metadata, created_at)
        VALUES (new_user_id, ch.phone, ch.metadata, user_created_at)
        ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone
        RETURNING id, phone, created_at INTO u_id, u_phone, u_created_at;
    ELSIF NOT FOUND THEN
        outcome := 'nouser'; -- the code stays consumed
        RETURN;
    END IF;

    INSERT INTO sessions (id, user_id, phone, device_id, device_type, device_name, platform_version,
        push_token, created_at, expires_at, refresh_hash, refreshed_at, refresh_expires_at)
    VALUES (s_id, u_id, u_phone, s_device_id, s_device_type, s_device_name, s_platform_version,
        s_push_token, now_ts, s_expires_at, s_refresh_hash, now_ts, s_refresh_expires_at);
    outcome := 'ok';
END
$$;
