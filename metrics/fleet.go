package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// Fleet is the collector of what only the pool and the database know, read when scraped:
//
//   - the pool's statistics (tenancy.DB.PoolStats: memory only, read at every scrape);
//   - tenants by status, schemas by ledger state, the migrator's runs, the queue's jobs
//     (tenancy.DB.Stats: one read-only transaction of five small aggregate queries).
//
// The database part is cached for FleetOptions.TTL, and refreshed by one scrape at a time (the
// others wait for it and share its result), so however often and however many scrapers ask,
// the database sees at most one such transaction per TTL; each statement is bounded by a
// statement timeout, and the connection is taken within the pool's acquire timeout like a
// request's. A failed read is cached too (toodoo_stats_up 0, and the database families are left
// out until a read succeeds), so a scraper cannot hammer a database that is struggling.
//
// The migrator runs in a CLI process, which no scraper sees: it leaves one row per run in
// public.migration_runs (migrate.Run), and every server reports that table. Every replica
// reports the same fleet-wide values (aggregate them with max, not sum). The ledger states are
// judged against the schema.hcl of this binary, by migrate.SchemaState, as `toodoo migrate
// status` of the same version would judge them.
type Fleet struct {
	db   *tenancy.DB
	def  *schemadef.Definition
	opts FleetOptions

	mu      sync.Mutex // held while refreshing: one refresh at a time
	stats   tenancy.Stats
	ok      bool
	readAt  time.Time
	took    time.Duration
	errored int64 // failed refreshes since start
}

// FleetOptions tune Fleet; the zero value is the production setting.
type FleetOptions struct {
	// TTL is how long a read of the database serves scrapes (default 15s, a usual scrape
	// interval).
	TTL time.Duration
	// Timeout bounds one read, the wait for a connection included (default 5s).
	Timeout time.Duration
}

// MigrationBuckets are the upper bounds, in seconds, of the migrator's run duration histogram:
// from a run that finds nothing due (tens of milliseconds) to a long fleet migration.
var MigrationBuckets = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}

// Queue states reported for the mail kind even with no job in them, so that alerts have a series.
var mailStates = []string{"available", "scheduled", "running", "retryable", "discarded", "cancelled", "completed"}

var (
	descPoolMax = prometheus.NewDesc("toodoo_db_pool_max_connections",
		"The size of the connection pool.", nil, nil)
	descPoolConns = prometheus.NewDesc("toodoo_db_pool_connections",
		"Open connections of the pool, by state: acquired (in use), idle, constructing.", []string{"state"}, nil)
	descPoolAcquires = prometheus.NewDesc("toodoo_db_pool_acquires_total",
		"Connections acquired from the pool.", nil, nil)
	descPoolAcquireWait = prometheus.NewDesc("toodoo_db_pool_acquire_wait_seconds_total",
		"Total time spent acquiring connections.", nil, nil)
	descPoolEmptyAcquires = prometheus.NewDesc("toodoo_db_pool_empty_acquires_total",
		"Acquires that found no idle connection and had to wait for one.", nil, nil)
	descPoolCanceled = prometheus.NewDesc("toodoo_db_pool_canceled_acquires_total",
		"Acquires abandoned because their context ended.", nil, nil)
	descPoolTimeouts = prometheus.NewDesc("toodoo_db_pool_acquire_timeouts_total",
		"Acquires refused after the pool's acquire timeout: each is a 503 with Retry-After.", nil, nil)
	descPoolOpened = prometheus.NewDesc("toodoo_db_pool_connections_opened_total",
		"Connections the pool opened.", nil, nil)
	descPoolClosed = prometheus.NewDesc("toodoo_db_pool_connections_closed_total",
		"Connections the pool closed, by reason: lifetime or idle.", []string{"reason"}, nil)

	descTenants = prometheus.NewDesc("toodoo_tenants",
		"Tenants in the registry, by status: active, suspended, deleted.", []string{"status"}, nil)
	descSchemas = prometheus.NewDesc("toodoo_schemas",
		"Schemas the migrator manages, by kind (shared: public; tenant) and ledger state against this binary's schema.hcl: current, behind, failed.", []string{"kind", "state"}, nil)
	descMigrations = prometheus.NewDesc("toodoo_migrator_run_duration_seconds",
		"Runs of `toodoo migrate` (read from public.migration_runs), by outcome: ok, incomplete, stopped, error; the _count is the number of runs.", []string{"outcome"}, nil)
	descMigrationLast = prometheus.NewDesc("toodoo_migrator_last_run_timestamp_seconds",
		"When the last run of `toodoo migrate` with this outcome ended (Unix time).", []string{"outcome"}, nil)
	descJobs = prometheus.NewDesc("toodoo_queue_jobs",
		"Jobs in the queue (River, schema toodoo_river), by kind (mail) and state: available, scheduled and running are the depth; retryable failed at least once; discarded and cancelled will not be sent (kept 7 days).", []string{"kind", "state"}, nil)

	descStatsUp = prometheus.NewDesc("toodoo_stats_up",
		"1 if the last read of the database's statistics succeeded (the toodoo_tenants, toodoo_schemas, toodoo_migrator_* and toodoo_queue_jobs families are left out otherwise).", nil, nil)
	descStatsErrors = prometheus.NewDesc("toodoo_stats_errors_total",
		"Reads of the database's statistics that failed.", nil, nil)
	descStatsAge = prometheus.NewDesc("toodoo_stats_age_seconds",
		"How old the database's statistics in this scrape are (they are cached between reads).", nil, nil)
	descStatsDuration = prometheus.NewDesc("toodoo_stats_read_duration_seconds",
		"How long the last read of the database's statistics took.", nil, nil)
)

