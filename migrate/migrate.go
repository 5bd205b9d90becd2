// Package migrate is Toodoo's fleet migrator: it brings "public" and every tenant schema to the
// state schema.hcl declares (inspect, diff, plan, apply in one transaction per schema), keeps a
// ledger of what each schema has, and finds schemas changed by hand.
//
// Inspecting a schema with Atlas is the expensive step (its catalog queries scan all of pg_index,
// so with a thousand tenants one inspection costs tens of milliseconds and inspecting every
// tenant on every run grows with the square of the fleet). So a run works from the ledger and
// from catalog fingerprints instead:
//
//   - The ledger (public.schema_ledger) records, per schema, the hash of the desired state last
//     applied. One query over the tenant registry and the ledger tells what is due. A run first
//     asks only whether anything is (counts, check.go), in the round trip that takes the lock, on
//     the lock's connection; a run that finds nothing due does nothing else (it opens no pool
//     and reads no row of the ledger).
//   - Due schemas are fingerprinted by catalog queries (see fingerprintQuery: one per 2,500
//     schemas, up to --parallel at once) and grouped by
//     fingerprint. Atlas inspects one schema per group; the plan it yields, rendered without a
//     schema qualifier, is applied to every schema of the group with its search_path set. The
//     first schema of a group to succeed fixes the fingerprint the plan produces; one catalog
//     query after the group checks that every other schema reached it, and fails (in the
//     ledger too) any that did not, so that the next run plans it anew.
//   - Verify compares every tenant's fingerprint with that of a scratch schema built from the
//     template (in a transaction that is rolled back), and inspects only the schemas that differ.
//
// The package does not print: Run reports what it plans and does to a Reporter, and the caller
// (cmd/toodoo) renders it.
//
// On a Citus cluster (Options.Citus), a run also distributes the tenants that are not yet
// distributed schemas, after their DDL (distribute.go), and records it in the ledger.
//
// Files, in the order a run goes through them: migrate.go (the API: Options, Plan, Summary,
// Reporter, Run), check.go (the first round trip: the lock, and whether anything is due), lock.go
// (the advisory lock, watched for the whole run), runner.go (the fleet
// from the ledger, the tenants selected, "public"), group.go (tenant schemas grouped by
// fingerprint, planned, settled, applied and checked), plan.go (one plan: inspect, diff, render,
// classify destructive changes, refuse them), apply.go (one schema's transaction and its ledger
// row), fingerprint.go (catalog fingerprints), status.go (the ledger read, and SchemaState).
package migrate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// Options narrow and tune a run. The zero value migrates everything, refusing destructive
// changes, with one worker per CPU.
type Options struct {
	// Parallel is the number of schemas changed at once (default runtime.NumCPU()).
	Parallel int
	// DryRun plans and reports, and changes nothing (not even the ledger).
	DryRun bool
	// Verify also fingerprints the schemas the ledger calls current, inspects those whose catalog
	// differs from the template, and repairs them like due schemas (unless DryRun).
	Verify bool
	// SharedOnly limits the run to "public".
	SharedOnly bool
	// Tenants, if not empty, limits the run to these tenant schemas ("public" is left alone).
	Tenants []string
	// AllowDestructive lets plans drop schemas, tables or columns and narrow column types.
	AllowDestructive bool
	// AllowBreaking lets plans make breaking changes that lose no data (see refused in plan.go).
	AllowBreaking bool
	// Wait makes Run wait for another migrator's lock instead of returning ErrLocked.
	Wait bool
	// DirectURL, if set, is the URL the lock's connection uses instead of the one given to
	// Run (a URL that does not pass through a pooler). The lock works through a
	// transaction-mode pooler too (see lock.go); a direct URL spares the pooler a server
	// connection held for the whole run.
	DirectURL string
	// LockTimeout bounds how long each schema's DDL waits for its table locks (SET LOCAL
	// lock_timeout, default 2s). A DDL waiting for a lock makes every later query on the table
	// queue behind it, so a long transaction in one tenant would stall that tenant's requests
	// for as long as it lasts; with the timeout the DDL gives up instead, and the schema is
	// retried later in the run (LockAttempts).
	LockTimeout time.Duration
	// LockAttempts is how many times a schema whose DDL hit LockTimeout is tried in all
	// (default 3). Retries come after the other schemas, LockRetryDelay apart, doubling; a
	// schema still locked after the last one fails ("locked by another transaction") and the
	// run goes on.
	LockAttempts int
	// LockRetryDelay is the wait before the first retry of locked schemas (default 1s); it
	// doubles before each later one.
	LockRetryDelay time.Duration
	// Citus says when tenant schemas are distributed with Citus (tenancy.CitusMode; default
	// auto: when the citus extension is installed). In Citus mode a run also distributes every
	// tenant in scope whose ledger row does not record it distributed (see distribute.go).
	Citus tenancy.CitusMode
	// Queue also brings the mail queue's tables (River's, in tenancy.QueueSchema) up to date,
	// with River's own migrator, before the lock is waited for, unless DryRun; a Reporter that
	// implements QueueReporter hears which of River's versions were applied. `toodoo migrate`
	// sets it: River's "is the queue current" check then travels with the run's first round trip.
	Queue bool
	// LockKeepalive is how often the lock's connection is used (default 5s), so that an
	// idle_in_transaction_session_timeout longer than it does not end the lock's transaction. It
	// is also how soon a run notices that the lock's connection failed: it then stops, with an
	// error that wraps ErrLockLost.
	LockKeepalive time.Duration
}

