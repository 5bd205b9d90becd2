package migrate_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// On an empty database the first run creates everything, the ledger included; the second
// finds nothing to do and inspects nothing.
func TestEmptyDatabase(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	def := schemadef.MustDefault()

	sum := run(t, url, def, migrate.Options{})
	if got, want := countsOf(sum), (counts{Schemas: 1, Applied: 1, Inspections: 1}); got != want {
		t.Errorf("first run: %+v, want %+v", got, want)
	}
	if stmts := atlasChanges(t, url, def, "public"); len(stmts) > 0 {
		t.Errorf("after migrate, Atlas still wants to change public:\n%s", strings.Join(stmts, "\n"))
	}
	sum = run(t, url, def, migrate.Options{})
	if got, want := countsOf(sum), (counts{Schemas: 1, Current: 1}); got != want {
		t.Errorf("second run: %+v, want %+v", got, want)
	}
}

// A fleet created by tenancy.Create is current: the first run only records "public" (applied by
// the test harness without the ledger), later runs inspect nothing. A changed schema.hcl is
// applied once, after which Atlas finds nothing to change in public or in any tenant, and
// --verify finds no drift.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	names := tenantNames("acme", 3)
	createTenants(t, url, def, names...)

	if got, want := countsOf(run(t, url, def, migrate.Options{})), (counts{Schemas: 4, Current: 3, Recorded: 1, Inspections: 1}); got != want {
		t.Errorf("first run: %+v, want %+v", got, want)
	}
	if got, want := countsOf(run(t, url, def, migrate.Options{})), (counts{Schemas: 4, Current: 4}); got != want {
		t.Errorf("second run (no-op): %+v, want %+v", got, want)
	}

	next := withPriority(t)
	rec := &recorder{}
	sum, err := migrate.Run(t.Context(), url, next, migrate.Options{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 4, Current: 1, Applied: 3, Inspections: 1}); got != want {
		t.Errorf("add column: %+v, want %+v", got, want)
	}
	if len(rec.plans) != 1 || !slices.Equal(rec.plans[0].Schemas, names) || len(rec.plans[0].Statements) != 1 ||
		!strings.Contains(rec.plans[0].Statements[0], `ADD COLUMN "priority" integer NULL`) || strings.Contains(rec.plans[0].Statements[0], "acme") {
		t.Errorf("plans = %+v, want one unqualified ADD COLUMN for %v", rec.plans, names)
	}
	if len(rec.done) != 3 || !slices.Equal(rec.applying, []int{3}) {
		t.Errorf("reported %d done and applying %v, want 3 and [3]", len(rec.done), rec.applying)
	}
	if got, want := countsOf(run(t, url, next, migrate.Options{})), (counts{Schemas: 4, Current: 4}); got != want {
		t.Errorf("rerun: %+v, want %+v", got, want)
	}
	for _, name := range []string{"public", names[0], names[2]} {
		if stmts := atlasChanges(t, url, next, name); len(stmts) > 0 {
			t.Errorf("after migrate, Atlas still wants to change %s:\n%s", name, strings.Join(stmts, "\n"))
		}
	}
	if got, want := countsOf(run(t, url, next, migrate.Options{Verify: true})), (counts{Schemas: 4, Current: 4, Inspections: 1}); got != want {
		t.Errorf("verify: %+v, want %+v (only public is inspected)", got, want)
	}
}

