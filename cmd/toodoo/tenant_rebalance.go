package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/tenancy"
)

const tenantRebalanceUsage = `tenant rebalance [--apply] [--json]

Citus: shows the moves Citus's rebalancer would make to even out the nodes (a dry run, the
default), or with --apply makes them, printing progress. Every move is a citus_schema_move: the
application goes on serving.`

// runTenantRebalance is `toodoo tenant rebalance [--apply]`.
func runTenantRebalance(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant rebalance", tenantRebalanceUsage)
	apply := fs.Bool("apply", false, "make the moves (default: only show them)")
	asJSON := fs.Bool("json", false, "print the planned moves as JSON (with --apply: before making them)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		plan, err := db.RebalancePlan(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(plan); err != nil {
				return err
			}
		} else {
			printRebalancePlan(e, plan, *apply)
		}
		if !*apply || len(plan) == 0 {
			return nil
		}
		took, err := db.Rebalance(ctx, progressPrinter(e.Stdout))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "Rebalanced in %s. See toodoo nodes.\n", took.Round(time.Millisecond))
		return nil
	})
}

// printRebalancePlan prints the planned moves as a table.
func printRebalancePlan(e *env, plan []tenancy.PlannedMove, apply bool) {
	if len(plan) == 0 {
		fmt.Fprintln(e.Stdout, "The nodes are balanced: Citus's rebalancer plans no move.")
		return
	}
	var bytes int64
	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCHEMA\tFROM\tTO\tSIZE")
	for _, m := range plan {
		name := m.Schema
		if !m.Tenant {
			name += " (not a tenant)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, m.From, m.To, formatBytes(m.Bytes))
		bytes += m.Bytes
	}
	_ = w.Flush()
	if apply {
		fmt.Fprintf(e.Stdout, "Making %s (%s)...\n", migrate.Plural(len(plan), "move"), formatBytes(bytes))
	} else {
		fmt.Fprintf(e.Stdout, "Dry run: %s (%s) planned; rerun with --apply to make it so.\n", migrate.Plural(len(plan), "move"), formatBytes(bytes))
	}
}
