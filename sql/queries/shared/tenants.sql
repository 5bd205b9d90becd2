-- The tenant registry. Shared tables are always written public.x: the pool's default
-- search_path is empty.

-- name: TenantGetByName :one
SELECT id, schema_name, display_name, status, created_at, deleted_at
FROM public.tenants
WHERE schema_name = @schema_name;

-- TenantList lists tenants with their domains (primary first), member count and the ledger's
-- record of their schema, for `toodoo tenant list` and the platform admin.
-- name: TenantList :many
SELECT sqlc.embed(t),
       coalesce(d.domain, '')::text                                       AS primary_domain,
       ARRAY(SELECT a.domain FROM public.domains a WHERE a.tenant_id = t.id
             ORDER BY a.is_primary DESC, a.domain)::text[]                AS domains,
       (SELECT count(*) FROM public.memberships m WHERE m.tenant_id = t.id) AS member_count,
       coalesce(l.applied_hash, '')::text                                 AS applied_hash,
       l.applied_at,
       coalesce(l.last_error, '')::text                                   AS last_error
FROM public.tenants t
LEFT JOIN public.domains d ON d.tenant_id = t.id AND d.is_primary
LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
WHERE sqlc.arg(include_deleted)::boolean OR t.status <> 'deleted'
ORDER BY t.schema_name;

-- TenantSetStatus moves a tenant between active and suspended; deleted tenants stay deleted.
-- name: TenantSetStatus :one
UPDATE public.tenants
SET status = @status
WHERE schema_name = @schema_name AND status <> 'deleted'
RETURNING id, schema_name, display_name, status, created_at, deleted_at;

-- name: TenantMarkDeleted :one
UPDATE public.tenants
SET status = 'deleted', deleted_at = now()
WHERE id = @id
RETURNING id, schema_name, display_name, status, created_at, deleted_at;

-- name: TenantDelete :exec
DELETE FROM public.tenants
WHERE id = @id;

-- TenantProvision writes everything the registry needs for a new tenant in one statement (one
-- round trip): the tenant row, its primary domain and its ledger row (the schema is created from
-- the template, so it is at the template's hash). The schema itself is made separately, and the
-- transaction ends with RegistryChanged (the version bump and the notification that tells every
-- process's host cache). It returns the whole tenant row, as the other tenant queries do. With
-- distributed (Citus mode) the ledger records the schema as distributed: the caller distributes
-- it in the same transaction.
-- name: TenantProvision :one
WITH t AS (
    INSERT INTO public.tenants (schema_name, display_name)
    VALUES (@schema_name, @display_name)
    RETURNING *
), d AS (
    INSERT INTO public.domains (domain, tenant_id, is_primary)
    SELECT @domain::text, t.id, true FROM t
), l AS (
    INSERT INTO public.schema_ledger (schema_name, applied_hash, applied_at, attempted_hash, distributed_at)
    SELECT t.schema_name, @applied_hash::text, now(), @applied_hash::text,
           CASE WHEN @distributed::boolean THEN now() END
    FROM t
    ON CONFLICT (schema_name) DO UPDATE
    SET applied_hash = excluded.applied_hash, fingerprint = NULL, applied_at = excluded.applied_at,
        last_error = NULL, last_error_at = NULL, attempted_hash = excluded.attempted_hash,
        distributed_at = excluded.distributed_at
)
SELECT t.*
FROM t;

-- TenantCountByStatus counts the tenants per status (active, suspended, deleted), for metrics.
-- name: TenantCountByStatus :many
SELECT status, count(*)::bigint AS tenants
FROM public.tenants
GROUP BY status
ORDER BY status;
-- TenantAdminPage is one page of the platform admin's tenant list: tenants that are not deleted,
-- whose name, display name or a domain contains @query (ILIKE, wildcards escaped by the caller),
-- of @status ('' for any) and schema state @state ('' for any), by name. The state rule is
-- migrate.SchemaState's, written in SQL so that the filter pages in the database (a test holds
-- the two together): failed when the ledger has an error, current when it records @desired,
-- behind otherwise. total is the number of matching tenants, on every row.
-- name: TenantAdminPage :many
SELECT sqlc.embed(t),
       p.primary_domain,
       (SELECT count(*) FROM public.domains a WHERE a.tenant_id = t.id)     AS domain_count,
       (SELECT count(*) FROM public.memberships m WHERE m.tenant_id = t.id) AS member_count,
       p.applied_hash, p.applied_at, p.last_error, p.last_error_at, p.total
FROM (
    -- The page first (the counts above are then computed for its rows only).
    SELECT t.id,
           coalesce(d.domain, '')::text        AS primary_domain,
           coalesce(l.applied_hash, '')::text  AS applied_hash,
           l.applied_at,
           coalesce(l.last_error, '')::text    AS last_error,
           l.last_error_at,
           count(*) OVER ()                    AS total
    FROM public.tenants t
    LEFT JOIN public.domains d ON d.tenant_id = t.id AND d.is_primary
    LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
    WHERE t.status <> 'deleted'
      AND (sqlc.arg(status)::text = '' OR t.status = sqlc.arg(status)::text)
      AND (sqlc.arg(query)::text = ''
           OR t.schema_name ILIKE '%' || sqlc.arg(query)::text || '%'
           OR t.display_name ILIKE '%' || sqlc.arg(query)::text || '%'
           OR EXISTS (SELECT 1 FROM public.domains a
                      WHERE a.tenant_id = t.id AND a.domain ILIKE '%' || sqlc.arg(query)::text || '%'))
      AND CASE sqlc.arg(state)::text
              WHEN '' THEN true
              WHEN 'failed' THEN coalesce(l.last_error, '') <> ''
              WHEN 'current' THEN coalesce(l.last_error, '') = '' AND l.applied_hash = sqlc.arg(desired)::text
              ELSE coalesce(l.last_error, '') = '' AND l.applied_hash IS DISTINCT FROM sqlc.arg(desired)::text
          END
    ORDER BY t.schema_name
    LIMIT sqlc.arg(page_size)::int OFFSET sqlc.arg(page_offset)::int
) p
JOIN public.tenants t ON t.id = p.id
ORDER BY t.schema_name;

-- TenantFleetSummary counts the tenants that are not deleted by status, applied hash and
-- whether the ledger has an error: few rows (one per status and schema version), which the
-- caller judges with migrate.SchemaState for the platform admin's summary.
-- name: TenantFleetSummary :many
SELECT t.status,
       coalesce(l.applied_hash, '')::text             AS applied_hash,
       (coalesce(l.last_error, '') <> '')::boolean     AS failed,
       count(*)                                       AS tenants
FROM public.tenants t
LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
WHERE t.status <> 'deleted'
GROUP BY 1, 2, 3;
