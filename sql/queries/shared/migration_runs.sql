-- The fleet migrator's runs (public.migration_runs). The migrator runs in a CLI process that no
-- scraper sees, so each run leaves one row here, and every server reports the table's totals as
-- metrics (package metrics) at scrape time.

-- MigrationRunRecord records one run of migrate.Run that held the lock (dry runs leave none).
-- name: MigrationRunRecord :exec
INSERT INTO public.migration_runs (duration_seconds, outcome, schemas, applied, failed)
VALUES (@duration_seconds::float8, @outcome::text, @schemas::int, @applied::int, @failed::int);

-- MigrationRunTotals counts the runs per outcome, with their total duration and when the last
-- one ended. Runs are rare (one per deploy), so the table stays small and this stays cheap.
-- name: MigrationRunTotals :many
SELECT outcome,
       count(*)::bigint                          AS runs,
       coalesce(sum(duration_seconds), 0)::float8 AS seconds,
       max(finished_at)::timestamptz             AS last_finished_at
FROM public.migration_runs
GROUP BY outcome
ORDER BY outcome;

-- MigrationRunBuckets counts, per outcome and upper bound, the runs that took at most that long:
-- the cumulative buckets of a duration histogram.
-- name: MigrationRunBuckets :many
SELECT r.outcome,
       b.le::float8                                           AS le,
       count(*) FILTER (WHERE r.duration_seconds <= b.le)::bigint AS runs
FROM public.migration_runs r
CROSS JOIN unnest(@bounds::float8[]) AS b(le)
GROUP BY r.outcome, b.le
ORDER BY r.outcome, b.le;
