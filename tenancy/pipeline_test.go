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
func oneConn(t *testing.T, url string, params string) *tenancy.DB {
	t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := tenancy.Open(t.Context(), url+sep+"pool_max_conns=1"+params)
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
// it); one that has entered one is kept.
//
// Through PgBouncer the backend belongs to the pooler, which keeps it: its server_lifetime is
// what recycles backends there.
func TestPoolRetiresConnectionsAfterSchemaBudget(t *testing.T) {
	t.Parallel()
	if dbtest.Pooled() {
		t.Skip("through PgBouncer the pooler owns the backends (server_lifetime)")
	}
	ctx := t.Context()
	db := oneConn(t, dbtest.URL(t), "&pool_max_conn_schemas=2")
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
}

func TestOpenMaxConnSchemasParam(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, bad := range []string{"x", "-1", ""} {
		if db, err := tenancy.Open(t.Context(), url+sep+"pool_max_conn_schemas="+bad); err == nil {
			db.Close()
			t.Errorf("pool_max_conn_schemas=%q accepted", bad)
		}
	}
	db, err := tenancy.Open(t.Context(), url+sep+"pool_max_conn_schemas=0")
	if err != nil {
		t.Fatalf("pool_max_conn_schemas=0 (no limit): %v", err)
	}
	db.Close()
}
