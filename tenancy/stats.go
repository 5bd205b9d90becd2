package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// What tenancy tells the metrics (package metrics) about the pool and the database, as plain
// values: the driver's types stay here.

// PoolStats is a snapshot of the connection pool, read from pgxpool without touching the
// database (cheap enough for every scrape).
type PoolStats struct {
	MaxConns          int32         // the pool's size
	TotalConns        int32         // open connections: acquired + idle + being opened
	AcquiredConns     int32         // in use
	IdleConns         int32         // open and free
	ConstructingConns int32         // being opened
	AcquireCount      int64         // acquires that succeeded, since the pool opened
	AcquireDuration   time.Duration // their total wait
	EmptyAcquireCount int64         // acquires that had to wait for a connection
	CanceledAcquires  int64         // acquires abandoned because their context ended (timeouts included)
	AcquireTimeouts   int64         // acquires refused with ErrBusy after the acquire timeout (503s)
	NewConns          int64         // connections opened
	LifetimeClosed    int64         // connections closed for their maximum lifetime
	IdleClosed        int64         // connections closed for their idle time
}

// PoolStats returns the pool's statistics.
func (db *DB) PoolStats() PoolStats {
	s := db.pool.Stat()
	return PoolStats{
		MaxConns:          s.MaxConns(),
		TotalConns:        s.TotalConns(),
		AcquiredConns:     s.AcquiredConns(),
		IdleConns:         s.IdleConns(),
		ConstructingConns: s.ConstructingConns(),
		AcquireCount:      s.AcquireCount(),
		AcquireDuration:   s.AcquireDuration(),
		EmptyAcquireCount: s.EmptyAcquireCount(),
		CanceledAcquires:  s.CanceledAcquireCount(),
		AcquireTimeouts:   db.busy.Load(),
		NewConns:          s.NewConnsCount(),
		LifetimeClosed:    s.MaxLifetimeDestroyCount(),
		IdleClosed:        s.MaxIdleDestroyCount(),
	}
}

// Stats is what the database says of the fleet at one moment, in one read-only transaction.
type Stats struct {
	// Tenants counts the tenants per status (StatusActive, StatusSuspended, StatusDeleted).
	Tenants map[string]int64
	// Ledger counts the schemas the migrator manages ("public" and every tenant that is not
	// deleted) per ledger record; judge each with migrate.SchemaState.
	Ledger []LedgerCount
	// MigrationRuns are the migrator's runs per outcome (public.migration_runs).
	MigrationRuns []MigrationRuns
	// Jobs counts the jobs of the queue (QueueSchema) per kind and River state.
	Jobs []JobCount
}

// LedgerCount is a number of schemas with the same ledger record.
type LedgerCount struct {
	Shared      bool   // "public"
	AppliedHash string // "" when never applied (no ledger row)
	Failed      bool   // the last attempt failed
	Schemas     int64
}

// MigrationRuns sums the migrator's runs with one outcome.
type MigrationRuns struct {
	Outcome      string
	Runs         int64
	Seconds      float64   // their total duration
	LastFinished time.Time // when the last one ended
	// Buckets[i] counts the runs that took at most the i-th of the bounds given to Stats.
	Buckets []int64
}

// JobCount is a number of queued jobs of one kind in one River state (available, scheduled,
// running, retryable, completed, discarded, cancelled, pending).
type JobCount struct {
	Kind  string
	State string
	Jobs  int64
}

// statsTimeout bounds each statement of Stats (SET LOCAL statement_timeout): a scrape never
// holds a connection for long, whatever the size of the tables.
const statsTimeout = 2 * time.Second

// queueCountsQuery counts River's jobs. River's tables are not in schema.hcl (sqlc does not
// know them), so this one statement is written by hand. The queue keeps sent mail an hour and
// failed mail a week, so the table stays small.
var queueCountsQuery = "SELECT kind, state::text, count(*) FROM " + pgx.Identifier{QueueSchema, "river_job"}.Sanitize() + " GROUP BY kind, state ORDER BY kind, state"

// Stats reads the tenants per status, the ledger per state, the migrator's runs (with a
// duration histogram over bounds, in seconds, ascending) and the queue per state, in one READ
// ONLY transaction whose statements may each take statsTimeout at most, on a connection taken
// within the acquire timeout like a request's. Before `toodoo migrate` has created River's
// tables, Jobs is empty.
func (db *DB) Stats(ctx context.Context, bounds []float64) (_ Stats, err error) {
	conn, err := db.acquire(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: %w", err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read only: nothing to commit
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", fmt.Sprint(statsTimeout.Milliseconds())); err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: %w", err)
	}
	q := shareddb.New(tx)
	st := Stats{Tenants: map[string]int64{}}

	tenants, err := q.TenantCountByStatus(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: tenants: %w", err)
	}
	for _, r := range tenants {
		st.Tenants[r.Status] = r.Tenants
	}

	ledger, err := q.LedgerCounts(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: ledger: %w", err)
	}
	for _, r := range ledger {
		st.Ledger = append(st.Ledger, LedgerCount{Shared: r.Shared, AppliedHash: r.AppliedHash, Failed: r.Failed, Schemas: r.Schemas})
	}

	totals, err := q.MigrationRunTotals(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: migration runs: %w", err)
	}
	buckets, err := q.MigrationRunBuckets(ctx, bounds)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: migration runs: %w", err)
	}
	for _, r := range totals {
		runs := MigrationRuns{Outcome: r.Outcome, Runs: r.Runs, Seconds: r.Seconds, LastFinished: r.LastFinishedAt, Buckets: make([]int64, len(bounds))}
		for _, b := range buckets {
			if b.Outcome != r.Outcome {
				continue
			}
			for i, le := range bounds {
				if le == b.Le {
					runs.Buckets[i] = b.Runs
				}
			}
		}
		st.MigrationRuns = append(st.MigrationRuns, runs)
	}

	// Last, since a queue not created yet (an undefined table) aborts the transaction.
	rows, err := tx.Query(ctx, queueCountsQuery)
	if err != nil {
		return Stats{}, fmt.Errorf("tenancy: stats: queue: %w", err)
	}
	for rows.Next() {
		var j JobCount
		if err := rows.Scan(&j.Kind, &j.State, &j.Jobs); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("tenancy: stats: queue: %w", err)
		}
		st.Jobs = append(st.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42P01" && pgErr.Code != "3F000") { // undefined_table, invalid_schema_name
			return Stats{}, fmt.Errorf("tenancy: stats: queue: %w", err)
		}
	}
	return st, nil
}
