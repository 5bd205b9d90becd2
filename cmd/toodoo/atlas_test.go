package main

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/dbtest"
)

// atlasBin returns the Atlas CLI to run: $ATLAS_BIN, or atlas on PATH. Without one the test is
// skipped, saying so: the CLI is not a dependency (CI has none; `toodoo migrate` embeds the Atlas
// library, whose agreement with toodoo the migrate tests check on every run).
func atlasBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ATLAS_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("ATLAS_BIN=%s: %v", bin, err)
		}
		return bin
	}
	bin, err := exec.LookPath("atlas")
	if err != nil {
		t.Skip("no Atlas CLI: set ATLAS_BIN or put atlas on PATH to check atlas.hcl against the real CLI (README, \"With the Atlas CLI\")")
	}
	return bin
}

// noSSL adds sslmode=disable to a test database URL: Atlas's driver (lib/pq) wants TLS unless
// told otherwise, and the test servers have none.
func noSSL(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// TestAtlasCLI runs the real Atlas CLI with atlas.hcl on a database that toodoo migrated: both
// envs find nothing to change, with no tenant and with three; a change made by hand is repaired by `--env tenant` (one plan for
// public and every tenant), after which toodoo finds no drift either; and a tenant row inserted by
// hand gets its schema from Atlas, which toodoo then sees as behind until `toodoo migrate` (the
// caveat the README states).
func TestAtlasCLI(t *testing.T) {
	bin := atlasBin(t)
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.ok("migrate")
	target := noSSL(t, dbtest.DirectURL(t, c.vars["DATABASE_URL"]))
	dev := noSSL(t, dbtest.DirectURL(t, dbtest.EmptyURL(t)))

	atlas := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = root // atlas.hcl names schema.hcl and atlas/fleet relative to the repository
		cmd.Env = append(os.Environ(), "DATABASE_URL="+target, "ATLAS_DEV_URL="+dev,
			"ATLAS_NO_UPDATE_NOTIFIER=1", "ATLAS_NO_UPGRADE_SUGGESTIONS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("$ atlas %s\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	mustAtlas := func(want string, args ...string) string {
		t.Helper()
		out, err := atlas(args...)
		if err != nil {
			t.Fatalf("atlas %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("atlas %s: output lacks %q:\n%s", strings.Join(args, " "), want, out)
		}
		return out
	}
	const synced = "Schema is synced, no changes to be made"

	// No tenant yet (a fresh installation): public alone.
	mustAtlas(synced, "schema", "apply", "--env", "tenant", "--auto-approve")
	for _, name := range []string{"acme", "globex", "initech"} {
		c.ok("tenant", "create", name)
	}
	c.ok("migrate")

	// After toodoo migrate, Atlas agrees on public and every tenant, in one env and one by one.
	mustAtlas(synced, "schema", "apply", "--env", "tenant", "--auto-approve")
	for _, name := range []string{"acme", "globex", "initech"} {
		mustAtlas(synced, "schema", "apply", "--env", "one", "--var", "tenant="+name, "--auto-approve")
	}

	// A change by hand in one tenant: one plan for the fleet repairs it, and toodoo agrees.
	dbtest.Exec(t, target, `DROP INDEX "globex"."todos_done_id_idx"`)
	mustAtlas(`CREATE INDEX "todos_done_id_idx" ON "globex"."todos"`, "schema", "apply", "--env", "tenant", "--dry-run")
	out := mustAtlas(`CREATE INDEX "todos_done_id_idx" ON "globex"."todos"`, "schema", "apply", "--env", "tenant", "--auto-approve")
	if strings.Contains(out, `"acme"`) || strings.Contains(out, `"initech"`) {
		t.Errorf("the plan touches the tenants that were right:\n%s", out)
	}
	mustAtlas(synced, "schema", "apply", "--env", "tenant", "--auto-approve")
	wantLines(t, "migrate --verify", c.ok("migrate", "--verify"), "  drifted      0  changed by hand", "  failed       0")

	// Schemas that are not tenants are not Atlas's business: toodoo's queue survives.
	if got := c.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'toodoo_river'"); got == "0" {
		t.Errorf("toodoo_river has no tables after atlas schema apply")
	}

	// A tenant row inserted by hand: Atlas creates its schema, which toodoo's ledger does not
	// know (no domain, no ledger row) until the next toodoo migrate records it.
	c.exec(`INSERT INTO public.tenants (schema_name, display_name) VALUES ('byhand', 'By hand')`)
	mustAtlas(`CREATE SCHEMA "byhand"`, "schema", "apply", "--env", "tenant", "--auto-approve")
	if got := c.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'byhand' AND table_name = 'todos'"); got != "1" {
		t.Fatalf("byhand.todos: %s tables", got)
	}
	if out := c.ok("migrate", "status"); !strings.Contains(out, "byhand") || strings.Contains(strings.SplitN(out[strings.Index(out, "byhand"):], "\n", 2)[0], "current") {
		t.Errorf("migrate status after Atlas made byhand: want it listed and not current:\n%s", out)
	}
	c.ok("migrate")
	wantLines(t, "migrate status", c.ok("migrate", "status"), "5 current, 0 behind, 0 failed")
	mustAtlas(synced, "schema", "apply", "--env", "tenant", "--auto-approve")
}
