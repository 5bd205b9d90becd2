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
//     applied. One query over the tenant registry and the ledger tells what is due; a run that
//     finds nothing due does nothing else.
//   - Due schemas are fingerprinted in one catalog query (see fingerprintQuery) and grouped by
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
package migrate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
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
	// Wait makes Run wait for another migrator's lock instead of returning ErrLocked.
	Wait bool
	// DirectURL, if set, is the URL the lock's connection uses instead of the one given to
	// Run (a URL that does not pass through a pooler). The lock works through a
	// transaction-mode pooler too (see acquireLock); a direct URL spares the pooler a server
	// connection held for the whole run.
	DirectURL string
	// LockTimeout bounds how long each schema's DDL waits for its table locks (default 5s), so
	// a long transaction in one tenant fails that tenant instead of stalling the run and every
	// query queued behind the DDL.
	LockTimeout time.Duration
}

func (o *Options) setDefaults(url string) {
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	if o.DirectURL == "" {
		o.DirectURL = url
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
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
	Refused     bool     // Destructive and not Options.AllowDestructive: nothing is applied
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
	Duration    time.Duration // of the whole run
	Plans       []*Plan       // in the order they were reported
	Failures    []Result      // one per failed schema, sorted by schema
	Warnings    []error       // problems that left every schema as counted (a check that could not run)
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
// error wraps ErrIncomplete if some schema failed, ErrLocked if another migrator is running, and
// is EINVALID or ENOTFOUND (toodoo codes) for bad options or unknown tenants.
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
	pool, err := openPool(ctx, url, opts.Parallel+1)
	if err != nil {
		return sum, err
	}
	defer pool.Close()

	r := &runner{pool: pool, def: def, opts: opts, rep: &syncReporter{r: rep}, sum: sum}
	release, err := acquireLock(ctx, opts.DirectURL, opts.Wait, r.rep)
	if err != nil {
		return sum, err
	}
	defer release()
	defer r.closeAtlas()

	err = r.run(ctx)
	sum.Inspections = int(r.inspections.Load())
	sort.Slice(sum.Failures, func(i, j int) bool { return sum.Failures[i].Schema < sum.Failures[j].Schema })
	sum.Duration = time.Since(start)
	if err != nil {
		return sum, err
	}
	if sum.Skipped > 0 {
		return sum, fmt.Errorf("migrate: stopped with %d schemas not attempted: %w", sum.Skipped, ctx.Err())
	}
	var problems []string
	if sum.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d schemas failed", sum.Failed, sum.Schemas))
	}
	if opts.DryRun && sum.Drifted > 0 {
		problems = append(problems, Plural(sum.Drifted, "schema")+" drifted from schema.hcl (not repaired: dry run)")
	}
	if len(problems) > 0 {
		return sum, fmt.Errorf("migrate: %s: %w", strings.Join(problems, "; "), ErrIncomplete)
	}
	return sum, nil
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

// runner is the state of one run.
type runner struct {
	pool *pgxpool.Pool
	def  *schemadef.Definition
	opts Options
	rep  *syncReporter

	atlasOnce   sync.Once
	atlasDB     interface{ Close() error }
	inspector   schema.Inspector
	atlasErr    error
	inspections atomic.Int64

	mu  sync.Mutex // guards sum
	sum *Summary
}

// syncReporter serializes calls to a Reporter.
type syncReporter struct {
	mu sync.Mutex
	r  Reporter
}

func (s *syncReporter) Waiting()        { s.mu.Lock(); defer s.mu.Unlock(); s.r.Waiting() }
func (s *syncReporter) Planned(p *Plan) { s.mu.Lock(); defer s.mu.Unlock(); s.r.Planned(p) }
func (s *syncReporter) Applying(n int)  { s.mu.Lock(); defer s.mu.Unlock(); s.r.Applying(n) }
func (s *syncReporter) Done(r Result)   { s.mu.Lock(); defer s.mu.Unlock(); s.r.Done(r) }

// count adds to the summary under its lock.
func (r *runner) count(fn func(s *Summary)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.sum)
}

