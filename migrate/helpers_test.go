package migrate_test

import (
	"bytes"
	"fmt"
	"testing"

	"ariga.io/atlas/sql/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// withColumn returns the default schema.hcl with one more column in the tenant table todos,
// written in HCL (the body of a column block): a changed schema.hcl, as a release would ship.
func withColumn(tb testing.TB, name, body string) *schemadef.Definition {
	tb.Helper()
	return withBlocks(tb, fmt.Sprintf("  column %q {\n%s\n  }\n", name, body))
}

// withBlocks returns the default schema.hcl with HCL blocks added to the table todos.
func withBlocks(tb testing.TB, blocks string) *schemadef.Definition {
	tb.Helper()
	const anchor = `  column "completed_at" {`
	hcl := toodoo.SchemaHCL
	if bytes.Count(hcl, []byte(anchor)) != 1 {
		tb.Fatalf("schema.hcl no longer has exactly one %q: update withBlocks", anchor)
	}
	def, err := schemadef.Load(bytes.Replace(hcl, []byte(anchor), []byte(blocks+anchor), 1))
	if err != nil {
		tb.Fatalf("schemadef.Load: %v", err)
	}
	return def
}

// withPriority is schema.hcl plus a nullable integer column todos.priority.
func withPriority(tb testing.TB) *schemadef.Definition {
	return withColumn(tb, "priority", "    type = integer\n    null = true")
}

// createTenants creates the named tenants with testfactory.Tenants (tenancy.Create, the real path,
// which records the template's hash in the ledger), cold, four at a time, on a pool it closes
// before returning.
func createTenants(tb testing.TB, url string, def *schemadef.Definition, names ...string) {
	tb.Helper()
	ctx := tb.Context()
	db, err := tenancy.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	opts := make([]*testfactory.TenantOpts, len(names))
	for i, name := range names {
		opts[i] = &testfactory.TenantOpts{Cold: true, Def: def, Name: name}
	}
	testfactory.Tenants(ctx, tb, db, opts...)
}

func tenantNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return names
}

// queryInt runs a query that returns one integer.
func queryInt(tb testing.TB, url, sql string, args ...any) int {
	tb.Helper()
	ctx := tb.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// atlasChanges inspects schema name with Atlas (a fresh driver, as the Atlas CLI would) and
// returns the statements that would bring it to def: none, after a successful migration.
func atlasChanges(tb testing.TB, url string, def *schemadef.Definition, name string) []string {
	tb.Helper()
	ctx := tb.Context()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	drv, err := postgres.Open(db)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := drv.InspectSchema(ctx, name, nil)
	if err != nil {
		tb.Fatalf("inspect %s: %v", name, err)
	}
	want, err := def.Tenant(name)
	if name == schemadef.SharedSchema {
		want, err = def.Shared()
	}
	if err != nil {
		tb.Fatal(err)
	}
	changes, err := drv.SchemaDiff(got, want)
	if err != nil {
		tb.Fatal(err)
	}
	stmts, err := schemadef.Render(changes, true)
	if err != nil {
		tb.Fatal(err)
	}
	return stmts
}

// recorder is a Reporter that keeps everything.
type recorder struct {
	waiting   int
	onWaiting func() // called when the run reports that it waits for the lock
	plans     []*migrate.Plan
	applying  []int
	done      []migrate.Result
}

func (r *recorder) Waiting() {
	r.waiting++
	if r.onWaiting != nil {
		r.onWaiting()
	}
}
func (r *recorder) Planned(p *migrate.Plan) { r.plans = append(r.plans, p) }
func (r *recorder) Applying(n int)          { r.applying = append(r.applying, n) }
func (r *recorder) Done(res migrate.Result) { r.done = append(r.done, res) }

// run runs the migrator and fails the test on an error.
func run(tb testing.TB, url string, def *schemadef.Definition, opts migrate.Options) *migrate.Summary {
	tb.Helper()
	sum, err := migrate.Run(tb.Context(), url, def, opts, nil)
	if err != nil {
		tb.Fatalf("migrate.Run: %v (summary %+v)", err, sum)
	}
	return sum
}

// counts is the part of a Summary that tests compare.
type counts struct{ Schemas, Current, Applied, Recorded, Pending, Failed, Drifted, Inspections int }

func countsOf(s *migrate.Summary) counts {
	return counts{s.Schemas, s.Current, s.Applied, s.Recorded, s.Pending, s.Failed, s.Drifted, s.Inspections}
}
