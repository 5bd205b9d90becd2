package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
)

// TestMain is the package's only one: migrate, serve and dev tests share it. With
// TOODOO_TEST_MAIN=1 the test binary is the toodoo binary instead (main, with the arguments
// it was started with), for tests that need the real program in a process of its own, such as
// one to kill (see runMain).
func TestMain(m *testing.M) {
	if os.Getenv("TOODOO_TEST_MAIN") == "1" {
		main()
		return
	}
	dbtest.Main(m)
}

// result is what one run of the CLI left behind.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the real CLI in-process (WTF's MustRunMain): run(ctx, args, env) is the whole program.
type cli struct {
	t      *testing.T
	vars   map[string]string // the environment; DATABASE_URL is set by newCLI
	stdin  string
	prompt func(string) (string, error) // env.PasswordPrompt
}

// newCLI returns a CLI on a fresh database with the shared schema (dbtest.URL).
func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, vars: map[string]string{"DATABASE_URL": dbtest.URL(t)}}
}

// noDB returns a CLI without a database, for usage errors.
func noDB(t *testing.T) *cli { return &cli{t: t, vars: map[string]string{}} }

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(c.t.Context(), args, &env{
		Getenv:         func(k string) string { return c.vars[k] },
		Stdin:          strings.NewReader(c.stdin),
		Stdout:         &stdout,
		Stderr:         &stderr,
		PasswordPrompt: c.prompt,
	})
	c.stdin = ""
	return result{code, stdout.String(), stderr.String()}
}

// ok runs args and fails the test unless they succeed; it returns stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("toodoo %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs args, wants exit status code and exactly one line on stderr that contains want.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	cmd := "toodoo " + strings.Join(args, " ")
	if r.code != code {
		c.t.Fatalf("%s: exit %d, want %d (stdout %q, stderr %q)", cmd, r.code, code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.HasPrefix(r.stderr, "toodoo: ") {
		c.t.Fatalf("%s: stderr %q, want one line starting with \"toodoo: \"", cmd, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		c.t.Fatalf("%s: stderr %q, want it to contain %q", cmd, r.stderr, want)
	}
}

// query runs one query on the CLI's database and returns the first column of the first row.
func (c *cli) query(sql string, args ...any) string {
	c.t.Helper()
	ctx := c.t.Context()
	conn, err := pgx.Connect(ctx, c.vars["DATABASE_URL"])
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v any
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return fmt.Sprint(v)
}

// exec runs SQL (several statements allowed) on the CLI's database.
func (c *cli) exec(sql string) {
	c.t.Helper()
	dbtest.Exec(c.t, c.vars["DATABASE_URL"], sql)
}
