-- Signed-in browser sessions. The cookie carries a random id; only its SHA-256 is stored, as
-- token_hash. tenant_id is the workspace whose host issued the session, NULL on the public
-- site; queries take 0 for the public site.

-- name: SessionInsert :one
INSERT INTO public.sessions (token_hash, user_id, tenant_id, user_agent, expires_at)
VALUES (@token_hash, @user_id, nullif(@tenant_id::bigint, 0), @user_agent, @expires_at)
RETURNING id;

-- SessionAuthenticate loads the live session behind a cookie on this host, with its user and
-- the user's role in tenant_id (empty when they are not a member): every signed-in request costs
-- this one statement. With @menu_max > 0 the same statement brings the user's workspace menu,
-- so that a page costs one round trip for both: active workspaces with a primary domain, by
-- name, at most @menu_max of them plus the current one (tenant_id) wherever it falls, one row
-- each, and menu_total, how many there are in all. The first @menu_max come from a top-N sort
-- (LIMIT), and the count sorts nothing: a person in thousands of workspaces costs a scan of
-- their memberships, not a sort of them by name. The menu's rows join the session's row, so no
-- session is no row, and a session without a menu (@menu_max = 0: the planner skips the menu's
-- scans on that constant; or no workspace to show) is one row with null menu columns.
-- name: SessionAuthenticate :many
WITH session AS (
    SELECT s.id AS session_id, s.last_seen_at, u.id, u.email, u.is_superuser, u.created_at,
           coalesce(m.role, '')::text AS role
    FROM public.sessions s
    JOIN public.users u ON u.id = s.user_id
    LEFT JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = @tenant_id
    WHERE s.token_hash = @token_hash AND coalesce(s.tenant_id, 0) = @tenant_id AND s.expires_at > now()
), mine AS (
    SELECT t.id, t.display_name, m.role
    FROM session
    JOIN public.memberships m ON m.user_id = session.id
    JOIN public.tenants t ON t.id = m.tenant_id
    JOIN public.domains d ON d.tenant_id = t.id AND d.is_primary
    WHERE @menu_max::bigint > 0 AND t.status = 'active'
), shown AS (
    (SELECT * FROM mine ORDER BY display_name, id LIMIT @menu_max::bigint)
    UNION
    SELECT * FROM mine WHERE id = @tenant_id
)
SELECT session.session_id, session.last_seen_at, session.id, session.email, session.is_superuser,
       session.created_at, session.role,
       w.id AS menu_id, w.display_name AS menu_name, w.role AS menu_role,
       (SELECT count(*) FROM mine)::bigint AS menu_total
FROM session
LEFT JOIN shown w ON true
ORDER BY w.display_name, w.id;

-- SessionTouch moves last_seen_at on, at most once a minute.
-- name: SessionTouch :exec
UPDATE public.sessions
SET last_seen_at = now()
WHERE id = @id AND last_seen_at < now() - interval '1 minute';

-- name: SessionDeleteByHash :execrows
DELETE FROM public.sessions
WHERE token_hash = @token_hash;

-- name: SessionDeleteByID :execrows
DELETE FROM public.sessions
WHERE id = @id AND user_id = @user_id;

-- SessionDeleteByUser ends every session of a user, on every host.
-- name: SessionDeleteByUser :execrows
DELETE FROM public.sessions
WHERE user_id = @user_id;

-- SessionDeleteByMember ends a user's sessions on one workspace (they were removed from it).
-- name: SessionDeleteByMember :execrows
DELETE FROM public.sessions
WHERE user_id = @user_id AND tenant_id = @tenant_id;

-- SessionPurgeExpired deletes sessions past their expiry, at most @max_rows at a time so that
-- a large backlog does not hold one long transaction.
-- name: SessionPurgeExpired :execrows
DELETE FROM public.sessions
WHERE id IN (SELECT id FROM public.sessions WHERE expires_at <= now() ORDER BY expires_at LIMIT @max_rows);

-- SessionListByUser lists a user's live sessions, newest first, with the workspace that issued
-- each (empty for the public site).
-- name: SessionListByUser :many
SELECT s.id, coalesce(s.tenant_id, 0)::bigint AS tenant_id, coalesce(t.display_name, '')::text AS workspace,
       s.user_agent, s.created_at, s.last_seen_at, s.expires_at
FROM public.sessions s
LEFT JOIN public.tenants t ON t.id = s.tenant_id
WHERE s.user_id = @user_id AND s.expires_at > now()
ORDER BY s.created_at DESC, s.id DESC;
