package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/toodoo/toodoo/tenancy"
)

const nodesUsage = `nodes [--json]

Citus: lists the nodes that hold tenant schemas (the workers, and the coordinator if it holds
any), with the number of tenants on each and their size. Refused on plain PostgreSQL.`

// runNodes is `toodoo nodes`.
func runNodes(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "nodes", nodesUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		nodes, err := db.Nodes(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(nodes)
		}
		if len(nodes) == 0 {
			fmt.Fprintln(e.Stdout, "No worker nodes: add some with SELECT citus_add_node('host', port) on the coordinator.")
			return nil
		}
		w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "NODE\tROLE\tTENANTS\tSIZE\tSTATE")
		tenants, bytes := 0, int64(0)
		for _, n := range nodes {
			role := "worker"
			if n.Coordinator {
				role = "coordinator"
			}
			state := "active"
			switch {
			case !n.Active:
				state = "inactive"
			case !n.ShouldHaveShards:
				state = "draining (gets no new schemas)"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", n.Addr(), role, n.Tenants, formatBytes(n.Bytes), state)
			tenants += n.Tenants
			bytes += n.Bytes
		}
		fmt.Fprintf(w, "total\t\t%d\t%s\t\n", tenants, formatBytes(bytes))
		return w.Flush()
	})
}

// formatBytes writes a size as PostgreSQL's pg_size_pretty does (kB, MB, GB: powers of 1024).
func formatBytes(n int64) string {
	const unit = 1024
	if n < 10*unit {
		return fmt.Sprintf("%d bytes", n)
	}
	f, suffixes := float64(n)/unit, []string{"kB", "MB", "GB", "TB"}
	i := 0
	for f >= 10*unit && i < len(suffixes)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.0f %s", f, suffixes[i])
}
