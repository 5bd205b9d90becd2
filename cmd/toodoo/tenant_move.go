package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/toodoo/toodoo/tenancy"
)

const tenantMoveUsage = `tenant move NAME --to HOST:PORT

Citus: moves the tenant's schema to the node HOST:PORT (see toodoo nodes) with citus_schema_move.
Its data is copied while the application goes on reading and writing it; writes wait only for
the final switch. Progress is printed every half second.`

// runTenantMove is `toodoo tenant move NAME --to HOST:PORT`.
func runTenantMove(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant move", tenantMoveUsage)
	to := fs.String("to", "", "the node to move to, `HOST:PORT` as toodoo nodes shows it (required)")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *to == "" {
		return usagef("tenant move: missing --to HOST:PORT (see toodoo nodes)")
	}
	if _, _, err := tenancy.ParseNodeAddr(*to); err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		res, err := db.MoveTenant(ctx, pos[0], *to, tenancy.MoveWatch{
			Started: func(m tenancy.MoveResult) {
				fmt.Fprintf(e.Stdout, "Moving tenant %s (%s) from %s to %s...\n", m.Tenant, formatBytes(m.Bytes), m.From, m.To)
			},
			Progress: progressPrinter(e.Stdout),
		})
		if err != nil {
			return err
		}
		if !res.Moved {
			fmt.Fprintf(e.Stdout, "Tenant %s is on %s already (%s); nothing to do.\n", res.Tenant, res.To, formatBytes(res.Bytes))
			return nil
		}
		fmt.Fprintf(e.Stdout, "Moved tenant %s (%s) from %s to %s in %s.\n",
			res.Tenant, formatBytes(res.Bytes), res.From, res.To, res.Duration.Round(time.Millisecond))
		return nil
	})
}

// progressPrinter returns the progress callback of move and rebalance: one line per shard
// group (schema) whenever what it reports changes, so that a log shows the phases of each move.
func progressPrinter(out io.Writer) func([]tenancy.ShardProgress) {
	last := map[string]string{}
	return func(shards []tenancy.ShardProgress) {
		type agg struct {
			from, to, status string
			bytes, copied    int64
			done, total      int
		}
		var (
			order []string
			by    = map[string]*agg{}
		)
		for _, s := range shards {
			a := by[s.Schema]
			if a == nil {
				a = &agg{from: s.From, to: s.To}
				by[s.Schema] = a
				order = append(order, s.Schema)
			}
			a.total++
			a.bytes += s.Bytes
			a.copied += min(s.Copied, s.Bytes)
			if s.Completed {
				a.done++
			}
			if s.InProgress && s.Status != "" {
				a.status = s.Status
			}
		}
		for _, schema := range order {
			a := by[schema]
			status := a.status
			switch {
			case a.done == a.total:
				status = "completed"
			case status == "":
				status = "waiting"
			}
			pct := 100
			if a.bytes > 0 {
				pct = int(100 * a.copied / a.bytes)
			}
			line := fmt.Sprintf("  %s %s -> %s: %s, %s of %s copied (%d%%)", schema, a.from, a.to,
				status, formatBytes(a.copied), formatBytes(a.bytes), pct)
			if last[schema] != line {
				fmt.Fprintln(out, line)
				last[schema] = line
			}
		}
	}
}
