package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/dbtest"
)

// The placement commands' bad usage: exit 2 and one line, before any database is needed.
func TestPlacementUsageErrors(t *testing.T) {
	t.Parallel()
	c := noDB(t)
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"nodes", "extra"}, `nodes: unexpected argument "extra"`},
		{[]string{"tenant", "move"}, "tenant move: missing NAME"},
		{[]string{"tenant", "move", "acme"}, "tenant move: missing --to HOST:PORT"},
		{[]string{"tenant", "rebalance", "acme"}, `tenant rebalance: unexpected argument "acme"`},
		{[]string{"nodes"}, "no database: set DATABASE_URL or pass --database-url"},
	} {
		c.fails(2, test.want, test.args...)
	}
	c.fails(1, `"nowhere" is not a node address: use HOST:PORT`, "tenant", "move", "acme", "--to", "nowhere")
	for _, args := range [][]string{{"nodes"}, {"tenant", "move"}, {"tenant", "rebalance"}} {
		if r := c.run(append(args, "--help")...); r.code != 0 || !strings.Contains(r.stderr, "Usage: toodoo "+strings.Join(args, " ")) {
			t.Errorf("toodoo %s --help: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	c.vars["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/x"
	c.vars["TOODOO_CITUS"] = "maybe"
	c.fails(2, `TOODOO_CITUS: Unknown Citus mode "maybe": use auto, on or off.`, "tenant", "list")
}

// TestPlacementOnPlainPostgres: on plain PostgreSQL the placement commands refuse in one line,
// tenant list shows every tenant as local, and TOODOO_CITUS=on is refused.
func TestPlacementOnPlainPostgres(t *testing.T) {
	t.Parallel()
	if dbtest.Citus() {
		t.Skip("on a Citus cluster: see TestPlacementOnCitus")
	}
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	const notCitus = "this is not a Citus database: the citus extension is not installed in it."
	c.fails(1, notCitus, "nodes")
	c.fails(1, notCitus, "tenant", "move", "acme", "--to", "127.0.0.1:9701")
	c.fails(1, notCitus, "tenant", "rebalance")
	c.fails(1, notCitus, "tenant", "rebalance", "--apply")

	out := c.ok("tenant", "list")
	if !regexp.MustCompile(`(?m)^NAME .* NODE$`).MatchString(out) || !regexp.MustCompile(`(?m)^acme .* local$`).MatchString(out) {
		t.Errorf("tenant list:\n%s\nwant a NODE column saying local", out)
	}
	var rows []tenantRow
	if err := json.Unmarshal([]byte(c.ok("tenant", "list", "--json")), &rows); err != nil || len(rows) != 1 || rows[0].Node != "local" {
		t.Errorf("tenant list --json: %+v, %v; want acme with node local", rows, err)
	}
	c.vars["TOODOO_CITUS"] = "on"
	c.fails(1, "Citus mode is on (TOODOO_CITUS=on) but this is not a Citus database", "tenant", "list")
	c.fails(1, "Citus mode is on (TOODOO_CITUS=on) but this is not a Citus database", "migrate")
}

// TestPlacementOnCitus drives the commands on a Citus cluster: tenants created by the CLI land
// on both workers, nodes counts them, move moves one with progress, and rebalance shows then
// makes the move back.
func TestPlacementOnCitus(t *testing.T) {
	t.Parallel()
	if !dbtest.Citus() {
		t.Skip("no Citus cluster: set TOODOO_TEST_CITUS_URL to a coordinator, or run go tool task test:citus")
	}
	c := newCLI(t)
	// Moves connect from the coordinator to itself by citus.local_hostname; the test cluster's
	// nodes know each other only by the name in Citus's metadata.
	host := c.query("SELECT nodename FROM pg_dist_node WHERE groupid = 0")
	c.exec("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET citus.local_hostname = %L', current_database(), '" + host + "'); END $$")

	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")
	var rows []tenantRow
	if err := json.Unmarshal([]byte(c.ok("tenant", "list", "--json")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("tenant list --json: %+v, %v", rows, err)
	}
	acme, globex := rows[0].Node, rows[1].Node
	if acme == "local" || globex == "local" || acme == globex {
		t.Fatalf("acme on %s, globex on %s; want two workers", acme, globex)
	}
	t.Logf("toodoo nodes:\n%s", c.ok("nodes"))
	var nodes []struct {
		Host    string `json:"host"`
		Tenants int    `json:"tenants"`
		Bytes   int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(c.ok("nodes", "--json")), &nodes); err != nil || len(nodes) != 2 || nodes[0].Tenants != 1 || nodes[1].Tenants != 1 || nodes[0].Bytes <= 0 {
		t.Errorf("nodes --json: %+v, %v; want two workers with one tenant each", nodes, err)
	}

	c.fails(1, `No tenant named "nosuch"`, "tenant", "move", "nosuch", "--to", globex)
	c.fails(1, "No node 127.0.0.1:1 in the cluster", "tenant", "move", "acme", "--to", "127.0.0.1:1")
	out := c.ok("tenant", "move", "acme", "--to", globex)
	t.Logf("toodoo tenant move acme --to %s:\n%s", globex, out)
	if !strings.Contains(out, "Moved tenant acme") || !strings.Contains(out, "from "+acme+" to "+globex) {
		t.Errorf("tenant move printed %q", out)
	}
	if out := c.ok("tenant", "move", "acme", "--to", globex); !strings.Contains(out, "is on "+globex+" already") {
		t.Errorf("second move printed %q", out)
	}

	out = c.ok("tenant", "rebalance")
	t.Logf("toodoo tenant rebalance:\n%s", out)
	if !strings.Contains(out, "Dry run: 1 move") || !strings.Contains(out, globex) {
		t.Errorf("rebalance dry run printed %q", out)
	}
	out = c.ok("tenant", "rebalance", "--apply")
	t.Logf("toodoo tenant rebalance --apply:\n%s", out)
	if !strings.Contains(out, "Rebalanced in") {
		t.Errorf("rebalance --apply printed %q", out)
	}
	if out := c.ok("tenant", "rebalance"); !strings.Contains(out, "The nodes are balanced") {
		t.Errorf("rebalance after --apply printed %q", out)
	}
}
