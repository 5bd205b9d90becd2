package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

const migrateUsage = `migrate [--dry-run] [--verify] [--shared-only | --tenant NAME ...] [--allow-destructive] [--parallel N] [--wait]
       [--lock-timeout D] [--lock-attempts N]
       toodoo migrate status [--json]

Brings "public" and every tenant schema to schema.hcl: inspect, diff, print the plan, apply in
one transaction per schema. Only schemas the ledger (public.schema_ledger) says are due are
looked at, unless --verify. A failing tenant is reported and the others go on; the exit status
is 1 if any failed (or, with --verify, drifted and was not repaired).`

// runMigrate is `toodoo migrate` and `toodoo migrate status`.
func runMigrate(ctx context.Context, args []string, e *env) error {
	if len(args) > 0 && args[0] == "status" {
		return runMigrateStatus(ctx, args[1:], e)
	}
	fs, dbURL := newFlagSet(e, "migrate", migrateUsage)
	var (
		opts    migrate.Options
		tenants []string
	)
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the plan and change nothing (not even the ledger)")
	fs.BoolVar(&opts.Verify, "verify", false, "also look for schemas changed by hand (drift) and repair them")
	fs.BoolVar(&opts.SharedOnly, "shared-only", false, `migrate only the shared schema "public"`)
	fs.Func("tenant", "migrate only this tenant `NAME` (repeatable; leaves \"public\" alone)", func(s string) error {
		tenants = append(tenants, s)
		return nil
	})
	fs.BoolVar(&opts.AllowDestructive, "allow-destructive", false, "apply plans that drop tables or columns or narrow column types (implies --allow-breaking)")
	fs.BoolVar(&opts.AllowBreaking, "allow-breaking", false, "apply plans that old code may not survive (NOT NULL without default, unique index, changed column...); see README, Rolling deploys")
	fs.IntVar(&opts.Parallel, "parallel", runtime.NumCPU(), "schemas changed at once")
	fs.BoolVar(&opts.Wait, "wait", false, "wait for another running toodoo migrate instead of refusing")
	fs.DurationVar(&opts.LockTimeout, "lock-timeout", migrate.DefaultLockTimeout, "how long each schema's DDL may wait for its table locks before giving up (and being retried)")
	fs.IntVar(&opts.LockAttempts, "lock-attempts", migrate.DefaultLockAttempts, "times a schema whose DDL hit --lock-timeout is tried in all, after the others, before it is reported failed")
	opts.DirectURL = e.Getenv("TOODOO_DIRECT_DATABASE_URL")
	fs.Func("direct-database-url", "`URL` for the migration lock's connection, bypassing a pooler (default $TOODOO_DIRECT_DATABASE_URL, else the database URL)", func(s string) error {
		opts.DirectURL = s
		return nil
	})
	schemaFile := fs.String("schema", "", "development: migrate to this schema.hcl `FILE` instead of the one built in")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	opts.Tenants = tenants
	switch {
	case opts.SharedOnly && len(tenants) > 0:
		return usagef("migrate: --shared-only and --tenant exclude each other")
	case opts.Parallel < 1:
		return usagef("migrate: --parallel must be at least 1")
	case opts.LockTimeout <= 0:
		return usagef("migrate: --lock-timeout must be positive")
	case opts.LockAttempts < 1:
		return usagef("migrate: --lock-attempts must be at least 1")
	case *dbURL == "":
		return usagef("no database: set DATABASE_URL or pass --database-url")
	}
	def, err := loadSchema(*schemaFile)
	if err != nil {
		return err
	}
	if opts.Citus, err = citusMode(e); err != nil {
		return err
	}

	rep := newMigrateReporter(e.Stdout, opts.DryRun)
	if opts.DryRun {
		fmt.Fprintln(e.Stdout, "Dry run: nothing is changed.")
	}
	// River's tables (the mail queue) in their own schema, by River's migrator: Atlas never sees
	// them. Run checks them in its first round trip, so every run does it (but a dry run).
	opts.Queue = true
	sum, err := migrate.Run(ctx, *dbURL, def, opts, rep)
	rep.finish()
	if errors.Is(err, migrate.ErrLocked) {
		return toodoo.Errorf(toodoo.ECONFLICT, "%s Rerun with --wait to wait for it.", toodoo.ErrorMessage(err))
	}
	if sum != nil && (err == nil || errors.Is(err, migrate.ErrIncomplete) || sum.Schemas > 0) {
		rep.summary(sum, opts)
	}
	return err
}

// migrateReporter renders a run: the plans, a progress bar on a terminal (plain lines
// otherwise), the failures and a summary table.
type migrateReporter struct {
	out     io.Writer
	tty     bool
	dryRun  bool
	bar     *progressbar.ProgressBar
	printed map[string]bool // failures already printed as they happened
}