// The defaults of Options.LockTimeout and Options.LockAttempts (also the CLI's).
const (
	DefaultLockTimeout  = 2 * time.Second
	DefaultLockAttempts = 3
)

func (o *Options) setDefaults(url string) {
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	if o.DirectURL == "" {
		o.DirectURL = url
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.LockAttempts <= 0 {
		o.LockAttempts = DefaultLockAttempts
	}
	if o.LockRetryDelay <= 0 {
		o.LockRetryDelay = time.Second
	}
	if o.LockKeepalive <= 0 {
		o.LockKeepalive = 5 * time.Second
	}
}

// Plan is what one group of schemas needs: the statements Atlas planned for one of them, applied
// to all of them. Schemas of a group share a catalog fingerprint.
type Plan struct {
	Shared      bool     // the plan is for "public"; its statements are schema-qualified
	Schemas     []string // the schemas it applies to, sorted
	Inspected   string   // the schema Atlas inspected to plan it; "" when no inspection was needed
	Fingerprint string   // the catalog fingerprint the schemas had before ("" for "public")
	Statements  []string // empty: the schemas are in the desired state already
	Destructive []string // changes that can lose data, described for people
	Breaking    []string // changes after which code built for the schema before may stop working
	Class       string   // ClassAdditive or ClassBreaking, recorded in the ledger with the hash
	Unsupported []string // Citus mode: changes Citus cannot run on distributed tables (citusplan.go); always refused
	Refused     bool     // refused by Options or by Citus (see refused in plan.go): nothing is applied
	Drift       bool     // the ledger called these schemas current: someone changed them by hand
	Missing     bool     // the schemas do not exist although the registry lists them
}

// Result is the outcome for one schema the run tried to change.
type Result struct {
	Schema   string
	Err      error // nil when applied
	Duration time.Duration
}

// Summary counts what a run found and did. Every schema in scope is counted once in Current,
// Applied, Recorded, Pending, Failed or Skipped.
type Summary struct {
	Schemas     int           // schemas in scope ("public" and tenants)
	Current     int           // nothing to do: the ledger (and with Verify, the catalog) agreed
	Applied     int           // changed, in one transaction each, and recorded in the ledger
	Recorded    int           // already in the desired state; only the ledger was brought up to date
	Pending     int           // DryRun: would be changed or recorded
	Failed      int           // refused as destructive, missing, or failed to apply
	Skipped     int           // not attempted because the context ended
	Drifted     int           // Verify: the ledger said current, Atlas found changes to make
	Inspections int           // Atlas schema inspections done
	LockRetries int           // transactions tried again after their DDL hit Options.LockTimeout
	LockGaveUp  int           // schemas failed because they were still locked at the last attempt (in Failed too)
	Duration    time.Duration // of the whole run
	Plans       []*Plan       // in the order they were reported
	Failures    []Result      // one per failed schema, sorted by schema
	Warnings    []error       // problems that left every schema as counted (a check that could not run)

	// Citus mode only (counted apart from the above: distributing is not a schema change).
	Citus            bool // the run was in Citus mode
	Distributed      int  // tenant schemas made distributed schemas (DryRun: that would be)
	DistributeFailed int  // tenant schemas that could not be distributed (listed in Failures too)
}

// Reporter receives a run's progress. Run serializes the calls, so implementations need no
// locking; they should return quickly.
type Reporter interface {
	// Waiting is called when another migrator holds the lock and Options.Wait is set.
	Waiting()
	// Planned is called for each plan, after all are made and before any is applied.
	Planned(p *Plan)
	// Applying is called before schemas are changed, with how many will be (it may be called
	// once for "public" and once for the tenants).
	Applying(n int)
	// Done is called when a schema's transaction has committed or failed, for progress. The
	// Summary is the final word: a schema that committed can still fail the check that follows
	// its group, and refused or missing schemas have no transaction (their Plan says why).
	Done(r Result)
}

// QueueReporter is what a Reporter implements to hear that River's migrations were applied to
// the mail queue (Options.Queue; the CLI's does).
type QueueReporter interface {
	// QueueMigrated is called with the versions applied, before anything else is reported.
	QueueMigrated(versions []int)
}

func (s *syncReporter) queueMigrated(versions []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.r.(QueueReporter); ok {
		q.QueueMigrated(versions)
	}
}

// NopReporter ignores everything.
type NopReporter struct{}

func (NopReporter) Waiting()      {}
func (NopReporter) Planned(*Plan) {}
func (NopReporter) Applying(int)  {}
func (NopReporter) Done(Result)   {}

// ErrIncomplete is wrapped by Run's error when some schema is not in the desired state at the
// end: it failed, was refused, is missing, or drifted and was not repaired.
var ErrIncomplete = errors.New("not every schema is in the desired state")

// Run migrates "public" and the tenant schemas of the database at url to def (see the package
// comment), reporting to rep (which may be nil). It holds an advisory lock for the whole run, so
// two migrators never work on one database at once.
//
// A schema that fails does not stop the others. The Summary is returned even with an error; the
// error wraps ErrIncomplete if some schema failed, ErrLocked if another migrator is running,
// ErrLockLost if the lock's connection failed during the run (which then stops), and is EINVALID
// or ENOTFOUND (toodoo codes) for bad options or unknown tenants.
func Run(ctx context.Context, url string, def *schemadef.Definition, opts Options, rep Reporter) (*Summary, error) {
	start := time.Now()
	sum := &Summary{}
	if opts.SharedOnly && len(opts.Tenants) > 0 {
		return sum, toodoo.Invalid("tenant", "Choose either the shared schema only or a list of tenants, not both.")
	}
	if def == nil {
		return sum, fmt.Errorf("migrate: no schema definition")
	}
	opts.setDefaults(url)
	if rep == nil {
		rep = NopReporter{}
	}
	srep := &syncReporter{r: rep}
	if url == "" {
		return sum, toodoo.Invalid("database-url", "No database URL.")
	}
	conn, err := connectLock(ctx, opts.DirectURL)
	if err != nil {
		return sum, err
	}
	tx, chk, err := firstRoundTrip(ctx, conn, opts.Queue && !opts.DryRun)
	if err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return sum, err
	}
	// abandon ends the lock's transaction (which lets the lock go before Run returns, so that the
	// next run finds it free) and closes its connection, until holdLock takes them over.
	abandon := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	}
	if chk.citusRead {
		if sum.Citus, err = opts.Citus.Enabled(chk.citusInstalled); err != nil {
			abandon()
			return sum, err
		}
	}
	if opts.Queue && !opts.DryRun {
		if err := migrateQueue(ctx, url, chk, srep); err != nil {
			abandon()
			return sum, err
		}
	}
	if !chk.got && !opts.Wait {
		err := lockHolder(ctx, tx)
		abandon()
		return sum, err
	}
	if !chk.got {
		srep.Waiting()
		if err := waitLock(ctx, tx); err != nil {
			abandon()
			return sum, err
		}
		chk.groupsRead = false // read before the lock was ours
	}

	if due, schemas := chk.due(def, opts, sum.Citus); !due {
		// Nothing due: what runner.run would find reading the whole ledger, without reading it.
		sum.Schemas, sum.Current = schemas, schemas
		sum.Duration = time.Since(start)
		if !opts.DryRun {
			warned := len(sum.Warnings)
			// The record is for the metrics, not state: its commit need not wait for the WAL
			// flush (with fsync on, that wait was most of a no-op's time; a crash may lose the row).
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				sum.Warnings = append(sum.Warnings, fmt.Errorf("migrate: record the run for the metrics: %w", err))
				warned = len(sum.Warnings)
			}
			recordRun(ctx, tx, sum, nil)
			// The commit keeps the record, and ends the lock. (A failed record is a warning already.)
			if err := tx.Commit(ctx); err != nil && len(sum.Warnings) == warned {
				sum.Warnings = append(sum.Warnings, fmt.Errorf("migrate: record the run for the metrics: %w", err))
			}
		}
		abandon()
		return sum, nil
	}

	pool, err := openPool(ctx, url, opts.Parallel+1)
	if err != nil {
		abandon()
		return sum, err
	}
	defer pool.Close()
	if !chk.citusRead {
		if sum.Citus, err = tenancy.DetectCitus(ctx, pool, opts.Citus); err != nil {
			abandon()
			return sum, err
		}
	}
	r := &runner{pool: pool, def: def, opts: opts, rep: srep, sum: sum}
	// From here on ctx also ends when the lock is lost, with a cause that says so.
	ctx, release := holdLock(ctx, conn, tx, opts.LockKeepalive)
	defer release()
	defer r.closeAtlas()

	err = r.run(ctx)
	sum.Inspections = int(r.inspections.Load())
	sort.Slice(sum.Failures, func(i, j int) bool { return sum.Failures[i].Schema < sum.Failures[j].Schema })
	sum.Duration = time.Since(start)
	err = r.verdict(ctx, err)
	if !opts.DryRun {
		recordRun(ctx, pool, sum, err)
	}
	return sum, err
}

