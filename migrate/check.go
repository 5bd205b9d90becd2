package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// A run's first round trip, on the lock's connection (connectLock), asks everything a run that
// has nothing to do needs to know, so that such a run (every deploy that changed no schema)
// costs one connection, this round trip, and two more that record the run (public.migration_runs)
// and commit, which ends the lock. Only when something is due does the run open its pool and read
// the whole ledger (runner.loadFleet).

// fleetCheckSQL counts the schemas LedgerFleet lists ("public" and every tenant that is not
// deleted) by what decides whether they are due: the ledger's hash, whether the last attempt
// failed, and (Citus mode) whether the tenant is distributed. The groups are judged with
// SchemaState, the one rule, in fleetCheck.due. There are as many groups as states in the fleet (a
// handful), whatever the number of tenants.
const fleetCheckSQL = `SELECT s.schema_name = 'public'          AS shared,
       coalesce(l.applied_hash, '')         AS applied_hash,
       coalesce(l.last_error, '') <> ''     AS failed,
       l.distributed_at IS NULL             AS undistributed,
       count(*)                             AS schemas
FROM (
    SELECT 'public'::text AS schema_name
    UNION ALL
    SELECT t.schema_name FROM public.tenants t WHERE t.status <> 'deleted'
) s
LEFT JOIN public.schema_ledger l ON l.schema_name = s.schema_name
GROUP BY 1, 2, 3, 4`

// fleetGroup is one row of fleetCheckSQL.
type fleetGroup struct {
	shared, failed, undistributed bool
	appliedHash                   string
	schemas                       int
}

// fleetCheck is what a run's first round trip read.
type fleetCheck struct {
	got            bool // the lock was free and is now held by the transaction
	citusInstalled bool
	citusRead      bool // citusInstalled was read
	queueVersion   int  // River's version in tenancy.QueueSchema (read when asked)
	queueRead      bool // queueVersion was read (River's table exists)
	groups         []fleetGroup
	groupsRead     bool // the ledger and the registry exist, and groups were read (while holding the lock)
}

// firstRoundTrip begins the lock's transaction on conn, tries the migrators' lock and, under a
// savepoint, looks for Citus and reads River's version (with queue) and fleetCheckSQL: one round
// trip. The reads come after the lock in the same transaction, so once the lock is held they see
// what the migrator that held it before committed. The transaction then goes back to the
// savepoint, which lets go of the reads' table locks (held until the end of the run otherwise, they
// would block the run's own DDL on "public") and keeps the advisory lock. When a read fails (a
// table does not exist yet: a new database), the check says what it could not read, and the run
// reads it the way it always did, with that way's errors. The returned transaction is open unless
// err is set.
func firstRoundTrip(ctx context.Context, conn *pgx.Conn, queue bool) (pgx.Tx, *fleetCheck, error) {
	chk := &fleetCheck{}
	locked := false // the savepoint was made: later failures are the reads'
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue("SELECT pg_try_advisory_xact_lock($1)", lockKey).QueryRow(func(row pgx.Row) error {
		return row.Scan(&chk.got)
	})
	b.Queue("SAVEPOINT fleet_check").Exec(func(pgconn.CommandTag) error {
		locked = true
		return nil
	})
	b.Queue("SELECT " + tenancy.CitusInstalledSQL).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&chk.citusInstalled); err != nil {
			return err
		}
		chk.citusRead = true
		return nil
	})
	if queue {
		b.Queue(tenancy.QueueVersionSQL).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&chk.queueVersion); err != nil {
				return err
			}
			chk.queueRead = true
			return nil
		})
	}
	b.Queue(fleetCheckSQL).Query(func(rows pgx.Rows) error {
		var g fleetGroup
		_, err := pgx.ForEachRow(rows, []any{&g.shared, &g.appliedHash, &g.failed, &g.undistributed, &g.schemas}, func() error {
			chk.groups = append(chk.groups, g)
			return nil
		})
		chk.groupsRead = err == nil
		return err
	})
	b.Queue("ROLLBACK TO SAVEPOINT fleet_check")
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	err := br.Close()
	if err == nil {
		return tx, chk, nil
	}
	var pgErr *pgconn.PgError
	if locked && errors.As(err, &pgErr) && conn.PgConn().TxStatus() == 'E' {
		chk.groups, chk.groupsRead = nil, false
		if _, err = tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fleet_check"); err == nil {
			return tx, chk, nil
		}
	}
	_ = tx.Rollback(ctx)
	return nil, nil, fmt.Errorf("migrate: take the migration lock: %w", err)
}

// due reports whether a run with opts has something to do beyond what chk read: false only when
// the ledger says every schema in scope is current (and, in Citus mode, every tenant is
// distributed), which is what runner.run finds when it reads the whole ledger. Runs that look at
// more than the ledger (Verify) or at named tenants always go the whole way. When nothing is due,
// it also returns the number of schemas in scope.
func (chk *fleetCheck) due(def *schemadef.Definition, opts Options, citus bool) (due bool, schemas int) {
	if !chk.groupsRead || opts.Verify || len(opts.Tenants) > 0 {
		return true, 0
	}
	public := false
	for _, g := range chk.groups {
		lastError := ""
		if g.failed {
			lastError = "failed"
		}
		if g.shared {
			public = SchemaState(g.appliedHash, lastError, def.SharedHash()) == StateCurrent
			schemas++
			continue
		}
		if opts.SharedOnly {
			continue
		}
		if SchemaState(g.appliedHash, lastError, def.TenantHash()) != StateCurrent || (citus && g.undistributed) {
			return true, 0
		}
		schemas += g.schemas
	}
	if !public {
		return true, 0
	}
	return false, schemas
}