// Options that contradict each other or name unknown tenants are refused before anything runs.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "known")
	_, err := migrate.Run(t.Context(), url, def, migrate.Options{SharedOnly: true, Tenants: []string{"known"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("SharedOnly with Tenants: %v", err)
	}
	_, err = migrate.Run(t.Context(), url, def, migrate.Options{Tenants: []string{"known", "nosuch"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || errors.Is(err, migrate.ErrIncomplete) {
		t.Errorf("unknown tenant: %v", err)
	}
}

// 200 tenants get a new column in parallel; every one has it afterwards and the ledger says so.
func TestParallel200(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	names := tenantNames("t", 200)
	createTenants(t, url, schemadef.MustDefault(), names...)
	next := withPriority(t)

	sum := run(t, url, next, migrate.Options{Parallel: 8})
	if got, want := countsOf(sum), (counts{Schemas: 201, Applied: 200, Recorded: 1, Inspections: 2}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'`); n != 200 {
		t.Errorf("%d tenants have todos.priority, want 200", n)
	}
	st, err := migrate.Status(t.Context(), url, next)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != 201 || st.Behind != 0 || st.Failed != 0 {
		t.Errorf("status: %d current, %d behind, %d failed; want 201, 0, 0", st.Current, st.Behind, st.Failed)
	}
	if n := queryInt(t, url, `SELECT count(DISTINCT fingerprint) FROM public.schema_ledger WHERE schema_name <> 'public'`); n != 1 {
		t.Errorf("tenants recorded %d distinct fingerprints after the same plan, want 1", n)
	}
}

// A tenant that cannot take the change fails, is recorded as failed, and does not stop the
// others; once fixed, the next run applies it alone. The broken tenant sorts first, so it is
// also the first schema its group tries.
func TestContinueOnError(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "a_broken", "b_ok", "c_ok", "d_gone", "e_ok")
	run(t, url, def, migrate.Options{})
	// a_broken has a to-do, so a NOT NULL column without default cannot be added to it.
	dbtest.Exec(t, url, `INSERT INTO a_broken.todos (title, created_by) VALUES ('x', 1)`)
	// d_gone lost its schema behind the registry's back.
	dbtest.Exec(t, url, `DROP SCHEMA d_gone CASCADE`)
	next := withColumn(t, "owner", "    type = bigint\n    null = false")

	rec := &recorder{}
	sum, err := migrate.Run(t.Context(), url, next, migrate.Options{Parallel: 2, AllowBreaking: true}, rec)
	if !errors.Is(err, migrate.ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 6, Current: 1, Applied: 3, Failed: 2, Inspections: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	var failed []string
	for _, f := range sum.Failures {
		failed = append(failed, f.Schema)
	}
	if !slices.Equal(failed, []string{"a_broken", "d_gone"}) {
		t.Errorf("failures %v, want a_broken and d_gone", sum.Failures)
	}
	if !strings.Contains(sum.Failures[0].Err.Error(), "contains null values") {
		t.Errorf("a_broken failed with %v", sum.Failures[0].Err)
	}
	st, err := migrate.Status(t.Context(), url, next)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, s := range st.Schemas {
		states[s.Schema] = s.State
		if s.State == migrate.StateFailed && (s.LastError == nil || s.AttemptedHash == nil || *s.AttemptedHash != next.TenantHash()) {
			t.Errorf("%s: failed without error or attempted hash: %+v", s.Schema, s)
		}
	}
	want := map[string]string{"public": "current", "a_broken": "failed", "b_ok": "current", "c_ok": "current", "d_gone": "failed", "e_ok": "current"}
	if !maps.Equal(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}

	dbtest.Exec(t, url, `DELETE FROM a_broken.todos`)
	sum, err = migrate.Run(t.Context(), url, next, migrate.Options{Tenants: []string{"a_broken"}, AllowBreaking: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 1, Applied: 1, Inspections: 1}); got != want {
		t.Errorf("after the fix: %+v, want %+v", got, want)
	}
}

// Dropping a column is refused unless allowed; a refused plan changes nothing and is recorded.
func TestDestructiveRefused(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	old := withPriority(t)
	createTenants(t, url, old, "one", "two")
	run(t, url, old, migrate.Options{})
	def := schemadef.MustDefault() // without todos.priority

	// Narrowing a type is refused too; widening is not.
	narrow := withColumn(t, "priority", "    type = smallint\n    null = true")
	rec := &recorder{}
	if _, err := migrate.Run(t.Context(), url, narrow, migrate.Options{DryRun: true}, rec); !errors.Is(err, migrate.ErrIncomplete) ||
		len(rec.plans) != 1 || !slices.Equal(rec.plans[0].Destructive, []string{"change type of todos.priority from integer to smallint"}) {
		t.Errorf("narrowing: err %v, plans %+v", err, rec.plans)
	}
	// Widening loses nothing but is breaking (the column's result type changes under old code).
	rec = &recorder{}
	wide := withColumn(t, "priority", "    type = bigint\n    null = true")
	if _, err := migrate.Run(t.Context(), url, wide, migrate.Options{DryRun: true}, rec); !errors.Is(err, migrate.ErrIncomplete) ||
		len(rec.plans) != 1 || len(rec.plans[0].Destructive) != 0 || !rec.plans[0].Refused ||
		!slices.Equal(rec.plans[0].Breaking, []string{"change column todos.priority"}) {
		t.Errorf("widening: err %v, plans %+v", err, rec.plans)
	}
	rec = &recorder{}
	if _, err := migrate.Run(t.Context(), url, wide, migrate.Options{DryRun: true, AllowBreaking: true}, rec); err != nil ||
		len(rec.plans) != 1 || rec.plans[0].Refused {
		t.Errorf("widening allowed: err %v, plans %+v", err, rec.plans)
	}

	rec = &recorder{}
	sum, err := migrate.Run(t.Context(), url, def, migrate.Options{}, rec)
	if !errors.Is(err, migrate.ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 3, Current: 1, Failed: 2, Inspections: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if len(rec.plans) != 1 || !rec.plans[0].Refused || !slices.Equal(rec.plans[0].Destructive, []string{"drop column todos.priority"}) {
		t.Errorf("plans %+v, want one refused plan dropping todos.priority", rec.plans)
	}
	if len(rec.done) != 0 {
		t.Errorf("%d schemas reported done, want none", len(rec.done))
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'`); n != 2 {
		t.Errorf("%d tenants still have priority, want 2", n)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM public.schema_ledger WHERE last_error LIKE '%destructive change refused%'`); n != 2 {
		t.Errorf("%d refusals in the ledger, want 2", n)
	}

	sum = run(t, url, def, migrate.Options{AllowDestructive: true})
	if got, want := countsOf(sum), (counts{Schemas: 3, Current: 1, Applied: 2, Inspections: 1}); got != want {
		t.Errorf("allowed: %+v, want %+v", got, want)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'`); n != 0 {
		t.Errorf("%d tenants still have priority, want 0", n)
	}
}

// A dry run plans and reports, and changes neither the schemas nor the ledger.
func TestDryRun(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "one", "two")
	next := withPriority(t)
	rec := &recorder{}
	sum, err := migrate.Run(t.Context(), url, next, migrate.Options{DryRun: true}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 3, Pending: 3, Inspections: 2}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if len(rec.plans) != 2 || len(rec.done) != 0 || len(rec.applying) != 0 {
		t.Errorf("reported %d plans, %d done, applying %v; want 2, 0, none", len(rec.plans), len(rec.done), rec.applying)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'`); n != 0 {
		t.Errorf("dry run added the column to %d tenants", n)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM public.schema_ledger`); n != 2 {
		t.Errorf("dry run wrote the ledger: %d rows, want the 2 tenancy.Create wrote", n)
	}
}

// --tenant and --shared-only narrow the run.
func TestNarrow(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	createTenants(t, url, schemadef.MustDefault(), "one", "two", "three")
	next := withPriority(t)
	if got, want := countsOf(run(t, url, next, migrate.Options{SharedOnly: true})), (counts{Schemas: 1, Recorded: 1, Inspections: 1}); got != want {
		t.Errorf("shared only: %+v, want %+v", got, want)
	}
	if got, want := countsOf(run(t, url, next, migrate.Options{Tenants: []string{"two", "one", "two"}})), (counts{Schemas: 2, Applied: 2, Inspections: 1}); got != want {
		t.Errorf("two tenants: %+v, want %+v", got, want)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority' AND table_schema = 'three'`); n != 0 {
		t.Errorf("tenant three was migrated")
	}
}

// Deleted tenants are left alone; suspended ones are migrated.
func TestTenantStatus(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	createTenants(t, url, schemadef.MustDefault(), "live", "paused", "gone")
	dbtest.Exec(t, url, `UPDATE public.tenants SET status = 'suspended' WHERE schema_name = 'paused';
		UPDATE public.tenants SET status = 'deleted' WHERE schema_name = 'gone'`)
	if got, want := countsOf(run(t, url, withPriority(t), migrate.Options{})), (counts{Schemas: 3, Applied: 2, Recorded: 1, Inspections: 2}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
}
