package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/schemadef"
)

// plan inspects schema name with Atlas and fills p with what brings it to schema.hcl: the
// statements (schema-qualified for "public", unqualified for a tenant, whose plan is applied with
// search_path set), the changes among them that can lose data, and whether they are refused.
// "public" that does not exist yet is planned from nothing, CREATE SCHEMA first; a tenant schema
// that does not exist is an error (it was dropped since it was fingerprinted).
func (r *runner) plan(ctx context.Context, p *Plan, name string) error {
	p.Inspected = name
	cur, err := r.inspect(ctx, name)
	create := false
	switch {
	case schema.IsNotExistError(err) && p.Shared:
		cur, create = schema.New(name), true
	case schema.IsNotExistError(err):
		return fmt.Errorf("schema %q does not exist, although the tenant registry lists it", name)
	case err != nil:
		return err
	}
	want, err := r.desired(name, p.Shared)
	if err != nil {
		return err
	}
	changes, err := postgres.DefaultDiff.SchemaDiff(cur, want)
	if err != nil {
		return fmt.Errorf("diff schema %q: %w", name, err)
	}
	if p.Statements, err = schemadef.Render(changes, p.Shared); err != nil {
		return fmt.Errorf("plan schema %q: %w", name, err)
	}
	if create {
		p.Statements = append([]string{"CREATE SCHEMA " + pgx.Identifier{name}.Sanitize()}, p.Statements...)
	}
	if r.sum.Citus && !p.Shared {
		// Tenant schemas are distributed: see citusplan.go.
		p.Statements = splitAlters(p.Statements)
		p.Unsupported = citusUnsupported(changes)
	}
	p.Destructive = destructive(changes)
	p.Breaking = breaking(changes)
	p.Class = ClassAdditive
	if len(p.Breaking) > 0 {
		p.Class = ClassBreaking
	}
	p.Refused = refused(p, r.opts)
	return nil
}

// desired evaluates schema.hcl for schema name: "public", or the template for tenant name.
func (r *runner) desired(name string, shared bool) (*schema.Schema, error) {
	if shared {
		return r.def.Shared()
	}
	return r.def.Tenant(name)
}

// refused reports whether opts refuse p. A destructive change (it can lose data) needs
// AllowDestructive; a breaking change (code built for the schema before may stop working: see
// breaking) needs AllowBreaking or AllowDestructive. Every destructive change is breaking, and
// consenting to lose data includes consenting to stop old code, so AllowDestructive allows both;
// AllowBreaking alone allows breaking changes that lose nothing (a new NOT NULL column without a
// default, a new unique index or check, a changed default). Expand/contract (README) never needs
// either flag for its expand step.
func refused(p *Plan, opts Options) bool {
	switch {
	case len(p.Unsupported) > 0:
		return true // no flag makes Citus run them
	case len(p.Destructive) > 0:
		return !opts.AllowDestructive
	case len(p.Breaking) > 0:
		return !opts.AllowBreaking && !opts.AllowDestructive
	}
	return false
}

// refusal is the error recorded for a refused plan: one line that says what and which flag.
func refusal(p *Plan) error {
	if len(p.Unsupported) > 0 {
		return toodoo.Errorf(toodoo.EFORBIDDEN, "change refused: Citus cannot run it on the tenants' distributed tables (%s); change schema.hcl instead, e.g. a new plain column filled by the application (see README, Scaling out with Citus)", strings.Join(p.Unsupported, "; "))
	}
	if len(p.Destructive) > 0 {
		return toodoo.Errorf(toodoo.EFORBIDDEN, "destructive change refused (%s); rerun with --allow-destructive to apply it", strings.Join(p.Destructive, "; "))
	}
	return toodoo.Errorf(toodoo.EFORBIDDEN, "breaking change refused (%s): code built for the schema before may stop working; rerun with --allow-breaking to apply it (see README, Rolling deploys)", strings.Join(p.Breaking, "; "))
}

// atlas returns the database handle Atlas inspects through, opened on first use (a run with
// nothing due never needs it).
func (r *runner) atlas() *sql.DB {
	r.atlasOnce.Do(func() { r.atlasDB = stdlib.OpenDBFromPool(r.pool) })
	return r.atlasDB
}

// closeAtlas closes the database handle the inspector works through, if it was opened.
func (r *runner) closeAtlas() {
	if r.atlasDB != nil {
		r.atlasDB.Close()
	}
}

// inspect inspects one schema with Atlas, in a read-only transaction with JIT off: Atlas's
// catalog queries read every index and constraint of the database, so with thousands of tenants
// their estimated cost passes jit_above_cost, and compiling them cost more than running them
// (about 1.7 of the 2.1 seconds of the inspection at 10,000 tenants, by EXPLAIN ANALYZE).
func (r *runner) inspect(ctx context.Context, name string) (*schema.Schema, error) {
	r.inspections.Add(1)
	tx, err := r.atlas().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("inspect schema %q: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	if _, err := tx.ExecContext(ctx, "SELECT set_config('jit', 'off', true)"); err != nil {
		return nil, fmt.Errorf("inspect schema %q: %w", name, err)
	}
	drv, err := postgres.Open(tx)
	if err != nil {
		return nil, fmt.Errorf("migrate: open Atlas driver: %w", err)
	}
	s, err := drv.InspectSchema(ctx, name, nil)
	if err != nil {
		if schema.IsNotExistError(err) {
			return nil, err
		}
		return nil, fmt.Errorf("inspect schema %q: %w", name, err)
	}
	return s, nil
}
