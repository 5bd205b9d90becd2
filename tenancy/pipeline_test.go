package tenancy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// oneConn opens a second DB on b's database whose pool has one connection, so that every
// transaction of a test runs on the same connection (and its pipelined path is taken once the
// first transaction prepared the statements).
func oneConn(t testing.TB, url string, params string) *tenancy.DB {
	t.Helper()
	db, err := tenancy.Open(t.Context(), dbtest.WithParams(url, "pool_max_conns=1"+params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// TestScopePipelineKeepsTenantsApart runs alternating scoped transactions of two tenants on
// one connection: from the second on, BEGIN, the search_path and the first statement travel in
// one pipeline; each must still see only its own tenant, and the path must not outlive the
// transaction.
func TestScopePipelineKeepsTenantsApart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.URL(t)
	db := oneConn(t, url, "")
	first := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	second := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second"})
	for i := range 6 {
		for _, tn := range []tenancy.Tenant{first, second} {
			if _, err := tenancy.InTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.Todo, error) {
				return q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: tn.Schema, CreatedBy: 1})
			}); err != nil {
				t.Fatalf("create in %s (round %d): %v", tn.Schema, i, err)
			}
			titles := listTitles(t, db, tn)
			if len(titles) != i+1 {
				t.Fatalf("%s lists %d to-dos after %d creations: %q", tn.Schema, len(titles), i+1, titles)
			}
			for _, title := range titles {
				if title != tn.Schema {
					t.Fatalf("%s lists %q: another tenant's to-do", tn.Schema, title)
				}
			}
			var path string
			if err := db.Pool().QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&path); err != nil {
				t.Fatal(err)
			}
			if path != "" && path != `""` {
				t.Fatalf("after a scoped transaction in %s the connection's search_path is %q, want empty", tn.Schema, path)
			}
		}
	}
	if n := tenancy.PipelinedStatements(t, db); n < 2 {
		t.Errorf("%d statements ready to pipeline after 24 transactions, want the create and the list", n)
	}
}

// TestScopePipelineFirstStatementFails: a first statement that fails inside the pipeline (a
// check constraint) rolls the transaction back and leaves the connection usable.
func TestScopePipelineFirstStatementFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), "")
	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	create := func(title string) error {
		return db.InTx(ctx, tn, func(ctx context.Context, q *tenantdb.Queries) error {
			if _, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: title, CreatedBy: 1}); err != nil {
				return err
			}
			_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: title + " too", CreatedBy: 1})
			return err
		})
	}
	if err := create("prepares the statement"); err != nil {
		t.Fatal(err)
	}
	err := create(strings.Repeat("x", 501)) // pipelined now, and refused by todos_title_length
	if err == nil {
		t.Fatal("a 501-character title was accepted")
	}
	t.Logf("a 501-character title: %v (%s)", err, toodoo.ErrorCode(err))
	if err := create("after the failure"); err != nil {
		t.Fatalf("the connection after a failed pipeline: %v", err)
	}
	if got := listTitles(t, db, tn); len(got) != 4 {
		t.Errorf("to-dos %q, want the two pairs that succeeded", got)
	}
}

// TestScopePipelineFallsBackWhenNotPrepared: when pgx no longer has a statement prepared that
// the connection believes it has (pgx's statement cache is bounded), pgx would prepare it
// before the BEGIN, with an empty search_path, and fail; the scope then begins on its own and
// runs the statement inside the transaction.
func TestScopePipelineFallsBackWhenNotPrepared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), "")
	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	testfactory.Todo(ctx, t, db, tn, &testfactory.TodoOpts{Title: "kept"})
	const counts = "-- name: TodoCounts :one\nSELECT count(*) FILTER (WHERE NOT done) AS open,\n       count(*) FILTER (WHERE done)     AS done\nFROM todos\n"
	tenancy.MarkPrepared(ctx, t, db, counts)
	c, err := tenancy.InReadTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.TodoCountsRow, error) {
		return q.TodoCounts(ctx)
	})
	if err != nil {
		t.Fatalf("counts after a cache miss: %v", err)
	}
	if c.Open != 1 {
		t.Errorf("open = %d, want 1", c.Open)
	}
}

// TestPoolRetiresConnectionsAfterSchemaBudget: with pool_max_conn_schemas=2, a connection that
// has entered two tenant schemas is closed when released (its backend's catalog caches go with
// it); one that has entered one is kept; with 0, none is closed.
//
// Through PgBouncer the backend belongs to the pooler, which keeps it: its server_lifetime is
// what recycles backends there.
func TestPoolRetiresConnectionsAfterSchemaBudget(t *testing.T) {
	t.Parallel()
	if dbtest.Pooled() {
		t.Skip("through PgBouncer the pooler owns the backends (server_lifetime)")
	}
	ctx := t.Context()
	url := dbtest.URL(t)
	db := oneConn(t, url, "&pool_max_conn_schemas=2")
	first := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	second := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second"})
	backend := func() int32 {
		t.Helper()
		var pid int32
		if err := db.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	pid := backend()
	listTitles(t, db, first)
	listTitles(t, db, first)
	if got := backend(); got != pid {
		t.Fatalf("the connection was replaced after entering one schema (backend %d, then %d)", pid, got)
	}
	listTitles(t, db, second)
	if got := backend(); got == pid {
		t.Errorf("the connection was kept after entering two schemas with pool_max_conn_schemas=2 (backend %d)", pid)
	}

	// 0 is no limit (the pool still has an AfterRelease, which must then keep every connection).
	unlimited := oneConn(t, url, "&pool_max_conn_schemas=0")
	var before, after int32
	if err := unlimited.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&before); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		listTitles(t, unlimited, first)
		listTitles(t, unlimited, second)
	}
	if err := unlimited.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("pool_max_conn_schemas=0 replaced the connection (backend %d, then %d)", before, after)
	}
}

