package tenancy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// The shared schema ("public": tenants, domains, users, memberships, tokens) has two owners:
// tenancy, for the registry and the host map, and account, for people. The generated queries
// (gen/shareddb) stay behind them: web and cmd/toodoo call their methods and get tenancy and
// account types back, never generated rows. TestSharedQueriesStayBehindOwners enforces it.
//
// Every shareddb.Queries that tenancy hands out (to itself and to account) runs on interpreting,
// so driver errors are translated once, under the generated code, into toodoo errors (see
// interpret): callers test toodoo.ErrNotFound or a code, and account does not import pgx. This
// is River's interpretError behind its driver package, applied to every statement instead of
// after every call.

// Tx is a transaction on the shared schema, as DB.SharedTx and CreateParams.Then hand it over.
// It is opaque outside tenancy and account: web and cmd/toodoo only pass it on to account's
// functions ending in Tx (sign-up creates the owner inside tenancy.Create this way), so that
// they never touch a generated query. A Tx is valid only until the callback returns.
type Tx struct {
	q   *shareddb.Queries
	raw pgx.Tx // for Enqueue only (queue.go)
}

// SharedQueries returns the transaction's generated shared-schema queries, with errors already
// interpreted. It is for package account, which owns the users, memberships and tokens tables;
// every other package goes through tenancy's and account's methods.
func (tx *Tx) SharedQueries() *shareddb.Queries { return tx.q }

// SharedQueries returns the generated shared-schema queries bound to the pool (each statement
// its own transaction, so a single read costs no BEGIN/COMMIT round trips, and its connection
// taken within the acquire timeout), with errors already interpreted. Like Tx.SharedQueries it
// is for package account only.
func (db *DB) SharedQueries() *shareddb.Queries { return db.shared }

// SharedTx runs fn in a transaction on the shared schema (the search_path stays empty; shared
// queries name public.x). It commits if fn returns nil and rolls back otherwise.
func (db *DB) SharedTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.sharedTx(ctx, func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error {
		return fn(ctx, &Tx{q: q, raw: tx})
	})
}

// sharedTx is SharedTx that also hands over the raw transaction, for provisioning's DDL.
func (db *DB) sharedTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx, q *shareddb.Queries) error) (err error) {
	conn, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: begin: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: begin: %w", err)
	}
	defer rollbackOnFailure(ctx, tx, &err)
	if err := fn(ctx, tx, shareddb.New(interpreting{tx})); err != nil {
		return interpret(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("tenancy: commit: %w", interpret(err))
	}
	return nil
}

// interpreting is the shareddb.DBTX under every generated shared query: it passes each
// statement to db and its error through interpret.
type interpreting struct{ db shareddb.DBTX }

func (d interpreting) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.db.Exec(ctx, sql, args...)
	return tag, interpret(err)
}

func (d interpreting) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.db.Query(ctx, sql, args...)
	if err != nil {
		return rows, interpret(err)
	}
	return interpretedRows{rows}, nil
}

func (d interpreting) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return interpretedRow{d.db.QueryRow(ctx, sql, args...)}
}

// interpretedRow is a pgx.Row whose Scan error is interpreted (no rows: toodoo.ErrNotFound).
type interpretedRow struct{ pgx.Row }

func (r interpretedRow) Scan(dest ...any) error { return interpret(r.Row.Scan(dest...)) }

// interpretedRows is pgx.Rows whose errors are interpreted (a statement's error arrives with
// its rows: pgx sends the query when Query is called and reads the answer as rows are read).
type interpretedRows struct{ pgx.Rows }

func (r interpretedRows) Scan(dest ...any) error { return interpret(r.Rows.Scan(dest...)) }
func (r interpretedRows) Err() error             { return interpret(r.Rows.Err()) }
