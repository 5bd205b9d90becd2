package tenancy_test

import (
	"bytes"
	"testing"
	"time"

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
	if built, err := db.FillSpares(t.Context(), def, 2, tenancy.SpareGrace); err != nil || built != 2 {
		t.Fatalf("FillSpares = %d, %v; want 2 built", built, err)
	}
	if built, err := db.FillSpares(t.Context(), def, 2, tenancy.SpareGrace); err != nil || built != 0 {
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

// sparesByHash counts the spare schemas' ledger rows per hash, checking that each has its schema.
func sparesByHash(t *testing.T, db *tenancy.DB) map[string]int {
	t.Helper()
	rows, err := db.Pool().Query(t.Context(), `SELECT l.applied_hash, count(*), count(n.nspname)
		FROM public.schema_ledger l LEFT JOIN pg_namespace n ON n.nspname = l.schema_name
		WHERE starts_with(l.schema_name, 'toodoo_spare_') GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var hash string
		var n, schemas int
		if err := rows.Scan(&hash, &n, &schemas); err != nil {
			t.Fatal(err)
		}
		if schemas != n {
			t.Errorf("hash %s: %d ledger rows, %d schemas", hash, n, schemas)
		}
		got[hash] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if s, l := countSpares(t, db); s != l {
		t.Errorf("%d spare schemas, %d ledger rows", s, l)
	}
	return got
}

// TestSparesOfTwoVersions: during a rolling deploy, processes of two schema.hcl versions keep
// their spare schemas side by side, each taking only its own; spares of a version that nobody
// claims any more are dropped once the grace period has passed.
func TestSparesOfTwoVersions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	old := schemadef.MustDefault()
	changed, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(`table "todos" {`), []byte("table \"todos\" {\n  column \"note\" {\n    type = text\n    null = true\n  }"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if changed.TenantHash() == old.TenantHash() {
		t.Fatal("the schema change was not injected")
	}
	want := func(what string, nOld, nChanged int) {
		t.Helper()
		got := sparesByHash(t, db)
		if got[old.TenantHash()] != nOld || got[changed.TenantHash()] != nChanged || len(got) > 2 {
			t.Errorf("%s: spares per hash %v; want %d old (%s), %d new (%s)", what, got, nOld, old.TenantHash(), nChanged, changed.TenantHash())
		}
	}
	fill := func(def *schemadef.Definition, grace time.Duration, wantBuilt int) {
		t.Helper()
		if built, err := db.FillSpares(ctx, def, 2, grace); err != nil || built != wantBuilt {
			t.Fatalf("FillSpares = %d, %v; want %d built", built, err, wantBuilt)
		}
	}
	fill(old, tenancy.SpareGrace, 2)
	fill(changed, tenancy.SpareGrace, 2)
	want("both versions filled", 2, 2)
	fill(old, tenancy.SpareGrace, 0)
	fill(changed, tenancy.SpareGrace, 0)
	want("both versions refilled", 2, 2)

	// Each version takes only its own spares.
	hasNote := func(schema string) bool {
		var n int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'todos' AND column_name = 'note'`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Def: changed, Name: "fresh"})
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Def: old, Name: "stale"})
	if !hasNote("fresh") || hasNote("stale") {
		t.Errorf("tenants took another version's spare: new version's has the new column: %v, old version's: %v", hasNote("fresh"), hasNote("stale"))
	}
	want("one taken by each version", 1, 1)

	// The old version is gone: nobody claims its spares any more. The new version's refills drop
	// them once they have not been claimed for the grace period (short here), never its own.
	const grace = 200 * time.Millisecond
	fill(changed, grace, 1)
	deadline := time.Now().Add(15 * time.Second)
	for sparesByHash(t, db)[old.TenantHash()] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the old version's spares were not dropped: %v", sparesByHash(t, db))
		}
		time.Sleep(50 * time.Millisecond)
		fill(changed, grace, 0)
	}
	want("after the grace period", 0, 2)
}
