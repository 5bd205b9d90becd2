// Package dbtest gives each test its own PostgreSQL database on one server per test binary.
//
// Every package whose tests use it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// and a test asks for a database with URL (shared schema applied, cloned from a template) or
// EmptyURL (nothing applied). Databases are dropped when the test ends.
//
// The server is chosen once per test binary, on first use:
//
//   - TEST_DATABASE_URL set: that server (its database is the maintenance database). Database
//     names carry the host and the process id, so several test binaries can share one server,
//     and databases left behind by a test binary that died are dropped by the next one.
//   - otherwise: a PostgreSQL container started with testcontainers-go from the local image
//     TOODOO_TEST_PG_IMAGE (default postgres:15-bookworm; `go tool task pg-image` builds it
//     offline). It is never pulled. Ryuk is not used (it cannot be pulled either): Main removes
//     the container, and a small reaper process removes it if the test binary dies first
//     (panic, timeout, kill).
//   - neither Docker nor TEST_DATABASE_URL: tests that ask for a database are skipped, or fail
//     when CI is set.
//   - TOODOO_TEST_CITUS_URL set (it wins over the others): the coordinator of a Citus cluster,
//     whose workers are found in its metadata. Each test database is then a database of the same
//     name on every node, with the citus extension and the workers registered (see citus.go).
//
// With TEST_PGBOUNCER=1 the databases are still created on that server, but the URLs that URL
// and EmptyURL return lead through a PgBouncer in transaction pooling mode that the harness runs
// for the test binary, with a small server pool, so that tenants share server connections as in
// production. Server connections start with an empty search_path. Use DirectURL for what needs
// a session of its own (LISTEN/NOTIFY, session advisory locks).
package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// Environment variables read by the harness.
const (
	envURL       = "TEST_DATABASE_URL"    // use this server instead of a container
	envImage     = "TOODOO_TEST_PG_IMAGE" // image of the container
	envPgBouncer = "TEST_PGBOUNCER"       // "1": go through PgBouncer
	envPoolSize  = "TEST_PGBOUNCER_POOL_SIZE"
	envCI        = "CI"
)

// DefaultImage is the PostgreSQL image used when TOODOO_TEST_PG_IMAGE is not set.
const DefaultImage = "postgres:15-bookworm"

var (
	setupOnce sync.Once
	srv       *server
	setupErr  error

	seq     atomic.Int64
	cloneMu sync.Mutex // a template must have no other session while it is cloned
)

// URL returns the URL of a new database that holds the shared schema (cloned from a template
// into which the shared DDL was applied once). The database is dropped when tb ends.
// With TEST_PGBOUNCER=1, the URL leads through PgBouncer.
func URL(tb testing.TB) string {
	tb.Helper()
	pooled, _ := URLs(tb)
	return pooled
}

// WithParams returns url (one of URL's) with params ("k=v&k2=v2") added to its query.
func WithParams(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}

// URLs is URL returning both ways to the new database: pooled leads through PgBouncer when
// TEST_PGBOUNCER=1, and is equal to direct otherwise.
func URLs(tb testing.TB) (pooled, direct string) {
	tb.Helper()
	s := get(tb)
	tpl, err := s.templateDB()
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	name := s.newDatabase(tb, tpl)
	return s.pooledURL(name), s.directURL(name)
}

// EmptyURL returns the URL of a new, empty database (nothing applied to "public"), for tests
// that start from nothing, such as the migrator's. It is dropped when tb ends. With
// TEST_PGBOUNCER=1, the URL leads through PgBouncer; see DirectURL.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	s := get(tb)
	tpl, err := s.emptyTemplateDB()
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return s.pooledURL(s.newDatabase(tb, tpl))
}

