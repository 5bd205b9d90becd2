-- The fleet migrator's ledger (public.schema_ledger): per schema, the desired state last
-- applied and the last error.

-- LedgerRecordApplied records that schema_name now has the desired state named applied_hash,
-- reached by a change of class change_class ('additive' or 'breaking', see migrate.classify).
-- When the hash moves, the hash it moved from is kept as previous_hash with the class, so that a
-- process built for previous_hash can tell that the schema is ahead of it by an additive change
-- (web/gate.go). For a tenant's schema it also bumps the registry's version and notifies
-- toodoo_hosts with the tenant's id, as RegistryChanged does, so that every host map (which
-- carries each tenant's ledger state) follows a migration within its staleness bound. The bump
-- comes last in the transaction (the migrator's apply), so its row lock is held only until the
-- commit. With quiet set it bumps the version without notifying: the migrator announces the
-- schemas it applies together, at most once a second (RegistryChangedAll), instead of one
-- notification, and one host-map query in every server, per tenant; a host map that misses the
-- announcement (the migrator killed before it) still finds the version moved within its
-- reconcile interval.
-- name: LedgerRecordApplied :exec
WITH l AS (
    INSERT INTO public.schema_ledger AS o (schema_name, applied_hash, fingerprint, applied_at, last_error, last_error_at, attempted_hash, change_class)
    VALUES (@schema_name, @applied_hash::text, sqlc.narg(fingerprint), now(), NULL, NULL, @applied_hash::text, NULLIF(sqlc.narg(change_class)::text, ''))
    ON CONFLICT (schema_name) DO UPDATE
    SET applied_hash = excluded.applied_hash,
        fingerprint = excluded.fingerprint,
        applied_at = excluded.applied_at,
        last_error = NULL,
        last_error_at = NULL,
        attempted_hash = excluded.attempted_hash,
        previous_hash = CASE WHEN o.applied_hash IS DISTINCT FROM excluded.applied_hash THEN o.applied_hash ELSE o.previous_hash END,
        change_class = CASE WHEN o.applied_hash IS DISTINCT FROM excluded.applied_hash THEN excluded.change_class ELSE o.change_class END
    RETURNING o.schema_name
), v AS (
    INSERT INTO public.registry_version AS r (id, version)
    SELECT true, 1 FROM public.tenants t WHERE t.schema_name = @schema_name
    ON CONFLICT (id) DO UPDATE SET version = r.version + 1
    RETURNING r.version
)
SELECT pg_notify('toodoo_hosts', t.id || ' ' || v.version)
FROM v, public.tenants t
WHERE t.schema_name = @schema_name AND NOT @quiet::boolean;

-- name: LedgerDelete :exec
DELETE FROM public.schema_ledger
WHERE schema_name = @schema_name;

-- LedgerFleet lists every schema the fleet migrator manages, "public" first and then every
-- tenant that is not deleted, each with its ledger row if it has one. It is the one query behind
-- `toodoo migrate status --json` and behind a run's decision of what is due (a run reads it only
-- when the counts of its first round trip, migrate/check.go, say that something is).
-- name: LedgerFleet :many
SELECT s.schema_name, s.tenant_status,
       l.applied_hash, l.fingerprint, l.applied_at, l.last_error, l.last_error_at, l.attempted_hash,
       l.previous_hash, l.change_class, l.distributed_at
FROM (
    SELECT 'public'::text AS schema_name, ''::text AS tenant_status, 0 AS ord
    UNION ALL
    SELECT t.schema_name, t.status, 1 FROM public.tenants t WHERE t.status <> 'deleted'
) s
LEFT JOIN public.schema_ledger l ON l.schema_name = s.schema_name
ORDER BY s.ord, s.schema_name;

-- LedgerFleetTable is LedgerFleet with only what `toodoo migrate status` prints as a table: half
-- the columns, and the bigger ones left out (with 10,000 tenants, a third of the bytes to send,
-- decode and keep).
-- name: LedgerFleetTable :many
SELECT s.schema_name, s.tenant_status, l.applied_hash, l.applied_at, l.last_error
FROM (
    SELECT 'public'::text AS schema_name, ''::text AS tenant_status, 0 AS ord
    UNION ALL
    SELECT t.schema_name, t.status, 1 FROM public.tenants t WHERE t.status <> 'deleted'
) s
LEFT JOIN public.schema_ledger l ON l.schema_name = s.schema_name
ORDER BY s.ord, s.schema_name;

