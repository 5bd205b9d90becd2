package tenancy_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// citusDB is a DB on a new test database of the cluster. Moves connect from the coordinator to
// itself by citus.local_hostname (default localhost); the test cluster's nodes know each other
// (and their passwords) by the name in Citus's metadata, so the database is told to use that.
func citusDB(t *testing.T) *tenancy.DB {
	t.Helper()
	ctx := t.Context()
	url := dbtest.URL(t)
	db := testfactory.DB(ctx, t, url)
	if !db.Citus() {
		t.Fatal("TOODOO_TEST_CITUS_URL is set but the test database has no citus extension")
	}
	var host string
	if err := db.Pool().QueryRow(ctx, "SELECT nodename FROM pg_dist_node WHERE groupid = 0").Scan(&host); err == nil {
		var name string
		if err := db.Pool().QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET citus.local_hostname = "+quoteLiteral(host)); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db = testfactory.DB(ctx, t, url) // new sessions take the setting
	}
	return db
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestCitusModeRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in        string
		installed bool
		want      bool
		wantErr   string
	}{
		{"", false, false, ""},
		{"", true, true, ""},
		{"auto", true, true, ""},
		{" AUTO ", false, false, ""},
		{"on", true, true, ""},
		{"on", false, false, "not a Citus database"},
		{"off", true, false, ""},
		{"off", false, false, ""},
		{"yes", true, false, `Unknown Citus mode "yes"`},
	} {
		m, err := tenancy.ParseCitusMode(tc.in)
		var got bool
		if err == nil {
			got, err = m.Enabled(tc.installed)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("mode %q, installed %t: %v", tc.in, tc.installed, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || toodoo.ErrorCode(err) != toodoo.EINVALID):
			t.Errorf("mode %q, installed %t: error %v, want EINVALID mentioning %q", tc.in, tc.installed, err, tc.wantErr)
		case got != tc.want:
			t.Errorf("mode %q, installed %t: enabled %t, want %t", tc.in, tc.installed, got, tc.want)
		}
	}
}

// TestPlainPostgresIsUnchanged: without the citus extension nothing is distributed, every tenant
// is "local", the ledger records nothing distributed, and placement is refused in one line.
func TestPlainPostgresIsUnchanged(t *testing.T) {
	t.Parallel()
	if dbtest.Citus() {
		t.Skip("on a Citus cluster: see the TestCitus tests")
	}
	ctx := t.Context()
	url := dbtest.URL(t)
	db := testfactory.DB(ctx, t, url)
	if db.Citus() {
		t.Fatal("Citus mode on plain PostgreSQL")
	}
	def := schemadef.MustDefault()
	if _, err := db.FillSpares(ctx, def, 1, tenancy.SpareGrace); err != nil {
		t.Fatal(err)
	}
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "warm"})
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "cold", Cold: true})
	list, err := db.List(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Node != tenancy.LocalNode {
			t.Errorf("tenant %s: node %q, want %q", s.Schema, s.Node, tenancy.LocalNode)
		}
	}
	var distributed int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.schema_ledger WHERE distributed_at IS NOT NULL").Scan(&distributed); err != nil {
		t.Fatal(err)
	}
	if distributed != 0 {
		t.Errorf("%d ledger rows record a distributed schema on plain PostgreSQL", distributed)
	}

	notCitus := func(what string, err error) {
		t.Helper()
		if toodoo.ErrorCode(err) != toodoo.EINVALID || !strings.Contains(err.Error(), "not a Citus database") {
			t.Errorf("%s: %v, want EINVALID saying it is not a Citus database", what, err)
		}
	}
	_, err = db.Nodes(ctx)
	notCitus("Nodes", err)
	_, err = db.MoveTenant(ctx, "warm", "127.0.0.1:9701", tenancy.MoveWatch{})
	notCitus("MoveTenant", err)
	_, err = db.RebalancePlan(ctx)
	notCitus("RebalancePlan", err)
	_, err = db.Rebalance(ctx, nil)
	notCitus("Rebalance", err)
	if p, err := db.Placements(ctx); p != nil || err != nil {
		t.Errorf("Placements = %v, %v; want nil, nil (and no query) on plain PostgreSQL", p, err)
	}

	_, err = tenancy.OpenWith(ctx, url, tenancy.Options{Citus: tenancy.CitusOn})
	notCitus("OpenWith(CitusOn)", err)
}

// placementOf returns the node of one tenant from List.
func placementOf(t testing.TB, db *tenancy.DB, name string) string {
	t.Helper()
	list, err := db.List(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Schema == name {
			return s.Node
		}
	}
	t.Fatalf("tenant %s not listed", name)
	return ""
}