func (r *runner) run(ctx context.Context) error {
	fleet, ok, err := r.loadFleet(ctx)
	if err != nil {
		return err
	}
	if len(r.opts.Tenants) > 0 {
		if fleet, err = r.selectTenants(fleet, ok); err != nil {
			return err
		}
	} else {
		var public *shareddb.LedgerFleetRow
		if ok && len(fleet) > 0 && fleet[0].SchemaName == schemadef.SharedSchema {
			public, fleet = &fleet[0], fleet[1:]
		}
		r.count(func(s *Summary) { s.Schemas++ })
		if public == nil || !isCurrent(*public, r.def.SharedHash()) || r.opts.Verify {
			if err := r.shared(ctx, public); err != nil {
				return err
			}
		} else {
			r.count(func(s *Summary) { s.Current++ })
		}
		if !ok && !r.opts.DryRun && !r.opts.SharedOnly {
			// The database was empty: the tenant registry exists now (unless "public" failed).
			if fleet, ok, err = r.loadFleet(ctx); err != nil {
				return err
			}
			if ok && len(fleet) > 0 {
				fleet = fleet[1:]
			}
		}
	}
	if r.opts.SharedOnly || !ok {
		return nil
	}
	return r.tenants(ctx, fleet)
}

// loadFleet runs LedgerFleet. ok is false when the registry or the ledger does not exist yet (an
// empty database).
func (r *runner) loadFleet(ctx context.Context) (rows []shareddb.LedgerFleetRow, ok bool, err error) {
	rows, err = shareddb.New(r.pool).LedgerFleet(ctx)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("migrate: read the ledger: %w", err)
	}
	return rows, true, nil
}

