package dbtest_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/schemadef"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// connect opens a connection that is closed when tb ends.
func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func tableExists(tb testing.TB, conn *pgx.Conn, name string) bool {
	tb.Helper()
	var ok bool
	if err := conn.QueryRow(tb.Context(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
		tb.Fatalf("to_regclass(%q): %v", name, err)
	}
	return ok
}

func databaseExists(tb testing.TB, name string) bool {
	tb.Helper()
	conn := connect(tb, dbtest.AdminURL(tb))
	var ok bool
	if err := conn.QueryRow(tb.Context(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		tb.Fatalf("look up database %s: %v", name, err)
	}
	return ok
}

func currentDatabase(tb testing.TB, conn *pgx.Conn) string {
	tb.Helper()
	var name string
	if err := conn.QueryRow(tb.Context(), "SELECT current_database()").Scan(&name); err != nil {
		tb.Fatalf("current_database(): %v", err)
	}
	return name
}

func TestURLHasSharedSchema(t *testing.T) {
	t.Parallel()
	conn := connect(t, dbtest.URL(t))
	re := regexp.MustCompile(`^CREATE TABLE "public"\."([a-z_]+)"`)
	var tables int
	for _, stmt := range schemadef.MustDefault().SharedDDL() {
		m := re.FindStringSubmatch(stmt)
		if m == nil {
			continue
		}
		tables++
		if !tableExists(t, conn, "public."+m[1]) {
			t.Errorf("table public.%s of the shared DDL is missing", m[1])
		}
	}
	if tables == 0 {
		t.Fatal("the shared DDL creates no table: the check above checked nothing")
	}
}

func TestEmptyURLIsEmpty(t *testing.T) {
	t.Parallel()
	conn := connect(t, dbtest.EmptyURL(t))
	var n int
	// Extensions' own relations do not count: Citus puts views (citus_tables, ...) in public.
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_class c WHERE relnamespace = 'public'::regnamespace
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("public holds %d relations in an empty database, want 0", n)
	}
}

// TestDatabasesAreIsolated runs parallel tests that make the same table: each has its own database.
func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			dbtest.Exec(t, url, "CREATE TABLE public.mine (id int)")
			dbtest.Exec(t, url, fmt.Sprintf("INSERT INTO public.mine VALUES (%d)", i))
			conn := connect(t, url)
			var ids []int
			rows, _ := conn.Query(t.Context(), "SELECT id FROM public.mine")
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 || ids[0] != i {
				t.Errorf("public.mine holds %v, want [%d]", ids, i)
			}
		})
	}
	t.Run("OtherDatabaseDoesNotSeeTable", func(t *testing.T) {
		t.Parallel()
		a, b := dbtest.URL(t), connect(t, dbtest.URL(t))
		dbtest.Exec(t, a, "CREATE TABLE public.only_in_a (id int)")
		if tableExists(t, b, "public.only_in_a") {
			t.Error("a table made in one test database is visible in another")
		}
	})
}

func TestDatabaseIsDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("UseDatabase", func(t *testing.T) {
		name = currentDatabase(t, connect(t, dbtest.URL(t)))
	})
	if name == "" {
		t.Fatal("subtest did not run")
	}
	if databaseExists(t, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestAdminURL(t *testing.T) {
	t.Parallel()
	conn := connect(t, dbtest.AdminURL(t))
	var super bool
	if err := conn.QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Error("AdminURL's user is not a superuser; the harness needs CREATE DATABASE and DROP ... WITH (FORCE)")
	}
}

func TestDirectURL(t *testing.T) {
	t.Parallel()
	pooled, direct := dbtest.URLs(t)
	if got := dbtest.DirectURL(t, pooled); got != direct {
		t.Errorf("DirectURL(pooled) = %q, want %q", got, direct)
	}
	if !dbtest.Pooled() && pooled != direct {
		t.Errorf("without TEST_PGBOUNCER, URLs returned %q and %q, want equal", pooled, direct)
	}
	p, d := connect(t, pooled), connect(t, direct)
	if got, want := currentDatabase(t, p), currentDatabase(t, d); got != want {
		t.Errorf("pooled URL leads to database %s, direct URL to %s", got, want)
	}

	// LISTEN needs a session of its own: the direct one. The notification may come from anywhere.
	if _, err := d.Exec(t.Context(), "LISTEN dbtest"); err != nil {
		t.Fatal(err)
	}
	dbtest.Exec(t, pooled, "NOTIFY dbtest, 'hello'")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := d.WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("wait for notification: %v", err)
	}
	if n.Payload != "hello" {
		t.Errorf("notification payload = %q, want %q", n.Payload, "hello")
	}
}

