package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// Spare schemas are tenant schemas built ahead of time from the template, named
// toodoo_spare_<random> (a reserved prefix) and recorded in the ledger with the template's hash.
// Create takes one, if there is one at the current hash, and renames it to the new tenant in
// the same transaction, so creating a tenant costs a rename and a few inserts however large the
// template grows; without a spare it runs the template DDL (the cold path).
//
// Spares are keyed by the template's hash, so two versions of schema.hcl (during a rolling
// deploy) keep theirs side by side: a process only ever takes spares at its own hash, and every
// FillSpares claims them (the ledger row's applied_at is then "last claimed by a live process").
// A spare at another hash is dropped only when no process has claimed it for the grace period
// (SpareGrace in production): its version is no longer running.
const sparePrefix = "toodoo_spare_"

// SpareGrace is how long a spare schema at another hash than the caller's stays after its
// version's processes last claimed it (servers claim theirs every minute, see web's keepSpares).
const SpareGrace = 10 * time.Minute

// takeSpare renames a spare schema at def's hash to name, inside tx, and reports whether it did.
func takeSpare(ctx context.Context, tx pgx.Tx, q *shareddb.Queries, def *schemadef.Definition, name string) (bool, error) {
	spare, err := q.LedgerTakeSpare(ctx, def.TenantHash())
	if errors.Is(err, toodoo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take spare schema: %w", err)
	}
	if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{spare}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, fmt.Errorf("rename spare schema %s: %w", spare, err)
	}
	if err := q.LedgerDelete(ctx, spare); err != nil {
		return false, err
	}
	return true, nil
}

// FillSpares makes sure n spare schemas at def's hash exist, and returns how many it built. It
// first claims the spares at def's hash, then drops the spares at other hashes that nobody has
// claimed for grace (built from a schema.hcl that no process keeping spares runs any more).
// Each spare is built and dropped in a transaction of its own. Safe to run from several
// processes at once, of one version or of several (they may build a few spares too many).
func (db *DB) FillSpares(ctx context.Context, def *schemadef.Definition, n int, grace time.Duration) (built int, err error) {
	hash := def.TenantHash()
	if err := db.shared.LedgerClaimSpares(ctx, hash); err != nil {
		return 0, fmt.Errorf("tenancy: claim spare schemas: %w", err)
	}
	spares, err := db.shared.LedgerListSpares(ctx, shareddb.LedgerListSparesParams{AppliedHash: hash, GraceSeconds: grace.Seconds()})
	if err != nil {
		return 0, fmt.Errorf("tenancy: list spare schemas: %w", err)
	}
	current := 0
	for _, s := range spares {
		switch {
		case s.AppliedHash == hash:
			current++
		case s.Unclaimed:
			if err := db.dropSpare(ctx, s.SchemaName, hash, grace); err != nil {
				return 0, err
			}
		}
	}
	for ; current < n; current++ {
		if err := db.buildSpare(ctx, def); err != nil {
			return built, err
		}
		built++
	}
	return built, nil
}

func (db *DB) buildSpare(ctx context.Context, def *schemadef.Definition) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	name := sparePrefix + hex.EncodeToString(b[:])
	err := db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		if err := schemadef.Exec(ctx, tx, def.CreateTenantStatements(name)); err != nil {
			return err
		}
		if db.citus {
			// Distributed now, so that the rename that makes it a tenant keeps it on its worker.
			if err := DistributeSchemaTx(ctx, tx, name); err != nil {
				return err
			}
		}
		return q.LedgerRecordApplied(ctx, shareddb.LedgerRecordAppliedParams{SchemaName: name, AppliedHash: def.TenantHash()})
	})
	if err != nil {
		return fmt.Errorf("tenancy: build spare schema: %w", err)
	}
	return nil
}

// dropSpare drops the spare schema name if it is still unclaimed (not at hash, not claimed for
// grace): its ledger row goes first, after any creation taking it has finished, and the schema
// only if the row was still there and unclaimed.
func (db *DB) dropSpare(ctx context.Context, name, hash string, grace time.Duration) error {
	if !strings.HasPrefix(name, sparePrefix) {
		return fmt.Errorf("tenancy: %q is not a spare schema", name)
	}
	err := db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		n, err := q.LedgerDeleteUnclaimedSpare(ctx, shareddb.LedgerDeleteUnclaimedSpareParams{SchemaName: name, AppliedHash: hash, GraceSeconds: grace.Seconds()})
		if err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		return err
	})
	if err != nil {
		return fmt.Errorf("tenancy: drop unclaimed spare schema %s: %w", name, err)
	}
	return nil
}
