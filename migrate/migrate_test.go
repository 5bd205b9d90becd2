package migrate_test

import (
	"context"
	"errors"
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
	sum, err := migrate.Run(context.Background(), url, next, migrate.Options{}, rec)
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
	_, err := migrate.Run(context.Background(), url, def, migrate.Options{SharedOnly: true, Tenants: []string{"known"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("SharedOnly with Tenants: %v", err)
	}
	_, err = migrate.Run(context.Background(), url, def, migrate.Options{Tenants: []string{"known", "nosuch"}}, nil)
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || errors.Is(err, migrate.ErrIncomplete) {
		t.Errorf("unknown tenant: %v", err)
	}
}