// DirectURL returns a URL of the same database as u (a URL from URL or EmptyURL) that leads
// straight to the server, bypassing PgBouncer; without TEST_PGBOUNCER it returns u's database on
// the server, which is u itself.
func DirectURL(tb testing.TB, u string) string {
	tb.Helper()
	s := get(tb)
	parsed, err := url.Parse(u)
	if err != nil {
		tb.Fatalf("dbtest.DirectURL: %v", err)
	}
	name := strings.TrimPrefix(parsed.Path, "/")
	if name == "" {
		tb.Fatalf("dbtest.DirectURL(%q): no database name", u)
	}
	return s.directURL(name)
}

// AdminURL returns the URL of the server's maintenance database (always direct).
func AdminURL(tb testing.TB) string {
	tb.Helper()
	return get(tb).admin
}

// Exec runs sql on a connection of its own to url and fails tb on an error. Without args, sql
// may hold several statements (it is sent with the simple protocol).
func Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	ctx := tb.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("dbtest.Exec: connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if len(args) == 0 {
		args = []any{pgx.QueryExecModeSimpleProtocol}
	}
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// ExecEach runs statements (without arguments) in one transaction on a connection of its own to
// url, one statement per protocol message (schemadef.Exec), and fails tb on an error. Use it
// rather than Exec for several DDL statements: Citus refuses several in one message.
func ExecEach(tb testing.TB, url string, stmts ...string) {
	tb.Helper()
	ctx := tb.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("dbtest.ExecEach: connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return schemadef.Exec(ctx, tx, stmts) })
	if err != nil {
		tb.Fatalf("%s: %v", strings.Join(stmts, "; "), err)
	}
}

// Pooled reports whether URL and EmptyURL lead through PgBouncer (TEST_PGBOUNCER=1).
func Pooled() bool { return os.Getenv(envPgBouncer) == "1" }

// Main runs the tests and then stops what the harness started (PgBouncer, the container, the
// template database) before exiting with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: shutdown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// errNoServer means there is neither Docker nor TEST_DATABASE_URL.
var errNoServer = errors.New("no PostgreSQL for tests: set TEST_DATABASE_URL or make Docker available")

// get returns the server, starting it on first use. Without any server, it skips tb, or fails
// it when CI is set.
func get(tb testing.TB) *server {
	tb.Helper()
	setupOnce.Do(func() { srv, setupErr = setup(context.Background()) })
	switch {
	case errors.Is(setupErr, errNoServer) && os.Getenv(envCI) == "":
		tb.Skipf("dbtest: %v (skipping; with CI set this fails)", setupErr)
	case setupErr != nil:
		tb.Fatalf("dbtest: %v", setupErr)
	}
	return srv
}

// server is the PostgreSQL server of this test binary, with what the harness started for it.
type server struct {
	admin         string // URL of the maintenance database
	base          *url.URL
	pool          *pgxpool.Pool // on the maintenance database, for CREATE/DROP DATABASE
	prefix        string        // of every database this process creates: dbtest_<host>_<pid>_
	cloneStrategy string        // clause of CREATE DATABASE
	tplOnce       sync.Once
	tpl           string
	tplErr        error
	stop          func(context.Context) error // stops the container, if any
	bouncer       *bouncer                    // nil unless TEST_PGBOUNCER=1
	workers       []*node                     // the Citus workers, with TOODOO_TEST_CITUS_URL
	coordHost     string                      // the coordinator, as the Citus metadata names it
	coordPort     int
	emptyOnce     sync.Once // the empty template, on Citus (template0 elsewhere)
	emptyTpl      string
	emptyErr      error
	mu            sync.Mutex
	live          map[string]bool // databases created and not yet dropped
}

func setup(ctx context.Context) (*server, error) {
	admin, stop, err := startServer(ctx)
	if err != nil {
		return nil, err
	}
	s, err := newServer(ctx, admin)
	if err != nil {
		return nil, errors.Join(err, stopQuietly(stop))
	}
	s.stop = stop
	if stop != nil {
		// Our own server, with fsync off: FILE_COPY's checkpoint costs next to nothing, and
		// cloning is several times faster than with PostgreSQL 15's default WAL_LOG (measured
		// ~50-200 ms against ~150-600 ms). A shared server keeps its default.
		s.cloneStrategy = " STRATEGY FILE_COPY"
	}
	if Citus() {
		// Cloning is three CREATE DATABASE per test; a Citus test cluster is a throwaway too.
		s.cloneStrategy = " STRATEGY FILE_COPY"
		if Pooled() {
			s.close()
			return nil, fmt.Errorf("%s and %s=1 do not go together (run the PgBouncer tests on plain PostgreSQL)", envCitus, envPgBouncer)
		}
	}
	if Pooled() {
		if s.bouncer, err = startBouncer(ctx, s.base); err != nil {
			s.pool.Close()
			return nil, errors.Join(fmt.Errorf("TEST_PGBOUNCER=1: %w", err), stopQuietly(stop))
		}
	}
	return s, nil
}

// startServer returns the maintenance URL of the server to use, and how to stop it.
func startServer(ctx context.Context) (admin string, stop func(context.Context) error, err error) {
	if u := os.Getenv(envCitus); u != "" {
		return u, nil, nil
	}
	if u := os.Getenv(envURL); u != "" {
		return u, nil, nil
	}
	return startContainer(ctx)
}

func stopQuietly(stop func(context.Context) error) error {
	if stop == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return stop(ctx)
}

func newServer(ctx context.Context, admin string) (*server, error) {
	env := envURL
	if Citus() {
		env = envCitus
	}
	base, err := url.Parse(admin)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", env)
	}
	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		return nil, fmt.Errorf("parse server URL: %w", err)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("connect to the test server (%s): %w", env, err)
	}
	s := &server{
		admin:  admin,
		base:   base,
		pool:   pool,
		prefix: fmt.Sprintf("dbtest_%s_%d_", hostTag(), os.Getpid()),
		live:   map[string]bool{},
	}
	if Citus() {
		if err := s.discoverCitus(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		for _, w := range s.workers {
			dropStale(ctx, w.pool)
		}
	}
	dropStale(ctx, s.pool)
	return s, nil
}

