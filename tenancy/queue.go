package tenancy

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// QueueSchema is the schema of River's tables, the durable job queue that sends mail. It is
// not "public" and not a tenant, so Atlas (which manages those, from schema.hcl) never sees
// River's tables; River's own migrator manages them (MigrateQueue). Names starting with
// "toodoo_" are never tenants (ValidateSchemaName).
const QueueSchema = "toodoo_river"

// Job is a job's arguments, as River stores them (JSON) and hands them to a worker: the kind
// names the worker; River's JobArgsWithInsertOpts gives defaults such as the attempts.
type Job = river.JobArgs

// inserter is an insert-only River client (no pool, no workers): it only writes jobs into
// the transactions it is given. The client that works them runs elsewhere (package mail).
var inserter = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(nil), &river.Config{Schema: QueueSchema})
})

// Enqueue inserts job into the queue inside the transaction: the job exists exactly if the
// transaction commits, so a mail is neither lost when the process dies after the commit nor
// sent for a change that was rolled back.
func (tx *Tx) Enqueue(ctx context.Context, job Job) error {
	c, err := inserter()
	if err != nil {
		return fmt.Errorf("tenancy: queue client: %w", err)
	}
	if _, err := c.InsertTx(ctx, tx.raw, job, nil); err != nil {
		return fmt.Errorf("tenancy: enqueue %s: %w", job.Kind(), interpret(err))
	}
	return nil
}

// MigrateQueue brings River's tables in QueueSchema up to date with River's own migrator
// (creating the schema if needed) on the database at url, and returns the versions it applied
// (none when current). Each of River's versions runs in a transaction of its own: some add an
// enum value that a later statement uses, which PostgreSQL refuses within one transaction.
// `toodoo migrate` runs it; so does the test harness's template database.
func MigrateQueue(ctx context.Context, url string) ([]int, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("tenancy: parse database URL: %w", err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenancy: connect: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: QueueSchema})
	if err != nil {
		return nil, fmt.Errorf("tenancy: queue migrator: %w", err)
	}
	// Current already (every run but the first after an upgrade of River): one query, instead
	// of a DDL statement and River's own checks.
	all := m.AllVersions()
	var latest int
	err = pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+pgx.Identifier{QueueSchema, "river_migration"}.Sanitize()+" WHERE line = 'main'").Scan(&latest)
	if err == nil && len(all) > 0 && latest >= all[len(all)-1].Version {
		return nil, nil
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{QueueSchema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("tenancy: create queue schema: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("tenancy: migrate queue: %w", err)
	}
	var applied []int
	for _, v := range res.Versions {
		applied = append(applied, v.Version)
	}
	return applied, nil
}
