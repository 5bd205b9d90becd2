package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

// env is what a command may touch of the outside world, so tests can run the real CLI
// (WTF's Main pattern): run(ctx, args, env) is the whole program.
type env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// PasswordPrompt, if set, reads a password from the person at the terminal without echo
	// (tests set it to play that person). Nil: prompt on the terminal when Stdin is one, and
	// refuse otherwise (see readPassword).
	PasswordPrompt func(prompt string) (string, error)
}

// command is one subcommand; run returns an error, and usageError marks bad usage (exit 2).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, e *env) error
}

// commands is the table of subcommands, in the order `toodoo --help` lists them.
var commands = []command{
	{"serve", "run the web server", runServe},
	{"migrate", "bring the shared and every tenant schema to schema.hcl (migrate status: the ledger)", runMigrate},
	{"tenant", "create, list, suspend, resume, delete, export, import, move or rebalance tenants", runTenant},
	{"nodes", "Citus: the worker nodes, with the tenants and bytes on each", runNodes},
	{"domain", "add or remove a tenant's domains", runDomain},
	{"user", "create users and change passwords", runUser},
	{"member", "add or remove a user's membership in a workspace", runMember},
	{"token", "create API tokens", runToken},
	{"mail", "list the mail queue (--failed: what will not be sent)", runMail},
	{"dev", "development: apply schemas, seed demo data once, then serve", runDev},
}

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], e)
		return exitCode(err, e.Stderr)
	}
	fmt.Fprintf(e.Stderr, "toodoo: unknown command %q (see toodoo --help)\n", args[0])
	return 2
}

// exitCode prints err as one line and maps it to the exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "toodoo: %s\n", oneLine(ue.msg))
		return 2
	case toodoo.ErrorCode(err) != toodoo.EINTERNAL:
		fmt.Fprintf(stderr, "toodoo: %s\n", oneLine(toodoo.ErrorMessage(err)))
		return 1
	default:
		fmt.Fprintf(stderr, "toodoo: %s\n", oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: toodoo COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command reads DATABASE_URL (or --database-url) and has --help.")
}

// newFlagSet returns a flag set that reports errors instead of exiting, prints its usage to
// e.Stderr, and has --database-url.
func newFlagSet(e *env, name, usage string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	dbURL := new(string)
	*dbURL = e.Getenv("DATABASE_URL")
	fs.Var(secretFlag{dbURL}, "database-url", "PostgreSQL `URL` (default $DATABASE_URL)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: toodoo %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, dbURL
}

// secretFlag is a string flag whose value --help never prints: a database URL carries a password.
type secretFlag struct{ s *string }

func (f secretFlag) String() string { return "" }

func (f secretFlag) Set(v string) error {
	*f.s = v
	return nil
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("tenant create acme --domain acme.example.com"), and returns the positional arguments.
// A parse error is a usage error; --help returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints the error and the whole usage on a bad flag; we want one line
	// (printed by exitCode), and the usage only when asked for.
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				fs.Usage()
				return nil, err
			}
			return nil, usagef("%s: %s (see --help)", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// openDB connects to the database named by --database-url / DATABASE_URL, in the Citus mode
// TOODOO_CITUS sets (see citusMode).
func openDB(ctx context.Context, e *env, url string) (*tenancy.DB, error) {
	if url == "" {
		return nil, usagef("no database: set DATABASE_URL or pass --database-url")
	}
	mode, err := citusMode(e)
	if err != nil {
		return nil, err
	}
	return tenancy.OpenWith(ctx, url, tenancy.Options{Citus: mode})
}

// citusMode reads TOODOO_CITUS (auto, on or off; default auto: tenant schemas are distributed
// when the database has the citus extension), the one place every command reads it: the server,
// the migrator and the tenant commands must agree, or some tenants would be distributed and
// others not.
func citusMode(e *env) (tenancy.CitusMode, error) {
	mode, err := tenancy.ParseCitusMode(e.Getenv("TOODOO_CITUS"))
	if err != nil {
		return "", usagef("TOODOO_CITUS: %s", toodoo.ErrorMessage(err))
	}
	return mode, nil
}

// withDB opens the database, runs fn and closes the database again.
func withDB(ctx context.Context, e *env, url string, fn func(db *tenancy.DB) error) error {
	db, err := openDB(ctx, e, url)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// parseArgs parses args with fs and checks that exactly the named positional arguments were
// given ("tenant create NAME"); any other count is bad usage.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		want := strings.Join(names, " ")
		switch {
		case len(pos) < len(names):
			return nil, usagef("%s: missing %s (see --help)", fs.Name(), strings.Join(names[len(pos):], " "))
		case len(names) == 0:
			return nil, usagef("%s: unexpected argument %q (see --help)", fs.Name(), pos[0])
		default:
			return nil, usagef("%s: expected %s, got %d arguments (see --help)", fs.Name(), want, len(pos))
		}
	}
	return pos, nil
}

// subcommand dispatches "toodoo NOUN VERB ..." to the verb's function.
func subcommand(ctx context.Context, noun string, args []string, e *env, verbs map[string]func(context.Context, []string, *env) error) error {
	names := make([]string, 0, len(verbs))
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	if len(args) == 0 {
		return usagef("%s: missing subcommand (one of: %s)", noun, strings.Join(names, ", "))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.Stderr, "Usage: toodoo %s {%s} [ARGS] (each has --help)\n", noun, strings.Join(names, "|"))
		return flag.ErrHelp
	}
	fn, ok := verbs[args[0]]
	if !ok {
		return usagef("%s: unknown subcommand %q (one of: %s)", noun, args[0], strings.Join(names, ", "))
	}
	return fn(ctx, args[1:], e)
}
