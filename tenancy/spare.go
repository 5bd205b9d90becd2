package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// Spare schemas are tenant schemas built ahead of time from the template, named
// toodoo_spare_<random> (a reserved prefix) and recorded in the ledger with the template's hash.
// Create takes one, if there is one at the current hash, and renames it to the new tenant in
// the same transaction, so creating a tenant costs a rename and a few inserts however large the
// template grows; without a spare it runs the template DDL (the cold path). A spare built from
// an older schema.hcl is never used: FillSpares drops it.
const sparePrefix = "toodoo_spare_"

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

// FillSpares makes sure n spare schemas at def's hash exist, dropping spares built from another
// schema.hcl, and returns how many it built. Each spare is built in a transaction of its own.
// Safe to run from several processes at once (they may build a few spares too many).
func (db *DB) FillSpares(ctx context.Context, def *schemadef.Definition, n int) (built int, err error) {
	spares, err := db.shared.LedgerListSpares(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenancy: list spare schemas: %w", err)
	}
	current := 0
	for _, s := range spares {
		if s.AppliedHash == def.TenantHash() {
			current++
			continue
		}
		if err := db.dropSpare(ctx, s.SchemaName); err != nil {
			return 0, err
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
		if _, err := tx.Exec(ctx, def.CreateTenantScript(name), pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		return q.LedgerRecordApplied(ctx, shareddb.LedgerRecordAppliedParams{SchemaName: name, AppliedHash: def.TenantHash()})
	})
	if err != nil {
		return fmt.Errorf("tenancy: build spare schema: %w", err)
	}
	return nil
}

func (db *DB) dropSpare(ctx context.Context, name string) error {
	if !strings.HasPrefix(name, sparePrefix) {
		return fmt.Errorf("tenancy: %q is not a spare schema", name)
	}
	err := db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
		return q.LedgerDelete(ctx, name)
	})
	if err != nil {
		return fmt.Errorf("tenancy: drop stale spare schema %s: %w", name, err)
	}
	return nil
}
