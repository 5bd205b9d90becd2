package migrate

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/schemadef"
)

// A schema that does not reach its group's fingerprint after the plan is failed (in the summary
// and the ledger); the others get the fingerprint recorded. The situation needs a schema that
// changes between planning and applying, so the check is driven directly here.
func TestCheckGroup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	pool, err := openPool(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var stmts []string
	for _, name := range []string{"same1", "same2", "odd"} {
		stmts = append(stmts, def.CreateTenantStatements(name)...)
		stmts = append(stmts,
			"INSERT INTO public.tenants (schema_name, display_name) VALUES ('"+name+"', 'x')",
			"INSERT INTO public.schema_ledger (schema_name, applied_hash) VALUES ('"+name+"', '"+def.TenantHash()+"')")
	}
	stmts = append(stmts, "ALTER TABLE odd.todos ADD COLUMN extra int")
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return schemadef.Exec(ctx, tx, stmts) }); err != nil {
		t.Fatal(err)
	}
	expected, err := fingerprintOne(ctx, pool, "same1")
	if err != nil {
		t.Fatal(err)
	}

	r := &runner{pool: pool, def: def, rep: &syncReporter{r: NopReporter{}}, sum: &Summary{Applied: 3}}
	r.checkGroup(ctx, []string{"same1", "odd", "same2"}, def.TenantHash(), expected)
	if r.sum.Applied != 2 || r.sum.Failed != 1 || len(r.sum.Failures) != 1 || r.sum.Failures[0].Schema != "odd" ||
		!strings.Contains(r.sum.Failures[0].Err.Error(), "differs from that of the first schema of its group") || len(r.sum.Warnings) != 0 {
		t.Fatalf("summary %+v", r.sum)
	}
	rows, err := pool.Query(ctx, "SELECT schema_name, coalesce(fingerprint, ''), last_error IS NOT NULL FROM public.schema_ledger ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var (
			name, fp string
			failed   bool
		)
		if err := rows.Scan(&name, &fp, &failed); err != nil {
			t.Fatal(err)
		}
		state := "fingerprint=" + ShortHash(fp)
		if failed {
			state = "failed"
		}
		got = append(got, name+":"+state)
	}
	want := "odd:failed same1:fingerprint=" + ShortHash(expected) + " same2:fingerprint=" + ShortHash(expected)
	if strings.Join(got, " ") != want {
		t.Errorf("ledger %v, want %s", got, want)
	}
}
