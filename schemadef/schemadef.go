// Package schemadef turns schema.hcl into the desired state with the Atlas Go library: the shared
// schema, the tenant template evaluated for any tenant name, the plain DDL that creates each from
// nothing, and a hash that names the desired state (the migrator's ledger records it).
//
// Atlas is used as a library because its CLI cannot be installed everywhere; the same file stays
// valid for `atlas schema apply` (see atlas.hcl).
package schemadef

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/zclconf/go-cty/cty"

	"github.com/toodoo/toodoo"
)

// SharedSchema is the name of the shared schema.
const SharedSchema = "public"

// templateName is the tenant name used to evaluate the template when no tenant is at hand. It
// never appears in rendered DDL (tenant DDL is rendered without a schema qualifier).
const templateName = "tenant_template"

// Definition is an evaluated schema.hcl.
type Definition struct {
	hcl        []byte
	sharedDDL  []string
	tenantDDL  []string
	sharedHash string
	tenantHash string
}

// Load evaluates an HCL schema definition (normally toodoo.SchemaHCL) and renders its DDL.
// It returns an error if the file does not evaluate or lacks the public or tenant schema.
func Load(hcl []byte) (*Definition, error) {
	d := &Definition{hcl: hcl}
	shared, err := d.Shared()
	if err != nil {
		return nil, err
	}
	tenant, err := d.Tenant(templateName)
	if err != nil {
		return nil, err
	}
	if d.sharedDDL, err = CreateDDL(shared, true); err != nil {
		return nil, fmt.Errorf("schemadef: render shared DDL: %w", err)
	}
	if d.tenantDDL, err = CreateDDL(tenant, false); err != nil {
		return nil, fmt.Errorf("schemadef: render tenant DDL: %w", err)
	}
	d.sharedHash = hash(d.sharedDDL)
	d.tenantHash = hash(d.tenantDDL)
	return d, nil
}

var (
	defaultOnce sync.Once
	defaultDef  *Definition
	defaultErr  error
)

// Default returns the definition of the embedded schema.hcl, evaluated once.
func Default() (*Definition, error) {
	defaultOnce.Do(func() { defaultDef, defaultErr = Load(toodoo.SchemaHCL) })
	return defaultDef, defaultErr
}

// MustDefault is Default for callers that cannot go on without it (the embedded file is checked
// by tests, so a failure here is a build defect).
func MustDefault() *Definition {
	d, err := Default()
	if err != nil {
		panic(err)
	}
	return d
}

// HCL returns the source the definition was loaded from.
func (d *Definition) HCL() []byte { return d.hcl }

// SharedDDL returns the statements that create the shared schema's objects in an empty "public".
func (d *Definition) SharedDDL() []string { return d.sharedDDL }

// TenantDDL returns the statements that create the tenant template's objects, without a schema
// qualifier: they are run with search_path set to the new tenant's schema.
func (d *Definition) TenantDDL() []string { return d.tenantDDL }

// CreateTenantStatements returns the statements that make the tenant schema name from the
// template: CREATE SCHEMA, SET LOCAL search_path to it, the template DDL, and SET LOCAL
// search_path back to empty, so that statements after them in the same transaction run with the
// empty path every connection has. Run them with Exec, inside a transaction (SET LOCAL ends with
// it). name is quoted, so it is safe whatever it holds. Tenant creation, spare schemas and the
// migrator's scratch template all build a schema with them, so they build the same schema.
func (d *Definition) CreateTenantStatements(name string) []string {
	ident := pgx.Identifier{name}.Sanitize()
	stmts := make([]string, 0, len(d.tenantDDL)+3)
	stmts = append(stmts, "CREATE SCHEMA "+ident, "SET LOCAL search_path TO "+ident)
	stmts = append(stmts, d.tenantDDL...)
	return append(stmts, "SET LOCAL search_path TO ''")
}

// Exec runs statements without arguments (DDL, SET LOCAL) in order inside tx, one statement per
// protocol message, all sent at once: one round trip, like a multi-statement script sent with
// the simple protocol, which it replaces. Citus needs one statement per message: it forwards
// the text of some DDL (CREATE INDEX, ALTER TABLE ... ADD CONSTRAINT, ...) on a distributed
// table to its workers as it came, and they refuse several statements in one (42601, "cannot
// insert multiple commands into a prepared statement"). The statements are sent unnamed, so
// nothing is left prepared on the connection (PgBouncer in transaction mode is fine). It
// returns the first statement's error; those after it are skipped (the transaction is aborted).
func Exec(ctx context.Context, tx pgx.Tx, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	batch := &pgconn.Batch{}
	for _, stmt := range stmts {
		batch.ExecParams(stmt, nil, nil, nil, nil)
	}
	results, err := tx.Conn().PgConn().ExecBatch(ctx, batch).ReadAll()
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	return err
}

// SharedHash names the desired state of the shared schema.
func (d *Definition) SharedHash() string { return d.sharedHash }

// TenantHash names the desired state of every tenant schema.
func (d *Definition) TenantHash() string { return d.tenantHash }

// Shared evaluates and returns the desired shared schema (a fresh copy the caller may change).
func (d *Definition) Shared() (*schema.Schema, error) {
	return d.eval(templateName, SharedSchema)
}

// Tenant evaluates and returns the desired schema of the tenant whose schema is name (a fresh copy).
func (d *Definition) Tenant(name string) (*schema.Schema, error) {
	if name == SharedSchema {
		return nil, fmt.Errorf("schemadef: %q is not a tenant schema", name)
	}
	return d.eval(name, name)
}

func (d *Definition) eval(tenant, want string) (*schema.Schema, error) {
	var realm schema.Realm
	if err := postgres.EvalHCLBytes(d.hcl, &realm, map[string]cty.Value{"tenant": cty.StringVal(tenant)}); err != nil {
		return nil, fmt.Errorf("schemadef: evaluate schema.hcl: %w", err)
	}
	s, ok := realm.Schema(want)
	if !ok {
		return nil, fmt.Errorf("schemadef: schema.hcl declares no schema %q", want)
	}
	if len(realm.Schemas) != 2 {
		return nil, fmt.Errorf("schemadef: schema.hcl must declare exactly the schemas %q and \"tenant\", found %d", SharedSchema, len(realm.Schemas))
	}
	s.Realm = nil
	return s, nil
}

// CreateDDL renders the statements that create s's objects in an empty schema of the same name.
// With qualify false, names carry no schema qualifier.
func CreateDDL(s *schema.Schema, qualify bool) ([]string, error) {
	changes, err := postgres.DefaultDiff.SchemaDiff(schema.New(s.Name), s)
	if err != nil {
		return nil, err
	}
	return Render(changes, qualify)
}

// Render turns changes into SQL statements; with qualify false, without schema qualifier.
func Render(changes []schema.Change, qualify bool) ([]string, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	var opts []migrate.PlanOption
	if !qualify {
		opts = append(opts, func(o *migrate.PlanOptions) { o.SchemaQualifier = new(string) })
	}
	plan, err := postgres.DefaultPlan.PlanChanges(context.Background(), "render", changes, opts...)
	if err != nil {
		return nil, err
	}
	stmts := make([]string, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		stmts = append(stmts, c.Cmd)
	}
	return stmts, nil
}

// Script joins statements into one script, one statement per line, each ending in ";".
func Script(stmts []string) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s)
		b.WriteString(";\n")
	}
	return b.String()
}

func hash(stmts []string) string {
	sum := sha256.Sum256([]byte(Script(stmts)))
	return hex.EncodeToString(sum[:8])
}
