-- Attempt budgets shared by every process (public.rate_limits), one GCRA token bucket per key.

-- LimitTake takes one token from the bucket of key, or refuses, in one statement: concurrent
-- attempts on a key queue on its row (or on the insert of a new one), so the budget cannot be
-- overspent by sending attempts at once. every_secs is the time one token takes to come back,
-- window_secs is burst * every_secs. wait_secs is how long until a token is there again (0 when
-- allowed).
--
-- A bucket is its "theoretical arrival time" tat: each attempt let through moves it on by
-- every_secs (from now, if it lies in the past); an attempt is let through while tat stays
-- within window_secs of now. A missing row, or one whose tat has passed, is a full bucket:
-- purging such rows forgets nothing.
-- name: LimitTake :one
INSERT INTO public.rate_limits AS l (key, tat, allowed)
VALUES (sqlc.arg(key), now() + sqlc.arg(every_secs)::float8 * interval '1 second', true)
ON CONFLICT (key) DO UPDATE
SET allowed = greatest(l.tat, now()) + sqlc.arg(every_secs)::float8 * interval '1 second'
        <= now() + sqlc.arg(window_secs)::float8 * interval '1 second',
    tat = CASE
        WHEN greatest(l.tat, now()) + sqlc.arg(every_secs)::float8 * interval '1 second'
            <= now() + sqlc.arg(window_secs)::float8 * interval '1 second'
        THEN greatest(l.tat, now()) + sqlc.arg(every_secs)::float8 * interval '1 second'
        ELSE l.tat
    END
RETURNING allowed,
    (CASE WHEN allowed THEN 0
    ELSE extract(epoch FROM l.tat - now()) + sqlc.arg(every_secs)::float8 - sqlc.arg(window_secs)::float8
    END)::float8 AS wait_secs;

-- LimitRemember records key (a known client of an account) until now + ttl_secs, and refills
-- the bucket refill_key (the pair that just signed in), in one statement.
-- name: LimitRemember :exec
WITH refilled AS (
    DELETE FROM public.rate_limits AS r WHERE r.key = sqlc.arg(refill_key)
)
INSERT INTO public.rate_limits (key, tat, allowed)
VALUES (sqlc.arg(key), now() + sqlc.arg(ttl_secs)::float8 * interval '1 second', true)
ON CONFLICT (key) DO UPDATE SET tat = EXCLUDED.tat, allowed = true;

-- LimitKnown reports whether key is recorded and not yet expired.
-- name: LimitKnown :one
SELECT EXISTS (SELECT 1 FROM public.rate_limits WHERE key = @key AND tat > now()) AS known;

-- LimitPurge deletes up to max_rows expired rows (full buckets, known clients no longer known).
-- The outer tat test is checked again on a row that a concurrent LimitTake has just updated, so
-- a bucket taken from meanwhile is not deleted.
-- name: LimitPurge :execrows
DELETE FROM public.rate_limits
WHERE key IN (SELECT key FROM public.rate_limits WHERE tat <= now() LIMIT sqlc.arg(max_rows))
    AND tat <= now();