func newMigrateReporter(out io.Writer, dryRun bool) *migrateReporter {
	return &migrateReporter{out: out, tty: isTerminal(out), dryRun: dryRun, printed: map[string]bool{}}
}

// QueueMigrated prints the River migrations applied to the mail queue.
func (r *migrateReporter) QueueMigrated(versions []int) {
	fmt.Fprintf(r.out, "Mail queue (%s): River migrations %s applied.\n", tenancy.QueueSchema, listInts(versions))
}

func (r *migrateReporter) Waiting() {
	fmt.Fprintln(r.out, "Another toodoo migrate is running; waiting for it to finish...")
}

// Planned prints a plan: which schemas, why, and its statements.
func (r *migrateReporter) Planned(p *migrate.Plan) {
	var head string
	switch {
	case p.Shared:
		head = `public`
	case p.Missing:
		head = fmt.Sprintf("%s (missing)", migrate.Plural(len(p.Schemas), "schema"))
	default:
		head = fmt.Sprintf("%s at fingerprint %s", migrate.Plural(len(p.Schemas), "schema"), migrate.ShortHash(p.Fingerprint))
	}
	if !p.Shared {
		head += " (" + listNames(p.Schemas, 3) + ")"
	}
	if p.Drift {
		head = "DRIFT: " + head + ", changed by hand"
	}
	switch {
	case p.Missing:
		fmt.Fprintf(r.out, "%s: the schemas do not exist although the tenant registry lists them\n", head)
		return
	case len(p.Statements) == 0 && r.dryRun:
		fmt.Fprintf(r.out, "%s: already as schema.hcl says; the ledger would be updated\n", head)
		return
	case len(p.Statements) == 0:
		fmt.Fprintf(r.out, "%s: already as schema.hcl says; updating the ledger\n", head)
		return
	}
	fmt.Fprintf(r.out, "%s: %s\n", head, migrate.Plural(len(p.Statements), "statement"))
	for _, s := range p.Statements {
		fmt.Fprintf(r.out, "    %s;\n", s)
	}
	switch {
	case p.Refused && len(p.Unsupported) > 0:
		fmt.Fprintf(r.out, "    REFUSED, Citus cannot run it on distributed tables: %s (change schema.hcl; see README, Scaling out with Citus)\n", strings.Join(p.Unsupported, "; "))
	case p.Refused && len(p.Destructive) > 0:
		fmt.Fprintf(r.out, "    REFUSED, destructive: %s (rerun with --allow-destructive to apply)\n", strings.Join(p.Destructive, "; "))
	case p.Refused:
		fmt.Fprintf(r.out, "    REFUSED, breaking: %s (rerun with --allow-breaking to apply)\n", strings.Join(p.Breaking, "; "))
	case len(p.Destructive) > 0:
		fmt.Fprintf(r.out, "    destructive, allowed: %s\n", strings.Join(p.Destructive, "; "))
	case len(p.Breaking) > 0:
		fmt.Fprintf(r.out, "    breaking, allowed: %s\n", strings.Join(p.Breaking, "; "))
	}
}

// Applying starts a progress bar on a terminal, or prints one line.
func (r *migrateReporter) Applying(n int) {
	r.finish()
	if !r.tty {
		fmt.Fprintf(r.out, "Applying to %s...\n", migrate.Plural(n, "schema"))
		return
	}
	r.bar = progressbar.NewOptions(n,
		progressbar.OptionSetWriter(r.out),
		progressbar.OptionSetDescription("applying"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("schemas"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.out) }),
	)
}

// Done advances the bar; without a terminal, a failure is printed at once.
func (r *migrateReporter) Done(res migrate.Result) {
	if r.bar != nil {
		_ = r.bar.Add(1)
	}
	if res.Err != nil && !r.tty {
		fmt.Fprintf(r.out, "FAILED %s: %s\n", res.Schema, oneLine(res.Err.Error()))
		r.printed[res.Schema] = true
	}
}

// Distributing prints how many tenants are about to be distributed (Citus mode) and starts a
// progress bar on a terminal.
func (r *migrateReporter) Distributing(n int) {
	r.finish()
	fmt.Fprintf(r.out, "Citus: distributing %s (each moves to a worker)...\n", migrate.Plural(n, "tenant schema"))
	if r.tty {
		r.bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(r.out), progressbar.OptionSetDescription("distributing"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(r.out) }))
	}
}

// Distributed is Done for a tenant being distributed.
func (r *migrateReporter) Distributed(res migrate.Result) { r.Done(res) }

// finish completes the current progress bar, if any.
func (r *migrateReporter) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
		r.bar = nil
	}
}

