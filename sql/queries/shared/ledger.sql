-- The fleet migrator's ledger (public.schema_ledger): per schema, the desired state last
-- applied and the last error.

-- LedgerRecordApplied records that schema_name now has the desired state named applied_hash.
-- name: LedgerRecordApplied :exec
INSERT INTO public.schema_ledger (schema_name, applied_hash, fingerprint, applied_at, last_error, last_error_at, attempted_hash)
VALUES (@schema_name, @applied_hash::text, sqlc.narg(fingerprint), now(), NULL, NULL, @applied_hash::text)
ON CONFLICT (schema_name) DO UPDATE
SET applied_hash = excluded.applied_hash,
    fingerprint = excluded.fingerprint,
    applied_at = excluded.applied_at,
    last_error = NULL,
    last_error_at = NULL,
    attempted_hash = excluded.attempted_hash;

-- name: LedgerDelete :exec
DELETE FROM public.schema_ledger
WHERE schema_name = @schema_name;
