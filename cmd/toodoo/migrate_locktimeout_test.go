package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A tenant whose todos an open transaction holds: `toodoo migrate` migrates the others, retries
// it, reports it failed as locked (exit 1) with the lock timeouts in the summary; once the
// transaction ends, the next run migrates it.
func TestMigrateLockTimeout(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	file := schemaWithPriority(t)
	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM globex.todos"); err != nil {
		t.Fatal(err)
	}

	r := c.run("migrate", "--schema", file, "--lock-timeout", "100ms", "--lock-attempts", "2")
	if r.code != 1 || r.stderr != "toodoo: migrate: 1 of 3 schemas failed: not every schema is in the desired state\n" {
		t.Fatalf("exit %d, stderr %q\n%s", r.code, r.stderr, r.stdout)
	}
	wantLines(t, "migrate", r.stdout, `FAILED globex: apply to "globex": locked by another transaction: gave up after 2 attempts, each waiting 100ms (lock_timeout) for a table lock`,
		"  applied 1", "  failed 1", "  lock timeouts: 1 retried, 1 gave up (tables locked by other transactions; --lock-timeout 100ms, --lock-attempts 2)\n")

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	out := c.ok("migrate", "--schema", file, "--lock-timeout", "100ms")
	wantLines(t, "migrate", out, "  applied 1", "  failed 0")
	if got := c.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'globex' AND column_name = 'priority'"); got != "1" {
		t.Errorf("globex has %s priority columns after the second run, want 1", got)
	}
}
