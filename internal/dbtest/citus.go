package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// With TOODOO_TEST_CITUS_URL set to the maintenance database of a Citus coordinator (one that
// has the citus extension and its workers registered, as deploy/citus/cluster.sh leaves it),
// the coordinator is the test server, and every test database is a small Citus cluster of its
// own: a database of the same name on the coordinator and on each worker, each with the citus
// extension, the workers registered in the coordinator's.
//
// Building that for every test would cost seconds (CREATE EXTENSION citus, registering nodes),
// so it is built once per test binary as a trio of templates, one per node, and each test
// database is cloned from them node by node. A clone of the whole trio is a consistent cluster:
// Citus's metadata names nodes by host and port and connects to the database of the same name,
// and the clones carry the same metadata on every node.
const envCitus = "TOODOO_TEST_CITUS_URL"

// Citus reports whether the test databases are on a Citus cluster (TOODOO_TEST_CITUS_URL).
func Citus() bool { return os.Getenv(envCitus) != "" }

// NeedCitus skips a test that proves something on a Citus cluster when the tests do not run on
// one, saying how to get one.
func NeedCitus(tb testing.TB) {
	tb.Helper()
	if !Citus() {
		tb.Skip("no Citus cluster: set " + envCitus + " to a coordinator, or run go tool task test:citus")
	}
}

// node is a Citus worker of the test cluster.
type node struct {
	host string // as the coordinator's metadata names it
	port int
	base *url.URL      // its maintenance database, with the coordinator URL's user and password
	pool *pgxpool.Pool // on it, for CREATE/DROP DATABASE
}