// TestPgBouncerSharesServerConnections shows that the pooled run is meaningful: many clients,
// few server sessions, each starting with an empty search_path.
func TestPgBouncerSharesServerConnections(t *testing.T) {
	if !dbtest.Pooled() {
		t.Skip("TEST_PGBOUNCER is not 1")
	}
	t.Parallel()
	url := dbtest.URL(t)
	const clients = 8
	pids := map[uint32]bool{}
	for i := range clients {
		conn := connect(t, url)
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var pid uint32
		var path string
		if err := tx.QueryRow(t.Context(), "SELECT pg_backend_pid(), current_setting('search_path')").Scan(&pid, &path); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if path != "" {
			t.Errorf("client %d: server connection's search_path = %q, want empty", i, path)
		}
		pids[pid] = true
	}
	if len(pids) >= clients {
		t.Errorf("%d clients used %d server connections: PgBouncer is not sharing them", clients, len(pids))
	}
	t.Logf("%d clients shared %d server connections", clients, len(pids))
}

// TestPgBouncerTransactionScope shows that, through PgBouncer, session state does not leak into
// another client's transaction, as long as it is set per transaction (SET LOCAL).
func TestPgBouncerTransactionScope(t *testing.T) {
	if !dbtest.Pooled() {
		t.Skip("TEST_PGBOUNCER is not 1")
	}
	t.Parallel()
	url := dbtest.URL(t)
	a, b := connect(t, url), connect(t, url)
	tx, err := a.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "SELECT set_config('search_path', 'public', true)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = b.Exec(t.Context(), "SELECT count(*) FROM tenants")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Errorf("unqualified query after another client's SET LOCAL: err = %v, want undefined_table (42P01)", err)
	}
}

// TestCitus checks, on a Citus cluster (TOODOO_TEST_CITUS_URL), that a test database is a
// cluster of its own: the extension and the workers are there, a distributed schema lands on a
// worker and is read and written through the coordinator, and two test databases do not share
// their tables.
func TestCitus(t *testing.T) {
	if !dbtest.Citus() {
		t.Skip("not on Citus (TOODOO_TEST_CITUS_URL is not set)")
	}
	t.Parallel()
	for _, u := range []string{dbtest.URL(t), dbtest.EmptyURL(t)} {
		conn := connect(t, u)
		ctx := t.Context()
		var workers int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM citus_get_active_worker_nodes()").Scan(&workers); err != nil {
			t.Fatalf("workers: %v", err)
		}
		if workers < 1 {
			t.Fatalf("%d active workers, want at least 1", workers)
		}
		for _, sql := range []string{
			"SET citus.enable_schema_based_sharding = on",
			"CREATE SCHEMA citus_probe",
			"CREATE TABLE citus_probe.t (id bigint PRIMARY KEY, v text)",
			"RESET citus.enable_schema_based_sharding",
			"INSERT INTO citus_probe.t VALUES (1, 'one')",
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		var v string
		var port int
		if err := conn.QueryRow(ctx, "SELECT v FROM citus_probe.t WHERE id = 1").Scan(&v); err != nil || v != "one" {
			t.Fatalf("read back: %q, %v", v, err)
		}
		err := conn.QueryRow(ctx, "SELECT nodeport FROM citus_shards WHERE table_name = 'citus_probe.t'::regclass").Scan(&port)
		if err != nil {
			t.Fatalf("placement of citus_probe.t: %v", err)
		}
		var coordinator bool
		if err := conn.QueryRow(ctx, "SELECT groupid = 0 FROM pg_dist_node WHERE nodeport = $1", port).Scan(&coordinator); err != nil || coordinator {
			t.Fatalf("citus_probe.t is on port %d (coordinator %t, %v), want a worker", port, coordinator, err)
		}
	}
}
