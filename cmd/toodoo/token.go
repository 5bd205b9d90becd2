package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// runToken is `toodoo token create|list|revoke`.
func runToken(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "token", args, e, map[string]func(context.Context, []string, *env) error{
		"create": runTokenCreate,
		"list":   runTokenList,
		"revoke": runTokenRevoke,
	})
}

// tokenOwner resolves NAME and EMAIL to a tenant and a user who may enter it (a member or a
// superuser): a token for someone who could not use it would only mislead.
func tokenOwner(ctx context.Context, db *tenancy.DB, svc *account.Service, name, email string) (tenancy.Tenant, account.User, error) {
	t, err := activeTenant(ctx, db, name)
	if err != nil {
		return t, account.User{}, err
	}
	u, err := svc.GetUserByEmail(ctx, email)
	if err != nil {
		return t, u, err
	}
	if !u.IsSuperuser {
		if _, err := svc.Membership(ctx, u.ID, t.ID); err != nil {
			if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
				return t, u, toodoo.Errorf(toodoo.EFORBIDDEN, "%s is not a member of tenant %s (add them with: toodoo member add %s %s).", u.Email, t.Schema, t.Schema, u.Email)
			}
			return t, u, err
		}
	}
	return t, u, nil
}

// runTokenCreate is `toodoo token create NAME EMAIL [--label LABEL]`. The token is printed alone
// on the last line, so that scripts can take it with `tail -n1`.
func runTokenCreate(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "token create", "token create NAME EMAIL [--label LABEL]")
	label := fs.String("label", "", `what the token is for (default "cli YYYY-MM-DD")`)
	pos, err := parseArgs(fs, args, "NAME", "EMAIL")
	if err != nil {
		return err
	}
	if *label == "" {
		*label = "cli " + time.Now().Format("2006-01-02")
	}
	if err := account.ValidateTokenName(*label); err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		svc := account.New(db)
		t, u, err := tokenOwner(ctx, db, svc, pos[0], pos[1])
		if err != nil {
			return err
		}
		tok, secret, err := svc.CreateAPIToken(ctx, t.ID, u.ID, *label)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "Created API token %d (%q) for %s on tenant %s. It is shown only this once:\n%s\n",
			tok.ID, tok.Name, u.Email, t.Schema, secret)
		return nil
	})
}

// runTokenList is `toodoo token list NAME EMAIL`.
func runTokenList(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "token list", "token list NAME EMAIL")
	pos, err := parseArgs(fs, args, "NAME", "EMAIL")
	if err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		svc := account.New(db)
		t, u, err := memberOf(ctx, db, svc, pos[0], pos[1])
		if err != nil {
			return err
		}
		tokens, err := svc.ListAPITokens(ctx, t.ID, u.ID)
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			fmt.Fprintf(e.Stdout, "%s has no API tokens on tenant %s.\n", u.Email, t.Schema)
			return nil
		}
		w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tLABEL\tCREATED\tLAST USED\tSTATE")
		for _, k := range tokens {
			used, state := "never", "active"
			if k.LastUsedAt != nil {
				used = k.LastUsedAt.Format(time.DateTime)
			}
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.Format(time.DateOnly)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", k.ID, oneLine(k.Name), k.CreatedAt.Format(time.DateTime), used, state)
		}
		return w.Flush()
	})
}

// runTokenRevoke is `toodoo token revoke NAME EMAIL ID`.
func runTokenRevoke(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "token revoke", "token revoke NAME EMAIL ID")
	pos, err := parseArgs(fs, args, "NAME", "EMAIL", "ID")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[2], 10, 64)
	if err != nil || id <= 0 {
		return usagef("token revoke: ID must be a token number from `toodoo token list`, not %q", pos[2])
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		svc := account.New(db)
		t, u, err := memberOf(ctx, db, svc, pos[0], pos[1])
		if err != nil {
			return err
		}
		if err := svc.RevokeAPIToken(ctx, t.ID, u.ID, id); err != nil {
			if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
				return toodoo.Errorf(toodoo.ENOTFOUND, "%s has no active API token %d on tenant %s.", u.Email, id, t.Schema)
			}
			return err
		}
		fmt.Fprintf(e.Stdout, "Revoked API token %d.\n", id)
		return nil
	})
}
