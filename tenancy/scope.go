package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/gen/tenantdb"
)

// Tenant is a tenant as the application sees it: who it is and which schema holds its data.
type Tenant struct {
	ID          int64
	Schema      string // the PostgreSQL schema; validated at creation and always quoted
	DisplayName string
	Status      string      // StatusActive, StatusSuspended or StatusDeleted
	Ledger      LedgerState // the schema's ledger state; filled by the host map's queries only (hosts.go)
}

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleted   = "deleted"
)

// tenantFromRow is the one place a Tenant is made from the registry: every query that yields a
// tenant returns the whole public.tenants row (sqlc.embed where it comes with more columns).
func tenantFromRow(r shareddb.Tenant) Tenant {
	return Tenant{ID: r.ID, Schema: r.SchemaName, DisplayName: r.DisplayName, Status: r.Status}
}

// inTxKey marks the context of an InTx callback, so that a nested InTx is refused.
type inTxKey struct{}

// ErrNestedScope is returned when InTx is called from inside another InTx callback: a second
// transaction would not see the first one's writes and could deadlock against it.
var ErrNestedScope = errors.New("tenancy: InTx called inside another tenant transaction")

// InTx runs fn in a transaction whose search_path is exactly t's schema (SET LOCAL, so it ends
// with the transaction and never leaks to the next user of the pooled connection). It commits if
// fn returns nil and rolls back if fn returns an error, panics, or ctx is cancelled. fn must not
// keep q after it returns. Errors from the database come back translated (see interpret).
func (db *DB) InTx(ctx context.Context, t Tenant, fn func(ctx context.Context, q *tenantdb.Queries) error) error {
	return db.inTx(ctx, t, pgx.TxOptions{}, fn)
}

// InReadTx is InTx for work that only reads: READ ONLY, with the same tenant scope. On plain
// PostgreSQL at READ COMMITTED (Open checks default_transaction_isolation) each statement of fn
// is its own implicit read-only transaction, scoped in the same round trip and with no COMMIT
// (see scopeTx): fn must not rely on one snapshot, or on locks, across its statements, which
// READ COMMITTED does not give it either. Elsewhere (Citus, another isolation level, a DB made
// by New) it is one READ ONLY transaction.
func (db *DB) InReadTx(ctx context.Context, t Tenant, fn func(ctx context.Context, q *tenantdb.Queries) error) error {
	return db.inTx(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

// InTxV is InTx for work that returns a value (methods cannot have type parameters).
func InTxV[T any](ctx context.Context, db *DB, t Tenant, fn func(ctx context.Context, q *tenantdb.Queries) (T, error)) (T, error) {
	var v T
	err := db.InTx(ctx, t, func(ctx context.Context, q *tenantdb.Queries) (err error) {
		v, err = fn(ctx, q)
		return err
	})
	return v, err
}

// InReadTxV is InReadTx for work that returns a value.
func InReadTxV[T any](ctx context.Context, db *DB, t Tenant, fn func(ctx context.Context, q *tenantdb.Queries) (T, error)) (T, error) {
	var v T
	err := db.InReadTx(ctx, t, func(ctx context.Context, q *tenantdb.Queries) (err error) {
		v, err = fn(ctx, q)
		return err
	})
	return v, err
}

func (db *DB) inTx(ctx context.Context, t Tenant, opts pgx.TxOptions, fn func(ctx context.Context, q *tenantdb.Queries) error) error {
	return db.scoped(ctx, t, opts, func(ctx context.Context, s *scopeTx) error { return fn(ctx, tenantdb.New(s)) })
}

// scoped is inTx on the scope itself (the tests run raw SQL in it).
func (db *DB) scoped(ctx context.Context, t Tenant, opts pgx.TxOptions, fn func(ctx context.Context, s *scopeTx) error) (err error) {
	if ctx.Value(inTxKey{}) != nil {
		return ErrNestedScope
	}
	if t.Schema == "" || t.ID == 0 {
		return fmt.Errorf("tenancy: InTx without a tenant")
	}
	conn, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: begin (%s): %w", t.Schema, err)
	}
	defer conn.Release()
	// The transaction begins with fn's first statement, in the same round trip; in an implicit
	// read scope each statement is its own (see scopeTx).
	s := &scopeTx{conn: conn.Conn(), state: stateOf(conn.Conn()), opts: pgx.TxOptions{AccessMode: opts.AccessMode},
		path: pgx.Identifier{t.Schema}.Sanitize(), always: db.pipelineAlways,
		implicit: opts.AccessMode == pgx.ReadOnly && db.implicitReads}
	defer func() {
		p := recover()
		if p != nil || err != nil {
			_ = s.settle()
			if s.tx != nil {
				_ = s.tx.Rollback(context.WithoutCancel(ctx))
			}
		}
		if p != nil {
			panic(p)
		}
	}()
	if err := fn(context.WithValue(ctx, inTxKey{}, true), s); err != nil {
		return interpret(err)
	}
	if err := s.settle(); err != nil {
		return interpret(err)
	}
	if s.tx == nil {
		// Nothing was begun: fn ran no statement, or each was its own implicit transaction.
		if s.ok {
			db.entered(s.state, t.Schema)
		}
		return nil
	}
	if err := s.tx.Commit(ctx); err != nil {
		return fmt.Errorf("tenancy: commit (%s): %w", t.Schema, interpret(err))
	}
	db.entered(s.state, t.Schema)
	return nil
}

// rollbackOnFailure, deferred right after a Begin, rolls tx back when the function returns an
// error (*err) or panics (and re-panics). It runs even when ctx is already cancelled; after
// Commit there is nothing to roll back.
func rollbackOnFailure(ctx context.Context, tx pgx.Tx, err *error) {
	if p := recover(); p != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		panic(p)
	}
	if *err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
	}
}
