package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTenantExportImport(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.vars["TOODOO_BASE_DOMAIN"] = "toodoo.test"
	c.ok("tenant", "create", "acme", "--name", "Acme Inc.")
	c.ok("domain", "add", "acme", "todo.acme.example")
	c.exec(`INSERT INTO acme.todos (title, created_by) VALUES ('one', 7), ('two', 7), ('three', 8);
		UPDATE acme.todos SET done = true, completed_at = now() WHERE title = 'two'`)

	r := c.run("tenant", "export", "acme")
	if r.code != 0 || !regexp.MustCompile(`^Exported tenant acme \(rows: todos 3; members: 0; domains: 2; schema [0-9a-f]{12}\): \d+ bytes in [0-9.]+m?s\.\n$`).MatchString(r.stderr) {
		t.Fatalf("tenant export: exit %d, stderr %q", r.code, r.stderr)
	}
	archive := r.stdout

	c.stdin = archive
	out := c.ok("tenant", "import", "acme_two")
	for _, want := range []string{
		`Imported acme as tenant acme_two ("Acme Inc.", id `,
		`with domain acme-two.toodoo.test in `, `: 3 rows (todos 3).`,
		"Warning: the tenant has no owner",
		"3 values naming a user with no account here (such as a to-do's creator) now name user 0 (unknown).",
		"Domains left out, another tenant has them: acme.toodoo.test, todo.acme.example.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant import: output lacks %q:\n%s", want, out)
		}
	}
	rows := "SELECT string_agg(id || title || done, ',' ORDER BY id) FROM %s.todos"
	if a, b := c.query(strings.Replace(rows, "%s", "acme", 1)), c.query(strings.Replace(rows, "%s", "acme_two", 1)); a != b {
		t.Errorf("rows differ: %s, imported %s", a, b)
	}

	// Files, with --output and --input.
	path := filepath.Join(t.TempDir(), "acme.toodoo")
	c.ok("tenant", "export", "acme", "--output", path)
	if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data[:2], []byte{0x1f, 0x8b}) {
		t.Fatalf("--output wrote %d bytes (%v)", len(data), err)
	}
	c.ok("tenant", "import", "acme_three", "--input", path, "--name", "Acme Three")
	if got := c.query("SELECT display_name FROM public.tenants WHERE schema_name = 'acme_three'"); got != "Acme Three" {
		t.Errorf("--name: display name %q", got)
	}

	c.fails(1, `No tenant named "nope".`, "tenant", "export", "nope")
	c.fails(1, `No tenant named "nope".`, "tenant", "export", "nope", "--output", filepath.Join(t.TempDir(), "nope.toodoo"))
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*partial")); len(matches) != 0 {
		t.Errorf("a failed export left %v", matches)
	}
	c.stdin = archive
	c.fails(1, `A tenant named "acme_two" exists already.`, "tenant", "import", "acme_two")
	c.stdin = "not an archive"
	c.fails(1, "Refused archive: this is not a Toodoo tenant archive", "tenant", "import", "acme_four")
	c.stdin = archive[:len(archive)/2]
	c.fails(1, "Refused archive: the archive is", "tenant", "import", "acme_four")
	c.stdin = ""
	c.fails(1, "Refused archive: the input is empty", "tenant", "import", "acme_four")
	c.fails(2, "tenant import: missing NEWNAME", "tenant", "import")
	c.fails(1, "open /nonexistent.toodoo", "tenant", "import", "acme_four", "--input", "/nonexistent.toodoo")
	if got := c.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'acme_four'"); got != "0" {
		t.Errorf("refused imports left a schema")
	}
}

// TestTenantImportKilled kills `toodoo tenant import` (a process of its own, SIGKILL) while
// its COPY is loading rows, and checks that nothing of the tenant exists afterwards: no schema,
// no registry row, no domain, no ledger row; and that the same import then succeeds.
func TestTenantImportKilled(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "big")
	c.exec(`INSERT INTO big.todos (title, created_by) SELECT left(repeat(md5(i::text), 8), 200), 1 FROM generate_series(1, 50000) i`)
	r := c.run("tenant", "export", "big")
	if r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	archive := []byte(r.stdout)

	cmd := exec.Command(os.Args[0], "tenant", "import", "big_copy")
	cmd.Env = append(os.Environ(), "TOODOO_TEST_MAIN=1", "DATABASE_URL="+c.vars["DATABASE_URL"])
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// All but the archive's last bytes: the COPY cannot finish, whatever the pace.
	go stdin.Write(archive[:len(archive)-512])

	var pid string
	deadline := time.Now().Add(time.Minute)
	for {
		pid = c.query(`SELECT coalesce((SELECT pid::text FROM pg_stat_progress_copy
			WHERE datname = current_database() AND command = 'COPY FROM' AND tuples_processed > 10000), '')`)
		if pid != "" {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no COPY of the import under way after a minute; stderr %q", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the import ended with %v, not killed", err)
	}
	// The server ends the orphaned session (and rolls it back) when it finds the socket closed.
	for c.query("SELECT count(*) FROM pg_stat_activity WHERE pid = "+pid) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the killed import's session is still there after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := c.query(`SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'big_copy') || ' ' ||
		(SELECT count(*) FROM public.tenants WHERE schema_name = 'big_copy') || ' ' ||
		(SELECT count(*) FROM public.domains WHERE domain = 'big-copy.localhost') || ' ' ||
		(SELECT count(*) FROM public.schema_ledger WHERE schema_name = 'big_copy')`)
	if got != "0 0 0 0" {
		t.Errorf("after the kill: schema, tenant, domain, ledger = %s; want 0 0 0 0", got)
	}
	c.stdin = string(archive)
	if out := c.ok("tenant", "import", "big_copy"); !strings.Contains(out, "50000 rows") {
		t.Errorf("the import after the kill: %s", out)
	}
}
