-- The tenant registry. Shared tables are always written public.x: the pool's default
-- search_path is empty.

-- name: TenantInsert :one
INSERT INTO public.tenants (schema_name, display_name)
VALUES (@schema_name, @display_name)
RETURNING id, schema_name, display_name, status, created_at, deleted_at;

-- name: TenantGetByName :one
SELECT id, schema_name, display_name, status, created_at, deleted_at
FROM public.tenants
WHERE schema_name = @schema_name;

-- name: TenantGetByID :one
SELECT id, schema_name, display_name, status, created_at, deleted_at
FROM public.tenants
WHERE id = @id;

-- TenantList lists tenants with their primary domain, member count and migration state, for
-- `toodoo tenant list` and the platform admin.
-- name: TenantList :many
SELECT t.id, t.schema_name, t.display_name, t.status, t.created_at, t.deleted_at,
       coalesce(d.domain, '')::text                                       AS primary_domain,
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

-- name: TenantNotify :exec
SELECT pg_notify('toodoo_hosts', @payload::text);
