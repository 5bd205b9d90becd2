package tenancy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// CreateParams describes a new tenant.
type CreateParams struct {
	Name        string // the schema name, validated by ValidateSchemaName
	DisplayName string // defaults to Name
	Domain      string // the primary domain, validated by NormalizeDomain

	// Cold, if set, builds the schema from the template DDL even when a spare schema is ready
	// (benchmarks and tests of the cold path).
	Cold bool

	// Then, if set, runs inside the creating transaction after the tenant exists (sign-up uses it
	// to create the owner, passing tx to account's functions ending in Tx), so that its failure
	// undoes the tenant too.
	Then func(ctx context.Context, tx *Tx, t Tenant) error
}

// Create provisions a tenant atomically: in ONE transaction it inserts the registry row, adds the
// primary domain, records the schema's state in the migrator's ledger (one statement), then
// creates the schema and runs the tenant DDL rendered from schema.hcl (one more round trip), and
// last bumps the registry's version and announces the tenant (RegistryChanged, last so that
// concurrent changes wait for its row only until the commit). Afterwards either all of it exists
// or none of it. In Citus mode the schema is also distributed in that transaction (one more
// statement), so a tenant is never visible on the coordinator alone.
//
// It does not inspect anything (Atlas's inspection scans the whole catalog, which would make
// creation slower as tenants multiply): the DDL is rendered once per process. When a spare
// schema at the template's hash is ready (see FillSpares) it is renamed instead, which is
// faster still; the result is the same.
//
// Returns EINVALID for a bad name or domain, ECONFLICT if the name, schema or domain is taken.
func (db *DB) Create(ctx context.Context, def *schemadef.Definition, p CreateParams) (Tenant, error) {
	if err := ValidateSchemaName(p.Name); err != nil {
		return Tenant{}, err
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	if err := ValidateDisplayName(p.DisplayName); err != nil {
		return Tenant{}, err
	}
	domain, err := NormalizeDomain(p.Domain)
	if err != nil {
		return Tenant{}, err
	}
	var t Tenant
	err = db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		// The registry first (one round trip, see TenantProvision): a taken name or domain fails
		// here, before any DDL runs.
		row, err := q.TenantProvision(ctx, shareddb.TenantProvisionParams{
			SchemaName: p.Name, DisplayName: p.DisplayName, Domain: domain, AppliedHash: def.TenantHash(),
			Distributed: db.citus,
		})
		switch {
		case toodoo.ErrorCode(err) == toodoo.ECONFLICT && strings.HasPrefix(constraint(err), "domains_"):
			return toodoo.Errorf(toodoo.ECONFLICT, "The domain %q is taken.", domain)
		case toodoo.ErrorCode(err) == toodoo.ECONFLICT:
			return toodoo.Errorf(toodoo.ECONFLICT, "A tenant named %q exists already.", p.Name)
		case err != nil:
			return fmt.Errorf("insert tenant: %w", err)
		}
		t = tenantFromRow(shareddb.Tenant(row))

		if err := createSchema(ctx, tx, q, def, p.Name, !p.Cold); err != nil {
			if sqlState(err) == "42P06" { // duplicate_schema
				return toodoo.Errorf(toodoo.ECONFLICT, "A schema named %q exists already in the database.", p.Name)
			}
			return fmt.Errorf("create schema: %w", err)
		}
		if db.citus {
			// Citus mode: the schema goes to a worker now, in this transaction (a spare built in
			// Citus mode is distributed already, and the statement does nothing).
			if err := DistributeSchemaTx(ctx, tx, p.Name); err != nil {
				return err
			}
		}
		if p.Then != nil {
			if err := p.Then(ctx, &Tx{q: q, raw: tx}, t); err != nil {
				return err
			}
		}
		return q.RegistryChanged(ctx, t.ID)
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("tenancy: create tenant %q: %w", p.Name, err)
	}
	return t, nil
}

// Get returns the tenant whose schema is name. Returns ENOTFOUND if there is none.
func (db *DB) Get(ctx context.Context, name string) (Tenant, error) {
	row, err := db.shared.TenantGetByName(ctx, name)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return Tenant{}, errNoTenant(name)
	case err != nil:
		return Tenant{}, fmt.Errorf("tenancy: get tenant %q: %w", name, err)
	}
	return tenantFromRow(row), nil
}

// errNoTenant is the answer for a name that no tenant has.
func errNoTenant(name string) error {
	return toodoo.Errorf(toodoo.ENOTFOUND, "No tenant named %q.", name)
}

