-- Queries of the web server's authentication (web/auth.go, web/session.go).

-- UserGetWithRole loads the user behind a session or token with their role in tenant_id ('' when
-- they are not a member; tenant_id 0 is the public site). One round trip per request checks that
-- the user still exists, that the session's epoch is current and that the membership still holds.
-- name: UserGetWithRole :one
SELECT u.id, u.email, u.is_superuser, u.session_epoch, coalesce(m.role, '')::text AS role
FROM public.users u
LEFT JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = @tenant_id
WHERE u.id = @id;
