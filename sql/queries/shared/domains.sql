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

-- DomainResolve finds the tenant behind a host name (deleted tenants have no domains).
-- name: DomainResolve :one
SELECT d.domain, t.id, t.schema_name, t.display_name, t.status
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
WHERE d.domain = @domain AND t.status <> 'deleted';

-- DomainResolveAll loads the whole host map, for the in-memory cache.
-- name: DomainResolveAll :many
SELECT d.domain, t.id, t.schema_name, t.display_name, t.status
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
WHERE t.status <> 'deleted';
