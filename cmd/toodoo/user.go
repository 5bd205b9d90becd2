package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// runUser is `toodoo user create|passwd`.
func runUser(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "user", args, e, map[string]func(context.Context, []string, *env) error{
		"create": runUserCreate,
		"passwd": runUserPasswd,
	})
}

// runUserCreate is `toodoo user create EMAIL [--superuser] [--password-stdin]`.
func runUserCreate(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "user create", "user create EMAIL [--superuser] [--password-stdin]")
	superuser := fs.Bool("superuser", false, "the user may enter every workspace and the platform admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of prompting")
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	email, err := account.NormalizeEmail(pos[0])
	if err != nil {
		return err
	}
	password, err := readPassword(e, *fromStdin, "user create")
	if err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		u, err := account.New(db).CreateUser(ctx, email, password, *superuser)
		if err != nil {
			return err
		}
		kind := "user"
		if u.IsSuperuser {
			kind = "superuser"
		}
		fmt.Fprintf(e.Stdout, "Created %s %s (id %d).\n", kind, u.Email, u.ID)
		return nil
	})
}

// runUserPasswd is `toodoo user passwd EMAIL [--password-stdin]`.
func runUserPasswd(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "user passwd", "user passwd EMAIL [--password-stdin]")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of prompting")
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		svc := account.New(db)
		// Look the user up before asking for a password nobody can use.
		u, err := svc.GetUserByEmail(ctx, pos[0])
		if err != nil {
			return err
		}
		password, err := readPassword(e, *fromStdin, "user passwd")
		if err != nil {
			return err
		}
		if _, err := svc.SetPassword(ctx, u.ID, password); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "Changed the password of %s; their sessions are signed out and their API tokens revoked.\n", u.Email)
		return nil
	})
}

// readPassword gets a new password: the first line of stdin with --password-stdin, otherwise
// typed twice at the terminal without echo. It refuses to prompt when stdin is not a terminal
// (a script that forgot --password-stdin would hang or leak the password into a pipe).
func readPassword(e *env, fromStdin bool, cmd string) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(e.Stdin, account.MaxPasswordBytes+3)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		if err == io.EOF && len(line) > account.MaxPasswordBytes+1 {
			return "", account.ValidatePassword(line) // too long
		}
		password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		return password, account.ValidatePassword(password)
	}
	prompt := e.PasswordPrompt
	if prompt == nil {
		f, ok := e.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", usagef("%s: stdin is not a terminal, so no password can be typed: pass it on stdin with --password-stdin", cmd)
		}
		prompt = func(p string) (string, error) {
			fmt.Fprint(e.Stderr, p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.Stderr)
			return string(b), err
		}
	}
	password, err := prompt("New password: ")
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if err := account.ValidatePassword(password); err != nil {
		return "", err
	}
	again, err := prompt("Repeat it: ")
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if again != password {
		return "", toodoo.Invalid("password", "The two passwords do not match.")
	}
	return password, nil
}
