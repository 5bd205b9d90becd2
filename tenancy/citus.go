package tenancy

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
)

// Citus mode. On a Citus cluster (the citus extension installed on the coordinator's database),
// each tenant schema is a Citus "distributed schema": it lives whole on one worker node, and the
// coordinator routes every statement whose search_path names it there. Toodoo's tenant schemas
// are self-contained (no foreign key into "public"), which is what Citus's schema-based sharding
// asks for; "public" stays plain tables on the coordinator.
//
// In Citus mode, Create distributes the new schema in its creating transaction, spare schemas
// are distributed when built (a rename keeps a schema distributed), and `toodoo migrate`
// distributes the tenants that are not yet (recorded in the ledger's distributed_at). On plain
// PostgreSQL nothing of this runs: whether the extension is there is read once per pool, in the
// query Open runs anyway.

// CitusMode says when tenant schemas are distributed with Citus. It comes from configuration
// (TOODOO_CITUS in cmd/toodoo); ParseCitusMode reads it and CitusMode.Enabled is the rule.
type CitusMode string

// The Citus modes.
const (
	CitusAuto CitusMode = "auto" // the default: distribute when the citus extension is installed
	CitusOn   CitusMode = "on"   // distribute; refuse a database without the citus extension
	CitusOff  CitusMode = "off"  // never distribute (Citus used for something else, or a one-node test)
)

// ParseCitusMode reads a Citus mode: auto, on or off ("" is auto). Returns EINVALID otherwise.
func ParseCitusMode(s string) (CitusMode, error) {
	switch m := CitusMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", CitusAuto:
		return CitusAuto, nil
	case CitusOn, CitusOff:
		return m, nil
	}
	return "", toodoo.Invalid("citus", "Unknown Citus mode %q: use auto, on or off.", s)
}

// Enabled is the one rule of Citus mode: given whether the citus extension is installed on the
// database, it says whether tenant schemas are distributed. Returns EINVALID for CitusOn on a
// database without the extension (a configuration that expects a cluster it is not pointed at).
func (m CitusMode) Enabled(installed bool) (bool, error) {
	switch m {
	case CitusOff:
		return false, nil
	case CitusOn:
		if !installed {
			return false, errNotCitus("Citus mode is on (TOODOO_CITUS=on) but")
		}
		return true, nil
	case "", CitusAuto:
		return installed, nil
	}
	return false, toodoo.Invalid("citus", "Unknown Citus mode %q: use auto, on or off.", string(m))
}

// errNotCitus is the answer of what needs Citus on a database without it.
func errNotCitus(prefix string) error {
	return toodoo.Invalid("citus", "%s this is not a Citus database: the citus extension is not installed in it.", prefix)
}

// CitusInstalledSQL says whether the citus extension is installed; Open reads it in the query it
// runs anyway (the search_path check), and the fleet migrator in its first round trip (with
// CitusMode.Enabled), so plain PostgreSQL pays no extra round trip.
const CitusInstalledSQL = "EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')"

// DetectCitus applies mode to the database q is connected to: one query. It is for pools that
// tenancy.Open did not make (the fleet migrator's).
func DetectCitus(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, mode CitusMode) (bool, error) {
	var installed bool
	if err := q.QueryRow(ctx, "SELECT "+CitusInstalledSQL).Scan(&installed); err != nil {
		return false, fmt.Errorf("tenancy: look for the citus extension: %w", err)
	}
	return mode.Enabled(installed)
}

// Citus reports whether this DB distributes tenant schemas (Citus mode, decided at Open).
func (db *DB) Citus() bool { return db.citus }

// requireCitus is the check of every placement operation: Citus mode must be on.
func (db *DB) requireCitus() error {
	switch {
	case db.citus:
		return nil
	case db.citusInstalled:
		return toodoo.Invalid("citus", "Citus mode is off (TOODOO_CITUS=off): tenant schemas are not distributed, so they have no placement to show or change.")
	}
	return errNotCitus("Placement needs Citus:")
}

// distributeSQL makes the schema named by $1 (a quoted identifier) a Citus distributed schema,
// unless it is one already (a spare built in Citus mode, renamed). It must run in the creating
// transaction, after the schema's tables exist.
const distributeSQL = `SELECT citus_schema_distribute($1::regnamespace)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema WHERE schemaid = $1::regnamespace)`

// DistributeSchemaTx makes the schema name a Citus distributed schema inside tx, unless it is
// one already. For callers that own their transaction (the migrator); Create and the spares
// call it themselves in Citus mode.
func DistributeSchemaTx(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, distributeSQL, pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("distribute schema %s with Citus: %w", name, err)
	}
	return nil
}
