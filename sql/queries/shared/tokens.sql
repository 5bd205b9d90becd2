-- Login tokens, invitations and API tokens. Only SHA-256 hashes of the secrets are stored.

-- name: LoginTokenInsert :exec
INSERT INTO public.login_tokens (token_hash, user_id, tenant_id, expires_at)
VALUES (@token_hash, @user_id, nullif(@tenant_id::bigint, 0), @expires_at);

-- LoginTokenGet finds a live token on this tenant (0: the public site) without spending it (the
-- page behind the link).
-- name: LoginTokenGet :one
SELECT user_id
FROM public.login_tokens
WHERE token_hash = @token_hash AND coalesce(tenant_id, 0) = @tenant_id::bigint AND used_at IS NULL AND expires_at > now();

-- LoginTokenConsume spends a token once, on the tenant it was issued for (0: the public site),
-- before it expires.
-- name: LoginTokenConsume :one
UPDATE public.login_tokens
SET used_at = now()
WHERE token_hash = @token_hash AND coalesce(tenant_id, 0) = @tenant_id::bigint AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: InvitationInsert :exec
INSERT INTO public.invitations (token_hash, tenant_id, email, role, invited_by, expires_at)
VALUES (@token_hash, @tenant_id, @email, @role, @invited_by, @expires_at);

-- InvitationGet finds a live invitation to this tenant (for the page that accepts it).
-- name: InvitationGet :one
SELECT token_hash, tenant_id, email, role, invited_by, expires_at, used_at, created_at
FROM public.invitations
WHERE token_hash = @token_hash AND coalesce(tenant_id, 0) = @tenant_id::bigint AND used_at IS NULL AND expires_at > now();

-- InvitationConsume spends an invitation once, on the tenant it was issued for, before it expires.
-- name: InvitationConsume :one
UPDATE public.invitations
SET used_at = now()
WHERE token_hash = @token_hash AND tenant_id = @tenant_id AND used_at IS NULL AND expires_at > now()
RETURNING tenant_id, email, role;

-- InvitationListPending lists a tenant's live invitations, one per address (the newest), for
-- the members page.
-- name: InvitationListPending :many
SELECT DISTINCT ON (lower(email)) email, role, created_at, expires_at
FROM public.invitations
WHERE tenant_id = @tenant_id AND used_at IS NULL AND expires_at > now()
ORDER BY lower(email), created_at DESC;

-- InvitationRevoke deletes every live invitation of an address to a tenant (any letter case);
-- it reports how many went.
-- name: InvitationRevoke :execrows
DELETE FROM public.invitations
WHERE tenant_id = @tenant_id AND lower(email) = lower(@email) AND used_at IS NULL AND expires_at > now();

-- name: APITokenInsert :one
INSERT INTO public.api_tokens (tenant_id, user_id, name, token_hash)
VALUES (@tenant_id, @user_id, @name, @token_hash)
RETURNING id, tenant_id, user_id, name, created_at, last_used_at, revoked_at;

-- APITokenAuthenticate finds the live token with this hash on this tenant, with its user, as
-- long as the user may still enter the workspace (a member, or a superuser): removing someone
-- from a workspace silences their tokens there too. last_used_at tells whether APITokenTouch is
-- due, so that a busy token costs this one query per request.
-- name: APITokenAuthenticate :one
SELECT k.id, k.last_used_at, u.id AS user_id, u.email, u.is_superuser, u.session_epoch, u.created_at
FROM public.api_tokens k
JOIN public.users u ON u.id = k.user_id
WHERE k.token_hash = @token_hash AND k.tenant_id = @tenant_id AND k.revoked_at IS NULL
  AND (u.is_superuser OR EXISTS (
        SELECT 1 FROM public.memberships m WHERE m.user_id = u.id AND m.tenant_id = k.tenant_id));

-- name: APITokenTouch :exec
UPDATE public.api_tokens
SET last_used_at = now()
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: APITokenList :many
SELECT id, tenant_id, user_id, name, created_at, last_used_at, revoked_at
FROM public.api_tokens
WHERE tenant_id = @tenant_id AND user_id = @user_id
ORDER BY id DESC;

-- name: APITokenRevoke :execrows
UPDATE public.api_tokens
SET revoked_at = now()
WHERE id = @id AND tenant_id = @tenant_id AND user_id = @user_id AND revoked_at IS NULL;

-- APITokenDeleteByMember deletes a user's tokens on one workspace (they were removed from it):
-- deleted, not suspended, so that adding them back does not revive a token.
-- name: APITokenDeleteByMember :execrows
DELETE FROM public.api_tokens
WHERE user_id = @user_id AND tenant_id = @tenant_id;

-- APITokenRevokeByUser revokes every live token of a user, on every workspace (the password
-- changed). The rows stay, marked revoked, so that the tokens page says what happened.
-- name: APITokenRevokeByUser :execrows
UPDATE public.api_tokens
SET revoked_at = now()
WHERE user_id = @user_id AND revoked_at IS NULL;
