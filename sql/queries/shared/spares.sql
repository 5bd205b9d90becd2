-- Spare schemas (tenancy/spare.go): tenant schemas built ahead of time, renamed on creation.

-- LedgerTakeSpare locks one spare schema at the desired state for the calling transaction;
-- concurrent creations take different ones (SKIP LOCKED).
-- name: LedgerTakeSpare :one
SELECT schema_name
FROM public.schema_ledger
WHERE starts_with(schema_name, 'toodoo_spare_') AND applied_hash = @applied_hash::text
ORDER BY schema_name
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: LedgerListSpares :many
SELECT schema_name, coalesce(applied_hash, '')::text AS applied_hash
FROM public.schema_ledger
WHERE starts_with(schema_name, 'toodoo_spare_')
ORDER BY schema_name;
