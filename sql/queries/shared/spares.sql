-- Spare schemas (tenancy/spare.go): tenant schemas built ahead of time, renamed on creation. A
-- spare's ledger row says which template it was built from (applied_hash) and when a process
-- running that template last claimed it (applied_at): processes that keep spares claim theirs
-- every minute, so a spare of a hash nobody claims for a while belongs to a version no process
-- runs any more.

-- LedgerTakeSpare locks one spare schema at the desired state for the calling transaction;
-- concurrent creations take different ones (SKIP LOCKED).
-- name: LedgerTakeSpare :one
SELECT schema_name
FROM public.schema_ledger
WHERE starts_with(schema_name, 'toodoo_spare_') AND applied_hash = @applied_hash::text
ORDER BY schema_name
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- LedgerClaimSpares marks the spares built from applied_hash as claimed now by a live process.
-- name: LedgerClaimSpares :exec
UPDATE public.schema_ledger
SET applied_at = now()
WHERE starts_with(schema_name, 'toodoo_spare_') AND applied_hash = @applied_hash::text;

-- LedgerListSpares lists the spares, saying for each whether it is unclaimed: built from another
-- hash than applied_hash and not claimed for grace_seconds.
-- name: LedgerListSpares :many
SELECT schema_name,
       coalesce(applied_hash, '')::text AS applied_hash,
       (applied_hash IS DISTINCT FROM @applied_hash::text
        AND coalesce(applied_at < now() - make_interval(secs => @grace_seconds::float8), true))::boolean AS unclaimed
FROM public.schema_ledger
WHERE starts_with(schema_name, 'toodoo_spare_')
ORDER BY schema_name;

-- LedgerDeleteUnclaimedSpare deletes a spare's ledger row if it is still unclaimed (see
-- LedgerListSpares), waiting for a creation that is taking it; the caller drops the schema only
-- if a row was deleted.
-- name: LedgerDeleteUnclaimedSpare :execrows
DELETE FROM public.schema_ledger
WHERE schema_name = @schema_name AND starts_with(schema_name, 'toodoo_spare_')
  AND applied_hash IS DISTINCT FROM @applied_hash::text
  AND coalesce(applied_at < now() - make_interval(secs => @grace_seconds::float8), true);
