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

-- TodoList is the page's list and its counts in one statement (one round trip, where a list
-- and a count were two): to-dos, open first then done, newest first within each, done filtering
-- when not null, at most @max_rows of them; and on every row the counts of open and done to-dos
-- over all of them, whatever the filter. The counts are the driving row and the list joins them,
-- so an empty list still gives one row: the counts, with null to-do columns. The list is the
-- same index scan of todos_done_id_idx stopped at the limit as before, and the counts the same
-- one scan as TodoCounts. Plain SQL on one schema: Citus routes it whole to the schema's node.
-- name: TodoList :many
WITH counts AS (
    SELECT count(*) FILTER (WHERE NOT done) AS open,
           count(*) FILTER (WHERE done)     AS done
    FROM todos
), list AS (
    SELECT id, title, done, created_by, created_at, updated_at, completed_at
    FROM todos
    WHERE (sqlc.narg(done)::boolean IS NULL OR done = sqlc.narg(done)::boolean)
    ORDER BY done, id DESC
    LIMIT @max_rows
)
SELECT c.open, c.done AS done_count, l.id, l.title, l.done, l.created_by, l.created_at, l.updated_at, l.completed_at
FROM counts c
LEFT JOIN list l ON true
ORDER BY l.done, l.id DESC;

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
