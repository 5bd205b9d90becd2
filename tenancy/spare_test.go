package tenancy_test

import (
	"bytes"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

func countSpares(t *testing.T, db *tenancy.DB) (schemas, ledger int) {
	t.Helper()
	err := db.Pool().QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, 'toodoo_spare_')),
		(SELECT count(*) FROM public.schema_ledger WHERE starts_with(schema_name, 'toodoo_spare_'))`).Scan(&schemas, &ledger)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestCreateTakesSpare(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	def := schemadef.MustDefault()
	if built, err := db.FillSpares(t.Context(), def, 2); err != nil || built != 2 {
		t.Fatalf("FillSpares = %d, %v; want 2 built", built, err)
	}
	if built, err := db.FillSpares(t.Context(), def, 2); err != nil || built != 0 {
		t.Fatalf("FillSpares again = %d, %v; want 0 built", built, err)
	}
	tn := testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: "warm"})
	if s, l := countSpares(t, db); s != 1 || l != 1 {
		t.Errorf("after one warm creation: %d spare schemas, %d ledger rows; want 1, 1", s, l)
	}
	if s, tr, d, l := footprint(t, db, "warm"); s != 1 || tr != 1 || d != 1 || l != 1 {
		t.Errorf("warm tenant footprint = %d %d %d %d; want 1 each", s, tr, d, l)
	}
	// A tenant made from a spare behaves like any other.
	testfactory.Todo(t.Context(), t, db, tn, &testfactory.TodoOpts{Title: "from a spare"})
	if got := listTitles(t, db, tn); len(got) != 1 {
		t.Errorf("warm tenant lists %q", got)
	}
	// A failed creation gives the spare back.
	if _, err := db.Create(t.Context(), def, tenancy.CreateParams{Name: "clash", Domain: "warm.example.test"}); toodoo.ErrorCode(err) != toodoo.ECONFLICT {
		t.Fatalf("create with a taken domain: %v", err)
	}
	if s, l := countSpares(t, db); s != 1 || l != 1 {
		t.Errorf("after a failed creation: %d spare schemas, %d ledger rows; want 1, 1", s, l)
	}
}

func TestFillSparesDropsStaleSpares(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	old := schemadef.MustDefault()
	if _, err := db.FillSpares(t.Context(), old, 2); err != nil {
		t.Fatal(err)
	}
	changed, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(`table "todos" {`), []byte("table \"todos\" {\n  column \"note\" {\n    type = text\n    null = true\n  }"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if changed.TenantHash() == old.TenantHash() {
		t.Fatal("the schema change was not injected")
	}
	// A new schema.hcl never gets an old spare.
	testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Def: changed, Name: "fresh"})
	var n int
	if err := db.Pool().QueryRow(t.Context(), `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'fresh' AND column_name = 'note'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("tenant created under the new schema.hcl lacks the new column (%d, %v)", n, err)
	}
	if built, err := db.FillSpares(t.Context(), changed, 1); err != nil || built != 1 {
		t.Fatalf("FillSpares(new) = %d, %v; want 1", built, err)
	}
	if s, l := countSpares(t, db); s != 1 || l != 1 {
		t.Errorf("stale spares not dropped: %d schemas, %d ledger rows; want 1, 1", s, l)
	}
}