// selectTenants keeps the rows of the tenants named in Options.Tenants. Returns ENOTFOUND,
// naming them, if some are not live tenants.
func (r *runner) selectTenants(fleet []shareddb.LedgerFleetRow, ok bool) ([]shareddb.LedgerFleetRow, error) {
	byName := map[string]shareddb.LedgerFleetRow{}
	if ok {
		for _, row := range fleet {
			if row.TenantStatus != "" {
				byName[row.SchemaName] = row
			}
		}
	}
	var (
		out     []shareddb.LedgerFleetRow
		missing []string
		seen    = map[string]bool{}
	)
	for _, name := range r.opts.Tenants {
		if seen[name] {
			continue
		}
		seen[name] = true
		row, found := byName[name]
		if !found {
			missing = append(missing, fmt.Sprintf("%q", name))
			continue
		}
		out = append(out, row)
	}
	if len(missing) > 0 {
		return nil, toodoo.Errorf(toodoo.ENOTFOUND, "No tenant named %s.", strings.Join(missing, ", "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SchemaName < out[j].SchemaName })
	return out, nil
}

// isCurrent reports whether the ledger says the schema has the state hash, with no error since.
func isCurrent(row shareddb.LedgerFleetRow, hash string) bool {
	return SchemaState(deref(row.AppliedHash), deref(row.LastError), hash) == StateCurrent
}

// atlas returns the Atlas inspector, opened on first use (a run with nothing due never needs it).
func (r *runner) atlas() (schema.Inspector, error) {
	r.atlasOnce.Do(func() {
		db := stdlib.OpenDBFromPool(r.pool)
		drv, err := postgres.Open(db)
		if err != nil {
			db.Close()
			r.atlasErr = fmt.Errorf("migrate: open Atlas driver: %w", err)
			return
		}
		r.atlasDB, r.inspector = db, drv
	})
	return r.inspector, r.atlasErr
}

func (r *runner) closeAtlas() {
	if r.atlasDB != nil {
		r.atlasDB.Close()
	}
}

// inspect inspects one schema with Atlas.
func (r *runner) inspect(ctx context.Context, name string) (*schema.Schema, error) {
	in, err := r.atlas()
	if err != nil {
		return nil, err
	}
	r.inspections.Add(1)
	s, err := in.InspectSchema(ctx, name, nil)
	if err != nil {
		if schema.IsNotExistError(err) {
			return nil, err
		}
		return nil, fmt.Errorf("inspect schema %q: %w", name, err)
	}
	return s, nil
}

// shared plans and applies "public". row is its ledger row (nil if none or no ledger yet).
func (r *runner) shared(ctx context.Context, row *shareddb.LedgerFleetRow) error {
	name := schemadef.SharedSchema
	p := &Plan{Shared: true, Schemas: []string{name}, Inspected: name}
	wasCurrent := row != nil && isCurrent(*row, r.def.SharedHash())
	fail := func(err error) error {
		r.failAll(ctx, p, r.def.SharedHash(), err)
		return nil
	}
	cur, err := r.inspect(ctx, name)
	create := false
	switch {
	case schema.IsNotExistError(err):
		cur, create = schema.New(name), true
	case err != nil:
		return fail(err)
	}
	want, err := r.def.Shared()
	if err != nil {
		return err
	}
	changes, err := postgres.DefaultDiff.SchemaDiff(cur, want)
	if err != nil {
		return fail(fmt.Errorf("diff schema %q: %w", name, err))
	}
	stmts, err := schemadef.Render(changes, true)
	if err != nil {
		return fail(fmt.Errorf("plan schema %q: %w", name, err))
	}
	if create {
		stmts = append([]string{"CREATE SCHEMA " + pgx.Identifier{name}.Sanitize()}, stmts...)
	}
	p.Statements = stmts
	p.Destructive = destructive(changes)
	p.Refused = len(p.Destructive) > 0 && !r.opts.AllowDestructive
	p.Drift = wasCurrent && len(stmts) > 0
	if p.Drift {
		r.count(func(s *Summary) { s.Drifted++ })
	}
	if !wasCurrent || len(stmts) > 0 {
		r.count(func(s *Summary) { s.Plans = append(s.Plans, p) })
		r.rep.Planned(p)
	}
	switch {
	case len(stmts) == 0 && wasCurrent:
		r.count(func(s *Summary) { s.Current++ })
	case len(stmts) == 0:
		r.recordAll(ctx, p, r.def.SharedHash(), nil)
	case p.Refused:
		r.failAll(ctx, p, r.def.SharedHash(), refusal(p))
	case r.opts.DryRun:
		r.count(func(s *Summary) { s.Pending++ })
	default:
		r.rep.Applying(1)
		_, _ = r.applyOne(ctx, name, p, r.def.SharedHash(), true)
	}
	return nil
}

// refusal is the error recorded for a refused plan.
func refusal(p *Plan) error {
	return toodoo.Errorf(toodoo.EFORBIDDEN, "destructive change refused (%s); rerun with --allow-destructive to apply it", strings.Join(p.Destructive, "; "))
}

// group is a set of tenant schemas that get one plan.
type group struct {
	fp      string
	drift   bool // its schemas are current by the ledger (Verify found their catalog different)
	members []string
	plan    *Plan
	err     error // planning failed
}

// tenants migrates the given tenant schemas (rows of LedgerFleet).
func (r *runner) tenants(ctx context.Context, rows []shareddb.LedgerFleetRow) error {
	hash := r.def.TenantHash()
	var due, current []string
	for _, row := range rows {
		if isCurrent(row, hash) {
			current = append(current, row.SchemaName)
		} else {
			due = append(due, row.SchemaName)
		}
	}
	r.count(func(s *Summary) { s.Schemas += len(rows) })
	if !r.opts.Verify {
		r.count(func(s *Summary) { s.Current += len(current) })
		current = nil
		if len(due) == 0 {
			return nil
		}
	}

	fps, err := r.fingerprintAll(ctx, append(slices.Clone(due), current...))
	if err != nil {
		return err
	}
	desired := ""
	if r.opts.Verify {
		if desired, err = r.desiredFingerprint(ctx); err != nil {
			return err
		}
	}
	groups := map[string]*group{}
	add := func(name string, drift bool) {
		fp := fps[name]
		key := fmt.Sprintf("%s/%t", fp, drift)
		g := groups[key]
		if g == nil {
			g = &group{fp: fp, drift: drift}
			groups[key] = g
		}
		g.members = append(g.members, name)
	}
	for _, name := range due {
		add(name, false)
	}
	for _, name := range current {
		if fps[name] == desired {
			r.count(func(s *Summary) { s.Current++ })
		} else {
			add(name, true)
		}
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		sort.Strings(g.members)
		list = append(list, g)
	}
	// Biggest groups first; ties by first member, so reports are stable.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].members) != len(list[j].members) {
			return len(list[i].members) > len(list[j].members)
		}
		return list[i].members[0] < list[j].members[0]
	})

	r.planGroups(ctx, list, desired)
	var apply []*group
	for _, g := range list {
		p := g.plan
		switch {
		case g.err != nil:
			r.failAll(ctx, &Plan{Schemas: g.members}, hash, g.err)
			continue
		case g.drift && len(p.Statements) == 0 && !p.Missing:
			// The catalog differs from the template's in ways Atlas does not manage (or
			// renders alike): nothing to repair.
			r.count(func(s *Summary) { s.Current += len(g.members) })
			continue
		}
		if g.drift {
			r.count(func(s *Summary) { s.Drifted += len(g.members) })
		}
		r.count(func(s *Summary) { s.Plans = append(s.Plans, p) })
		r.rep.Planned(p)
		switch {
		case p.Missing:
			r.failAll(ctx, p, hash, fmt.Errorf("schema does not exist, although the tenant registry lists it"))
		case p.Refused:
			r.failAll(ctx, p, hash, refusal(p))
		case len(p.Statements) == 0:
			r.recordAll(ctx, p, hash, &g.fp)
		case r.opts.DryRun:
			r.count(func(s *Summary) { s.Pending += len(g.members) })
		default:
			apply = append(apply, g)
		}
	}
	if len(apply) == 0 {
		return nil
	}
	total := 0
	for _, g := range apply {
		total += len(g.members)
	}
	r.rep.Applying(total)
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, g := range apply {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.applyGroup(ctx, g, hash, sem)
		}()
	}
	wg.Wait()
	return nil
}