// roundTrip writes a to-do in the tenant and reads it back through the coordinator.
func roundTrip(t *testing.T, db *tenancy.DB, tn tenancy.Tenant, title string) {
	t.Helper()
	testfactory.Todo(t.Context(), t, db, tn, &testfactory.TodoOpts{Title: title})
	titles := listTitles(t, db, tn)
	for _, got := range titles {
		if got == title {
			return
		}
	}
	t.Errorf("tenant %s: to-do %q not read back (have %q)", tn.Schema, title, titles)
}

// TestCitusCreateDistributes: tenants made cold and from spares are distributed schemas in
// their creating transaction, spread over both workers, recorded in the ledger, and read and
// written through the coordinator.
func TestCitusCreateDistributes(t *testing.T) {
	t.Parallel()
	dbtest.NeedCitus(t)
	ctx := t.Context()
	db := citusDB(t)
	def := schemadef.MustDefault()
	if built, err := db.FillSpares(ctx, def, 2, tenancy.SpareGrace); err != nil || built != 2 {
		t.Fatalf("FillSpares = %d, %v", built, err)
	}
	var spares int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_dist_schema WHERE starts_with(schemaid::regnamespace::text, 'toodoo_spare_')`).Scan(&spares); err != nil {
		t.Fatal(err)
	}
	if spares != 2 {
		t.Errorf("%d spare schemas distributed, want 2", spares)
	}
	var tenants []tenancy.Tenant
	for _, o := range []testfactory.TenantOpts{{Name: "warm1"}, {Name: "warm2"}, {Name: "cold1", Cold: true}, {Name: "cold2", Cold: true}} {
		tenants = append(tenants, testfactory.Tenant(ctx, t, db, &o))
	}
	nodes := map[string][]string{}
	for _, tn := range tenants {
		node := placementOf(t, db, tn.Schema)
		if node == tenancy.LocalNode {
			t.Errorf("tenant %s is not distributed", tn.Schema)
		}
		nodes[node] = append(nodes[node], tn.Schema)
		roundTrip(t, db, tn, "on "+node)
	}
	if len(nodes) != 2 {
		t.Errorf("tenants by node: %v; want them over both workers", nodes)
	}
	var recorded int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.schema_ledger WHERE distributed_at IS NOT NULL AND schema_name = ANY($1)",
		[]string{"warm1", "warm2", "cold1", "cold2"}).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != 4 {
		t.Errorf("the ledger records %d of 4 tenants distributed", recorded)
	}
	ns, err := db.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total, workers := 0, 0
	for _, n := range ns {
		total += n.Tenants
		if !n.Coordinator {
			workers++
			if n.Tenants != 2 || n.Bytes <= 0 {
				t.Errorf("node %s: %d tenants, %d bytes; want 2 tenants and a size", n.Addr(), n.Tenants, n.Bytes)
			}
		}
	}
	if total != 4 || workers != 2 {
		t.Errorf("Nodes: %+v; want 2 workers holding the 4 tenants", ns)
	}

	// Deleting with --drop drops a distributed schema too.
	if err := db.Delete(ctx, "cold2", true); err != nil {
		t.Fatal(err)
	}
	if n, _, _, _ := footprint(t, db, "cold2"); n != 0 {
		t.Errorf("cold2's schema is still there after delete --drop")
	}
}

// TestCitusMoveAndRebalance moves a tenant to the other worker and back with the rebalancer,
// checking its data after each, and the one-line refusals.
func TestCitusMoveAndRebalance(t *testing.T) {
	t.Parallel()
	dbtest.NeedCitus(t)
	ctx := t.Context()
	db := citusDB(t)
	a := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "mover", Cold: true})
	b := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "stayer", Cold: true})
	roundTrip(t, db, a, "before the move")
	from, to := placementOf(t, db, a.Schema), placementOf(t, db, b.Schema)
	if from == to {
		t.Fatalf("both tenants on %s: the cluster does not place new schemas in turn", from)
	}

	var progressed bool
	res, err := db.MoveTenant(ctx, a.Schema, to, tenancy.MoveWatch{Progress: func([]tenancy.ShardProgress) { progressed = true }})
	if err != nil {
		t.Fatalf("MoveTenant: %v", err)
	}
	if !res.Moved || res.From != from || res.To != to || res.Bytes <= 0 {
		t.Errorf("MoveTenant = %+v; want moved from %s to %s with a size", res, from, to)
	}
	t.Logf("moved %s (%d bytes) in %s; progress reported: %t", a.Schema, res.Bytes, res.Duration, progressed)
	if got := placementOf(t, db, a.Schema); got != to {
		t.Errorf("after the move %s is on %s, want %s", a.Schema, got, to)
	}
	roundTrip(t, db, a, "after the move")
	if titles := listTitles(t, db, a); len(titles) != 2 {
		t.Errorf("after the move: to-dos %q, want both", titles)
	}
	if res, err := db.MoveTenant(ctx, a.Schema, to, tenancy.MoveWatch{}); err != nil || res.Moved {
		t.Errorf("moving to its own node: %+v, %v; want nothing done", res, err)
	}

	for _, tc := range []struct {
		name, to, code, msg string
	}{
		{"nosuch", to, toodoo.ENOTFOUND, `No tenant named "nosuch"`},
		{a.Schema, "127.0.0.1:1", toodoo.ENOTFOUND, "No node 127.0.0.1:1 in the cluster"},
		{a.Schema, "nonsense", toodoo.EINVALID, "not a node address"},
	} {
		_, err := db.MoveTenant(ctx, tc.name, tc.to, tenancy.MoveWatch{})
		if toodoo.ErrorCode(err) != tc.code || !strings.Contains(toodoo.ErrorMessage(err), tc.msg) {
			t.Errorf("MoveTenant(%q, %q) = %v; want %s %q", tc.name, tc.to, err, tc.code, tc.msg)
		}
	}

	// Both on one worker now: the rebalancer plans to move one of them back.
	plan, err := db.RebalancePlan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].From != to || plan[0].To != from || !plan[0].Tenant || plan[0].Bytes <= 0 {
		t.Fatalf("RebalancePlan = %+v; want one tenant from %s to %s", plan, to, from)
	}
	if got := placementOf(t, db, plan[0].Schema); got != to {
		t.Errorf("a dry run moved %s", plan[0].Schema)
	}
	if _, err := db.Rebalance(ctx, nil); err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	if got := placementOf(t, db, plan[0].Schema); got != from {
		t.Errorf("after the rebalance %s is on %s, want %s", plan[0].Schema, got, from)
	}
	if plan, err := db.RebalancePlan(ctx); err != nil || len(plan) != 0 {
		t.Errorf("RebalancePlan after rebalancing = %+v, %v; want no move", plan, err)
	}
	for _, tn := range []tenancy.Tenant{a, b} {
		roundTrip(t, db, tn, "after the rebalance")
	}
}

// BenchmarkCitusMoveTenant moves one tenant with 1000 to-dos between the two workers, once per
// iteration, and reports the median move (citus_schema_move, as `toodoo tenant move` runs it).
// Citus only:
//
//	TOODOO_TEST_CITUS_URL=... go test ./tenancy -run '^$' -bench CitusMoveTenant -benchtime 7x
func BenchmarkCitusMoveTenant(b *testing.B) {
	if !dbtest.Citus() {
		b.Skip("no Citus cluster: set TOODOO_TEST_CITUS_URL to a coordinator")
	}
	ctx := b.Context()
	db := testfactory.DB(ctx, b, dbtest.URL(b))
	var dbName, host string
	if err := db.Pool().QueryRow(ctx, "SELECT current_database(), (SELECT nodename FROM pg_dist_node WHERE groupid = 0)").Scan(&dbName, &host); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{dbName}.Sanitize()+" SET citus.local_hostname = "+quoteLiteral(host)); err != nil {
		b.Fatal(err)
	}
	db.Pool().Reset()
	tn := testfactory.Tenant(ctx, b, db, &testfactory.TenantOpts{Name: "mover", Cold: true})
	if _, err := db.Pool().Exec(ctx, "INSERT INTO mover.todos (title, created_by) SELECT 'to-do ' || i, 1 FROM generate_series(1, 1000) i"); err != nil {
		b.Fatal(err)
	}
	nodes, err := db.Nodes(ctx)
	if err != nil || len(nodes) < 2 {
		b.Fatalf("Nodes = %+v, %v; want two workers", nodes, err)
	}
	var durations []time.Duration
	for i := 0; b.Loop(); i++ {
		from := placementOf(b, db, tn.Schema)
		to := nodes[0].Addr()
		if to == from {
			to = nodes[1].Addr()
		}
		res, err := db.MoveTenant(ctx, tn.Schema, to, tenancy.MoveWatch{})
		if err != nil || !res.Moved {
			b.Fatalf("MoveTenant: %+v, %v", res, err)
		}
		durations = append(durations, res.Duration)
		if i == 0 {
			b.Logf("tenant size %d bytes", res.Bytes)
		}
	}
	b.Logf("moves, in order: %v", durations)
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)/2].Milliseconds()), "p50-ms")
}
