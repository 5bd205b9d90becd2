// Package tenancy is Toodoo's adapter to PostgreSQL for everything tenant-shaped: the pool, the
// tenant scope (the only door to tenant data), provisioning (create, suspend, delete), the host
// map, and the shared-schema boundary that it and package account keep the generated shared
// queries behind (shared.go).
//
// The path of a request through it: web resolves the host to a Tenant, then calls DB.InTx, which
// begins a transaction, runs SET LOCAL search_path to exactly that tenant's schema and hands the
// generated tenantdb.Queries to a callback. Nothing session-level is ever set, so the scope is
// correct behind PgBouncer in transaction pooling mode.
package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
)

// DB is the application's handle on the database.
type DB struct {
	pool           *pgxpool.Pool
	shared         *shareddb.Queries // on the pool through bounded, errors interpreted (see SharedQueries)
	acquireTimeout time.Duration     // see acquire
	busy           atomic.Int64      // acquires refused with ErrBusy, for PoolStats

	// Citus mode (citus.go), decided once at Open: citus says whether tenant schemas are
	// distributed, citusInstalled whether the extension is there at all.
	citus, citusInstalled bool
	pipelineAlways        bool // the pool's exec mode prepares nothing (see scopeTx)
	implicitReads         bool // InReadTx runs each statement as an implicit transaction (see scopeTx)
	maxConnSchemas        int  // see pool_max_conn_schemas; 0: no limit
}

// DefaultAcquireTimeout is how long a request waits for a free connection of the pool before it
// is refused with ErrBusy (503); the database URL's pool_acquire_timeout parameter changes it.
const DefaultAcquireTimeout = time.Second

// ErrBusy is the answer when no connection of the pool came free within the acquire timeout:
// the database (or this process's share of it) is saturated, and the client should come back
// shortly instead of queueing without end.
var ErrBusy = toodoo.Errorf(toodoo.EUNAVAILABLE, "The service is busy right now. Please try again in a moment.")

// New wraps a pool, with DefaultAcquireTimeout and Citus mode off. The pool's default
// search_path must be empty (see Open). Its InReadTx is one READ ONLY transaction: New does
// not look at the server's isolation level (see Open).
func New(pool *pgxpool.Pool) *DB {
	return newDB(pool, DefaultAcquireTimeout)
}

func newDB(pool *pgxpool.Pool, acquireTimeout time.Duration) *DB {
	db := &DB{pool: pool, acquireTimeout: acquireTimeout}
	if pool != nil { // unit tests make a DB without a database
		switch pool.Config().ConnConfig.DefaultQueryExecMode {
		case pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol:
			db.pipelineAlways = true
		}
	}
	db.shared = shareddb.New(interpreting{bounded{db}})
	return db
}

// DefaultMaxConnSchemas is how many tenant schemas a pooled connection may enter before it is
// closed (and replaced on demand); the database URL's pool_max_conn_schemas changes it (0: no
// limit). Each PostgreSQL backend caches the catalog entries of every table it touched, for as
// long as it lives and with no eviction: with traffic spread over thousands of tenants its
// memory would grow with the fleet, times the pool's connections. The limit bounds it; a new
// connection costs a few milliseconds once per that many schemas.
const DefaultMaxConnSchemas = 1000

// entered records that conn's transaction in schema committed, for pool_max_conn_schemas.
func (db *DB) entered(st *connState, schema string) {
	if db.maxConnSchemas > 0 {
		st.schemas[schema] = struct{}{}
	}
}

// Open connects a pool whose connections start with an empty search_path, so that a tenant query
// run outside the tenant scope fails loudly ("relation does not exist") instead of reading
// "public". Shared tables are always written public.x.
//
// Behind PgBouncer (which does not forward the search_path start-up parameter), the pooler must
// give its server connections an empty search_path instead (connect_query, or ALTER ROLE ... SET);
// Open checks the effective value either way and refuses a pool that would fall back to a schema.
//
// Besides pgxpool's pool_* parameters (pool_max_conns...), the URL may carry
// pool_acquire_timeout (a Go duration such as 500ms; default DefaultAcquireTimeout).
//
// Open also looks, in the same query, for the citus extension: with it, the DB is in Citus mode
// (see citus.go and OpenWith).
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenWith(ctx, url, Options{})
}

