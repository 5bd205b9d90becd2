package migrate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// errRetry is returned by applyOne when the schema's DDL hit the lock timeout and attempts are
// left: nothing is counted or reported, the caller tries the schema again later.
var errRetry = errors.New("locked by another transaction; to be retried")

// isLockTimeout reports whether err is PostgreSQL's lock_not_available (55P03): lock_timeout
// ran out while a statement waited for a lock.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// applyOne applies p to one schema in one transaction: the statements (unqualified for a
// tenant, run with SET LOCAL search_path and lock_timeout) and the schema's ledger row, with its
// new fingerprint if measure is set. On failure it rolls back and records the error in the
// ledger in a transaction of its own, except when the DDL hit the lock timeout and this was not
// the last of Options.LockAttempts (attempt counts from 1): it then returns errRetry.
func (r *runner) applyOne(ctx context.Context, name string, p *Plan, hash string, measure bool, attempt int) (fp string, err error) {
	start := time.Now()
	fp, err = r.applyTx(ctx, name, p, hash, measure)
	res := Result{Schema: name, Err: err, Duration: time.Since(start)}
	locked := err != nil && isLockTimeout(err) && ctx.Err() == nil
	if locked && attempt < r.opts.LockAttempts {
		return "", errRetry
	}
	if err != nil {
		if locked {
			err = fmt.Errorf("locked by another transaction: gave up after %s, each waiting %s (lock_timeout) for a table lock; the next run tries again: %w",
				Plural(attempt, "attempt"), r.opts.LockTimeout, err)
			r.count(func(s *Summary) { s.LockGaveUp++ })
		}
		res.Err = fmt.Errorf("apply to %q: %w", name, err)
		switch cause := context.Cause(ctx); {
		case cause == nil:
			res.Err = errors.Join(res.Err, r.recordError(ctx, []string{name}, hash, err))
		case cause != ctx.Err():
			// Cut short for a reason of the run's (the lock was lost): say which.
			res.Err = fmt.Errorf("%w: %w", res.Err, cause)
		}
		r.count(func(s *Summary) { s.Failed++; s.Failures = append(s.Failures, res) })
	} else {
		r.count(func(s *Summary) { s.Applied++ })
		if !p.Shared {
			r.announce.pending.Add(1)
		}
	}
	r.rep.Done(res)
	return fp, res.Err
}

// applyTx is applyOne's transaction, in one round trip: BEGIN, the settings, the script, the
// ledger row and COMMIT go in one pipeline, one statement per message (Citus refuses several in
// one). If a statement fails, PostgreSQL skips the rest of the pipeline, COMMIT included, and the
// transaction is rolled back here. With measure, the schema's fingerprint is taken inside the
// transaction between the script and the ledger row, which then take a round trip each.
//
// The ledger statement (which also takes the registry version's row lock: see announcer) comes
// last, so that the lock is held for no round trip, and after SET LOCAL search_path TO DEFAULT:
// a prepared statement is analysed and planned again whenever it runs under a search_path other
// than the one it was planned under, which cost every schema's transaction more than its DDL.
//
// The transaction runs with synchronous_commit off: its COMMIT does not wait for the WAL flush
// (with fsync on, a good part of a small DDL transaction's cost). The change and its ledger row
// are in the one transaction, so a crash of the database can lose both, never one: the ledger
// row is what the next run reads to decide what is due (LedgerFleet, isCurrent), so it applies
// again exactly the schemas whose commits were lost. Only the durability of the last moment's
// commits is given up (PostgreSQL flushes them within three times wal_writer_delay; a failover
// to a standby loses them alike), never their atomicity.
func (r *runner) applyTx(ctx context.Context, name string, p *Plan, hash string, measure bool) (fp string, err error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	defer func() {
		// A failure inside the transaction leaves it open (or aborted): end it, so that the
		// connection goes back to the pool clean (pgxpool would close it otherwise).
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			if err == nil {
				err = rerr
			}
		}
	}()
	// Nothing in the statements comes from input except the quoted schema name.
	stmts := make([]string, 0, len(p.Statements)+4)
	stmts = append(stmts, "BEGIN", fmt.Sprintf("SET LOCAL lock_timeout = %d", max(1, r.opts.LockTimeout.Milliseconds())),
		"SET LOCAL synchronous_commit = off")
	if !p.Shared {
		stmts = append(stmts, "SET LOCAL search_path TO "+pgx.Identifier{name}.Sanitize())
	}
	stmts = append(stmts, p.Statements...)
	// Quiet: the version moves in this transaction, and the run announces its schemas
	// together (announcer).
	params := shareddb.LedgerRecordAppliedParams{SchemaName: name, AppliedHash: hash, ChangeClass: &p.Class, Quiet: !p.Shared}
	if measure {
		if err := schemadef.ExecConn(ctx, conn.Conn().PgConn(), stmts); err != nil {
			return "", err
		}
		if fp, err = fingerprintOne(ctx, conn, name); err != nil {
			return "", err
		}
		params.Fingerprint = &fp
		stmts = nil
	}
	var ledger captured
	if err := shareddb.New(&ledger).LedgerRecordApplied(ctx, params); err != nil {
		return "", err
	}
	if !p.Shared {
		stmts = append(stmts, "SET LOCAL search_path TO DEFAULT")
	}
	return fp, commitWith(ctx, conn.Conn(), stmts, ledger)
}

