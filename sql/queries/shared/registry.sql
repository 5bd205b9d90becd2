-- The registry's version (public.registry_version, one row): a counter bumped by every change of
-- tenants or domains, in the same transaction as the change, so that a server whose host map was
-- loaded at an older version knows it is stale without LISTEN (web/host.go reads it every 2 s).

-- RegistryChanged bumps the version and tells every listening process which tenant changed and
-- the version it made (payload: "<tenant id> <version>"; delivered at commit). Every transaction that changes tenants or domains
-- calls it, last, so that the row lock is held only until the commit.
-- name: RegistryChanged :exec
WITH v AS (
    INSERT INTO public.registry_version AS r (id, version)
    VALUES (true, 1)
    ON CONFLICT (id) DO UPDATE SET version = r.version + 1
    RETURNING r.version
)
SELECT pg_notify('toodoo_hosts', @tenant_id::bigint || ' ' || v.version)
FROM v;

-- RegistryChangedAll bumps the version and notifies without a tenant id: every host map reloads
-- whole. The migrator announces with it the ledger rows it recorded quietly (LedgerRecordApplied,
-- which bumped the version already; this bumps it once more, harmlessly).
-- name: RegistryChangedAll :exec
WITH v AS (
    INSERT INTO public.registry_version AS r (id, version)
    VALUES (true, 1)
    ON CONFLICT (id) DO UPDATE SET version = r.version + 1
    RETURNING r.version
)
SELECT pg_notify('toodoo_hosts', ' ' || v.version)
FROM v;

-- name: RegistryVersion :one
SELECT coalesce((SELECT version FROM public.registry_version WHERE id), 0)::bigint AS version;
