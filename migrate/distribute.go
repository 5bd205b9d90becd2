package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// DistributeReporter is what a Reporter implements to hear about the tenants a run distributes
// in Citus mode (the CLI's does; others need not).
type DistributeReporter interface {
	// Distributing is called before n tenant schemas are distributed.
	Distributing(n int)
	// Distributed is called when one has been (Err nil) or could not be.
	Distributed(r Result)
}

func (s *syncReporter) distributing(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.r.(DistributeReporter); ok {
		d.Distributing(n)
	}
}

func (s *syncReporter) distributed(r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.r.(DistributeReporter); ok {
		d.Distributed(r)
	}
}

// distribute makes the tenant schemas of rows that the ledger does not record as distributed
// Citus distributed schemas (citus_schema_distribute: the schema's tables move from the
// coordinator to a worker), one transaction each, Parallel at a time, and records each in the
// ledger (distributed_at) in that transaction. A schema that is distributed already (by hand)
// is only recorded; one that does not exist is left to the failure its plan reported. It runs
// after the tenants' DDL, so the DDL of this run ran on plain tables. A failure is counted
// (DistributeFailed, Failures) and the others go on; the next run tries again.
func (r *runner) distribute(ctx context.Context, rows []shareddb.LedgerFleetRow) {
	var names []string
	for _, row := range rows {
		if row.DistributedAt == nil {
			names = append(names, row.SchemaName)
		}
	}
	if len(names) == 0 || ctx.Err() != nil {
		return
	}
	cat, err := r.pool.Query(ctx, `SELECT n.nspname::text, EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema d WHERE d.schemaid = n.oid)
		FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY ($1::text[]) ORDER BY 1`, names)
	if err != nil {
		r.count(func(s *Summary) {
			s.Warnings = append(s.Warnings, fmt.Errorf("citus: list undistributed tenants: %w", err))
		})
		return
	}
	var todo []string
	var (
		name        string
		distributed bool
	)
	_, err = pgx.ForEachRow(cat, []any{&name, &distributed}, func() error {
		switch {
		case !distributed:
			todo = append(todo, name)
		case !r.opts.DryRun:
			// Distributed outside toodoo: the ledger only has to learn it.
			if err := shareddb.New(r.pool).LedgerMarkDistributed(ctx, name); err != nil {
				return fmt.Errorf("record %q as distributed: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		r.count(func(s *Summary) {
			s.Warnings = append(s.Warnings, fmt.Errorf("citus: list undistributed tenants: %w", err))
		})
		return
	}
	if r.opts.DryRun {
		r.count(func(s *Summary) { s.Distributed += len(todo) })
		return
	}
	if len(todo) == 0 {
		return
	}
	r.rep.distributing(len(todo))
	eg := r.limited()
	for _, name := range todo {
		eg.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			r.distributeOne(ctx, name)
			return nil
		})
	}
	_ = eg.Wait()
}

// distributeOne distributes one tenant schema and records it in the ledger, in one transaction
// whose statements wait at most LockTimeout for their locks.
func (r *runner) distributeOne(ctx context.Context, name string) {
	start := time.Now()
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(1, r.opts.LockTimeout.Milliseconds()))); err != nil {
			return err
		}
		if err := tenancy.DistributeSchemaTx(ctx, tx, name); err != nil {
			return err
		}
		return shareddb.New(tx).LedgerMarkDistributed(ctx, name)
	})
	res := Result{Schema: name, Duration: time.Since(start)}
	if err != nil {
		res.Err = fmt.Errorf("distribute %q with Citus (the next run tries again): %w", name, err)
		if isLockTimeout(err) {
			res.Err = fmt.Errorf("distribute %q with Citus: its tables stayed locked by other transactions for %s (lock_timeout); the next run tries again: %w", name, r.opts.LockTimeout, err)
		}
		r.count(func(s *Summary) { s.DistributeFailed++; s.Failures = append(s.Failures, res) })
	} else {
		r.count(func(s *Summary) { s.Distributed++ })
	}
	r.rep.distributed(res)
}