// Options are the settings of OpenWith that do not belong in the database URL. The zero value is
// Open's.
type Options struct {
	// Citus says when tenant schemas are distributed with Citus (default CitusAuto: when the
	// citus extension is installed). Returns EINVALID from OpenWith for CitusOn on a database
	// without it.
	Citus CitusMode
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, opts Options) (*DB, error) {
	url, acquireTimeout, err := splitAcquireTimeout(url)
	if err != nil {
		return nil, fmt.Errorf("tenancy: parse database URL: %w", err)
	}
	url, maxSchemas, err := splitMaxConnSchemas(url)
	if err != nil {
		return nil, fmt.Errorf("tenancy: parse database URL: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("tenancy: parse database URL: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["search_path"]; !set {
		cfg.ConnConfig.RuntimeParams["search_path"] = ""
	}
	// A connection that has entered too many schemas goes back to the pool no more: the pool
	// closes it, and its backend's caches go with it. Set without a limit too: with an
	// AfterRelease, pgxpool puts a released connection back (and wakes whoever waits for one) on
	// a goroutine of its own instead of the releasing request's, and the API's one-tenant rate
	// measured 10% higher with it (bench http, README "Fifth pass").
	cfg.AfterRelease = func(c *pgx.Conn) bool { return maxSchemas == 0 || len(stateOf(c).schemas) < maxSchemas }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenancy: connect: %w", err)
	}
	var (
		path      string
		installed bool
		isolation string
	)
	if err := pool.QueryRow(ctx, "SELECT current_setting('search_path'), "+CitusInstalledSQL+
		", current_setting('default_transaction_isolation')").Scan(&path, &installed, &isolation); err != nil {
		pool.Close()
		return nil, fmt.Errorf("tenancy: connect: %w", err)
	}
	if path != "" && path != `""` {
		pool.Close()
		return nil, fmt.Errorf("tenancy: the connections' default search_path is %q; it must be empty so that tenant queries cannot fall back to a shared schema", path)
	}
	citus, err := opts.Citus.Enabled(installed)
	if err != nil {
		pool.Close()
		return nil, err
	}
	db := newDB(pool, acquireTimeout)
	db.citus, db.citusInstalled = citus, installed
	db.maxConnSchemas = maxSchemas
	// Implicit read transactions give each statement its own snapshot, which is what READ
	// COMMITTED gives each statement of a transaction: under a stricter default a read callback
	// would lose the one snapshot it expects. Citus keeps explicit transactions: the
	// coordinator's routing by search_path is only tested with them.
	db.implicitReads = !citus && isolation == "read committed"
	return db, nil
}

// acquireTimeoutParam is the database URL parameter that sets the acquire timeout.
const acquireTimeoutParam = "pool_acquire_timeout"

// maxConnSchemasParam is the database URL parameter that sets DefaultMaxConnSchemas.
const maxConnSchemasParam = "pool_max_conn_schemas"

// splitAcquireTimeout takes pool_acquire_timeout out of a database URL or key=value string
// (the driver would send it to the server as a setting, which the server refuses).
func splitAcquireTimeout(connString string) (string, time.Duration, error) {
	connString, value, ok, err := splitParam(connString, acquireTimeoutParam)
	if err != nil || !ok {
		return connString, DefaultAcquireTimeout, err
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return "", 0, fmt.Errorf("%s=%q: want a positive duration such as 500ms", acquireTimeoutParam, value)
	}
	return connString, d, nil
}

// splitMaxConnSchemas takes pool_max_conn_schemas out of a database URL or key=value string.
func splitMaxConnSchemas(connString string) (string, int, error) {
	connString, value, ok, err := splitParam(connString, maxConnSchemasParam)
	if err != nil || !ok {
		return connString, DefaultMaxConnSchemas, err
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("%s=%q: want a number of schemas (0: no limit)", maxConnSchemasParam, value)
	}
	return connString, n, nil
}

// splitParam takes the parameter name out of a database URL or key=value string and returns
// its value, if it was there.
func splitParam(connString, name string) (rest, value string, found bool, err error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", "", false, err
		}
		q := u.Query()
		if !q.Has(name) {
			return connString, "", false, nil
		}
		value = q.Get(name)
		q.Del(name)
		u.RawQuery = q.Encode()
		return u.String(), value, true, nil
	}
	fields := strings.Fields(connString)
	kept := fields[:0]
	for _, f := range fields {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			value, found = v, true
			continue
		}
		kept = append(kept, f)
	}
	if !found {
		return connString, "", false, nil
	}
	return strings.Join(kept, " "), value, true, nil
}

// acquire takes a connection from the pool, waiting at most the acquire timeout: when every
// connection stays busy longer than that, it returns ErrBusy (EUNAVAILABLE, which the web
// layer answers with 503 and Retry-After) instead of letting requests queue until their
// clients give up. Every statement the application runs on the pool takes its connection here:
// InTx and SharedTx for their transaction, the shared queries for each statement (bounded).
// The caller must Release the connection.
func (db *DB) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, db.acquireTimeout)
	defer cancel()
	c, err := db.pool.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			db.busy.Add(1)
			return nil, &wrapped{ErrBusy, fmt.Errorf("tenancy: no connection within %v: %w", db.acquireTimeout, err)}
		}
		return nil, fmt.Errorf("tenancy: acquire: %w", err)
	}
	return c, nil
}

// bounded is the shareddb.DBTX of the statements run on the pool outside a transaction: each
// takes its connection with acquire and gives it back once its result has been read.
type bounded struct{ db *DB }

func (b bounded) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := b.db.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

func (b bounded) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := b.db.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &releasingRows{Rows: rows, conn: c}, nil
}

func (b bounded) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := b.db.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return releasingRow{row: c.QueryRow(ctx, sql, args...), conn: c}
}

// releasingRows gives its connection back when closed, or when read to the end (as pgxpool's
// own rows do).
type releasingRows struct {
	pgx.Rows
	conn *pgxpool.Conn
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	if r.conn != nil {
		r.conn.Release()
		r.conn = nil
	}
}

// releasingRow gives its connection back once scanned (every QueryRow is scanned).
type releasingRow struct {
	row  pgx.Row
	conn *pgxpool.Conn
}

func (r releasingRow) Scan(dest ...any) error {
	defer r.conn.Release()
	return r.row.Scan(dest...)
}

// errRow is the pgx.Row of a statement that never ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Pool returns the underlying pool, for tests that check or plant rows with plain SQL. The
// application never uses it (TestSharedQueriesStayBehindOwners keeps it so): shared data is
// reached through tenancy's and account's methods, tenant data through InTx, and the migrator
// opens a pool of its own.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks, for readiness probes, that a connection comes free within the acquire timeout
// (ErrBusy otherwise: the pool is saturated) and that the database answers on it.
func (db *DB) Ping(ctx context.Context) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return c.Ping(ctx)
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }
