-- Queries on a tenant's to-dos. Table names are unqualified: they run only inside the tenant
-- scope (tenancy.DB.InTx), whose SET LOCAL search_path names exactly one tenant schema.

-- TodoCreate adds an open to-do.
-- name: TodoCreate :one
INSERT INTO todos (title, created_by)
VALUES (@title, @created_by)
RETURNING id, title, done, created_by, created_at, updated_at, completed_at;

-- TodoGet returns one to-do.
-- name: TodoGet :one
SELECT id, title, done, created_by, created_at, updated_at, completed_at
FROM todos
WHERE id = @id;

-- TodoList returns to-dos, open first then done, newest first within each; done filters when
-- not null. The page shows at most limit rows.
-- name: TodoList :many
SELECT id, title, done, created_by, created_at, updated_at, completed_at
FROM todos
WHERE (sqlc.narg(done)::boolean IS NULL OR done = sqlc.narg(done)::boolean)
ORDER BY done, id DESC
LIMIT @max_rows;

-- TodoPage is the API's keyset pagination: newest first, ids below before_id (when not null).
-- name: TodoPage :many
SELECT id, title, done, created_by, created_at, updated_at, completed_at
FROM todos
WHERE (sqlc.narg(done)::boolean IS NULL OR done = sqlc.narg(done)::boolean)
  AND (sqlc.narg(before_id)::bigint IS NULL OR id < sqlc.narg(before_id)::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- TodoCounts counts open and done to-dos.
-- name: TodoCounts :one
SELECT count(*) FILTER (WHERE NOT done) AS open,
       count(*) FILTER (WHERE done)     AS done
FROM todos;

-- TodoUpdate changes the title and/or the done flag (a null leaves it as it is); completed_at
-- follows done, and is set to @now when the to-do becomes done. The time is a parameter because
-- Citus refuses a non-IMMUTABLE function such as now() inside CASE or COALESCE on a distributed
-- table (0A000); it evaluates now() elsewhere, as in updated_at.
-- name: TodoUpdate :one
UPDATE todos
SET title        = coalesce(sqlc.narg(title)::text, title),
    done         = coalesce(sqlc.narg(done)::boolean, done),
    completed_at = CASE
                       WHEN coalesce(sqlc.narg(done)::boolean, done) THEN coalesce(completed_at, sqlc.arg(now)::timestamptz)
                       ELSE NULL
                   END,
    updated_at   = now()
WHERE id = @id
RETURNING id, title, done, created_by, created_at, updated_at, completed_at;

-- TodoDelete removes a to-do; it reports how many rows went (0 or 1).
-- name: TodoDelete :execrows
DELETE FROM todos
WHERE id = @id;

-- TodoRestore puts a deleted to-do back as it was, with its id (undo of a delete: the id was
-- taken from the identity sequence before, so no new to-do can have it). A to-do that is there
-- already (undone twice) is left as it is and 0 rows are reported.
-- name: TodoRestore :execrows
INSERT INTO todos (id, title, done, created_by, created_at, updated_at, completed_at)
OVERRIDING SYSTEM VALUE
VALUES (@id, @title, @done, @created_by, @created_at, now(), sqlc.narg(completed_at))
ON CONFLICT (id) DO NOTHING;
