package tenancy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testBundle is what most tests need: a database with two tenants.
type testBundle struct {
	db            *tenancy.DB
	first, second tenancy.Tenant
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	return &testBundle{
		db:     db,
		first:  testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"}),
		second: testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second"}),
	}
}

func listTitles(t testing.TB, db *tenancy.DB, tn tenancy.Tenant) []string {
	t.Helper()
	todos, err := tenancy.InReadTxV(t.Context(), db, tn, func(ctx context.Context, q *tenantdb.Queries) ([]tenantdb.Todo, error) {
		return q.TodoPage(ctx, tenantdb.TodoPageParams{MaxRows: 100})
	})
	if err != nil {
		t.Fatalf("TodoPage in %s: %v", tn.Schema, err)
	}
	var titles []string
	for _, td := range todos {
		titles = append(titles, td.Title)
	}
	return titles
}

func TestScopeIsolatesTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{Title: "only in first"})

	if got := listTitles(t, b.db, b.first); len(got) != 1 || got[0] != "only in first" {
		t.Errorf("first sees %q, want [only in first]", got)
	}
	if got := listTitles(t, b.db, b.second); len(got) != 0 {
		t.Errorf("second sees %q, want nothing", got)
	}
	// The same id, asked for in the other tenant, is simply not there.
	todo := testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{Title: "another"})
	err := b.db.InReadTx(t.Context(), b.second, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoGet(ctx, todo.ID)
		return err
	})
	if toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Errorf("TodoGet(first's id) in second: err = %v, want ENOTFOUND", err)
	}
}

func TestScopeSearchPathAfterScopedTxIsEmpty(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := tenancy.New(pool)
	first := testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: "first"})

	var pidBefore, pidAfter int
	if err := pool.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pidBefore); err != nil {
		t.Fatal(err)
	}
	// The insert works only if the scope set the search_path to the tenant's schema.
	err = db.InTx(t.Context(), first, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: "x", CreatedBy: 1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var after string
	if err := pool.QueryRow(t.Context(), "SELECT current_setting('search_path'), pg_backend_pid()").Scan(&after, &pidAfter); err != nil {
		t.Fatal(err)
	}
	if pidBefore != pidAfter {
		t.Fatalf("backend changed (%d, %d): the check did not run on the scoped connection", pidBefore, pidAfter)
	}
	if after != "" && after != `""` {
		t.Errorf("pooled connection's search_path after InTx = %q, want empty", after)
	}
}

func TestQueryOutsideScopeFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A decoy in public: an unscoped query must not find it.
	if _, err := b.db.Pool().Exec(t.Context(), "CREATE TABLE public.todos (id bigint, title text)"); err != nil {
		t.Fatal(err)
	}
	_, err := b.db.Pool().Exec(t.Context(), "SELECT count(*) FROM todos")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unscoped query: err = %v, want relation does not exist", err)
	}
}

func TestMissingTenantTableErrorsInsteadOfFallingBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.db.Pool().Exec(t.Context(), "CREATE TABLE public.todos (LIKE first.todos INCLUDING ALL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool().Exec(t.Context(), "DROP TABLE first.todos"); err != nil {
		t.Fatal(err)
	}
	err := b.db.InReadTx(t.Context(), b.first, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCounts(ctx)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `relation "todos" does not exist`) {
		t.Errorf("InReadTx on a schema without todos: err = %v, want relation does not exist", err)
	}
}

func TestScopeRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	insert := func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: "must vanish", CreatedBy: 1})
		return err
	}
	t.Run("Error", func(t *testing.T) {
		boom := errors.New("boom")
		err := b.db.InTx(t.Context(), b.first, func(ctx context.Context, q *tenantdb.Queries) error {
			if err := insert(ctx, q); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
	t.Run("Panic", func(t *testing.T) {
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Errorf("recovered %v, want the callback's panic", p)
				}
			}()
			_ = b.db.InTx(t.Context(), b.first, func(ctx context.Context, q *tenantdb.Queries) error {
				if err := insert(ctx, q); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()
	})
	t.Run("CancelledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		err := b.db.InTx(ctx, b.first, func(ctx context.Context, q *tenantdb.Queries) error {
			if err := insert(ctx, q); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if err == nil {
			t.Errorf("InTx with a context cancelled before commit: err = nil, want an error")
		}
	})
	if got := listTitles(t, b.db, b.first); len(got) != 0 {
		t.Errorf("after rolled-back transactions first has %q, want nothing", got)
	}
	// The pool is still healthy and the scope still works.
	testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{Title: "kept"})
	if got := listTitles(t, b.db, b.first); len(got) != 1 {
		t.Errorf("after a committed insert first has %q, want one", got)
	}
}

func TestScopeRefusesNesting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	err := b.db.InTx(t.Context(), b.first, func(ctx context.Context, q *tenantdb.Queries) error {
		return b.db.InTx(ctx, b.second, func(ctx context.Context, q *tenantdb.Queries) error { return nil })
	})
	if !errors.Is(err, tenancy.ErrNestedScope) {
		t.Errorf("nested InTx: err = %v, want ErrNestedScope", err)
	}
}

func TestScopeQuotesHostileSchemaNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A Tenant value with a hostile schema name can only come from a bug; even then the name is
	// quoted, so it names a (missing) schema instead of running SQL.
	evil := tenancy.Tenant{ID: 99, Schema: `first"; DROP TABLE first.todos; --`}
	err := b.db.InTx(t.Context(), evil, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCounts(ctx)
		return err
	})
	if err == nil {
		t.Fatal("InTx on a hostile schema name succeeded")
	}
	var n int
	if err := b.db.Pool().QueryRow(t.Context(), "SELECT count(*) FROM first.todos").Scan(&n); err != nil {
		t.Errorf("first.todos is gone after a hostile schema name: %v", err)
	}
}

// TestOnlyTenancyConstructsTenantQueries keeps the scope the only door to tenant data: no
// package but tenancy may call tenantdb.New (which would run without SET LOCAL search_path).
func TestOnlyTenancyConstructsTenantQueries(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..")
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "gen", "node_modules", "tenancy":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "tenantdb.New(") {
			offenders = append(offenders, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Within tenancy, only scope.go may.
	entries, _ := filepath.Glob("*.go")
	for _, f := range entries {
		if f == "scope.go" {
			continue
		}
		src, _ := os.ReadFile(f)
		if strings.Contains(string(src), "tenantdb.New(") && !strings.HasSuffix(f, "_test.go") {
			offenders = append(offenders, filepath.Join("tenancy", f))
		}
	}
	if len(offenders) > 0 {
		t.Errorf("tenantdb.New is called outside tenancy/scope.go in %v: use tenancy.DB.InTx", offenders)
	}
}
