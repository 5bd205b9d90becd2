-- Users are shared by all tenants. Emails are unique without regard to case.

-- name: UserInsert :one
INSERT INTO public.users (email, password_hash, is_superuser)
VALUES (@email, @password_hash, @is_superuser)
RETURNING id, email, password_hash, is_superuser, session_epoch, email_verified, created_at;

-- name: UserGetByEmail :one
SELECT id, email, password_hash, is_superuser, session_epoch, email_verified, created_at
FROM public.users
WHERE lower(email) = lower(@email);

-- name: UserGetByID :one
SELECT id, email, password_hash, is_superuser, session_epoch, email_verified, created_at
FROM public.users
WHERE id = @id;

-- UserSetPassword changes the hash and bumps the session epoch, which ends every session
-- issued before (the caller re-issues the current one).
-- name: UserSetPassword :one
UPDATE public.users
SET password_hash = @password_hash, session_epoch = session_epoch + 1
WHERE id = @id
RETURNING id, email, password_hash, is_superuser, session_epoch, email_verified, created_at;

-- UserRehashPassword stores a fresh hash of the same password (made with newer argon2
-- parameters at login); unlike UserSetPassword it keeps the sessions, and it does nothing if
-- the password changed meanwhile.
-- name: UserRehashPassword :exec
UPDATE public.users
SET password_hash = @new_hash
WHERE id = @id AND password_hash = @old_hash;

-- UserGetWithRole loads the user behind a session with their role in tenant_id ('' when they
-- are not a member; tenant_id 0 is the public site). One round trip per request checks that the
-- user still exists, that the session's epoch is current and that the membership still holds.
-- name: UserGetWithRole :one
SELECT u.id, u.email, u.is_superuser, u.session_epoch, u.created_at, coalesce(m.role, '')::text AS role
FROM public.users u
LEFT JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = @tenant_id
WHERE u.id = @id;
