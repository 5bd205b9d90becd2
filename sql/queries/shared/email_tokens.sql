-- One-time links sent by mail (verify an address, reset a password). Only SHA-256 hashes of
-- the secrets are stored; tenant_id NULL is the public site.

-- name: EmailTokenInsert :exec
INSERT INTO public.email_tokens (token_hash, purpose, user_id, tenant_id, expires_at)
VALUES (@token_hash, @purpose, @user_id, sqlc.narg(tenant_id), @expires_at);

-- EmailTokenGet finds a live token for this purpose on this site (0: the public site), with
-- its user's address, without spending it (the page a link opens shows a button).
-- name: EmailTokenGet :one
SELECT t.user_id, u.email
FROM public.email_tokens t
JOIN public.users u ON u.id = t.user_id
WHERE t.token_hash = @token_hash AND t.purpose = @purpose AND coalesce(t.tenant_id, 0) = @tenant_id::bigint
  AND t.used_at IS NULL AND t.expires_at > now();

-- EmailTokenConsume spends a token once, for its purpose, on the site it was issued for,
-- before it expires.
-- name: EmailTokenConsume :one
UPDATE public.email_tokens
SET used_at = now()
WHERE token_hash = @token_hash AND purpose = @purpose AND coalesce(tenant_id, 0) = @tenant_id::bigint
  AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- EmailTokenSpendAll spends every live token of a user for a purpose (a new password voids
-- the other reset links).
-- name: EmailTokenSpendAll :exec
UPDATE public.email_tokens
SET used_at = now()
WHERE user_id = @user_id AND purpose = @purpose AND used_at IS NULL;

-- UserSetVerified records whether the user's address is proven.
-- name: UserSetVerified :exec
UPDATE public.users
SET email_verified = @email_verified
WHERE id = @id;

-- UserIsVerified tells whether the user's address is proven.
-- name: UserIsVerified :one
SELECT email_verified FROM public.users WHERE id = @id;

-- EmailTokenRecent counts the tokens of a user for a purpose issued within the last seconds
-- (a reset mail goes at most once a minute per account, however often it is asked for).
-- name: EmailTokenRecent :one
SELECT count(*) FROM public.email_tokens
WHERE user_id = @user_id AND purpose = @purpose AND created_at > now() - make_interval(secs => @seconds::int);