// ledgerStatementName names the ledger statement where the migrator prepares it (once per
// connection).
const ledgerStatementName = "toodoo_migrate_ledger_applied"

// commitWith sends stmts (simple statements, one per message), then the captured statement,
// then COMMIT, in one pipeline, and returns the first error. The captured statement is prepared
// once per connection when the connection's exec mode caches statements (pgx's default), else
// sent unnamed with its parameters as text, as pgx's exec mode does (PgBouncer).
func commitWith(ctx context.Context, conn *pgx.Conn, stmts []string, last captured) error {
	var sd *pgconn.StatementDescription
	if conn.Config().DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		var err error
		if sd, err = conn.Prepare(ctx, ledgerStatementName, last.sql); err != nil {
			return err
		}
	}
	var eqb pgx.ExtendedQueryBuilder
	if err := eqb.Build(conn.TypeMap(), sd, last.args); err != nil {
		return fmt.Errorf("encode the ledger statement: %w", err)
	}
	batch := &pgconn.Batch{}
	for _, stmt := range stmts {
		batch.ExecParams(stmt, nil, nil, nil, nil)
	}
	if sd != nil {
		batch.ExecPrepared(sd.Name, eqb.ParamValues, eqb.ParamFormats, eqb.ResultFormats)
	} else {
		batch.ExecParams(last.sql, eqb.ParamValues, nil, eqb.ParamFormats, eqb.ResultFormats)
	}
	batch.ExecParams("COMMIT", nil, nil, nil, nil)
	results, err := conn.PgConn().ExecBatch(ctx, batch).ReadAll()
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
	}
	if err != nil {
		return err
	}
	if n := len(results); n != len(stmts)+2 || results[n-1].CommandTag.String() != "COMMIT" {
		return fmt.Errorf("commit: the server answered %d of %d statements", n, len(stmts)+2) // the transaction had failed
	}
	return nil
}

// captured is a shareddb.DBTX that runs nothing: it keeps the SQL and the arguments of the one
// Exec it is given, for commitWith to send in its pipeline (sqlc's generated code stays the one
// source of the statement).
type captured struct {
	sql  string
	args []any
}

func (c *captured) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.sql, c.args = sql, args
	return pgconn.CommandTag{}, nil
}

func (c *captured) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("migrate: captured keeps one Exec")
}

func (c *captured) QueryRow(context.Context, string, ...any) pgx.Row {
	panic("migrate: captured keeps one Exec")
}

