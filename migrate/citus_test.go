package migrate_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// TestPlainPostgresRunIsNotCitus: on plain PostgreSQL a run is not in Citus mode and distributes
// nothing; forcing Citus mode on is refused before anything is done.
func TestPlainPostgresRunIsNotCitus(t *testing.T) {
	t.Parallel()
	if dbtest.Citus() {
		t.Skip("on a Citus cluster: see TestCitusFleetMigration")
	}
	url := dbtest.URL(t)
	createTenants(t, url, nil, "alpha", "beta")
	sum := run(t, url, withPriority(t), migrate.Options{Parallel: 2})
	if sum.Citus || sum.Distributed != 0 || sum.DistributeFailed != 0 {
		t.Errorf("summary on plain PostgreSQL: Citus %t, distributed %d, failed %d", sum.Citus, sum.Distributed, sum.DistributeFailed)
	}
	if sum.Applied != 2 {
		t.Errorf("applied %d, want 2", sum.Applied)
	}
	_, err := migrate.Run(t.Context(), url, withPriority(t), migrate.Options{Citus: tenancy.CitusOn}, nil)
	if err == nil || !strings.Contains(err.Error(), "not a Citus database") {
		t.Errorf("Citus on, on plain PostgreSQL: %v; want a refusal", err)
	}
}

// TestCitusFleetMigration, on a Citus cluster: tenants made outside Citus mode are distributed by
// the next run (and the ledger records it); then a release that adds a column, an index and a
// CHECK constraint applies to every tenant, on both workers.
func TestCitusFleetMigration(t *testing.T) {
	t.Parallel()
	if !dbtest.Citus() {
		t.Skip("no Citus cluster: set TOODOO_TEST_CITUS_URL to a coordinator, or run go tool task test:citus")
	}
	ctx := t.Context()
	url := dbtest.URL(t)

	// Two tenants made with Citus mode off stay on the coordinator, undistributed.
	off, err := tenancy.OpenWith(ctx, url, tenancy.Options{Citus: tenancy.CitusOff})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"legacy1", "legacy2"} {
		if _, err := off.Create(ctx, schemadef.MustDefault(), tenancy.CreateParams{Name: name, Domain: name + ".example.test", Cold: true}); err != nil {
			t.Fatal(err)
		}
	}
	off.Close()
	createTenants(t, url, nil, "fresh1", "fresh2", "fresh3", "fresh4")
	undistributed := "SELECT count(*) FROM public.tenants t WHERE NOT EXISTS (SELECT 1 FROM pg_dist_schema d WHERE d.schemaid::regnamespace::text = t.schema_name)"
	if n := queryInt(t, url, undistributed); n != 2 {
		t.Fatalf("%d tenants undistributed before the run, want the 2 legacy ones", n)
	}

	dry, err := migrate.Run(ctx, url, schemadef.MustDefault(), migrate.Options{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.Citus || dry.Distributed != 2 || queryInt(t, url, undistributed) != 2 {
		t.Errorf("dry run: Citus %t, would distribute %d (want 2), and must change nothing", dry.Citus, dry.Distributed)
	}
	sum := run(t, url, schemadef.MustDefault(), migrate.Options{Parallel: 2})
	if sum.Distributed != 2 || sum.DistributeFailed != 0 {
		t.Errorf("run: distributed %d, failed %d; want 2, 0", sum.Distributed, sum.DistributeFailed)
	}
	if n := queryInt(t, url, undistributed); n != 0 {
		t.Errorf("%d tenants still undistributed after the run", n)
	}
	if n := queryInt(t, url, "SELECT count(*) FROM public.schema_ledger l JOIN public.tenants t USING (schema_name) WHERE l.distributed_at IS NULL"); n != 0 {
		t.Errorf("%d tenants without distributed_at in the ledger", n)
	}
	if again := run(t, url, schemadef.MustDefault(), migrate.Options{}); again.Distributed != 0 {
		t.Errorf("second run distributed %d again", again.Distributed)
	}
	if n := queryInt(t, url, `SELECT count(DISTINCT n.nodeport) FROM pg_dist_schema d
		JOIN pg_dist_partition p ON p.colocationid = d.colocationid JOIN pg_dist_shard s USING (logicalrelid)
		JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n USING (groupid)`); n != 2 {
		t.Errorf("tenants on %d nodes, want both workers", n)
	}

	// The release: a column, an index on it, a CHECK constraint.
	def := withBlocks(t, `  column "priority" {
    type    = integer
    null    = false
    default = 0
  }
  index "todos_priority_idx" {
    columns = [column.priority]
  }
  check "todos_priority_range" {
    expr = "priority BETWEEN 0 AND 9"
  }
`)
	sum = run(t, url, def, migrate.Options{Parallel: 2, AllowBreaking: true}) // a new CHECK is breaking for old code
	if sum.Applied != 6 || sum.Failed != 0 {
		t.Fatalf("release: applied %d, failed %d; want 6, 0 (%v)", sum.Applied, sum.Failed, sum.Failures)
	}
	for _, name := range []string{"legacy1", "legacy2", "fresh1", "fresh2", "fresh3", "fresh4"} {
		if changes := atlasChanges(t, url, def, name); len(changes) != 0 {
			t.Errorf("%s after the release still needs %q", name, changes)
		}
		// The CHECK holds on the worker: an out-of-range priority is refused there.
		dbtest.Exec(t, url, "INSERT INTO "+name+".todos (title, created_by, priority) VALUES ('ok', 1, 9)")
		err := queryErr(t, url, "INSERT INTO "+name+".todos (title, created_by, priority) VALUES ('bad', 1, 10)")
		if err == nil || !strings.Contains(err.Error(), "todos_priority_range") {
			t.Errorf("%s: priority 10 inserted (%v); want the CHECK to refuse it", name, err)
		}
	}
}

// queryErr runs one statement on its own connection and returns its error.
func queryErr(tb testing.TB, url, sql string) error {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(tb.Context())
	_, err = conn.Exec(tb.Context(), sql)
	return err
}