// directURL returns the URL of database name on the server.
func (s *server) directURL(name string) string {
	u := *s.base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// pooledURL returns the URL of database name through PgBouncer, or directURL without it.
func (s *server) pooledURL(name string) string {
	if s.bouncer == nil {
		return s.directURL(name)
	}
	return s.bouncer.url(name)
}

// templateDB creates the template database on first use: an empty database into which the
// shared DDL and River's migrations (the mail queue, tenancy.MigrateQueue) are applied, then closed to connections so that clones never find a session on it.
// Its name carries the shared schema's hash and the process id, so it is never reused stale.
func (s *server) templateDB() (string, error) {
	s.tplOnce.Do(func() {
		def, err := schemadef.Default()
		if err != nil {
			s.tplErr = fmt.Errorf("load schema definition: %w", err)
			return
		}
		hash := def.SharedHash()
		if len(hash) > 12 {
			hash = hash[:12]
		}
		name := s.prefix + "tpl_" + hash
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		fill := func(ctx context.Context, url string) error {
			err := execOnce(ctx, url, schemadef.Script(def.SharedDDL()))
			if err == nil {
				// River's tables (the mail queue), by River's migrator, as `toodoo migrate` does.
				_, err = tenancy.MigrateQueue(ctx, url)
			}
			if err != nil {
				return fmt.Errorf("apply the shared DDL and the queue's migrations to the template database: %w", err)
			}
			return nil
		}
		s.track(name, true)
		if s.workers != nil {
			if err := s.citusTemplate(ctx, name, fill); err != nil {
				s.tplErr = fmt.Errorf("create template databases on the Citus cluster: %w", err)
				return
			}
			s.tpl = name
			return
		}
		if err := s.exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
			s.tplErr = fmt.Errorf("create template database: %w", err)
			return
		}
		if err := fill(ctx, s.directURL(name)); err != nil {
			s.tplErr = err
			return
		}
		if err := s.exec(ctx, "ALTER DATABASE "+ident(name)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
			s.tplErr = fmt.Errorf("close template database: %w", err)
			return
		}
		s.tpl = name
	})
	return s.tpl, s.tplErr
}

