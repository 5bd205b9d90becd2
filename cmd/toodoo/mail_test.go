package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

// TestMigrateQueue: `toodoo migrate` creates River's tables in their own schema with River's
// migrator, and a second run has nothing to apply.
func TestMigrateQueue(t *testing.T) {
	c := &cli{t: t, vars: map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}}
	out := c.ok("migrate", "--shared-only")
	if !strings.Contains(out, "Mail queue (toodoo_river): River migrations 1, ") {
		t.Errorf("first migrate did not report River's migrations:\n%s", out)
	}
	if got := c.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'toodoo_river' AND table_name = 'river_job'"); got != "1" {
		t.Errorf("river_job tables in toodoo_river: %s", got)
	}
	if out := c.ok("migrate", "--shared-only"); strings.Contains(out, "Mail queue") {
		t.Errorf("second migrate applied River migrations again:\n%s", out)
	}
	if out := c.ok("migrate", "--shared-only", "--verify"); !strings.Contains(out, "current") {
		t.Errorf("verify after River's migrations:\n%s", out)
	}
}

// TestMailList: a mail the server refuses for good is listed by `toodoo mail list --failed`,
// on one line with its error; the body (links are secrets) is never printed.
func TestMailList(t *testing.T) {
	ctx := t.Context()
	pooled, direct := dbtest.URLs(t)
	c := &cli{t: t, vars: map[string]string{"DATABASE_URL": pooled}}
	if out := c.ok("mail", "list", "--failed"); out != "No failed mail.\n" {
		t.Errorf("empty queue: %q", out)
	}
	srv := mailtest.Start(t)
	srv.Refuse(550)
	srv.Run(t, pooled, direct)
	db := testfactory.DB(ctx, t, pooled)
	if err := db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		return tx.Enqueue(ctx, mail.PasswordReset("gone@example.com", "https://toodoo.test/reset?t=SECRET", 0))
	}); err != nil {
		t.Fatal(err)
	}
	var list []mail.Entry
	for range 600 {
		if err := json.Unmarshal([]byte(c.ok("mail", "list", "--failed", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the runner works in the background; a minute at most
	}
	if len(list) != 1 || list[0].To != "gone@example.com" || list[0].State != "cancelled" {
		t.Fatalf("mail list --failed --json = %+v", list)
	}
	out := c.ok("mail", "list", "--failed")
	wantLines(t, "mail list --failed", out, "ID  STATE", "cancelled", "gone@example.com  Reset your Toodoo password  mail: send to gone@example.com")
	if strings.Contains(out, "SECRET") || strings.Count(out, "\n") != 2 {
		t.Errorf("mail list prints more than a header and one line per mail, or a secret:\n%s", out)
	}
	if r := c.run("mail", "list", "--limit", "0"); r.code != 2 {
		t.Errorf("--limit 0: exit %d", r.code)
	}
	if r := c.run("mail", "send"); r.code != 2 || !strings.Contains(r.stderr, "unknown subcommand") {
		t.Errorf("mail send: exit %d, %q", r.code, r.stderr)
	}
}