// planGroups makes each group's plan, inspecting one schema per group, Parallel at a time.
func (r *runner) planGroups(ctx context.Context, groups []*group, desired string) {
	sem := make(chan struct{}, r.opts.Parallel)
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			g.plan, g.err = r.planGroup(ctx, g, desired)
		}()
	}
	wg.Wait()
}

func (r *runner) planGroup(ctx context.Context, g *group, desired string) (*Plan, error) {
	p := &Plan{Schemas: g.members, Fingerprint: g.fp, Drift: g.drift}
	switch {
	case g.fp == "":
		p.Missing = true
		return p, nil
	case desired != "" && g.fp == desired:
		return p, nil // the template's own fingerprint: nothing to change, no need to look
	}
	rep := g.members[0]
	p.Inspected = rep
	cur, err := r.inspect(ctx, rep)
	if schema.IsNotExistError(err) {
		// Dropped since it was fingerprinted.
		return nil, fmt.Errorf("schema %q does not exist, although the tenant registry lists it", rep)
	}
	if err != nil {
		return nil, err
	}
	want, err := r.def.Tenant(rep)
	if err != nil {
		return nil, err
	}
	changes, err := postgres.DefaultDiff.SchemaDiff(cur, want)
	if err != nil {
		return nil, fmt.Errorf("diff schema %q: %w", rep, err)
	}
	if p.Statements, err = schemadef.Render(changes, false); err != nil {
		return nil, fmt.Errorf("plan schema %q: %w", rep, err)
	}
	p.Destructive = destructive(changes)
	p.Refused = len(p.Destructive) > 0 && !r.opts.AllowDestructive
	return p, nil
}

// canaryAttempts is how many schemas of a group are tried one at a time, before the rest in
// parallel, to learn the fingerprint the plan produces.
const canaryAttempts = 3

