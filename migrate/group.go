package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// group is a set of tenant schemas that get one plan: they share a catalog fingerprint (and
// whether the ledger called them current).
type group struct {
	fp      string
	drift   bool // its schemas are current by the ledger (Verify found their catalog different)
	members []string
	plan    *Plan
	err     error // planning failed

	// Set while applying (see applyGroups).
	expected string     // the fingerprint the plan produced in the first schema it succeeded on
	rest     []string   // the members left after the canaries
	mu       sync.Mutex // guards applied, locked, and expected during the retries
	applied  []string   // of rest, those whose transaction committed
	locked   []string   // members whose DDL hit the lock timeout, to be retried
}

// settled files the outcome of applying g's plan to name: committed (measured: fp is its
// fingerprint) or to be retried. Other failures are counted by applyOne already.
func (g *group) settled(name, fp string, measured bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case errors.Is(err, errRetry):
		g.locked = append(g.locked, name)
	case err != nil:
	case measured && g.expected == "":
		g.expected = fp
	default:
		// Measured after another retry of the group fixed expected: checked with the rest.
		g.applied = append(g.applied, name)
	}
}

// tenants migrates the given tenant schemas (rows of LedgerFleet): those the ledger says are due,
// and with Verify those it calls current whose catalog differs from the template's. It groups
// them by fingerprint, plans each group with one inspection, settles the groups that need no
// transaction, and applies the plans of the others.
func (r *runner) tenants(ctx context.Context, rows []shareddb.LedgerFleetRow) error {
	hash := r.def.TenantHash()
	due, current := splitDue(rows, hash)
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
	groups, verified := groupByFingerprint(due, current, fps, desired)
	r.count(func(s *Summary) { s.Current += verified })
	r.planGroups(ctx, groups, desired)
	r.applyGroups(ctx, r.settle(ctx, groups, hash), hash)
	return nil
}

// splitDue splits rows into the schemas the ledger says are due and those it calls current.
func splitDue(rows []shareddb.LedgerFleetRow, hash string) (due, current []string) {
	for _, row := range rows {
		if isCurrent(row, hash) {
			current = append(current, row.SchemaName)
		} else {
			due = append(due, row.SchemaName)
		}
	}
	return due, current
}

// groupByFingerprint groups the due schemas, and the current ones whose fingerprint is not the
// template's (desired), by fingerprint; current schemas with the template's fingerprint are only
// counted (verified). Members are sorted, and groups come biggest first, ties by first member, so
// reports are stable.
func groupByFingerprint(due, current []string, fps map[string]string, desired string) (groups []*group, verified int) {
	type key struct {
		fp    string
		drift bool
	}
	byKey := map[key]*group{}
	add := func(name string, drift bool) {
		k := key{fps[name], drift}
		g := byKey[k]
		if g == nil {
			g = &group{fp: k.fp, drift: drift}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, name)
	}
	for _, name := range due {
		add(name, false)
	}
	for _, name := range current {
		if fps[name] == desired {
			verified++
		} else {
			add(name, true)
		}
	}
	for _, g := range groups {
		sort.Strings(g.members)
	}
	sort.Slice(groups, func(i, j int) bool {
		if len(groups[i].members) != len(groups[j].members) {
			return len(groups[i].members) > len(groups[j].members)
		}
		return groups[i].members[0] < groups[j].members[0]
	})
	return groups, verified
}

// limited returns an errgroup that runs at most Parallel of its functions at once. Its functions
// return nil: a schema's failure is counted in the summary and does not stop the others.
func (r *runner) limited() *errgroup.Group {
	g := new(errgroup.Group)
	g.SetLimit(r.opts.Parallel)
	return g
}

// planGroups makes each group's plan, inspecting one schema per group, Parallel at a time.
func (r *runner) planGroups(ctx context.Context, groups []*group, desired string) {
	eg := r.limited()
	for _, g := range groups {
		eg.Go(func() error {
			g.plan, g.err = r.planGroup(ctx, g, desired)
			return nil
		})
	}
	_ = eg.Wait()
}

// planGroup plans g from its first member. Missing schemas, and with Verify schemas with the
// template's own fingerprint, need no inspection.
func (r *runner) planGroup(ctx context.Context, g *group, desired string) (*Plan, error) {
	p := &Plan{Schemas: g.members, Fingerprint: g.fp, Drift: g.drift}
	switch {
	case g.fp == "":
		p.Missing = true
		return p, nil
	case desired != "" && g.fp == desired:
		return p, nil // the template's own fingerprint: nothing to change, no need to look
	}
	if err := r.plan(ctx, p, g.members[0]); err != nil {
		return nil, err
	}
	return p, nil
}