// failAll counts every schema of p as failed with err and records err in the ledger (unless
// DryRun). No Done is reported: the plan itself says why.
func (r *runner) failAll(ctx context.Context, p *Plan, hash string, err error) {
	if !r.opts.DryRun {
		err = errors.Join(err, r.recordError(ctx, p.Schemas, hash, err))
	}
	r.count(func(s *Summary) {
		s.Failed += len(p.Schemas)
		for _, name := range p.Schemas {
			s.Failures = append(s.Failures, Result{Schema: name, Err: err})
		}
	})
}

// recordError writes cause to the ledger rows of names, and returns an error if it could not
// (none when the ledger does not exist: "public" failed on an empty database).
func (r *runner) recordError(ctx context.Context, names []string, hash string, cause error) error {
	err := shareddb.New(r.pool).LedgerRecordError(ctx, shareddb.LedgerRecordErrorParams{
		SchemaNames: names, AttemptedHash: hash, LastError: toodoo.Truncate(cause.Error(), 2000),
	})
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code == "42P01") {
		return nil
	}
	return fmt.Errorf("record the error in the ledger: %w", err)
}

// recordAll records that p's schemas, already in the desired state, have hash.
func (r *runner) recordAll(ctx context.Context, p *Plan, hash string, fp *string) {
	if r.opts.DryRun {
		r.count(func(s *Summary) { s.Pending += len(p.Schemas) })
		return
	}
	err := shareddb.New(r.pool).LedgerRecordAppliedMany(ctx, shareddb.LedgerRecordAppliedManyParams{
		SchemaNames: p.Schemas, AppliedHash: hash, Fingerprint: fp,
	})
	if err != nil {
		r.count(func(s *Summary) {
			s.Failed += len(p.Schemas)
			for _, name := range p.Schemas {
				s.Failures = append(s.Failures, Result{Schema: name, Err: fmt.Errorf("record in the ledger: %w", err)})
			}
		})
		return
	}
	r.count(func(s *Summary) { s.Recorded += len(p.Schemas) })
}

// announceEvery is how often, at most, a run announces the tenant schemas it applied.
const announceEvery = time.Second

// announcer tells the servers' host maps, which carry each tenant's ledger state, about the
// schemas a run applied: one notification (RegistryChangedAll: every host map reloads whole)
// per announceEvery for all of them, instead of one per tenant, each costing every server a
// query while it serves. Each schema's transaction bumps the registry's version already, so a
// host map that misses an announcement (the run killed before it) still reloads within its
// reconcile interval.
type announcer struct {
	pending atomic.Int64 // schemas applied since the last announcement
	stop    chan struct{}
	done    chan struct{}
}

// startAnnouncing announces every announceEvery while schemas are applied; the returned
// function stops it after a last announcement of what is pending.
func (r *runner) startAnnouncing(ctx context.Context) (stop func()) {
	a := &r.announce
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(a.done)
		tick := time.NewTicker(announceEvery)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				r.announceNow(context.WithoutCancel(ctx))
				return
			case <-tick.C:
				r.announceNow(ctx)
			}
		}
	}()
	return func() {
		close(a.stop)
		<-a.done
	}
}

// announceNow announces the pending schemas, if any. A failure leaves them pending (and is
// reported as a warning if the last announcement fails: the host maps then follow within their
// reconcile interval).
func (r *runner) announceNow(ctx context.Context) {
	n := r.announce.pending.Swap(0)
	if n == 0 || r.opts.DryRun {
		return
	}
	if err := shareddb.New(r.pool).RegistryChangedAll(ctx); err != nil {
		r.announce.pending.Add(n)
		select {
		case <-r.announce.stop:
			r.count(func(s *Summary) {
				s.Warnings = append(s.Warnings, fmt.Errorf("announce %d applied schemas to the servers' host maps (they follow within their reconcile interval): %w", n, err))
			})
		default:
		}
	}
}
