package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// runMember is `toodoo member add|remove|list`.
func runMember(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "member", args, e, map[string]func(context.Context, []string, *env) error{
		"add":    runMemberAdd,
		"remove": runMemberRemove,
		"list":   runMemberList,
	})
}

// runMemberAdd is `toodoo member add NAME EMAIL [--role owner|member]`.
func runMemberAdd(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "member add", "member add NAME EMAIL [--role owner|member]")
	role := fs.String("role", account.RoleMember, "owner or member; an existing member's role changes")
	pos, err := parseArgs(fs, args, "NAME", "EMAIL")
	if err != nil {
		return err
	}
	if account.ValidateRole(*role) != nil {
		return usagef("member add: --role must be owner or member, not %q", *role)
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		t, err := activeTenant(ctx, db, pos[0])
		if err != nil {
			return err
		}
		m, err := account.New(db).AddMember(ctx, t.ID, pos[1], *role)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s is now %s of tenant %s.\n", m.Email, article(m.Role), t.Schema)
		return nil
	})
}

func article(role string) string {
	if role == account.RoleOwner {
		return "an owner"
	}
	return "a member"
}

// runMemberRemove is `toodoo member remove NAME EMAIL`.
func runMemberRemove(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "member remove", "member remove NAME EMAIL")
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
		if err := svc.RemoveMember(ctx, t.ID, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s is no longer a member of tenant %s.\n", u.Email, t.Schema)
		return nil
	})
}

// runMemberList is `toodoo member list NAME`.
func runMemberList(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "member list", "member list NAME")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		t, err := activeTenant(ctx, db, pos[0])
		if err != nil {
			return err
		}
		members, err := account.New(db).ListMembers(ctx, t.ID)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			fmt.Fprintf(e.Stdout, "Tenant %s has no members. Add one with: toodoo member add %s EMAIL --role owner\n", t.Schema, t.Schema)
			return nil
		}
		w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "EMAIL\tROLE\tSINCE")
		for _, m := range members {
			fmt.Fprintf(w, "%s\t%s\t%s\n", m.Email, m.Role, m.CreatedAt.Format("2006-01-02"))
		}
		return w.Flush()
	})
}