// NewFleet returns the collector for db, judging ledger states against def.
func NewFleet(db *tenancy.DB, def *schemadef.Definition, opts FleetOptions) *Fleet {
	if opts.TTL <= 0 {
		opts.TTL = 15 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	return &Fleet{db: db, def: def, opts: opts}
}

// Describe sends every family's description (prometheus.Collector).
func (f *Fleet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolMax, descPoolConns, descPoolAcquires, descPoolAcquireWait, descPoolEmptyAcquires,
		descPoolCanceled, descPoolTimeouts, descPoolOpened, descPoolClosed, descTenants, descSchemas, descMigrations,
		descMigrationLast, descJobs, descStatsUp, descStatsErrors, descStatsAge, descStatsDuration} {
		ch <- d
	}
}

// Collect reads the pool, and the database unless its cached read is fresh (prometheus.Collector).
func (f *Fleet) Collect(ch chan<- prometheus.Metric) {
	p := f.db.PoolStats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descPoolMax, float64(p.MaxConns))
	gauge(descPoolConns, float64(p.AcquiredConns), "acquired")
	gauge(descPoolConns, float64(p.IdleConns), "idle")
	gauge(descPoolConns, float64(p.ConstructingConns), "constructing")
	counter(descPoolAcquires, float64(p.AcquireCount))
	counter(descPoolAcquireWait, p.AcquireDuration.Seconds())
	counter(descPoolEmptyAcquires, float64(p.EmptyAcquireCount))
	counter(descPoolCanceled, float64(p.CanceledAcquires))
	counter(descPoolTimeouts, float64(p.AcquireTimeouts))
	counter(descPoolOpened, float64(p.NewConns))
	counter(descPoolClosed, float64(p.LifetimeClosed), "lifetime")
	counter(descPoolClosed, float64(p.IdleClosed), "idle")

	st, ok, readAt, took, errored := f.read()
	counter(descStatsErrors, float64(errored))
	gauge(descStatsDuration, took.Seconds())
	if !ok {
		gauge(descStatsUp, 0)
		return
	}
	gauge(descStatsUp, 1)
	gauge(descStatsAge, time.Since(readAt).Seconds())

	for _, status := range []string{tenancy.StatusActive, tenancy.StatusSuspended, tenancy.StatusDeleted} {
		gauge(descTenants, float64(st.Tenants[status]), status)
	}

	schemas := map[[2]string]int64{}
	for _, l := range st.Ledger {
		kind, desired := "tenant", f.def.TenantHash()
		if l.Shared {
			kind, desired = "shared", f.def.SharedHash()
		}
		lastError := ""
		if l.Failed {
			lastError = "failed"
		}
		schemas[[2]string{kind, migrate.SchemaState(l.AppliedHash, lastError, desired)}] += l.Schemas
	}
	for _, kind := range []string{"shared", "tenant"} {
		for _, state := range []string{migrate.StateCurrent, migrate.StateBehind, migrate.StateFailed} {
			gauge(descSchemas, float64(schemas[[2]string{kind, state}]), kind, state)
		}
	}

	runs := map[string]tenancy.MigrationRuns{}
	for _, r := range st.MigrationRuns {
		runs[r.Outcome] = r
	}
	for _, outcome := range []string{migrate.OutcomeOK, migrate.OutcomeIncomplete, migrate.OutcomeStopped, migrate.OutcomeError} {
		r := runs[outcome]
		buckets := make(map[float64]uint64, len(MigrationBuckets))
		for i, le := range MigrationBuckets {
			if i < len(r.Buckets) {
				buckets[le] = uint64(r.Buckets[i])
			} else {
				buckets[le] = 0
			}
		}
		ch <- prometheus.MustNewConstHistogram(descMigrations, uint64(r.Runs), r.Seconds, buckets, outcome)
		if !r.LastFinished.IsZero() {
			gauge(descMigrationLast, float64(r.LastFinished.UnixMilli())/1000, outcome)
		}
	}

	jobs := map[[2]string]int64{}
	for _, s := range mailStates {
		jobs[[2]string{mail.Kind, s}] = 0
	}
	for _, j := range st.Jobs {
		jobs[[2]string{j.Kind, j.State}] += j.Jobs
	}
	for k, n := range jobs {
		gauge(descJobs, float64(n), k[0], k[1])
	}
}

// read returns the cached statistics, reading them first when they are older than the TTL.
// Callers wait for a read in progress rather than start their own.
func (f *Fleet) read() (tenancy.Stats, bool, time.Time, time.Duration, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readAt.IsZero() || time.Since(f.readAt) >= f.opts.TTL {
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		start := time.Now()
		st, err := f.db.Stats(ctx, MigrationBuckets)
		cancel()
		f.took = time.Since(start)
		f.readAt = time.Now()
		if err != nil {
			f.ok = false
			f.errored++
		} else {
			f.stats, f.ok = st, true
		}
	}
	return f.stats, f.ok, f.readAt, f.took, f.errored
}