// emptyTemplateDB returns the template of EmptyURL's databases: template0, or on Citus a
// template trio with the extension and the workers registered, but nothing in "public".
func (s *server) emptyTemplateDB() (string, error) {
	if s.workers == nil {
		return "template0", nil
	}
	s.emptyOnce.Do(func() {
		name := s.prefix + "tpl_empty"
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.track(name, true)
		if err := s.citusTemplate(ctx, name, nil); err != nil {
			s.emptyErr = fmt.Errorf("create empty template databases on the Citus cluster: %w", err)
			return
		}
		s.emptyTpl = name
	})
	return s.emptyTpl, s.emptyErr
}

// newDatabase creates a database cloned from tpl and registers its drop with tb.
func (s *server) newDatabase(tb testing.TB, tpl string) string {
	tb.Helper()
	name := fmt.Sprintf("%s%d", s.prefix, seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cloneMu.Lock()
	var err error
	if s.workers != nil {
		err = s.createOnAll(ctx, name, tpl)
	} else {
		err = s.exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tpl)+s.cloneStrategy)
	}
	cloneMu.Unlock()
	if err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	s.track(name, true)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.drop(ctx, name, false); err != nil {
			tb.Errorf("dbtest: %v", err)
		}
	})
	return name
}

// drop drops database name, ending its sessions (direct or PgBouncer's) first; on Citus, on the
// coordinator and then on the workers. With template, name is a template (IS_TEMPLATE is
// cleared first).
func (s *server) drop(ctx context.Context, name string, template bool) error {
	if s.bouncer != nil {
		s.bouncer.forget(ctx, name)
	}
	if template {
		_ = s.exec(ctx, "ALTER DATABASE "+ident(name)+" IS_TEMPLATE false")
	}
	if s.workers != nil {
		s.closeOnAll(ctx, name)
	}
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if err := s.dropOnWorkers(ctx, name, template); err != nil {
		return err
	}
	s.track(name, false)
	return nil
}

// close closes the server's connections.
func (s *server) close() {
	s.closeWorkers()
	s.pool.Close()
}

func (s *server) track(name string, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if live {
		s.live[name] = true
	} else {
		delete(s.live, name)
	}
}

func (s *server) exec(ctx context.Context, sql string) error {
	_, err := s.pool.Exec(ctx, sql)
	return err
}

// dropStale drops the databases that test binaries of this host left behind on the server of
// pool when they died (their process is gone); on a fresh container there are none. It is best
// effort.
func dropStale(ctx context.Context, pool *pgxpool.Pool) {
	rows, err := pool.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, "dbtest_"+hostTag()+"_")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, "dbtest_"+hostTag()+"_"), "%d_", &pid); err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_, _ = pool.Exec(ctx, "ALTER DATABASE "+ident(name)+" IS_TEMPLATE false")
		_, _ = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	}
}

// shutdown stops PgBouncer, drops what this process left on a shared server, and stops the
// container. It does nothing if no test asked for a database.
func shutdown() error {
	if srv == nil {
		return nil
	}
	s := srv
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if s.bouncer != nil {
		errs = append(errs, s.bouncer.endedEarly(), s.bouncer.close())
	}
	if s.stop == nil { // a shared server outlives us: leave nothing behind
		s.mu.Lock()
		var names []string
		for name := range s.live {
			names = append(names, name)
		}
		s.mu.Unlock()
		for _, name := range names {
			if err := s.drop(ctx, name, strings.HasPrefix(name, s.prefix+"tpl_")); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.close()
	if s.stop != nil {
		errs = append(errs, s.stop(ctx))
	}
	return errors.Join(errs...)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
