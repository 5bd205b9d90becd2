package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
)

// schemaWithPriority writes schema.hcl with one more column in todos to a file for --schema.
func schemaWithPriority(t *testing.T) string {
	t.Helper()
	const anchor = `  column "completed_at" {`
	hcl := strings.Replace(string(toodoo.SchemaHCL), anchor, "  column \"priority\" {\n    type = integer\n    null = true\n  }\n"+anchor, 1)
	file := filepath.Join(t.TempDir(), "schema.hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// wantLines fails unless out contains every one of want, runs of spaces counting as one (the
// summary table's columns are as wide as their longest value).
func wantLines(t *testing.T, cmd, out string, want ...string) {
	t.Helper()
	spaces := regexp.MustCompile(` +`)
	for _, w := range want {
		if !strings.Contains(spaces.ReplaceAllString(out, " "), spaces.ReplaceAllString(w, " ")) {
			t.Errorf("%s: output lacks %q:\n%s", cmd, w, out)
		}
	}
}

func TestMigrateUsage(t *testing.T) {
	t.Parallel()
	c := noDB(t)
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate"}, "no database: set DATABASE_URL"},
		{[]string{"migrate", "extra"}, `migrate: unexpected argument "extra"`},
		{[]string{"migrate", "--shared-only", "--tenant", "acme"}, "--shared-only and --tenant exclude each other"},
		{[]string{"migrate", "--parallel", "0"}, "--parallel must be at least 1"},
		{[]string{"migrate", "--lock-timeout", "-1s"}, "--lock-timeout must be positive"},
		{[]string{"migrate", "--lock-attempts", "0"}, "--lock-attempts must be at least 1"},
		{[]string{"migrate", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"migrate", "status"}, "no database: set DATABASE_URL"},
		{[]string{"migrate", "status", "extra"}, `migrate status: unexpected argument "extra"`},
		{[]string{"migrate", "status", "--frob"}, "flag provided but not defined: -frob"},
	} {
		c.fails(2, test.want, test.args...)
	}
	for _, args := range [][]string{{"migrate", "--help"}, {"migrate", "status", "--help"}} {
		r := c.run(args...)
		if want := "Usage: toodoo " + strings.Join(args[:len(args)-1], " "); r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("toodoo %s: exit %d, stderr %q; want 0 and %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
}

// The success path: plans, summaries and status, in text and JSON; a second run does nothing.
func TestMigrate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")

	out := c.ok("migrate")
	wantLines(t, "migrate", out,
		"public: already as schema.hcl says; updating the ledger\n",
		"  schemas      3  in scope", "  current      2  nothing to do", "  recorded     1  already right", "  failed       0", "  inspections  1")
	out = c.ok("migrate")
	wantLines(t, "second migrate", out, "  current      3  nothing to do", "  inspections  0")
	if strings.Contains(out, "statement") {
		t.Errorf("second migrate printed a plan:\n%s", out)
	}

	out = c.ok("migrate", "status")
	wantLines(t, "migrate status", out, "SCHEMA  STATE    APPLIED", "\npublic  current  ", "\nacme    current  ", "\nglobex  current  ",
		"3 current, 0 behind, 0 failed (desired state: public ")
	var st migrate.StatusReport
	if err := json.Unmarshal([]byte(c.ok("migrate", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Schemas) != 3 || st.Current != 3 || st.Schemas[1].Schema != "acme" || st.Schemas[1].State != "current" || st.Schemas[1].AppliedAt == nil {
		t.Errorf("status --json: %+v", st)
	}

	file := schemaWithPriority(t)
	out = c.ok("migrate", "--schema", file, "--dry-run")
	wantLines(t, "migrate --dry-run", out, "Dry run: nothing is changed.\n",
		`2 schemas at fingerprint `, ` (acme, globex): 1 statement`+"\n"+`    ALTER TABLE "todos" ADD COLUMN "priority" integer NULL;`,
		"  pending      2  would be changed")
	out = c.ok("migrate", "--schema", file, "--tenant", "globex")
	wantLines(t, "migrate --tenant globex", out, "1 schema at fingerprint ", " (globex): 1 statement", "Applying to 1 schema...\n",
		"  schemas      1  in scope", "  applied      1  changed")
	out = c.ok("migrate", "--schema", file)
	wantLines(t, "migrate", out, " (acme): 1 statement", "  applied      1  changed", "  current      2  nothing to do")
	if got := c.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'"); got != "2" {
		t.Errorf("%s tenants have priority, want 2", got)
	}
	out = c.ok("migrate", "status", "--schema", file)
	wantLines(t, "migrate status --schema", out, "3 current, 0 behind, 0 failed")
	out = c.ok("migrate", "status")
	wantLines(t, "migrate status", out, "1 current, 2 behind, 0 failed")
	out = c.ok("migrate", "--schema", file, "--verify")
	wantLines(t, "migrate --verify", out, "  current      3  nothing to do", "  drifted      0  changed by hand")
}

// Failures: a hand-changed tenant and a refused destructive plan are reported, the others go
// on, the exit status is 1 with one line on stderr; a held lock is refused with a hint.
func TestMigrateFailures(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	file := schemaWithPriority(t)
	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")
	c.ok("tenant", "create", "initech")
	c.ok("migrate", "--schema", file)
	c.exec(`COMMENT ON TABLE globex.todos IS 'by hand'`)

	// --verify finds globex's comment; a dry run repairs nothing, and fails.
	r := c.run("migrate", "--schema", file, "--verify", "--dry-run", "--tenant", "globex", "--tenant", "acme")
	if r.code != 1 || r.stderr != "toodoo: migrate: 1 schema drifted from schema.hcl (not repaired: dry run): not every schema is in the desired state\n" {
		t.Fatalf("verify --dry-run: exit %d, stderr %q", r.code, r.stderr)
	}
	wantLines(t, "migrate --verify --dry-run", r.stdout, "DRIFT: 1 schema at fingerprint ", " (globex), changed by hand: 1 statement\n",
		`    COMMENT ON TABLE "todos" IS 'A workspace''s to-dos.';`, "  schemas 2 in scope", "  drifted 1 changed by hand")

	// Back to the built-in schema.hcl: dropping priority is refused.
	r = c.run("migrate")
	if r.code != 1 || r.stderr != "toodoo: migrate: 3 of 4 schemas failed: not every schema is in the desired state\n" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantLines(t, "migrate", r.stdout, `    ALTER TABLE "todos" DROP COLUMN "priority";`,
		"    REFUSED, destructive: drop column todos.priority (rerun with --allow-destructive to apply)\n",
		"FAILED acme, globex, initech: destructive change refused (drop column todos.priority)", "  failed 3")
	if out := c.ok("migrate", "status"); !strings.Contains(out, "1 current, 0 behind, 3 failed") {
		t.Errorf("status does not show the failures:\n%s", out)
	}
	// With the file again: acme and initech only need the ledger; globex gets its comment back.
	r = c.run("migrate", "--schema", file)
	if r.code != 0 {
		t.Fatalf("migrate: exit %d, stderr %q\n%s", r.code, r.stderr, r.stdout)
	}
	wantLines(t, "migrate", r.stdout, "2 schemas at fingerprint ", " (acme, initech): already as schema.hcl says; updating the ledger\n",
		`COMMENT ON TABLE "todos" IS 'A workspace''s to-dos.';`, "  applied 1", "  recorded 2")

	// A second migrator refuses while one holds the lock (taken here on a direct session: a
	// session lock taken through a transaction-mode pooler would stay on a server connection
	// that the migrator itself may be handed).
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.DirectURL(t, c.vars["DATABASE_URL"]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(0x746f6f646f6f)); err != nil {
		t.Fatal(err)
	}
	c.fails(1, "Another toodoo migrate is running on this database (server process ", "migrate")
	c.fails(1, "Rerun with --wait to wait for it.", "migrate", "--dry-run")
}

// A breaking change that loses nothing (a NOT NULL column without a default) is refused without
// --allow-breaking, with one line on stderr and the plan marked on stdout; with it, it is applied
// and the ledger records the class.
func TestMigrateBreaking(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const anchor = `  column "completed_at" {`
	hcl := strings.Replace(string(toodoo.SchemaHCL), anchor, "  column \"rank\" {\n    type = integer\n    null = false\n  }\n"+anchor, 1)
	file := filepath.Join(t.TempDir(), "schema.hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("tenant", "create", "acme")
	r := c.run("migrate", "--schema", file)
	if r.code != 1 || r.stderr != "toodoo: migrate: 1 of 2 schemas failed: not every schema is in the desired state\n" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantLines(t, "migrate", r.stdout,
		"    REFUSED, breaking: add column todos.rank NOT NULL without a default (rerun with --allow-breaking to apply)\n",
		"FAILED acme: breaking change refused (add column todos.rank NOT NULL without a default)")
	r = c.run("migrate", "--schema", file, "--allow-breaking")
	if r.code != 0 {
		t.Fatalf("migrate --allow-breaking: exit %d, stderr %q\n%s", r.code, r.stderr, r.stdout)
	}
	wantLines(t, "migrate --allow-breaking", r.stdout, "    breaking, allowed: add column todos.rank NOT NULL without a default\n", "  applied 1")
	if got := c.query("SELECT change_class FROM public.schema_ledger WHERE schema_name = 'acme'"); got != "breaking" {
		t.Errorf("ledger class %q, want breaking", got)
	}
	wantLines(t, "migrate status --json", c.ok("migrate", "status", "--json", "--schema", file), `"change_class": "breaking"`)
}