// summary prints the failures not printed yet (refused, missing, failed checks, and every
// failure on a terminal), grouped by error, then the table of counts.
func (r *migrateReporter) summary(s *migrate.Summary, opts migrate.Options) {
	var (
		order  []string
		groups = map[string][]string{}
	)
	for _, f := range s.Failures {
		if r.printed[f.Schema] {
			continue
		}
		msg := oneLine(f.Err.Error())
		if groups[msg] == nil {
			order = append(order, msg)
		}
		groups[msg] = append(groups[msg], f.Schema)
	}
	for _, msg := range order {
		fmt.Fprintf(r.out, "FAILED %s: %s\n", listNames(groups[msg], 5), msg)
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(r.out, "warning: %s\n", oneLine(w.Error()))
	}

	fmt.Fprintln(r.out)
	var rows [][3]string
	row := func(label string, v any, note string) { rows = append(rows, [3]string{label, fmt.Sprint(v), note}) }
	row("schemas", s.Schemas, `in scope ("public" and tenants)`)
	row("current", s.Current, "nothing to do")
	if opts.DryRun {
		row("pending", s.Pending, "would be changed or recorded")
	} else {
		row("applied", s.Applied, "changed, one transaction each")
		row("recorded", s.Recorded, "already right; ledger updated")
	}
	row("failed", s.Failed, "see above; toodoo migrate status")
	if opts.Verify {
		row("drifted", s.Drifted, "changed by hand")
	}
	if s.Skipped > 0 {
		row("skipped", s.Skipped, "not attempted (interrupted)")
	}
	if s.Citus && opts.DryRun {
		row("distribute", s.Distributed, "tenants Citus would distribute")
	} else if s.Citus {
		row("distributed", s.Distributed, "tenants moved to Citus workers")
		if s.DistributeFailed > 0 {
			row("not distrib.", s.DistributeFailed, "see above; the next run tries again")
		}
	}
	row("inspections", s.Inspections, "Atlas schema inspections")
	row("duration", s.Duration.Round(time.Millisecond), "")
	if done := s.Applied + s.Failed; done > 0 && s.Duration > 0 && !opts.DryRun {
		rate := float64(done) / s.Duration.Seconds()
		row("rate", strings.TrimSuffix(fmt.Sprintf("%.1f", rate), ".0"), "schemas/s")
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r[1]))
	}
	for _, row := range rows {
		fmt.Fprintf(r.out, "  %-12s %*s  %s\n", row[0], width, row[1], row[2])
	}
	if s.LockRetries > 0 || s.LockGaveUp > 0 {
		fmt.Fprintf(r.out, "  lock timeouts: %d retried, %d gave up (tables locked by other transactions; --lock-timeout %s, --lock-attempts %d)\n",
			s.LockRetries, s.LockGaveUp, opts.LockTimeout, opts.LockAttempts)
	}
}

// runMigrateStatus is `toodoo migrate status`: the ledger, in one query.
func runMigrateStatus(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "migrate status", "migrate status [--json]\n\nShows, from the ledger, which schemas are current, behind or failed (drift is not checked:\nsee toodoo migrate --verify --dry-run).")
	asJSON := fs.Bool("json", false, "print JSON")
	schemaFile := fs.String("schema", "", "development: judge against this schema.hcl `FILE` instead of the one built in")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dbURL == "" {
		return usagef("no database: set DATABASE_URL or pass --database-url")
	}
	def, err := loadSchema(*schemaFile)
	if err != nil {
		return err
	}
	status := migrate.StatusTable // what the table shows
	if *asJSON {
		status = migrate.Status // every column of the ledger
	}
	st, err := status(ctx, *dbURL, def)
	if err != nil {
		return err
	}
	// A line per schema: written in large pieces, not a write (a system call) per cell.
	out := bufio.NewWriterSize(e.Stdout, 64<<10)
	if err := printStatus(out, st, *asJSON); err != nil {
		return err
	}
	return out.Flush()
}

// printStatus writes the status report, as JSON or as a table with a summary line.
func printStatus(out io.Writer, st *migrate.StatusReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEMA\tSTATE\tAPPLIED\tLAST ERROR")
	for _, s := range st.Schemas {
		applied := "never"
		if s.AppliedAt != nil {
			applied = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		lastErr := ""
		if s.LastError != nil {
			lastErr = toodoo.Truncate(oneLine(*s.LastError), 100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Schema, s.State, applied, lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d current, %d behind, %d failed (desired state: public %s, tenants %s; drift not checked: toodoo migrate --verify --dry-run)\n",
		st.Current, st.Behind, st.Failed, migrate.ShortHash(st.SharedHash), migrate.ShortHash(st.TenantHash))
	return nil
}

// loadSchema returns the built-in schema.hcl, or the one in file.
func loadSchema(file string) (*schemadef.Definition, error) {
	if file == "" {
		return schemadef.Default()
	}
	hcl, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("migrate: --schema: %v", err)
	}
	def, err := schemadef.Load(hcl)
	if err != nil {
		return nil, toodoo.Invalid("schema", "%s: %v", file, err)
	}
	return def, nil
}

// listNames lists up to max names, then how many more.
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}

// listInts writes 1, 2, 3.
func listInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
