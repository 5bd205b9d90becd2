-- Memberships say who may enter which workspace.

-- MembershipUpsert adds a member or changes the role of an existing one.
-- name: MembershipUpsert :one
INSERT INTO public.memberships (user_id, tenant_id, role)
VALUES (@user_id, @tenant_id, @role)
ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = excluded.role
RETURNING user_id, tenant_id, role, created_at;

-- name: MembershipGet :one
SELECT user_id, tenant_id, role, created_at
FROM public.memberships
WHERE user_id = @user_id AND tenant_id = @tenant_id;

-- name: MembershipDelete :execrows
DELETE FROM public.memberships
WHERE user_id = @user_id AND tenant_id = @tenant_id;

-- name: MembershipListByTenant :many
SELECT m.user_id, u.email, m.role, m.created_at
FROM public.memberships m
JOIN public.users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id
ORDER BY m.role DESC, lower(u.email);

-- MembershipCountOwners counts a workspace's owners; callers lock the workspace first with
-- MembershipLockTenantStatus so two owners cannot demote each other at once.
-- name: MembershipCountOwners :one
SELECT count(*)
FROM public.memberships
WHERE tenant_id = @tenant_id AND role = 'owner';

-- MembershipLockTenantStatus serialises membership changes of one workspace (row lock on the
-- tenant) and says whether it exists and its status (no row: no such tenant).
-- name: MembershipLockTenantStatus :one
SELECT status FROM public.tenants WHERE id = @tenant_id FOR UPDATE;

-- MembershipListByUser lists the workspaces a user may enter, with their primary domain.
-- name: MembershipListByUser :many
SELECT t.id, t.schema_name, t.display_name, t.status, m.role, coalesce(d.domain, '')::text AS primary_domain
FROM public.memberships m
JOIN public.tenants t ON t.id = m.tenant_id
LEFT JOIN public.domains d ON d.tenant_id = t.id AND d.is_primary
WHERE m.user_id = @user_id AND t.status <> 'deleted'
ORDER BY t.display_name;