func (n *node) directURL(name string) string {
	u := *n.base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func (n *node) exec(ctx context.Context, sql string, args ...any) error {
	_, err := n.pool.Exec(ctx, sql, args...)
	return err
}

// discoverCitus finds the workers of the Citus cluster whose coordinator s is, and connects to
// them. It fails if the maintenance database has no citus extension or no active worker.
func (s *server) discoverCitus(ctx context.Context) error {
	var version string
	if err := s.pool.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'citus'").Scan(&version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: the database %s has no citus extension (deploy/citus/cluster.sh start makes a cluster that has)", envCitus, s.base.Redacted())
		}
		return fmt.Errorf("%s: %w", envCitus, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT nodename, nodeport, groupid = 0 FROM pg_dist_node
		WHERE noderole = 'primary' AND isactive ORDER BY groupid`)
	if err != nil {
		return fmt.Errorf("%s: list nodes: %w", envCitus, err)
	}
	type row struct {
		Host        string
		Port        int
		Coordinator bool
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return fmt.Errorf("%s: list nodes: %w", envCitus, err)
	}
	s.coordHost, s.coordPort = s.base.Hostname(), 5432
	if p := s.base.Port(); p != "" {
		s.coordPort, _ = strconv.Atoi(p)
	}
	for _, n := range nodes {
		if n.Coordinator {
			s.coordHost, s.coordPort = n.Host, n.Port
			continue
		}
		u := *s.base
		u.Host = net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
		w := &node{host: n.Host, port: n.Port, base: &u}
		cfg, err := pgxpool.ParseConfig(u.String())
		if err != nil {
			return err
		}
		cfg.MaxConns = 4
		if w.pool, err = pgxpool.NewWithConfig(ctx, cfg); err == nil {
			err = w.pool.Ping(ctx)
		}
		if err != nil {
			s.closeWorkers()
			return fmt.Errorf("%s: connect to worker %s:%d: %w", envCitus, n.Host, n.Port, err)
		}
		s.workers = append(s.workers, w)
	}
	if len(s.workers) == 0 {
		return fmt.Errorf("%s: the coordinator has no active worker (citus_add_node)", envCitus)
	}
	return nil
}

func (s *server) closeWorkers() {
	for _, w := range s.workers {
		if w.pool != nil {
			w.pool.Close()
		}
	}
}

// citusTemplate builds the template trio name: a database on every node with the citus
// extension, the workers registered in the coordinator's; then fill (if not nil) runs on the
// coordinator's. The trio is closed to connections, and the sessions Citus keeps on it (its
// maintenance daemon, connections between the nodes) are ended, so that it can be cloned.
func (s *server) citusTemplate(ctx context.Context, name string, fill func(ctx context.Context, url string) error) error {
	if err := s.createOnAll(ctx, name, "template0"); err != nil {
		return err
	}
	for _, w := range s.workers {
		if err := execOnce(ctx, w.directURL(name), "CREATE EXTENSION citus"); err != nil {
			return fmt.Errorf("create extension citus on worker %s:%d: %w", w.host, w.port, err)
		}
	}
	coord := s.directURL(name)
	if err := execOnce(ctx, coord, "CREATE EXTENSION citus"); err != nil {
		return fmt.Errorf("create extension citus on the coordinator: %w", err)
	}
	if fill != nil {
		if err := fill(ctx, coord); err != nil {
			return err
		}
	}
	if err := execOnce(ctx, coord, "SELECT citus_set_coordinator_host($1, $2)", s.coordHost, s.coordPort); err != nil {
		return fmt.Errorf("citus_set_coordinator_host: %w", err)
	}
	for _, w := range s.workers {
		if err := execOnce(ctx, coord, "SELECT citus_add_node($1, $2)", w.host, w.port); err != nil {
			return fmt.Errorf("citus_add_node(%s, %d): %w", w.host, w.port, err)
		}
	}
	// The coordinator first: its sessions hold connections to the workers' templates.
	close := "ALTER DATABASE " + ident(name) + " WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
	if err := s.exec(ctx, close); err != nil {
		return err
	}
	if err := endSessions(ctx, s.pool, name); err != nil {
		return err
	}
	for _, w := range s.workers {
		if err := w.exec(ctx, close); err != nil {
			return err
		}
		if err := endSessions(ctx, w.pool, name); err != nil {
			return err
		}
	}
	return nil
}

// endSessions ends the sessions on database name (Citus's maintenance daemon exits for good on
// SIGTERM) and waits until they are gone.
func endSessions(ctx context.Context, pool *pgxpool.Pool, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sessions on database %s do not end", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createOnAll creates database name from tpl on every worker, then on the coordinator; on a
// failure it drops what it made.
func (s *server) createOnAll(ctx context.Context, name, tpl string) error {
	create := "CREATE DATABASE " + ident(name) + " TEMPLATE " + ident(tpl) + s.cloneStrategy
	for i, w := range s.workers {
		if err := w.exec(ctx, create); err != nil {
			for _, made := range s.workers[:i] {
				_ = made.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
			}
			return fmt.Errorf("on worker %s:%d: %w", w.host, w.port, err)
		}
	}
	if err := s.exec(ctx, create); err != nil {
		for _, w := range s.workers {
			_ = w.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		}
		return err
	}
	return nil
}

// closeOnAll closes database name to new connections on every node and ends its sessions, before
// it is dropped. DROP DATABASE ... WITH (FORCE) alone is not enough: it ends the sessions, then
// waits 5 s for them to go while holding the database's lock, and Citus's maintenance daemon may
// be in the middle of connecting to that very database (it checks its nodes every few seconds),
// blocked by that lock: the drop then fails. Best effort: the database may not exist everywhere.
func (s *server) closeOnAll(ctx context.Context, name string) {
	sql := "ALTER DATABASE " + ident(name) + " WITH ALLOW_CONNECTIONS false"
	_ = s.exec(ctx, sql)
	for _, w := range s.workers {
		_ = w.exec(ctx, sql)
	}
	_ = endSessions(ctx, s.pool, name)
	for _, w := range s.workers {
		_ = endSessions(ctx, w.pool, name)
	}
}

// dropOnWorkers drops database name on every worker (after the coordinator's).
func (s *server) dropOnWorkers(ctx context.Context, name string, unTemplate bool) error {
	var errs []error
	for _, w := range s.workers {
		if unTemplate {
			_ = w.exec(ctx, "ALTER DATABASE "+ident(name)+" IS_TEMPLATE false")
		}
		if err := w.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s on worker %s:%d: %w", name, w.host, w.port, err))
		}
	}
	return errors.Join(errs...)
}

// execOnce runs sql on a connection of its own to url.
func execOnce(ctx context.Context, url, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}