// Summary is a tenant as List shows it: the tenant, its domains and members, and the ledger's
// record of its schema.
type Summary struct {
	Tenant
	CreatedAt     time.Time
	DeletedAt     *time.Time
	PrimaryDomain string   // "" when it has none (a deleted tenant)
	Domains       []string // the primary domain first, then by name
	MemberCount   int64
	AppliedHash   string     // the state last applied to its schema; "" if it is not in the ledger
	AppliedAt     *time.Time // when
	LastError     string     // the ledger's last error, "" if the last attempt succeeded
	// Node is where the tenant's schema lives: host:port of its Citus worker, or LocalNode (plain
	// PostgreSQL, or not distributed yet).
	Node string
}

// List returns the tenants ordered by name, with deleted ones only if includeDeleted, for the
// platform admin and `toodoo tenant list`. One query, with JIT off: over thousands of tenants
// its estimated cost passes jit_above_cost, and compiling it (~100 ms at 10,000 tenants) would
// cost more than running it. In Citus mode, one more for the placements (Citus's metadata on
// the coordinator).
func (db *DB) List(ctx context.Context, includeDeleted bool) ([]Summary, error) {
	var rows []shareddb.TenantListRow
	err := db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) (err error) {
		if _, err := tx.Exec(ctx, "SELECT set_config('jit', 'off', true)"); err != nil {
			return err
		}
		rows, err = q.TenantList(ctx, includeDeleted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tenancy: list tenants: %w", err)
	}
	placed, err := db.Placements(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]Summary, len(rows))
	for i, r := range rows {
		list[i] = Summary{Tenant: tenantFromRow(r.Tenant), CreatedAt: r.Tenant.CreatedAt, DeletedAt: r.Tenant.DeletedAt,
			PrimaryDomain: r.PrimaryDomain, Domains: r.Domains, MemberCount: r.MemberCount,
			AppliedHash: r.AppliedHash, AppliedAt: r.AppliedAt, LastError: r.LastError,
			Node: cmp.Or(placed[r.Tenant.SchemaName], LocalNode)}
	}
	return list, nil
}

// SetStatus suspends (StatusSuspended) or resumes (StatusActive) a tenant. Returns ENOTFOUND if
// there is no such tenant or it is deleted.
func (db *DB) SetStatus(ctx context.Context, name, status string) (Tenant, error) {
	if status != StatusActive && status != StatusSuspended {
		return Tenant{}, toodoo.Invalid("status", "Unknown status %q.", status)
	}
	var t Tenant
	err := db.sharedTx(ctx, func(ctx context.Context, _ pgx.Tx, q *shareddb.Queries) error {
		row, err := q.TenantSetStatus(ctx, shareddb.TenantSetStatusParams{SchemaName: name, Status: status})
		switch {
		case errors.Is(err, toodoo.ErrNotFound):
			return errNoTenant(name)
		case err != nil:
			return err
		}
		t = tenantFromRow(row)
		return q.RegistryChanged(ctx, t.ID)
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("tenancy: set status of %q: %w", name, err)
	}
	return t, nil
}

// Delete deletes a tenant. Without drop, the tenant is marked deleted and its domains are
// released; its schema and data stay (a restore is an UPDATE away). With drop, the schema is
// first renamed into the trash and the registry rows removed in one transaction (the name is
// free at once), then the trash schema is dropped one table per transaction, so a large schema
// never needs all its locks at once (DROP SCHEMA ... CASCADE on big schemas runs out of lock
// memory). Returns ENOTFOUND if there is no such tenant.
func (db *DB) Delete(ctx context.Context, name string, drop bool) error {
	var trash string
	err := db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		row, err := q.TenantGetByName(ctx, name)
		switch {
		case errors.Is(err, toodoo.ErrNotFound):
			return errNoTenant(name)
		case err != nil:
			return err
		}
		if err := q.DomainDeleteByTenant(ctx, row.ID); err != nil {
			return err
		}
		if !drop {
			if row.Status == StatusDeleted {
				return nil
			}
			if _, err := q.TenantMarkDeleted(ctx, row.ID); err != nil {
				return err
			}
			return q.RegistryChanged(ctx, row.ID)
		}
		trash = fmt.Sprintf("%s%d_%s", trashPrefix, row.ID, name[:min(len(name), 30)])
		if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{name}.Sanitize()+" RENAME TO "+pgx.Identifier{trash}.Sanitize()); err != nil {
			if sqlState(err) != "3F000" { // invalid_schema_name: already gone
				return fmt.Errorf("move schema to trash: %w", err)
			}
			trash = ""
		}
		if err := q.TenantDelete(ctx, row.ID); err != nil {
			return err
		}
		if err := q.LedgerDelete(ctx, name); err != nil {
			return err
		}
		return q.RegistryChanged(ctx, row.ID)
	})
	if err != nil {
		return fmt.Errorf("tenancy: delete tenant %q: %w", name, err)
	}
	if trash != "" {
		if err := db.DropTrash(ctx, trash); err != nil {
			return fmt.Errorf("tenancy: tenant %q is deleted but its schema %q is not yet dropped (run `toodoo tenant delete --purge-trash` later): %w", name, trash, err)
		}
	}
	return nil
}