// settle reports each group's plan and deals with the groups that need no transaction: planning
// failed, the schemas are missing, the plan is refused, there is nothing to change (the ledger
// is brought up to date) or it is a dry run. It returns the groups left to apply.
func (r *runner) settle(ctx context.Context, groups []*group, hash string) (apply []*group) {
	for _, g := range groups {
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
			r.failAll(ctx, p, hash, errors.New("schema does not exist, although the tenant registry lists it"))
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
	return apply
}

// canaryAttempts is how many schemas of a group are tried one at a time, before the rest in
// parallel, to learn the fingerprint the plan produces.
const canaryAttempts = 3

// applyGroups applies each group's plan to its schemas, Parallel transactions at a time in all,
// in four steps. The canaries: in each group, schemas are tried one at a time until one
// succeeds, its fingerprint taken inside its transaction; that fixes the fingerprint the plan
// produces. Then the other schemas of every group. Then the schemas whose DDL hit the lock
// timeout, up to LockAttempts in all, with backoff (retryLocked). Then one catalog query per group checks that
// each of them reached its group's fingerprint (checkGroup). Fingerprinting each schema inside
// its own transaction would cost more than the DDL itself (milliseconds per schema, growing with
// the catalog); one query for the group costs a fraction of that per schema.
//
// Once ctx ends, the schemas not started yet are counted as skipped.
func (r *runner) applyGroups(ctx context.Context, groups []*group, hash string) {
	if len(groups) == 0 {
		return
	}
	total := 0
	for _, g := range groups {
		total += len(g.members)
	}
	r.rep.Applying(total)
	stopAnnouncing := r.startAnnouncing(ctx)

	canaries := r.limited()
	for _, g := range groups {
		canaries.Go(func() error {
			r.canary(ctx, g, hash)
			return nil
		})
	}
	_ = canaries.Wait()

	others := r.limited()
	for _, g := range groups {
		for _, name := range g.rest {
			others.Go(func() error {
				if ctx.Err() != nil {
					r.skip(1)
					return nil
				}
				_, err := r.applyOne(ctx, name, g.plan, hash, false, 1)
				g.settled(name, "", false, err)
				return nil
			})
		}
	}
	_ = others.Wait()

	r.retryLocked(ctx, groups, hash)
	stopAnnouncing()

	// The changes are committed: check them even if the run was interrupted.
	checks, checkCtx := r.limited(), context.WithoutCancel(ctx)
	for _, g := range groups {
		if g.expected != "" && len(g.applied) > 0 {
			checks.Go(func() error {
				r.checkGroup(checkCtx, g.applied, hash, g.expected)
				return nil
			})
		}
	}
	_ = checks.Wait()
}

// canary applies g's plan to its first schemas one at a time, up to canaryAttempts, until one
// succeeds and so sets g.expected; g.rest is what is left. If ctx ends first, the schemas of g
// not tried are skipped.
func (r *runner) canary(ctx context.Context, g *group, hash string) {
	g.rest = g.members
	// A schema locked by another transaction tells nothing about the plan: it does not count
	// as an attempt, though as many again are tried at most (each costs a lock timeout, one
	// at a time).
	for failed, tried := 0, 0; failed < canaryAttempts && tried < 2*canaryAttempts && len(g.rest) > 0 && g.expected == ""; tried++ {
		if ctx.Err() != nil {
			r.skip(len(g.rest))
			g.rest = nil
			return
		}
		name := g.rest[0]
		g.rest = g.rest[1:]
		fp, err := r.applyOne(ctx, name, g.plan, hash, true, 1)
		g.settled(name, fp, true, err)
		if err != nil && !errors.Is(err, errRetry) {
			failed++
		}
	}
}

// retryLocked tries again the schemas whose DDL hit the lock timeout, after the others, in rounds
// LockRetryDelay apart (doubling) until LockAttempts: a long transaction in one tenant costs the
// run a few lock timeouts, and never holds the rest of the fleet (or the requests queued behind
// a waiting DDL) for as long as it lasts. A schema retried while its group has no fingerprint
// yet (every canary was locked) is measured and may fix it. If ctx ends during a backoff, the
// schemas waiting for their retry are skipped.
func (r *runner) retryLocked(ctx context.Context, groups []*group, hash string) {
	type retry struct {
		g    *group
		name string
	}
	for attempt := 2; attempt <= r.opts.LockAttempts; attempt++ {
		var pending []retry
		for _, g := range groups {
			g.mu.Lock()
			for _, name := range g.locked {
				pending = append(pending, retry{g, name})
			}
			g.locked = nil
			g.mu.Unlock()
		}
		if len(pending) == 0 {
			return
		}
		if !r.backoff(ctx, attempt-1) {
			r.skip(len(pending))
			return
		}
		eg := r.limited()
		for _, p := range pending {
			eg.Go(func() error {
				if ctx.Err() != nil {
					r.skip(1)
					return nil
				}
				r.count(func(s *Summary) { s.LockRetries++ })
				p.g.mu.Lock()
				measure := p.g.expected == ""
				p.g.mu.Unlock()
				fp, err := r.applyOne(ctx, p.name, p.g.plan, hash, measure, attempt)
				p.g.settled(p.name, fp, measure, err)
				return nil
			})
		}
		_ = eg.Wait()
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
