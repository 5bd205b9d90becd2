-- Domains lead hosts to tenants.

-- name: DomainInsert :one
INSERT INTO public.domains (domain, tenant_id, is_primary)
VALUES (@domain, @tenant_id, @is_primary)
RETURNING domain, tenant_id, is_primary, created_at;

-- name: DomainGet :one
SELECT domain, tenant_id, is_primary, created_at
FROM public.domains
WHERE domain = @domain;

-- name: DomainDelete :execrows
DELETE FROM public.domains
WHERE domain = @domain;

-- name: DomainDeleteByTenant :exec
DELETE FROM public.domains
WHERE tenant_id = @tenant_id;

-- name: DomainClearPrimary :exec
UPDATE public.domains
SET is_primary = false
WHERE tenant_id = @tenant_id AND is_primary;

-- name: DomainSetPrimary :exec
UPDATE public.domains
SET is_primary = true
WHERE domain = @domain;

-- name: DomainListByTenant :many
SELECT domain, tenant_id, is_primary, created_at
FROM public.domains
WHERE tenant_id = @tenant_id
ORDER BY is_primary DESC, domain;

-- DomainResolve finds the tenant behind one host name. The three DomainResolve queries make the
-- host map; each row embeds the whole tenant row with its schema's ledger state (web/gate.go), and deleted tenants (which have no domains
-- anyway) are skipped.
-- name: DomainResolve :one
SELECT d.domain, sqlc.embed(t),
       l.applied_hash AS ledger_applied_hash, l.previous_hash AS ledger_previous_hash, l.change_class AS ledger_change_class
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
WHERE d.domain = @domain AND t.status <> 'deleted';

-- DomainResolveAll loads the whole host map.
-- name: DomainResolveAll :many
SELECT d.domain, sqlc.embed(t),
       l.applied_hash AS ledger_applied_hash, l.previous_hash AS ledger_previous_hash, l.change_class AS ledger_change_class
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
WHERE t.status <> 'deleted';

-- DomainResolveByTenant loads one tenant's part of the host map (nothing if it is deleted): what
-- a notification on toodoo_hosts whose payload is that tenant's id asks a host map to reload.
-- name: DomainResolveByTenant :many
SELECT d.domain, sqlc.embed(t),
       l.applied_hash AS ledger_applied_hash, l.previous_hash AS ledger_previous_hash, l.change_class AS ledger_change_class
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
LEFT JOIN public.schema_ledger l ON l.schema_name = t.schema_name
WHERE t.id = @tenant_id AND t.status <> 'deleted';