// applyGroup applies g's plan to its schemas. The first schema to succeed (tried one at a time,
// its fingerprint taken inside its transaction) fixes the fingerprint the plan produces; then the
// rest go Parallel at a time (sem is shared by all groups), and one catalog query afterwards
// checks that each of them reached that fingerprint. Fingerprinting each schema inside its own
// transaction would cost more than the DDL itself (milliseconds per schema, growing with the
// catalog); one query for the group costs a fraction of that per schema.
func (r *runner) applyGroup(ctx context.Context, g *group, hash string, sem chan struct{}) {
	rest := g.members
	expected := ""
	for i := 0; i < canaryAttempts && len(rest) > 0 && expected == ""; i++ {
		name := rest[0]
		rest = rest[1:]
		if !acquire(ctx, sem) {
			r.skip(len(rest) + 1)
			return
		}
		fp, err := r.applyOne(ctx, name, g.plan, hash, true)
		<-sem
		if err == nil {
			expected = fp
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
	)
	for i, name := range rest {
		if !acquire(ctx, sem) {
			r.skip(len(rest) - i)
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := r.applyOne(ctx, name, g.plan, hash, false); err == nil {
				mu.Lock()
				applied = append(applied, name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if expected != "" && len(applied) > 0 {
		r.checkGroup(context.WithoutCancel(ctx), applied, hash, expected)
	}
}

// checkGroup fingerprints the schemas a group's plan was just applied to, records the
// fingerprint of those that reached expected, and fails the others: they were not in the state
// the plan was made for (changed between planning and applying, or different in a way the
// fingerprint does not see before the change), so the next run plans them anew.
func (r *runner) checkGroup(ctx context.Context, applied []string, hash, expected string) {
	sort.Strings(applied)
	fps, err := r.fingerprintAll(ctx, applied)
	if err != nil {
		// The changes are committed and recorded; only the check is lost.
		r.count(func(s *Summary) {
			s.Warnings = append(s.Warnings, fmt.Errorf("check %d schemas after applying: %w", len(applied), err))
		})
		return
	}
	var same []string
	for _, name := range applied {
		if fps[name] == expected {
			same = append(same, name)
			continue
		}
		cause := fmt.Errorf("after the plan its catalog differs from that of the first schema of its group (fingerprint %s, not %s): it was not in the state the plan was made for; the next run plans it anew", ShortHash(fps[name]), ShortHash(expected))
		res := Result{Schema: name, Err: errors.Join(fmt.Errorf("apply to %q: %w", name, cause), r.recordError(ctx, []string{name}, hash, cause))}
		r.count(func(s *Summary) { s.Applied--; s.Failed++; s.Failures = append(s.Failures, res) })
	}
	err = shareddb.New(r.pool).LedgerSetFingerprint(ctx, shareddb.LedgerSetFingerprintParams{SchemaNames: same, Fingerprint: expected, AppliedHash: hash})
	if err != nil {
		r.count(func(s *Summary) { s.Warnings = append(s.Warnings, fmt.Errorf("record fingerprints: %w", err)) })
	}
}

// acquire takes a slot of sem unless ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *runner) skip(n int) {
	r.count(func(s *Summary) { s.Skipped += n })
}

// applyOne applies p to one schema in one transaction: the statements (unqualified for a
// tenant, run with SET LOCAL search_path) and the schema's ledger row, with its new fingerprint
// if measure is set. On failure it rolls back and records the error in the ledger in a
// transaction of its own.
func (r *runner) applyOne(ctx context.Context, name string, p *Plan, hash string, measure bool) (fp string, err error) {
	start := time.Now()
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var script strings.Builder
		fmt.Fprintf(&script, "SET LOCAL lock_timeout = %d;\n", max(1, r.opts.LockTimeout.Milliseconds()))
		// The change and its ledger row commit together, so a crash can lose both, never one
		// (the next run redoes the schema): not waiting for the WAL flush is safe, and it is a
		// good part of the cost of a small DDL transaction.
		script.WriteString("SET LOCAL synchronous_commit = off;\n")
		if !p.Shared {
			script.WriteString("SET LOCAL search_path TO " + pgx.Identifier{name}.Sanitize() + ";\n")
		}
		script.WriteString(schemadef.Script(p.Statements))
		// The simple protocol carries several statements in one round trip; nothing in the
		// script comes from input except the quoted schema name.
		if _, err := tx.Exec(ctx, script.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		params := shareddb.LedgerRecordAppliedParams{SchemaName: name, AppliedHash: hash}
		if measure {
			var err error
			if fp, err = fingerprintOne(ctx, tx, name); err != nil {
				return err
			}
			params.Fingerprint = &fp
		}
		return shareddb.New(tx).LedgerRecordApplied(ctx, params)
	})
	res := Result{Schema: name, Err: err, Duration: time.Since(start)}
	if err != nil {
		res.Err = fmt.Errorf("apply to %q: %w", name, err)
		if ctx.Err() == nil {
			res.Err = errors.Join(res.Err, r.recordError(ctx, []string{name}, hash, err))
		}
		r.count(func(s *Summary) { s.Failed++; s.Failures = append(s.Failures, res) })
	} else {
		r.count(func(s *Summary) { s.Applied++ })
	}
	r.rep.Done(res)
	return fp, res.Err
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
		SchemaNames: names, AttemptedHash: hash, LastError: truncate(cause.Error(), 2000),
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

// fingerprintAll fingerprints many schemas in one query, in a read-only transaction with JIT off
// (compiling the query would cost more than running it).
func (r *runner) fingerprintAll(ctx context.Context, names []string) (map[string]string, error) {
	var fps map[string]string
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('jit', 'off', true)"); err != nil {
			return err
		}
		var err error
		fps, err = fingerprints(ctx, tx, names)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return fps, nil
}

// scratchSchema is where desiredFingerprint builds the template; "toodoo_" names are reserved,
// so no tenant can have it, and the transaction that creates it is always rolled back.
const scratchSchema = "toodoo_migrate_scratch"

// desiredFingerprint returns the fingerprint of a schema made from the tenant template, built
// in a transaction that is rolled back.
func (r *runner) desiredFingerprint(ctx context.Context) (string, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: build the template: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // always rolled back
	if _, err := tx.Exec(ctx, r.def.CreateTenantScript(scratchSchema), pgx.QueryExecModeSimpleProtocol); err != nil {
		return "", fmt.Errorf("migrate: build the template: %w", err)
	}
	fp, err := fingerprintOne(ctx, tx, scratchSchema)
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	return fp, nil
}

// Plural writes n and noun, adding an s unless n is 1 ("1 schema", "3 schemas"): counts in
// migrate's messages and in the reports the CLI prints are spelled alike.
func Plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