// migrateQueue brings River's tables up to date (Options.Queue) unless the first round trip
// read that they are, and reports the versions applied.
func migrateQueue(ctx context.Context, url string, chk *fleetCheck, rep *syncReporter) error {
	if chk.queueRead {
		latest, err := tenancy.QueueLatest()
		if err != nil {
			return err
		}
		if chk.queueVersion >= latest {
			return nil
		}
	}
	applied, err := tenancy.MigrateQueue(ctx, url)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		rep.queueMigrated(applied)
	}
	return nil
}

// verdict is Run's error, given the run's (see Run).
func (r *runner) verdict(ctx context.Context, err error) error {
	sum := r.sum
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) || (err == nil && sum.Skipped > 0) {
		// Whatever else went wrong followed from the context's end: say why it ended.
		return fmt.Errorf("migrate: stopped with %s not attempted: %w", Plural(sum.Skipped, "schema"), cause)
	}
	if err != nil {
		return err
	}
	var problems []string
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d schemas failed", sum.Failed, sum.Schemas))
	}
	if sum.DistributeFailed > 0 {
		problems = append(problems, Plural(sum.DistributeFailed, "tenant schema")+" could not be distributed with Citus")
	}
	if r.opts.DryRun && sum.Drifted > 0 {
		problems = append(problems, Plural(sum.Drifted, "schema")+" drifted from schema.hcl (not repaired: dry run)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("migrate: %s: %w", strings.Join(problems, "; "), ErrIncomplete)
	}
	return nil
}

