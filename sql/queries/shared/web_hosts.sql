-- Queries of the web server's host cache (web/host.go).

-- DomainResolveByTenant loads one tenant's hosts (none if it is deleted), to refresh the host
-- cache after a notification on toodoo_hosts whose payload is that tenant's id.
-- name: DomainResolveByTenant :many
SELECT d.domain, t.id, t.schema_name, t.display_name, t.status
FROM public.domains d
JOIN public.tenants t ON t.id = d.tenant_id
WHERE t.id = @tenant_id AND t.status <> 'deleted';
