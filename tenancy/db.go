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
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// DB is the application's handle on the database.
type DB struct {
	pool   *pgxpool.Pool
	shared *shareddb.Queries // bound to the pool, errors interpreted (see SharedQueries)
}

// New wraps a pool. The pool's default search_path must be empty (see Open).
func New(pool *pgxpool.Pool) *DB {
	return &DB{pool: pool, shared: shareddb.New(interpreting{pool})}
}

// Open connects a pool whose connections start with an empty search_path, so that a tenant query
// run outside the tenant scope fails loudly ("relation does not exist") instead of reading
// "public". Shared tables are always written public.x.
//
// Behind PgBouncer (which does not forward the search_path start-up parameter), the pooler must
// give its server connections an empty search_path instead (connect_query, or ALTER ROLE ... SET);
// Open checks the effective value either way and refuses a pool that would fall back to a schema.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("tenancy: parse database URL: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["search_path"]; !set {
		cfg.ConnConfig.RuntimeParams["search_path"] = ""
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenancy: connect: %w", err)
	}
	var path string
	if err := pool.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&path); err != nil {
		pool.Close()
		return nil, fmt.Errorf("tenancy: connect: %w", err)
	}
	if path != "" && path != `""` {
		pool.Close()
		return nil, fmt.Errorf("tenancy: the connections' default search_path is %q; it must be empty so that tenant queries cannot fall back to a shared schema", path)
	}
	return New(pool), nil
}

// Pool returns the underlying pool, for tests that check or plant rows with plain SQL. The
// application never uses it (TestSharedQueriesStayBehindOwners keeps it so): shared data is
// reached through tenancy's and account's methods, tenant data through InTx, and the migrator
// opens a pool of its own.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }
