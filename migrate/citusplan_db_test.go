package migrate_test

import (
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// TestCitusRefusesIdentityColumn: a release that adds an identity column to the tenants' table is
// refused on Citus before anything is applied (Citus cannot add one to a distributed table), with
// a message that says which change and why; on plain PostgreSQL the same release applies.
func TestCitusRefusesIdentityColumn(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	createTenants(t, url, nil, "ident1", "ident2")
	run(t, url, schemadef.MustDefault(), migrate.Options{})
	def := withBlocks(t, `  column "seq" {
    type = bigint
    null = false
    identity {
      generated = BY_DEFAULT
    }
  }
`)
	columns := "SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'seq'"
	sum, err := migrate.Run(t.Context(), url, def, migrate.Options{AllowBreaking: true, AllowDestructive: true}, nil)
	if !dbtest.Citus() {
		if err != nil || sum.Applied != 2 || queryInt(t, url, columns) != 2 {
			t.Fatalf("plain PostgreSQL: applied %d, %d columns, err %v; want 2, 2, nil", sum.Applied, queryInt(t, url, columns), err)
		}
		return
	}
	if err == nil || sum.Failed != 2 || sum.Applied != 0 {
		t.Fatalf("Citus: err %v, failed %d, applied %d; want an error, 2 failed, 0 applied", err, sum.Failed, sum.Applied)
	}
	for _, f := range sum.Failures {
		if msg := f.Err.Error(); !strings.Contains(msg, "Citus cannot run it") || !strings.Contains(msg, "add identity column todos.seq") {
			t.Errorf("%s: %v; want the Citus refusal naming the column", f.Schema, f.Err)
		}
	}
	if len(sum.Plans) == 0 || len(sum.Plans[len(sum.Plans)-1].Unsupported) == 0 {
		t.Errorf("plans %+v: want the tenants' plan to list the unsupported change", sum.Plans)
	}
	if n := queryInt(t, url, columns); n != 0 {
		t.Errorf("%d tenants got the column although the plan was refused", n)
	}
}
