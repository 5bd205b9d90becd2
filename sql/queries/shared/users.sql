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

-- UserSetPassword changes the hash and counts the change in session_epoch (the caller ends
-- the user's sessions and revokes their API tokens in the same transaction).
-- name: UserSetPassword :one
UPDATE public.users
SET password_hash = @password_hash, session_epoch = session_epoch + 1
WHERE id = @id
RETURNING id, email, password_hash, is_superuser, session_epoch, email_verified, created_at;

-- UserRehashPassword stores a fresh hash of the same password (made with newer argon2
-- parameters at login); unlike a password change it keeps the sessions, and it does nothing if
-- the password changed meanwhile.
-- name: UserRehashPassword :exec
UPDATE public.users
SET password_hash = @new_hash
WHERE id = @id AND password_hash = @old_hash;