-- LedgerRecordAppliedMany is LedgerRecordApplied for schemas found already in the desired state
-- (no statement was needed), all with the same catalog fingerprint: one statement for a group.
-- Nothing changed in them, so a hash that moves moves by an additive change. When any of them is
-- a tenant's, the registry's version is bumped once and toodoo_hosts notified without a tenant id
-- (every host map reloads whole: one reload for the group).
-- name: LedgerRecordAppliedMany :exec
WITH l AS (
    INSERT INTO public.schema_ledger AS o (schema_name, applied_hash, fingerprint, applied_at, last_error, last_error_at, attempted_hash, change_class)
    SELECT n.name, @applied_hash::text, sqlc.narg(fingerprint)::text, now(), NULL, NULL, @applied_hash::text, 'additive'
    FROM unnest(@schema_names::text[]) AS n(name)
    ON CONFLICT (schema_name) DO UPDATE
    SET applied_hash = excluded.applied_hash,
        fingerprint = excluded.fingerprint,
        applied_at = excluded.applied_at,
        last_error = NULL,
        last_error_at = NULL,
        attempted_hash = excluded.attempted_hash,
        previous_hash = CASE WHEN o.applied_hash IS DISTINCT FROM excluded.applied_hash THEN o.applied_hash ELSE o.previous_hash END,
        change_class = CASE WHEN o.applied_hash IS DISTINCT FROM excluded.applied_hash THEN excluded.change_class ELSE o.change_class END
    RETURNING o.schema_name
), v AS (
    INSERT INTO public.registry_version AS r (id, version)
    SELECT true, 1 WHERE EXISTS (SELECT 1 FROM public.tenants t WHERE t.schema_name = ANY (@schema_names::text[]))
    ON CONFLICT (id) DO UPDATE SET version = r.version + 1
    RETURNING r.version
)
SELECT pg_notify('toodoo_hosts', ' ' || v.version)
FROM v;

-- LedgerRecordError records that applying the state attempted_hash to the named schemas failed
-- (applied_hash, the last state that succeeded, stays). Schemas whose tenant is gone in the
-- meantime are skipped, so that a tenant deleted during a run leaves no ledger row behind.
-- name: LedgerRecordError :exec
INSERT INTO public.schema_ledger (schema_name, last_error, last_error_at, attempted_hash)
SELECT n.name, @last_error::text, now(), @attempted_hash::text
FROM unnest(@schema_names::text[]) AS n(name)
WHERE n.name = 'public' OR EXISTS (SELECT 1 FROM public.tenants t WHERE t.schema_name = n.name)
ON CONFLICT (schema_name) DO UPDATE
SET last_error = excluded.last_error,
    last_error_at = excluded.last_error_at,
    attempted_hash = excluded.attempted_hash;

-- LedgerSetFingerprint records the catalog fingerprint that schemas just brought to the state
-- applied_hash were found to have (checked after a group's transactions, in one query).
-- name: LedgerSetFingerprint :exec
UPDATE public.schema_ledger
SET fingerprint = @fingerprint::text
WHERE schema_name = ANY (@schema_names::text[]) AND applied_hash = @applied_hash::text;

-- LedgerCounts counts the schemas LedgerFleet lists ("public" and every tenant that is not
-- deleted) per applied hash and whether the last attempt failed, for metrics: the caller judges
-- each group with migrate.SchemaState, so the states agree with `toodoo migrate status`. There
-- are as many groups as hashes in the fleet (a handful), whatever the number of tenants.
-- name: LedgerCounts :many
SELECT s.schema_name = 'public'                 AS shared,
       coalesce(l.applied_hash, '')::text       AS applied_hash,
       coalesce(l.last_error, '') <> ''         AS failed,
       count(*)::bigint                         AS schemas
FROM (
    SELECT 'public'::text AS schema_name
    UNION ALL
    SELECT t.schema_name FROM public.tenants t WHERE t.status <> 'deleted'
) s
LEFT JOIN public.schema_ledger l ON l.schema_name = s.schema_name
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
-- LedgerRecentApplied lists the latest migrations the ledger records, newest first, of "public"
-- and of tenants that are not deleted (spare schemas are left out), for the platform admin.
-- name: LedgerRecentApplied :many
SELECT l.schema_name, coalesce(l.applied_hash, '')::text AS applied_hash, l.applied_at,
       coalesce(l.change_class, '')::text AS change_class
FROM public.schema_ledger l
LEFT JOIN public.tenants t ON t.schema_name = l.schema_name
WHERE l.applied_at IS NOT NULL AND (l.schema_name = 'public' OR t.status <> 'deleted')
ORDER BY l.applied_at DESC, l.schema_name
LIMIT sqlc.arg(lim)::int;

-- LedgerRecentFailures lists the schemas whose last migration failed, latest failure first, as
-- LedgerRecentApplied does.
-- name: LedgerRecentFailures :many
SELECT l.schema_name, l.last_error::text AS last_error, l.last_error_at
FROM public.schema_ledger l
LEFT JOIN public.tenants t ON t.schema_name = l.schema_name
WHERE coalesce(l.last_error, '') <> '' AND (l.schema_name = 'public' OR t.status <> 'deleted')
ORDER BY l.last_error_at DESC NULLS LAST, l.schema_name
LIMIT sqlc.arg(lim)::int;

-- LedgerMarkDistributed records that a tenant's schema is now a Citus distributed schema (the
-- migrator distributes tenants made before Citus mode, tenancy.Create records its own). It writes
-- nothing for a schema whose tenant is gone, and keeps the first time recorded.
-- name: LedgerMarkDistributed :exec
INSERT INTO public.schema_ledger AS l (schema_name, distributed_at)
SELECT t.schema_name, now()
FROM public.tenants t
WHERE t.schema_name = @schema_name
ON CONFLICT (schema_name) DO UPDATE
SET distributed_at = coalesce(l.distributed_at, excluded.distributed_at);
