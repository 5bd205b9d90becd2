package migrate_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// A run with nothing due counts the schemas from the first round trip and records itself (dry
// runs do not); one with a tenant behind in the ledger goes the whole way. The first round
// trip's reads keep no table lock for the run: a change of "public" to the very tables they
// read (the registry and the ledger) applies at once, within a short lock timeout. A record that
// fails is a warning.
func TestNothingDue(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "one", "two")
	run(t, url, def, migrate.Options{Queue: true})
	before := queryInt(t, url, "SELECT count(*) FROM public.migration_runs")

	for _, test := range []struct {
		opts migrate.Options
		want counts
	}{
		{migrate.Options{Queue: true}, counts{Schemas: 3, Current: 3}},
		{migrate.Options{SharedOnly: true}, counts{Schemas: 1, Current: 1}},
		{migrate.Options{DryRun: true}, counts{Schemas: 3, Current: 3}},
	} {
		if got := countsOf(run(t, url, def, test.opts)); got != test.want {
			t.Errorf("%+v: %+v, want %+v", test.opts, got, test.want)
		}
	}
	if got := queryInt(t, url, "SELECT count(*) FROM public.migration_runs WHERE outcome = 'ok' AND applied = 0 AND failed = 0"); got < 2 {
		t.Errorf("%d runs with nothing applied recorded, want at least 2", got)
	}
	if got := queryInt(t, url, "SELECT count(*) FROM public.migration_runs") - before; got != 2 {
		t.Errorf("%d runs recorded, want 2 (a dry run records none)", got)
	}

	dbtest.Exec(t, url, "DELETE FROM public.schema_ledger WHERE schema_name = 'two'")
	if got, want := countsOf(run(t, url, def, migrate.Options{})), (counts{Schemas: 3, Current: 2, Recorded: 1, Inspections: 1}); got != want {
		t.Errorf("a tenant behind: %+v, want %+v", got, want)
	}

	const anchor = "  comment = \"The tenant registry: one row per tenant schema.\"\n"
	hcl := bytes.Replace(toodoo.SchemaHCL, []byte(anchor), []byte(anchor+"  column \"note\" {\n    type = text\n    null = true\n  }\n"), 1)
	next, err := schemadef.Load(hcl)
	if err != nil {
		t.Fatal(err)
	}
	opts := migrate.Options{Queue: true, LockTimeout: 500 * time.Millisecond, LockAttempts: 1}
	if got, want := countsOf(run(t, url, next, opts)), (counts{Schemas: 3, Current: 2, Applied: 1, Inspections: 1}); got != want {
		t.Errorf("a column added to public.tenants: %+v, want %+v", got, want)
	}

	// The record fails: a warning, not the run's failure; the lock is let go all the same.
	dbtest.Exec(t, url, "DROP TABLE public.migration_runs")
	for range 2 {
		if sum := run(t, url, next, migrate.Options{}); len(sum.Warnings) != 1 || sum.Current != 3 {
			t.Errorf("without migration_runs: %d warnings (%v), %d current; want 1 warning, 3 current", len(sum.Warnings), sum.Warnings, sum.Current)
		}
	}
}