// Outcomes of a run, as public.migration_runs records them.
const (
	OutcomeOK         = "ok"         // every schema in scope is in the desired state
	OutcomeIncomplete = "incomplete" // some schema failed, was refused or is missing (ErrIncomplete)
	OutcomeStopped    = "stopped"    // the lock was lost or the run was interrupted
	OutcomeError      = "error"      // the run could not go on (the ledger unreadable, an unknown tenant...)
)

// Outcome names how a run that returned err ended.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrIncomplete):
		return OutcomeIncomplete
	case errors.Is(err, ErrLockLost), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return OutcomeStopped
	default:
		return OutcomeError
	}
}

// recordRun leaves a row in public.migration_runs for the run sum counts, which ended with err:
// the migrator runs in a CLI process that no metrics scraper sees, so the servers report this
// table instead (package metrics). It runs even when ctx has ended (the run was stopped), within
// a few seconds; a failure to record is a warning of the summary, never the run's failure.
func recordRun(ctx context.Context, q shareddb.DBTX, sum *Summary, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := shareddb.New(q).MigrationRunRecord(ctx, shareddb.MigrationRunRecordParams{
		DurationSeconds: sum.Duration.Seconds(),
		Outcome:         Outcome(err),
		Schemas:         int32(sum.Schemas),
		Applied:         int32(sum.Applied + sum.Recorded),
		Failed:          int32(sum.Failed),
	}); rerr != nil {
		sum.Warnings = append(sum.Warnings, fmt.Errorf("migrate: record the run for the metrics: %w", rerr))
	}
}

// openPool connects a pool sized for the run. Connections start with an empty search_path, as
// the application's do (tenancy.Open): every statement runs either schema-qualified ("public")
// or with SET LOCAL search_path to exactly one tenant.
func openPool(ctx context.Context, url string, size int) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, toodoo.Invalid("database-url", "No database URL.")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse database URL: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	if _, set := params["search_path"]; !set {
		params["search_path"] = ""
	}
	if _, set := params["application_name"]; !set {
		params["application_name"] = "toodoo migrate"
	}
	cfg.MaxConns = int32(size)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	return pool, nil
}

// Plural writes n and noun, adding an s unless n is 1 ("1 schema", "3 schemas"): counts in
// migrate's messages and in the reports the CLI prints are spelled alike.
func Plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
