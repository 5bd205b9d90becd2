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

// QueueVersionSQL reads the version River's migrations have reached in QueueSchema (0 when none
// has run); it fails while River's table does not exist. With QueueLatest it tells whether
// MigrateQueue has anything to do, in one query on a connection the caller has anyway (the fleet
// migrator sends it with its first round trip).
const QueueVersionSQL = "SELECT coalesce(max(version), 0) FROM " + QueueSchema + ".river_migration WHERE line = 'main'"

// queueMigrator is River's migrator of QueueSchema on the driver; with a nil pool it only knows
// River's migrations (see QueueLatest).
func queueMigrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: QueueSchema})
	if err != nil {
		return nil, fmt.Errorf("tenancy: queue migrator: %w", err)
	}
	return m, nil
}

// QueueLatest returns the latest version of River's migrations this build carries: the queue is
// current when QueueVersionSQL reads at least that.
func QueueLatest() (int, error) {
	m, err := queueMigrator(nil)
	if err != nil {
		return 0, err
	}
	all := m.AllVersions()
	if len(all) == 0 {
		return 0, nil
	}
	return all[len(all)-1].Version, nil
}

// MigrateQueue brings River's tables in QueueSchema up to date with River's own migrator
// (creating the schema if needed) on the database at url, and returns the versions it applied
// (none when current). Each of River's versions runs in a transaction of its own: some add an
// enum value that a later statement uses, which PostgreSQL refuses within one transaction.
// `toodoo migrate` runs it (when the version its first round trip read is behind QueueLatest);
// so does the test harness's template database.
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
	m, err := queueMigrator(pool)
	if err != nil {
		return nil, err
	}
	// Current already (every run but the first after an upgrade of River): one query, instead
	// of a DDL statement and River's own checks.
	all := m.AllVersions()
	var latest int
	err = pool.QueryRow(ctx, QueueVersionSQL).Scan(&latest)
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