func TestOpenMaxConnSchemasParam(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	for _, bad := range []string{"x", "-1", ""} {
		if db, err := tenancy.Open(t.Context(), dbtest.WithParams(url, "pool_max_conn_schemas="+bad)); err == nil {
			db.Close()
			t.Errorf("pool_max_conn_schemas=%q accepted", bad)
		}
	}
	db, err := tenancy.Open(t.Context(), dbtest.WithParams(url, "pool_max_conn_schemas=0"))
	if err != nil {
		t.Fatalf("pool_max_conn_schemas=0 (no limit): %v", err)
	}
	db.Close()
}

// TestReadScopeIsImplicit: once a connection has its statements prepared (the first read scope
// prepares them in a READ ONLY transaction), each statement of InReadTx is its own implicit
// transaction: scoped to its tenant and read-only in the same round trip, with no BEGIN or
// COMMIT, and nothing of it outlives the statement. In each exec mode: exec's batch is one
// pipeline with one Sync, simple_protocol's one query string, both one implicit transaction.
func TestReadScopeIsImplicit(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"", "exec", "simple_protocol"} {
		t.Run("mode="+mode, func(t *testing.T) {
			t.Parallel()
			params := ""
			if mode != "" {
				params = "&default_query_exec_mode=" + mode
			}
			testReadScopeIsImplicit(t, params)
		})
	}
}

func testReadScopeIsImplicit(t *testing.T, params string) {
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), params)
	if !tenancy.ImplicitReads(db) {
		t.Fatal("implicit reads are off on plain PostgreSQL at READ COMMITTED")
	}
	first := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	second := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second"})
	testfactory.Todo(ctx, t, db, first, &testfactory.TodoOpts{Title: "first's"})
	const (
		scope = "SELECT current_setting('search_path') || ' ' || current_setting('transaction_read_only') || ' ' || coalesce((SELECT string_agg(title, ',') FROM todos), '-')"
		xact  = "SELECT transaction_timestamp()::text"
	)
	for round := range 3 {
		for _, tn := range []tenancy.Tenant{first, second} {
			got, err := tenancy.ReadScopeStrings(ctx, db, tn, scope, xact, xact)
			if err != nil {
				t.Fatalf("round %d in %s: %v", round, tn.Schema, err)
			}
			want := "on first's"
			if tn == second {
				want = "on -"
			}
			path, rest, _ := strings.Cut(got[0], " ")
			if strings.Trim(path, `"`) != tn.Schema || rest != want {
				t.Fatalf("round %d in %s: the statement saw %q, want the path %s and %q", round, tn.Schema, got[0], tn.Schema, want)
			}
			if (round > 0 || tn == second) && got[1] == got[2] {
				t.Errorf("round %d in %s: two statements ran in one transaction (begun %s), want each its own", round, tn.Schema, got[1])
			}
			var leftPath, leftRO string
			if err := db.Pool().QueryRow(ctx, "SELECT current_setting('search_path'), current_setting('transaction_read_only')").Scan(&leftPath, &leftRO); err != nil {
				t.Fatal(err)
			}
			if (leftPath != "" && leftPath != `""`) || leftRO != "off" {
				t.Fatalf("after a read scope in %s the connection has search_path %q and transaction_read_only %s", tn.Schema, leftPath, leftRO)
			}
			if _, err := db.Pool().Exec(ctx, "SELECT count(*) FROM todos"); err == nil {
				t.Fatalf("after a read scope in %s an unscoped statement found the tenant's table", tn.Schema)
			}
		}
	}
}

// TestReadScopeRefusesWrites: a write in InReadTx fails, as an implicit transaction (the
// statement was prepared by InTx) and then in the READ ONLY transaction of the fallback; it
// changes nothing and the connection reads on.
func TestReadScopeRefusesWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), "")
	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	create := func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: "written", CreatedBy: 1})
		return err
	}
	if err := db.InTx(ctx, tn, create); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := db.InReadTx(ctx, tn, create)
		if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
			t.Fatalf("a write in a read scope (%d): %v, want a read-only transaction's refusal", i, err)
		}
		if got := listTitles(t, db, tn); len(got) != 1 {
			t.Fatalf("after a refused write (%d) the tenant has %q, want the one to-do", i, got)
		}
	}
}

// TestReadScopeExplicitUnderRepeatableRead: with another default isolation level, statements of
// one transaction share a snapshot that implicit transactions would not: InReadTx stays one
// READ ONLY transaction.
func TestReadScopeExplicitUnderRepeatableRead(t *testing.T) {
	t.Parallel()
	if dbtest.Pooled() {
		t.Skip("PgBouncer does not forward start-up settings")
	}
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), "&default_transaction_isolation=repeatable%20read")
	if tenancy.ImplicitReads(db) {
		t.Fatal("implicit reads are on under REPEATABLE READ")
	}
	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
	const xact = "SELECT transaction_timestamp()::text"
	for i := range 2 {
		got, err := tenancy.ReadScopeStrings(ctx, db, tn, "SELECT current_setting('transaction_read_only')", xact, xact)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != "on" || got[1] != got[2] {
			t.Errorf("read scope %d under REPEATABLE READ: read-only %s, transactions begun %s and %s: want one READ ONLY transaction", i, got[0], got[1], got[2])
		}
	}
}
