-- phoneauth pgstore, migration 2: limiter_allow_all, the Limiter's
-- AllowAll (all the limits of a request, all or nothing) in one call, so
-- that it costs one statement.
--
-- Why a function: the decision needs every bucket of the batch locked
-- first, including buckets that do not exist yet, and one plain statement
-- cannot do that. A missing row cannot be locked with SELECT … FOR UPDATE,
-- so two batches could both find a new key's bucket full; and the rows a
-- CTE inserts are invisible to the rest of its statement, which reads one
-- snapshot. In PL/pgSQL each statement sees what the previous ones did.
--
-- Times are nanoseconds since the Unix epoch on the caller's clock, as in
-- the Limiter's Allow. limiter_allow_all runs with the search_path of this
-- migration (the store's schema), whatever the caller's.

-- limiter_record records one event per check, in order, on buckets given
-- by their tats: check i is on bucket pos[i], with emission interval
-- intervals[i] and period periods[i]. An event is recorded only if it
-- fits, as in Allow's GCRA: when the bucket's tat, or now if that has
-- passed, pushed one interval on, is at most one period ahead of now. It
-- returns the tats after the events.
CREATE FUNCTION limiter_record(tats bigint[], pos integer[], intervals bigint[], periods bigint[], now_ns bigint)
RETURNS bigint[]
LANGUAGE plpgsql
IMMUTABLE
AS $$
DECLARE
    base bigint;
BEGIN
    FOR i IN 1 .. cardinality(pos) LOOP
        base := greatest(tats[pos[i]], now_ns);
        IF base + intervals[i] - periods[i] <= now_ns THEN
            tats[pos[i]] := base + intervals[i];
        END IF;
    END LOOP;
    RETURN tats;
END
$$;

-- limiter_allow_all records one event per check if every check allows it,
-- and nothing otherwise. It returns the first check that refused, from 1
-- (0 if none), and how long until that check allows an event.
CREATE FUNCTION limiter_allow_all(
    check_keys      text[],   -- each check's key, in the caller's order
    check_intervals bigint[], -- each check's emission interval (period / events)
    check_periods   bigint[], -- each check's period
    now_ns          bigint,
    OUT refused     integer,
    OUT retry_after bigint
)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    n        integer := cardinality(check_keys);
    keys     text[];            -- the distinct keys, sorted: the lock order
    pos      integer[] := '{}'; -- each check's key, as an index into keys
    tats     bigint[];          -- each key's tat before the batch (0, full, for a new bucket)
    fresh    bigint[];          -- each key's tat after the batch, were its bucket new
    created  text[] := '{}';    -- the keys whose buckets this call inserted
    existing text[] := '{}';    -- the others
    t        bigint;
    fits     bigint;
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
    SELECT array_agg(DISTINCT u.k ORDER BY u.k) INTO keys FROM unnest(check_keys) AS u(k);
    FOR i IN 1 .. n LOOP
        pos := pos || array_position(keys, check_keys[i]);
    END LOOP;
    tats := array_fill(0::bigint, ARRAY[cardinality(keys)]);
    fresh := limiter_record(tats, pos, check_intervals, check_periods, now_ns);

    -- 1. Lock every key's bucket, one key after the other in key order:
    -- concurrent batches lock in the same order, so they queue instead of
    -- deadlocking (Allow and Reset lock a single row, Cleanup skips locked
    -- rows). The upsert either inserts a missing bucket, already as the
    -- batch would leave it (a new bucket is full, so its checks cannot
    -- refuse), or locks the existing row without changing it (DO UPDATE
    -- locks the row even when its WHERE is false) and then reads its tat:
    -- as the row is locked, no one can change it until this transaction
    -- ends. A concurrent insert of the same key makes the upsert wait for
    -- that transaction. Either way each bucket is written once.
    FOR j IN 1 .. cardinality(keys) LOOP
        INSERT INTO limiter_buckets AS b (key, tat, allowed) VALUES (keys[j], fresh[j], true)
        ON CONFLICT (key) DO UPDATE SET allowed = true WHERE false;
        IF FOUND THEN
            created := created || keys[j];
        ELSE
            SELECT b.tat INTO t FROM limiter_buckets AS b WHERE b.key = keys[j];
            tats[j] := t;
            existing := existing || keys[j];
        END IF;
    END LOOP;

    -- 2. Decide every check, in order, on the buckets as they were before
    -- the batch. At the first refusal the buckets step 1 inserted are
    -- deleted again: a refused batch leaves the table as it found it.
    FOR i IN 1 .. n LOOP
        fits := greatest(tats[pos[i]], now_ns) + check_intervals[i] - check_periods[i];
        IF fits > now_ns THEN
            DELETE FROM limiter_buckets WHERE key = ANY (created);
            refused := i;
            retry_after := fits - now_ns;
            RETURN;
        END IF;
    END LOOP;

    -- 3. Allowed: record the events on the buckets that existed. A key
    -- named by several checks was decided above on its bucket as it was,
    -- so a later check of it records its event only if that still fits
    -- (limiter_record): no bucket goes over its limit, as in the
    -- MemoryLimiter.
    IF cardinality(existing) > 0 THEN
        tats := limiter_record(tats, pos, check_intervals, check_periods, now_ns);
        UPDATE limiter_buckets SET tat = tats[array_position(keys, key)], allowed = true
        WHERE key = ANY (existing);
    END IF;
END
$$;
