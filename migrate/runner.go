package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// runner is the state of one run.
type runner struct {
	pool *pgxpool.Pool
	def  *schemadef.Definition
	opts Options
	rep  *syncReporter

	atlasOnce   sync.Once
	atlasDB     *sql.DB // see atlas
	inspections atomic.Int64

	mu  sync.Mutex // guards sum
	sum *Summary

	announce announcer // see startAnnouncing
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

// skip counts n schemas not attempted because the context ended.
func (r *runner) skip(n int) {
	r.count(func(s *Summary) { s.Skipped += n })
}

// run migrates what the options select: "public" first (unless only tenants are named), then the
// tenants the ledger lists. It returns an error only for what stops the whole run (the ledger
// cannot be read, a named tenant does not exist); a schema's failure is in the summary.
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
			r.shared(ctx, public)
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
	if err := r.tenants(ctx, fleet); err != nil {
		return err
	}
	if r.sum.Citus {
		r.distribute(ctx, fleet)
	}
	return nil
}

// shared plans and applies "public". row is its ledger row (nil if none or no ledger yet). A
// failure is counted in the summary, as a tenant's is.
func (r *runner) shared(ctx context.Context, row *shareddb.LedgerFleetRow) {
	hash := r.def.SharedHash()
	p := &Plan{Shared: true, Schemas: []string{schemadef.SharedSchema}}
	wasCurrent := row != nil && isCurrent(*row, hash)
	if err := r.plan(ctx, p, schemadef.SharedSchema); err != nil {
		r.failAll(ctx, p, hash, err)
		return
	}
	p.Drift = wasCurrent && len(p.Statements) > 0
	if p.Drift {
		r.count(func(s *Summary) { s.Drifted++ })
	}
	if !wasCurrent || len(p.Statements) > 0 {
		r.count(func(s *Summary) { s.Plans = append(s.Plans, p) })
		r.rep.Planned(p)
	}
	switch {
	case len(p.Statements) == 0 && wasCurrent:
		r.count(func(s *Summary) { s.Current++ })
	case len(p.Statements) == 0:
		r.recordAll(ctx, p, hash, nil)
	case p.Refused:
		r.failAll(ctx, p, hash, refusal(p))
	case r.opts.DryRun:
		r.count(func(s *Summary) { s.Pending++ })
	default:
		r.rep.Applying(1)
		// "public" comes before every tenant, so its retries after a lock timeout come at once
		// (after the backoff), not after the others.
		for attempt := 1; ; attempt++ {
			_, err := r.applyOne(ctx, schemadef.SharedSchema, p, hash, true, attempt)
			if !errors.Is(err, errRetry) {
				return
			}
			if !r.backoff(ctx, attempt) {
				r.skip(1)
				return
			}
			r.count(func(s *Summary) { s.LockRetries++ })
		}
	}
}

// backoff waits before retry round n (from 1) of schemas whose DDL hit the lock timeout:
// LockRetryDelay, doubled each round. It returns false if ctx ended first.
func (r *runner) backoff(ctx context.Context, n int) bool {
	t := time.NewTimer(r.opts.LockRetryDelay << min(n-1, 10))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
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