// DropTrash drops a schema from the trash, one table per transaction, then the schema itself.
func (db *DB) DropTrash(ctx context.Context, trash string) error {
	if !strings.HasPrefix(trash, trashPrefix) {
		return fmt.Errorf("tenancy: %q is not a trash schema", trash)
	}
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname`, trash)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, table := range tables {
		if _, err := db.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{trash, table}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
	}
	_, err = db.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{trash}.Sanitize()+" CASCADE")
	return err
}

// TrashSchemas lists schemas left in the trash by an interrupted drop.
func (db *DB) TrashSchemas(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, trashPrefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AddDomain adds a domain to a tenant; with primary, it becomes the tenant's primary domain.
// Returns ENOTFOUND for an unknown or deleted tenant, ECONFLICT if the domain is taken.
func (db *DB) AddDomain(ctx context.Context, name, domain string, primary bool) (string, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return "", err
	}
	err = db.sharedTx(ctx, func(ctx context.Context, _ pgx.Tx, q *shareddb.Queries) error {
		row, err := q.TenantGetByName(ctx, name)
		switch {
		case errors.Is(err, toodoo.ErrNotFound), err == nil && row.Status == StatusDeleted:
			return errNoTenant(name)
		case err != nil:
			return err
		}
		if primary {
			if err := q.DomainClearPrimary(ctx, row.ID); err != nil {
				return err
			}
		}
		if existing, err := q.DomainGet(ctx, d); err == nil {
			if existing.TenantID != row.ID {
				return toodoo.Errorf(toodoo.ECONFLICT, "The domain %q is taken.", d)
			}
			if !primary {
				return toodoo.Errorf(toodoo.ECONFLICT, "The domain %q belongs to %q already.", d, name)
			}
			if err := q.DomainSetPrimary(ctx, d); err != nil {
				return err
			}
		} else if !errors.Is(err, toodoo.ErrNotFound) {
			return err
		} else if _, err := q.DomainInsert(ctx, shareddb.DomainInsertParams{Domain: d, TenantID: row.ID, IsPrimary: primary}); err != nil {
			if toodoo.ErrorCode(err) == toodoo.ECONFLICT {
				return toodoo.Errorf(toodoo.ECONFLICT, "The domain %q is taken.", d)
			}
			return err
		}
		return q.RegistryChanged(ctx, row.ID)
	})
	if err != nil {
		return "", fmt.Errorf("tenancy: add domain %q: %w", d, err)
	}
	return d, nil
}

// RemoveDomain removes a domain. A tenant's primary domain cannot be removed: another domain
// must be made primary first. Returns ENOTFOUND if the domain is unknown, EINVALID if it is a
// primary domain.
func (db *DB) RemoveDomain(ctx context.Context, domain string) error {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return err
	}
	err = db.sharedTx(ctx, func(ctx context.Context, _ pgx.Tx, q *shareddb.Queries) error {
		row, err := q.DomainGet(ctx, d)
		switch {
		case errors.Is(err, toodoo.ErrNotFound):
			return toodoo.Errorf(toodoo.ENOTFOUND, "No domain %q.", d)
		case err != nil:
			return err
		}
		if row.IsPrimary {
			return toodoo.Invalid("domain", "%q is its tenant's primary domain: make another domain primary first (toodoo domain add NAME OTHER --primary).", d)
		}
		if _, err := q.DomainDelete(ctx, d); err != nil {
			return err
		}
		return q.RegistryChanged(ctx, row.TenantID)
	})
	if err != nil {
		return fmt.Errorf("tenancy: remove domain %q: %w", d, err)
	}
	return nil
}

// createSchema makes the tenant's schema inside tx: from a spare if allowed and one is ready,
// else from the template DDL.
func createSchema(ctx context.Context, tx pgx.Tx, q *shareddb.Queries, def *schemadef.Definition, name string, useSpare bool) error {
	if useSpare {
		if ok, err := takeSpare(ctx, tx, q, def, name); ok || err != nil {
			return err
		}
	}
	return schemadef.Exec(ctx, tx, def.CreateTenantStatements(name))
}
